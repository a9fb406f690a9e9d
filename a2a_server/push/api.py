"""The push routes beyond A2A's: the delivery log and the server's signing keys.

``GET /agents/{id}/v1/tasks/{taskId}/pushNotificationConfigs/{configId}/deliveries`` (and the
same under ``/agentic/agents/{id}/a2a`` and the ``/{tenant}`` forms): the config's delivery
state, reason and next retry, and its last attempts, newest first. A task or config of
another tenant is a 404 exactly like a missing one.

``GET /.well-known/jwks.json``: the public keys push deliveries are signed with.
"""

from __future__ import annotations

from a2a.utils.errors import TaskNotFoundError
from starlette.requests import Request
from starlette.responses import Response

from a2a_server.errors import NotFound, json_response
from a2a_server.protocol.gate import admit_counted, state_of
from a2a_server.protocol.runtime import build_call_context
from a2a_server.push.deliverer import PushDeliverer
from a2a_server.push.log import DeliveryLog
from a2a_server.stores.base import SCOPE_KEY, Scope

DELIVERER_KEY = "push_deliverer"


async def get_deliveries(request: Request) -> Response:
    """The delivery log of one push config of one task."""
    await admit_counted(request, request.path_params["agent_id"])
    scope: Scope = request.scope[SCOPE_KEY]
    stores = state_of(request).stores
    task_id = request.path_params["id"]
    config_id = request.path_params["push_id"]
    if await stores.tasks.get_task_view(scope, task_id, 0) is None:
        raise TaskNotFoundError(message=f"Task {task_id} not found")
    raw = await stores.outbox.load_log(scope, task_id, config_id)
    if raw is None:
        configs = await stores.push_configs.get_info(task_id, build_call_context(request))
        if not any(config.id == config_id for config in configs):
            raise NotFound(f"push notification config {config_id} not found")
    return json_response(DeliveryLog.loads(raw).to_json(task_id, config_id))


async def jwks(request: Request) -> Response:
    """The JWKS document (empty when deliveries are not signed)."""
    deliverer: PushDeliverer | None = getattr(request.app.state, DELIVERER_KEY, None)
    signer = deliverer.signer if deliverer is not None else None
    body = signer.jwks() if signer is not None else {"keys": []}
    response = json_response(body)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
