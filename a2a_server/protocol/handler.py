"""The SDK request handler, extended where the server needs more than the SDK gives.

- Follow-ups that name a task but no context inherit the task's context (SDK
  1.3.0 otherwise fails with "Context in event doesn't match TaskManager").
- Exchanges answered with a direct Message (no task) are recorded in the
  context, so ``GET /contexts/{id}`` shows them.
- A cancel of a task this replica does not run also tells the running replica
  to stop its executor (the SDK only records CANCELED in the store).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    Message,
    SendMessageRequest,
    Task,
)

from a2a_server.stores.base import Stores, scope_of


class ServerRequestHandler(DefaultRequestHandlerV2):
    """``DefaultRequestHandlerV2`` bound to this server's stores."""

    def __init__(self, *args: object, stores: Stores, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._stores = stores

    async def _inherit_context(self, params: SendMessageRequest, context: ServerCallContext) -> None:
        message = params.message
        if message.task_id and not message.context_id:
            stored = await self._stores.tasks.get(message.task_id, context)
            if stored is not None:
                message.context_id = stored.task.context_id

    async def _record_direct(
        self, params: SendMessageRequest, reply: Message, context: ServerCallContext
    ) -> None:
        context_id = reply.context_id or params.message.context_id
        if not context_id:
            return
        scope = scope_of(context)
        user = Message()
        user.CopyFrom(params.message)
        user.context_id = context_id
        await self._stores.contexts.add_message(scope, context_id, user)
        await self._stores.contexts.add_message(scope, context_id, reply)

    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Message | Task:
        """Send, then record a direct-message exchange in its context."""
        await self._inherit_context(params, context)
        result = await super().on_message_send(params, context)
        if isinstance(result, Message):
            await self._record_direct(params, result, context)
        return result

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        """Stream, then record a direct-message exchange in its context."""
        await self._inherit_context(params, context)
        async for event in super().on_message_send_stream(params, context):
            if isinstance(event, Message):
                await self._record_direct(params, event, context)
            yield event

    async def on_cancel_task(
        self, params: CancelTaskRequest, context: ServerCallContext
    ) -> Task | None:
        """Cancel; if another replica runs the task, tell it to stop."""
        running_here = await self._active_task_registry.get(params.id) is not None
        task = await super().on_cancel_task(params, context)
        if not running_here:
            await self._stores.leases.request_cancel(scope_of(context), params.id)
        return task
