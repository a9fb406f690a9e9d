"""agentlin's task API over A2A tasks: ``GET /tasks/{task_id}``.

The answer is a JSON-RPC 2.0 envelope ``{"jsonrpc": "2.0", "id", "result"}``
whose result is ``{"object": "task", ...}`` (``mapping.agentlin_task``); ``id``
is the caller's ``X-Request-ID`` when given, else one the server makes. Errors
are the envelope with a JSON-RPC error object instead of a result (``TaskNotFound``
-32001 for a missing task or another tenant's). Bearer credentials (a key or a
token of this server), or ``X-API-Key``; ``user_id`` is the credential's subject.
The page describes no creation or cancel: tasks are created through A2A or
Shannon's ``POST /api/v1/tasks``.
"""

from __future__ import annotations

import re
import uuid

from a2a.utils.errors import TaskNotFoundError
from starlette.requests import Request
from starlette.responses import Response

from a2a_server.errors import json_response, jsonrpc_error
from a2a_server.protocol.quotas import add_rate_limit_fields
from a2a_server.protocol.rest import error_with_rate_limit_fields
from a2a_server.seeds import mapping
from a2a_server.seeds.lookup import find_task

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _request_id(request: Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.match(given) else str(uuid.uuid4())


async def get_task(request: Request) -> Response:
    """GET /tasks/{task_id}"""
    request_id = _request_id(request)
    try:
        found = await find_task(request, request.path_params["task_id"])
        if found is None:
            raise TaskNotFoundError
    except Exception as exc:  # noqa: BLE001 - the one boundary that renders errors
        return error_with_rate_limit_fields(request, exc, jsonrpc_error(request_id, exc))
    _, principal, task = found
    response = json_response({"jsonrpc": "2.0", "id": request_id,
                              "result": mapping.agentlin_task(task, principal.subject)})
    add_rate_limit_fields(request, response)
    return response
