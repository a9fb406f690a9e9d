"""HTTP+JSON routes of one agent, with A2A version negotiation on the same paths.

``A2A-Version: 1.0`` gets A2A 1.0 ProtoJSON (the SDK's ``RestDispatcher`` where
it serves as is); no header or ``0.3`` gets the A2A 0.3 JSON shape of Corti's
v1 API. Reads of a task go straight to the store's trimmed view (history is
trimmed in the store, what is stored is never altered).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from a2a.compat.v0_3 import conversions
from a2a.compat.v0_3 import types as types_v03
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    ListTasksRequest,
    SendMessageRequest,
    Task,
    TaskState,
)
from a2a.utils import proto_utils
from a2a.utils.constants import A2A_JSON_MEDIA_TYPE as A2A_JSON
from a2a.utils.errors import A2AError, InvalidParamsError, InvalidRequestError, TaskNotFoundError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from a2a_server.errors import NotFound, QuotaExceeded, StoreUnavailable, json_response, rest_error
from a2a_server.field_errors import first_problem
from a2a_server.protocol import shapes, streaming
from a2a_server.protocol.compat import to_core
from a2a_server.protocol.gate import (
    AgentNotFound,
    admit,
    check_body_tenant,
    count_not_found,
    count_request,
    is_v1,
    parse_non_negative,
    query_param,
    require_json,
    state_of,
)
from a2a_server.protocol.protojson import message_to_dict
from a2a_server.protocol.quotas import add_rate_limit_fields, quotas_of
from a2a_server.protocol.runtime import AgentRuntime, build_call_context
from a2a_server.push.api import get_deliveries
from a2a_server.tenancy.auth import AuthError, Principal
from a2a_server.tenancy.config import TenantConfig

Endpoint = Callable[[Request], Awaitable[Response]]


def rest_endpoint(func: Endpoint) -> Endpoint:
    """Every failure becomes a REST error body; no traceback reaches the client."""

    @functools.wraps(func)
    async def wrapper(request: Request) -> Response:
        try:
            response = await func(request)
        except Exception as exc:  # noqa: BLE001 - the one boundary that renders errors
            return error_with_rate_limit_fields(request, exc, rest_error(exc))
        if response.status_code == 500 and not state_of(request).stores.available:
            # The SDK's RestDispatcher renders every non-A2A error (our StoreUnavailable
            # too) as a 500; the store marked itself down, so say what happened.
            return rest_error(StoreUnavailable())
        if response.media_type == A2A_JSON and _wants_plain_json(request):
            response.headers["content-type"] = "application/json"
        add_rate_limit_fields(request, response)
        return response

    return wrapper


def error_with_rate_limit_fields(request: Request, exc: Exception, response: Response) -> Response:
    """An error answer to a request the tenant's windows counted says what is left of them
    (a refusal keeps its own fields: the limit that refused it)."""
    if not isinstance(exc, QuotaExceeded):
        add_rate_limit_fields(request, response)
    return response


def _wants_plain_json(request: Request) -> bool:
    """The request speaks ``application/json``: its body, or (no body) its Accept header.

    A2A 1.0 answers are ``application/a2a+json`` (v1.0.1, 11.1), but v1.0.0 said
    ``application/json`` and clients written to it check for that; the answer
    follows the request: ``application/json`` in, ``application/json`` out.
    """
    content_type = request.headers.get("content-type")
    if content_type:
        return content_type.split(";")[0].strip().lower() == "application/json"
    accept = request.headers.get("accept", "")
    return "application/json" in accept and A2A_JSON not in accept


_LEGACY_REST_SEGMENT = "v1"  # A2A 0.3 REST clients call {interface url}/v1/message:send


async def _admit(request: Request, *, send: bool = False) -> tuple[AgentRuntime, TenantConfig]:
    """``gate.admit_counted``, with the A2A 0.3 path form's 403 said for what it is (written
    out rather than wrapping it: a task GET is not two coroutine frames deeper)."""
    try:
        runtime, principal, tenant = _admitted(request, send)
    except AgentNotFound as exc:
        await count_not_found(request, exc)
        raise
    await count_request(request, principal, tenant)
    return runtime, tenant


def _admitted(request: Request, send: bool) -> tuple[AgentRuntime, Principal, TenantConfig]:
    try:
        return admit(request, request.path_params["agent_id"], send=send)
    except AuthError as exc:
        # An A2A 0.3 REST client puts /v1/ under the interface URL, read here as the
        # /{tenant}/ segment: answer what is wrong, not "another tenant".
        if exc.status == 403 and request.path_params.get("tenant") == _LEGACY_REST_SEGMENT:
            raise NotFound(
                "this is the A2A 0.3 HTTP+JSON path form ({interface url}/v1/...), which this "
                "server does not serve; call the interface URL itself ({interface url}/"
                "message:send, /tasks/{id}...: A2A 1.0 with A2A-Version: 1.0, or 0.3 JSON "
                "without it) or its JSON-RPC interface"
            ) from exc
        raise


async def _send(request: Request, stream: bool, send: Endpoint) -> Response:
    _, tenant = await _admit(request, send=True)
    holds = await quotas_of(request).hold_send(tenant, stream=stream,
                                               agent=request.path_params["agent_id"])
    try:
        return await send(request)
    finally:
        if holds is not None:
            await holds.settle()


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await require_json(request)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(message=f"malformed JSON body: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidParamsError(message="the request body must be a JSON object")
    return body


def _send_request_v03(body: dict[str, Any]) -> SendMessageRequest:
    try:
        params = types_v03.MessageSendParams.model_validate(body)
    except ValidationError as exc:
        where, message = first_problem(exc, "")
        raise InvalidParamsError(message=f"invalid message:send body at '{where}': {message}") from exc
    return to_core(conversions.to_core_send_message_request,
                   types_v03.SendMessageRequest(id=0, params=params))


@rest_endpoint
async def send_message(request: Request) -> Response:
    """POST .../message:send"""
    return await _send(request, False, _send_message)


async def _send_params(request: Request) -> tuple[AgentRuntime, SendMessageRequest, bool]:
    """The admitted agent's runtime, the send's parameters (either version) and whether
    the request speaks A2A 1.0."""
    runtime = state_of(request).runtimes[request.path_params["agent_id"]]
    v1 = is_v1(request)
    if v1:
        params = streaming.send_request_v1(await require_json(request))
        check_body_tenant(request, params.tenant)
    else:
        body = await _json_body(request)
        check_body_tenant(request, body.get("tenant"))
        params = _send_request_v03(body)
    return runtime, params, v1


async def _send_message(request: Request) -> Response:
    runtime, params, v1 = await _send_params(request)
    result = await runtime.handler.on_message_send(params, build_call_context(request))
    return json_response(shapes.send_result_json(result, v03=not v1),
                         media_type=A2A_JSON if v1 else "application/json")


@rest_endpoint
async def stream_message(request: Request) -> Response:
    """POST .../message:stream (SSE)"""
    return await _send(request, True, _stream_message)


async def _stream_message(request: Request) -> Response:
    runtime, params, v1 = await _send_params(request)
    events = await streaming.send_events(runtime, params, build_call_context(request))
    return streaming.sse_response(events, v03=not v1)


@rest_endpoint
async def get_task(request: Request) -> Response:
    """GET .../tasks/{id}?historyLength=N, served from the store's trimmed view."""
    await _admit(request)
    v1 = is_v1(request)
    length = parse_non_negative(query_param(request, "historyLength"), "historyLength")
    if not v1 and length == 0:
        length = None  # 0.3: historyLength 0 means unlimited
    server = state_of(request)
    scope = request.scope["a2a_server.scope"]
    view = await server.stores.tasks.get_task_view_bytes(scope, request.path_params["id"], length)
    if view is None:
        raise TaskNotFoundError(message=f"task {request.path_params['id']} not found")
    try:  # render_one, inlined (no closure and no f-string per GET)
        body = shapes.stored_task_json_bytes(view, v03=not v1)
    except Exception:  # noqa: BLE001 - logged and answered as unreadable, as render_one does
        body = shapes.render_one(f"task {request.path_params['id']}",
                                 lambda: shapes.stored_task_json_bytes(view, v03=not v1))
    return _JsonBytes(body)


