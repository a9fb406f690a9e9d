"""Errors in the seed APIs' own formats.

Shannon: ``{"error": "<message>"}`` with the HTTP status (401 ``Unauthorized``,
404 ``Task not found``, ...). agentlin: a JSON-RPC 2.0 envelope with an error
object, rendered like every JSON-RPC error of this server (``errors.jsonrpc_error``:
protocol errors on HTTP 200, transport errors keep their status).
"""

from __future__ import annotations

import logging

from a2a.utils.error_handlers import build_rest_error_payload
from a2a.utils.errors import A2AError, TaskNotCancelableError, TaskNotFoundError
from starlette.responses import Response

from a2a_server.errors import (
    WWW_AUTHENTICATE,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    StoreUnavailable,
    json_response,
)
from a2a_server.tenancy.auth import AuthError

logger = logging.getLogger(__name__)

TASK_NOT_FOUND = "Task not found"


def _classify(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, AuthError):
        return exc.status, "Unauthorized" if exc.status == 401 else "Forbidden"
    if isinstance(exc, TaskNotFoundError):
        return 404, TASK_NOT_FOUND
    if isinstance(exc, TaskNotCancelableError):
        return 409, "Task cannot be cancelled: it has already finished"
    if isinstance(exc, A2AError):
        payload = build_rest_error_payload(exc)["error"]
        return int(payload["code"]), str(payload["message"])
    if isinstance(exc, QuotaExceeded):
        return 429, exc.message
    if isinstance(exc, NotFound | PayloadTooLarge | BadRequest | StoreUnavailable):
        status = next((code for kind, code in ((NotFound, 404), (PayloadTooLarge, 413),
                                                (StoreUnavailable, 503)) if isinstance(exc, kind)),
                      400)  # subclasses too (gate.AgentNotFound, TaskLost)
        return getattr(exc, "status", status), exc.message
    logger.error("unhandled error", exc_info=exc)
    return 500, "internal server error"


def shannon_error(exc: Exception) -> Response:
    """``exc`` as Shannon's ``{"error": ...}`` with its HTTP status."""
    status, message = _classify(exc)
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": "1"}
    if isinstance(exc, QuotaExceeded):
        headers = exc.headers
    return json_response({"error": message}, status=status, headers=headers)
