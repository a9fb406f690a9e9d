"""A2A JSON-RPC for one agent: 1.0 methods and 0.3 methods on one URL.

The SDK's ``JsonRpcDispatcher`` does the protocol work (method routing, 0.3
compatibility by method name, version checks). Before it runs, the request is
authenticated and ``params.tenant``, when present, must match the credentials.

The body is parsed once, here, by orjson, and handed to the dispatcher as the
request's parsed JSON. orjson refuses what is not JSON (``NaN``, ``Infinity``,
numbers beyond a double) and nesting beyond its limit, as -32700; the
dispatcher's own ``json.loads`` would accept the first, store it and fail every
later read, and answer the others with a RecursionError's text as -32603.
"""

from __future__ import annotations

from typing import Any

import orjson
from a2a.utils.errors import InvalidRequestError, VersionNotSupportedError
from starlette.requests import Request
from starlette.responses import Response

from a2a_server.errors import MalformedJSON, StoreUnavailable, jsonrpc_error
from a2a_server.protocol.gate import (
    AgentNotFound,
    admit,
    count_not_found,
    is_v1,
    require_json,
    state_of,
)
from a2a_server.protocol.quotas import add_rate_limit_fields, quotas_of

INTERNAL_ERROR = -32603
MAX_DEPTH = 200
"""Deepest JSON a JSON-RPC body may nest (protobuf stops at 100 message levels anyway)."""


def _request_id(parsed: Any) -> str | int | None:
    request_id = parsed.get("id") if isinstance(parsed, dict) else None
    if isinstance(request_id, bool) or not isinstance(request_id, str | int | None):
        return None
    return request_id


def _tenant(parsed: Any) -> str | None:
    params = parsed.get("params") if isinstance(parsed, dict) else None
    tenant = params.get("tenant") if isinstance(params, dict) else None
    return tenant if isinstance(tenant, str) else None


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                deepest = max(deepest, depth + 1)
                stack.append((child, depth + 1))
    return deepest


def _parse(body: bytes) -> tuple[Any, Exception | None]:
    """The body's JSON, or what is wrong with it: not JSON (-32700), nested too deep (-32600)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return None, MalformedJSON(f"the body is not JSON: {exc}")
    # Counting brackets is a C-speed scan; only a body that could be that deep is walked.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _depth(parsed) > MAX_DEPTH:
        return None, InvalidRequestError(message=f"the request nests deeper than {MAX_DEPTH} levels")
    return parsed, None


_SENDS = frozenset({"SendMessage", "SendStreamingMessage", "message/send", "message/stream"})


def _is_send(parsed: Any) -> bool:
    """A JSON-RPC send (a batch counts as one if any of its calls is)."""
    calls = parsed if isinstance(parsed, list) else [parsed]
    return any(isinstance(c, dict) and c.get("method") in _SENDS for c in calls)


def _check_version(request: Request, parsed: Any) -> None:
    """A 0.3 method (``message/send``) needs a 0.3 request; a 1.0 method a 1.0 one.

    The SDK checks the second; the first it reports as -32603, having no 0.3 code
    for a version error.
    """
    method = parsed.get("method") if isinstance(parsed, dict) else None
    if isinstance(method, str) and "/" in method and is_v1(request):
        raise VersionNotSupportedError(
            message=f"'{method}' is an A2A 0.3 method; send it without A2A-Version: 1.0 "
                    "or use its A2A 1.0 name"
        )


async def jsonrpc(request: Request) -> Response:
    """POST /agents/{agent_id}/v1 (and with a trailing slash)."""
    request_id = None
    try:
        body = await request.body()
        parsed, problem = _parse(body)
        request_id = _request_id(parsed)
        try:
            runtime, principal, config = admit(request, request.path_params["agent_id"],
                                               tenant_hint=_tenant(parsed), send=_is_send(parsed))
        except AgentNotFound as exc:
            await count_not_found(request, exc)
            raise
        await require_json(request)  # credentials first, then the body
        if problem is not None:
            raise problem
        _check_version(request, parsed)
        holds = await quotas_of(request).admit_jsonrpc(request, config, principal, body,
                                                   request.path_params["agent_id"])
        request._json = parsed  # Starlette's cache of request.json(): the dispatcher reads it
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