class _JsonBytes(Response):
    """``Response(body, media_type="application/json")``, with the same two headers in the
    same order, built without ``init_headers``' general case (a third of a microsecond)."""

    def __init__(self, body: bytes) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json")]


@rest_endpoint
async def cancel_task(request: Request) -> Response:
    """POST .../tasks/{id}:cancel"""
    runtime, _ = await _admit(request)
    if is_v1(request):
        return await runtime.rest.on_cancel_task(request)
    task = await runtime.handler.on_cancel_task(
        CancelTaskRequest(id=request.path_params["id"]), build_call_context(request)
    )
    if task is None:
        raise TaskNotFoundError
    return json_response(shapes.task_json(task, v03=True))


@rest_endpoint
async def subscribe_task(request: Request) -> Response:
    """GET|POST .../tasks/{id}:subscribe (SSE)"""
    await _admit(request)
    v1 = is_v1(request)
    last = streaming.parse_last_event_id(request.headers.get(streaming.LAST_EVENT_ID))
    events = await streaming.subscribe_events(state_of(request).stores, request.path_params["id"],
                                              build_call_context(request), last)
    return streaming.sse_response(events, v03=not v1)


_TASK_STATES = frozenset(TaskState.keys())
_BOOLEANS = frozenset({"true", "false", "1", "0"})


