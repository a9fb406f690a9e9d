"""Errors and how each binding writes them.

Protocol errors are the SDK's own classes (``a2a.utils.errors``); their wire
codes come from the SDK's tables. This module adds the few errors the SDK has
no class for, and renders every error in the binding's own format::

    Exception
     ├── a2a.utils.errors.A2AError          protocol errors (SDK tables: HTTP + JSON-RPC codes)
     ├── json_format.ParseError             a 1.0 body that is not ProtoJSON: 400 (the SDK's)
     ├── AuthError (tenancy.auth)           401 / 403, with WWW-Authenticate
     ├── NotFound                           unknown agent / context: 404 (both bindings)
     │    └── AgentNotFound (protocol.gate) an agent, for accepted credentials (counted first)
     ├── PayloadTooLarge                    413
     ├── BadRequest                         400 / 415 (JSON-RPC -32600)
     │    └── MalformedJSON                 a body that is not JSON (JSON-RPC -32700)
     ├── StoreUnavailable                   the backend cannot serve now: 503
     │    └── TaskLost                      a running task vanished from the store: 503
     ├── UnreadableRecord                   one stored record cannot be rendered: 500 for that
     │                                      record only (lists leave it out and log it)
     ├── QuotaExceeded                      a tenant limit (protocol/quotas.py): 429 + its headers
     └── anything else                      500, logged; the client sees a generic message

REST bodies follow google.rpc.Status (``{"error": {code, status, message, details}}``);
JSON-RPC bodies are JSON-RPC 2.0 error objects. A JSON-RPC error caused by the
transport (auth, size, availability) keeps its HTTP status; protocol errors ride
HTTP 200 as the JSON-RPC binding requires.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from a2a.server.jsonrpc_models import JSONParseError
from a2a.server.request_handlers.response_helpers import build_error_response
from a2a.utils.error_handlers import build_rest_error_payload
from a2a.utils.errors import A2AError, InternalError
from google.protobuf.json_format import ParseError
from starlette.responses import Response

from a2a_server.tenancy.auth import AuthError

logger = logging.getLogger(__name__)

WWW_AUTHENTICATE = 'Bearer realm="a2a-server", charset="UTF-8"'


class NotFound(Exception):
    """An agent or context that does not exist in the caller's tenant."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PayloadTooLarge(Exception):
    """The request body is larger than the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.message = str(self)


class BadRequest(Exception):
    """Malformed input that is not a protocol-level InvalidParams (e.g. content type)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class MalformedJSON(BadRequest):
    """A body that is not JSON at all (JSON-RPC's Parse error, -32700)."""


class UnreadableRecord(Exception):
    """A stored task or message that cannot be decoded or rendered in the requested shape."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is stored in a form this server cannot render; see the server log")
        self.message = str(self)


class StoreUnavailable(Exception):
    """The task store cannot be reached; the request changed nothing."""

    def __init__(self, message: str = "the task store is unavailable; retry shortly") -> None:
        super().__init__(message)
        self.message = message


class TaskLost(StoreUnavailable):
    """A task vanished from the store while it ran (a store without persistence restarted
    empty, or a failover to a replica that had not received the writes)."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"the task store lost task {task_id} while it ran (a store without "
                         "persistence restarted, or a failover lost writes); send it again")
class QuotaExceeded(Exception):
    """A tenant is over one of its limits: 429 with Retry-After and RateLimit fields."""

    def __init__(self, message: str, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


_GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
# 415 (a body not declared as JSON): ContentTypeNotSupportedError, as the SDK maps that error
# to 415 on REST; clients and the TCK read the code, the HTTP status stays 415.
_JSONRPC_CODE = {400: -32600, 401: -32600, 403: -32600, 404: -32600, 413: -32600, 415: -32005,
                 429: -32600,
                 500: -32603, 503: -32603}


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None,
                  media_type: str = "application/json") -> Response:
    """A JSON response serialized with orjson."""
    return Response(orjson.dumps(content), status_code=status, headers=headers,
                    media_type=media_type)


def _classify(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, AuthError):
        return exc.status, exc.message
    if isinstance(exc, NotFound):
        return 404, exc.message
    if isinstance(exc, PayloadTooLarge):
        return 413, exc.message
    if isinstance(exc, BadRequest):
        return exc.status, exc.message
    if isinstance(exc, StoreUnavailable):
        return 503, exc.message
    if isinstance(exc, UnreadableRecord):  # logged where it was found
        return 500, exc.message
    if isinstance(exc, QuotaExceeded):
        return 429, exc.message
    logger.error("unhandled error", exc_info=exc)
    return 500, "internal server error"


def _headers(status: int, exc: Exception | None = None) -> dict[str, str] | None:
    if isinstance(exc, QuotaExceeded):
        return exc.headers
    if status == 401:
        return {"WWW-Authenticate": WWW_AUTHENTICATE}
    if status == 503:
        return {"Retry-After": "1"}
    return None


def rest_error(exc: Exception) -> Response:
    """Render ``exc`` as a google.rpc-style REST error."""
    if isinstance(exc, A2AError | ParseError):  # ParseError: a ProtoJSON body, as the SDK says
        payload = build_rest_error_payload(exc)
        return json_response(payload, status=payload["error"]["code"])
    status, message = _classify(exc)
    body = {"error": {"code": status, "status": _GRPC_STATUS.get(status, "UNKNOWN"),
                      "message": message}}
    return json_response(body, status=status, headers=_headers(status, exc))


def jsonrpc_error(request_id: str | int | None, exc: Exception) -> Response:
    """Render ``exc`` as a JSON-RPC 2.0 error object."""
    if isinstance(exc, A2AError):
        return json_response(build_error_response(request_id, exc))
    if isinstance(exc, MalformedJSON):
        return json_response(build_error_response(request_id, JSONParseError(message=exc.message)))
    status, message = _classify(exc)
    if status == 500:
        return json_response(build_error_response(request_id, InternalError(message=message)))
    body = {"jsonrpc": "2.0", "id": request_id,
            "error": {"code": _JSONRPC_CODE.get(status, -32603), "message": message}}
    return json_response(body, status=status, headers=_headers(status, exc))
