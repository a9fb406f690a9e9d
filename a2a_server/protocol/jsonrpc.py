"""A2A JSON-RPC for one agent: 1.0 methods and 0.3 methods on one URL.

The SDK's ``JsonRpcDispatcher`` does the protocol work (method routing, 0.3
compatibility by method name, version checks). Before it runs, the request is
authenticated and ``params.tenant``, when present, must match the credentials.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from a2a_server.errors import StoreUnavailable, jsonrpc_error
from a2a_server.protocol.gate import admit, require_json, state_of
from a2a_server.protocol.quotas import add_rate_limit_fields, quotas_of

INTERNAL_ERROR = -32603


def _peek(body: bytes) -> tuple[Any, str | None]:
    """The request id and params.tenant, if the body is parseable enough to have them."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(parsed, dict):
        return None, None
    request_id = parsed.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int | None):
        request_id = None
    params = parsed.get("params")
    tenant = params.get("tenant") if isinstance(params, dict) else None
    return request_id, tenant if isinstance(tenant, str) else None


async def jsonrpc(request: Request) -> Response:
    """POST /agents/{agent_id}/v1 (and with a trailing slash)."""
    request_id = None
    try:
        body = await request.body()
        request_id, tenant = _peek(body)
        runtime, principal, config = admit(request, request.path_params["agent_id"],
                                           tenant_hint=tenant)
        await require_json(request)
        holds = await quotas_of(request).admit_jsonrpc(request, config, principal, body,
                                                   request.path_params["agent_id"])
        try:
            response = await runtime.jsonrpc.handle_requests(request)
        finally:
            if holds is not None:
                await holds.settle()
    except Exception as exc:  # noqa: BLE001 - the one boundary that renders errors
        return jsonrpc_error(request_id, exc)
    if not state_of(request).stores.available and _is_internal_error(response):
        # The SDK's dispatcher renders a store outage as InternalError on HTTP 200; the store
        # marked itself down, so answer what happened: 503, retry shortly.
        return jsonrpc_error(request_id, StoreUnavailable())
    add_rate_limit_fields(request, response)
    return response


def _is_internal_error(response: Response) -> bool:
    body = getattr(response, "body", None)
    if not isinstance(body, bytes):  # a stream: its status is already sent
        return False
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return isinstance(error, dict) and error.get("code") == INTERNAL_ERROR