def _check_list_filters(request: Request) -> None:
    """Refuse filter values the SDK's parser would silently treat as 'no filter'."""
    status = request.query_params.get("status")
    if status is not None and status not in _TASK_STATES:
        raise InvalidParamsError(
            message=f"status must be one of {', '.join(sorted(_TASK_STATES))}, got '{status}'"
        )
    for name in ("historyLength", "pageSize"):  # int() would take '+1', '1e3' (no), Arabic digits
        parse_non_negative(request.query_params.get(name), name)
    include = request.query_params.get("includeArtifacts")
    if include is not None and include.lower() not in _BOOLEANS:
        raise InvalidParamsError(message=f"includeArtifacts must be true or false, got '{include}'")


@rest_endpoint
async def list_tasks(request: Request) -> Response:
    """GET .../tasks (A2A 1.0 ListTasks; 0.3 requests get 0.3-shaped tasks).

    Each task is rendered on its own: one that cannot be is logged and left out.
    """
    runtime, _ = await _admit(request)
    _check_list_filters(request)
    v1 = is_v1(request)
    params = ListTasksRequest()
    try:
        proto_utils.parse_params(request.query_params, params)
    except A2AError:
        raise
    except Exception as exc:
        raise InvalidParamsError(message=f"invalid query parameters: {exc}") from exc
    page = await runtime.handler.on_list_tasks(params, build_call_context(request))
    render = _list_item_v1(params.include_artifacts) if v1 else _list_item_v03
    body = {"tasks": shapes.render_each(page.tasks, render),
            "nextPageToken": page.next_page_token, "pageSize": page.page_size,
            "totalSize": page.total_size}
    return json_response(body, media_type=A2A_JSON if v1 else "application/json")


def _list_item_v03(task: Task) -> dict[str, Any]:
    return shapes.task_json(task, v03=True)


def _list_item_v1(include_artifacts: bool) -> Callable[[Task], dict[str, Any]]:
    """A task as the SDK's REST ListTasks prints it (every field, artifacts on request)."""

    def render(task: Task) -> dict[str, Any]:
        item = message_to_dict(task, always_print_fields_with_no_presence=True)
        if not include_artifacts:
            item.pop("artifacts", None)
        orjson.dumps(item)  # a value orjson cannot print fails here, for this task only
        return item

    return render


def _v1_only(method_name: str) -> Endpoint:
    @rest_endpoint
    async def endpoint(request: Request) -> Response:
        runtime, _ = await _admit(request)
        return await getattr(runtime.rest, method_name)(request)

    endpoint.__name__ = method_name
    return endpoint


@rest_endpoint
async def set_push_config(request: Request) -> Response:
    """POST .../tasks/{id}/pushNotificationConfigs (A2A 1.0)"""
    runtime, _ = await _admit(request)
    body = await _json_body(request)
    check_body_tenant(request, body.get("tenant"))
    return await runtime.rest.set_push_notification(request)



list_push_configs = _v1_only("list_push_notifications")
get_push_config = _v1_only("get_push_notification")
delete_push_config = _v1_only("delete_push_notification")
push_deliveries = rest_endpoint(get_deliveries)  # ours: the delivery log (a2a_server.push.api)
extended_card = _v1_only("handle_authenticated_agent_card")

