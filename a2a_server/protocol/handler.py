"""The SDK request handler, with message sends run by this server's ``TaskRunner``.

The SDK's ``DefaultRequestHandlerV2`` still serves reads, listings, cancels of
tasks running elsewhere, resubscriptions and push-config calls. Sends
(blocking, non-blocking and streaming) go to the runner instead of the SDK's
``ActiveTask``: events are applied as the agent enqueues them and committed in
groups, one store write for all the events gathered while the previous write
was in flight (see ``a2a_server.runs``). Beyond the SDK:

- Follow-ups that name a task but no context take the task's context (SDK
  1.3.0 otherwise fails with "Context in event doesn't match TaskManager").
- Exchanges answered with a direct Message (no task) are recorded in the
  context, so ``GET /contexts/{id}`` shows them.
- A cancel of a task this replica runs asks its agent to stop; one that runs
  elsewhere is also sent to the replica that runs it (the SDK only records
  CANCELED in the store).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator

from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.tasks.push_notification_config_store import normalize_push_notification_config
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    Message,
    SendMessageRequest,
    Task,
    TaskPushNotificationConfig,
)
from a2a.utils.errors import (
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from a2a.utils.task import validate_history_length

from a2a_server.protocol import quotas
from a2a_server.protocol.idempotency import Idempotency
from a2a_server.protocol.validation import validate_send
from a2a_server.push_policy import check_config_fields
from a2a_server.runs.apply import view
from a2a_server.runs.run import Tagged, TaskRun
from a2a_server.runs.runner import TaskRunner
from a2a_server.stores.base import TERMINAL_STATES, Stores, scope_of


def _check_push_fields(config: TaskPushNotificationConfig) -> None:
    problem = check_config_fields(config.token, config.authentication.credentials,
                                  config.authentication.scheme)
    if problem is not None:
        raise InvalidParamsError(message=problem)


def _history_length(params: SendMessageRequest) -> int | None:
    configuration = params.configuration
    return configuration.history_length if configuration.HasField("history_length") else None


async def _once(item: Tagged) -> AsyncIterator[Tagged]:
    yield item


class ServerRequestHandler(DefaultRequestHandlerV2):
    """``DefaultRequestHandlerV2`` bound to this server's stores and task runner."""

    def __init__(self, *args: object, stores: Stores, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._stores = stores
        self.runner = TaskRunner(self.agent_executor, stores)
        self.idempotency = Idempotency(None, None, 0)  # app.py wires the store

    async def _start(self, params: SendMessageRequest, context: ServerCallContext,
                     listen: bool, new_task_id: str | None = None,
                     ) -> tuple[TaskRun, AsyncIterator[Tagged] | None]:
        """Check the request, take the task's turn, start the run (listening from its start)."""
        validate_history_length(params.configuration)
        scope = scope_of(context)
        stored, turn = await self.runner.load(scope, params)
        try:
            if stored is None:
                params.message.task_id = new_task_id or str(uuid.uuid4())
            elif not params.message.context_id:
                params.message.context_id = stored.task.context_id
            push_config = None
            if self._push_config_store and params.configuration.HasField(
                "task_push_notification_config"
            ):
                config = params.configuration.task_push_notification_config
                _check_push_fields(config)
                await self._check_push_url(config.url)
                if stored is None:  # a new task: its first commit stores the config too
                    push_config = normalize_push_notification_config(
                        params.message.task_id, config)
                else:
                    await self._push_config_store.set_info(params.message.task_id, config,
                                                           context)
            run = self.runner.start(scope, context, params, stored, turn, _history_length(params),
                                    push_config)
        except BaseException:
            self.runner.give_back(turn)
            raise
        events = run.listen() if listen else None
        run.start()
        return run, events

    async def _check_push_url(self, url: str) -> None:
        """The SDK's ``_reject_unsafe_push_url`` without its tracing wrapper (the SDK wraps
        every handler method in a span: a no-op one costs more than the check itself)."""
        if self._push_url_validator is not None and not await self._push_url_validator(url):
            raise InvalidParamsError(message="Invalid push notification URL")

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
        """Run the agent; answer with the task once it settles (or the agent's Message)."""
        validate_send(params)
        begun = await self.idempotency.begin(params, context, _history_length(params))
        if begun.replay is not None:
            return begun.replay
        try:
            run, _ = await self._start(params, context, listen=False, new_task_id=begun.task_id)
        except BaseException:
            await begun.failed()
            raise
        quotas.attach_run(run.finished)
        try:
            result = await run.outcome()
        except BaseException:
            await begun.ended_without_answer(run.task is not None)
            raise
        await begun.answered(result)
        if not params.configuration.return_immediately:
            quotas.run_answered()
        if isinstance(result, Message):
            await self._record_direct(params, result, context)
        return result

    async def stream(self, params: SendMessageRequest,
                     context: ServerCallContext) -> AsyncIterator[Tagged]:
        """Run the agent; every committed event with its version (None: a direct Message).

        Raises (before any event):
            UnsupportedOperationError: the agent does not stream.
            A2AError: the request is invalid (the same checks as a blocking send).
        """
        if not self._agent_card.capabilities.streaming:
            raise UnsupportedOperationError(message="Streaming is not supported by the agent")
        validate_send(params)
        begun = await self.idempotency.begin(params, context, _history_length(params))
        if begun.tagged is not None:
            return _once(begun.tagged)
        try:
            run, events = await self._start(params, context, listen=True,
                                            new_task_id=begun.task_id)
        except BaseException:
            await begun.failed()
            raise
        assert events is not None
        quotas.attach_run(run.finished)
        return quotas.attach_stream(begun.following(self._recording(params, context, events)))

    async def _recording(self, params: SendMessageRequest, context: ServerCallContext,
                         events: AsyncIterator[Tagged]) -> AsyncIterator[Tagged]:
        history = _history_length(params)
        async for version, event in events:
            if isinstance(event, Message):
                await self._record_direct(params, event, context)
            elif isinstance(event, Task) and history is not None:
                event = view(event, history)
            yield version, event

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        """The same events, for the SDK's JSON-RPC streaming (which carries no ids)."""
        async for _, event in await self.stream(params, context):
            yield event

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        """The SDK's, refusing a token or credentials that would split the delivery's headers."""
        _check_push_fields(params)
        return await super().on_create_task_push_notification_config(params, context)

    async def on_cancel_task(
        self, params: CancelTaskRequest, context: ServerCallContext
    ) -> Task | None:
        """Cancel; a run on this replica is stopped here, one elsewhere is told to stop."""
        scope = scope_of(context)
        run = self.runner.running(scope, params.id)
        if run is None:
            task = await super().on_cancel_task(params, context)
            await self._stores.leases.request_cancel(scope, params.id)
            return task
        stored = await self._stores.tasks.get(params.id, context)
        if stored is None:
            raise TaskNotFoundError
        if stored.task.status.state in TERMINAL_STATES:
            raise TaskNotCancelableError
        task = await run.cancel()
        if task is None:
            raise TaskNotFoundError
        return task
