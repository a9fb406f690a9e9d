"""REST server-sent events with ids: every task event carries ``id: <task version>``.

Both REST streams (``message:stream`` and ``tasks/{id}:subscribe``, 1.0 and 0.3
shapes) are served from the store's event log (``TaskEventStream``), where each
event is stored with the task version it produced. The SSE ``id`` is that
version, so a client that lost its connection -- or whose replica died --
reconnects to any replica with ``Last-Event-ID`` and receives exactly the events
after the last one it saw, in order:

- ``message:stream``: the task runner runs the request; the client is sent each
  event as it is committed, with the version it was committed at, until the run
  ends.
- ``tasks/{id}:subscribe`` without ``Last-Event-ID``: the stored snapshot (id =
  its version), then every later event.
- with ``Last-Event-ID: N``: every event after version N, even if the task has
  finished since (the client gets the end it missed). No snapshot is repeated --
  unless nothing is logged after N for a finished task (its log expired after
  ``finished_events_seconds``, or N is its last version): then the final task (id =
  its version) stands in for what the client may have missed.

``message:stream`` sends an artifact update while its commit is in flight, with the
version that commit gives it (``runs/run.py``, ``_show_early``). A client may therefore
name a version the store has not reached yet (the write is in flight) or never will
(it was refused: another writer ended the task at that version, or the store failed).
Resuming from such an N tails the log from the stored version instead and skips the
artifact updates up to N (the client was sent them); any other event there is new to
it. A finished task with nothing logged after N sends its final task, as above.

A direct Message answer (no task) has no version and is sent without an id.
JSON-RPC streams are left to the SDK (JSON-RPC over SSE carries no ids).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import orjson
from a2a.server.agent_execution.active_task import (
    INTERRUPTED_TASK_STATES,
    TERMINAL_TASK_STATES,
)
from a2a.server.cluster import TaskVersion, VersionedEvent
from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.types.a2a_pb2 import (
    Message,
    SendMessageRequest,
    Task,
    TaskArtifactUpdateEvent,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import (
    InvalidRequestError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf.json_format import ParseDict, ParseError

from a2a_server.errors import rest_error
from a2a_server.protocol import shapes
from a2a_server.protocol.runtime import AgentRuntime
from a2a_server.protocol.sse import EventStreamResponse, error_frame, event_frame
from a2a_server.runs.run import Tagged
from a2a_server.stores.base import Stores

LAST_EVENT_ID = "last-event-id"



def parse_last_event_id(raw: str | None) -> TaskVersion | None:
    """The version named by a ``Last-Event-ID`` header (None if absent).

    Raises:
        InvalidRequestError: the header is not an id this server sent.
    """
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidRequestError(
            message=f"Last-Event-ID '{raw}' is not an event id of this server"
        )
    return TaskVersion(int(raw))


def ends_stream(event: Event) -> bool:
    """A Message, or a terminal or interrupted Task / status update, ends a task stream."""
    if isinstance(event, Message):
        return True
    if isinstance(event, Task | TaskStatusUpdateEvent):
        return event.status.state in (TERMINAL_TASK_STATES | INTERRUPTED_TASK_STATES)
    return False


def ends_subscription(event: Event) -> bool:
    """A Message, or a terminal Task / status update, ends a fresh subscription (A2A 1.0 3.1.6).

    Interrupted states do not: a subscriber waits through input-required (the SDK's own
    subscribe, served on JSON-RPC, does the same), and a store that logs the follow-up's
    history append as an input-required Task must not end the stream either.
    """
    if isinstance(event, Message):
        return True
    if isinstance(event, Task | TaskStatusUpdateEvent):
        return event.status.state in TERMINAL_TASK_STATES
    return False


async def _tail(
    stores: Stores, task_id: str, after: TaskVersion, ends: Callable[[Event], bool] = ends_stream,
    sent: TaskVersion | None = None,
) -> AsyncGenerator[Tagged, None]:
    """The log after ``after`` until a closing event; artifact updates up to ``sent`` skipped."""
    stream = stores.events.subscribe(task_id, after=after)
    last = after
    pending: asyncio.Future[VersionedEvent] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(anext(stream))
            versioned = await pending
            pending = None
            if not versioned.version.is_after(last):
                continue
            last = versioned.version
            if (sent is not None and isinstance(versioned.event, TaskArtifactUpdateEvent)
                    and not versioned.version.is_after(sent)):
                continue  # sent before its commit landed: the client has it
            yield versioned.version, versioned.event
            if ends(versioned.event):
                return
    finally:
        # The client may leave while a read is in flight: stop it before closing the stream.
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
        with contextlib.suppress(RuntimeError):
            await stream.aclose()


async def send_events(
    runtime: AgentRuntime, params: SendMessageRequest, context: ServerCallContext
) -> AsyncIterator[Tagged]:
    """Run ``params`` and return the run's committed events, tagged by version.

    The first event is awaited before returning, so early errors keep their status code.
    """
    events = aiter(await runtime.handler.stream(params, context))
    try:
        first = await anext(events)
    except StopAsyncIteration:
        return _items([])
    return _prepend(first, events)


async def _prepend(first: Tagged, rest: AsyncIterator[Tagged]) -> AsyncIterator[Tagged]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:  # closed early (the client left): close the run's stream now, not when collected
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()


async def subscribe_events(
    stores: Stores, task_id: str, context: ServerCallContext, last_event_id: TaskVersion | None
) -> AsyncIterator[Tagged]:
    """The snapshot then later events, or (with ``Last-Event-ID``) exactly the events after it.

    Raises:
        TaskNotFoundError: no such task in the caller's scope.
        UnsupportedOperationError: a fresh subscribe to a finished task.
    """
    stored = await stores.tasks.get(task_id, context)
    if stored is None:
        raise TaskNotFoundError(message=f"task {task_id} not found")
    if last_event_id is not None:
        if stored.task.status.state not in TERMINAL_TASK_STATES:
            if last_event_id.is_after(stored.version):  # sent early; its commit in flight
                return _tail(stores, task_id, stored.version, sent=last_event_id)
            return _tail(stores, task_id, last_event_id)
        # Finished: replay what the client missed without waiting. Nothing after N: the
        # log expired (finished_events_seconds), or N is the last version -- or the
        # version of an update sent before a commit that another writer's final one
        # beat (see the module docstring): the final task stands in.
        missed = await stores.events.replay(task_id, after=last_event_id)
        if not missed:
            return _items([(stored.version, stored.task)])
        return _items([(e.version, e.event) for e in missed])
    if stored.task.status.state in TERMINAL_TASK_STATES:
        raise UnsupportedOperationError(
            message=f"Task {task_id} is in a terminal state; nothing more will be streamed"
        )
    return _snapshot_then(stored.task, stored.version,
                          _tail(stores, task_id, stored.version, ends=ends_subscription))


async def _items(items: list[Tagged]) -> AsyncIterator[Tagged]:
    for item in items:
        yield item


async def _snapshot_then(
    task: Task, version: TaskVersion, rest: AsyncGenerator[Tagged, None]
) -> AsyncIterator[Tagged]:
    # The snapshot never ends the stream: a subscriber to an input-required task
    # waits for what happens next (A2A 1.0 section 3.1.6; the SDK's JSON-RPC does the same).
    try:
        yield version, task
        async for item in rest:
            yield item
    finally:
        await rest.aclose()


def _event_id(version: TaskVersion | None) -> str | None:
    if version is None or version.is_missing:
        return None
    return str(version._value)


def sse_response(events: AsyncIterator[Tagged], v03: bool) -> EventStreamResponse[Tagged]:
    """Server-sent events, each with ``id: <version>``; a mid-stream error ends it as an event."""

    def render(item: Tagged) -> bytes:
        version, event = item
        return event_frame(orjson.dumps(shapes.stream_event_json(event, v03)), _event_id(version))

    return EventStreamResponse(events, render, _render_error)


def _render_error(exc: Exception) -> bytes:
    return error_frame(bytes(rest_error(exc).body))


def send_request_v1(body: bytes) -> SendMessageRequest:
    """A 1.0 SendMessageRequest from ProtoJSON (unknown fields ignored, as the SDK does).

    The JSON is read by orjson, not ``json.loads``: it refuses ``NaN``/``Infinity``
    (not JSON) and stops at its depth limit with an error instead of a RecursionError.

    Raises:
        ParseError: the body is not a SendMessageRequest (400 INVALID_ARGUMENT, as the
            SDK's REST binding answers it).
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"Failed to load JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ParseError("the request body must be a JSON object")
    params = SendMessageRequest()
    push = _plain_push_config(parsed)
    ParseDict(parsed, params, ignore_unknown_fields=True)
    if push is not None:
        config = params.configuration.task_push_notification_config
        config.SetInParent()
        for name, value in push.items():
            setattr(config, name, value)
    return params


# An inline push config's fields set directly when they are all ASCII strings (what ParseDict
# would set, at a fraction of its cost: the config is most of what a push send adds to it).
_PLAIN_PUSH_FIELDS = frozenset({"url", "id", "token"})


def _plain_push_config(body: dict[str, Any]) -> dict[str, str] | None:
    """``configuration.taskPushNotificationConfig``, taken out of ``body``, if it holds only
    ``url``, ``id`` and ``token`` as ASCII strings (anything else is left to ParseDict)."""
    configuration = body.get("configuration")
    if type(configuration) is not dict or "task_push_notification_config" in configuration:
        return None
    config = configuration.get("taskPushNotificationConfig")
    if type(config) is not dict or not config.keys() <= _PLAIN_PUSH_FIELDS:
        return None
    if not all(type(value) is str and value.isascii() for value in config.values()):
        return None
    del configuration["taskPushNotificationConfig"]
    if not configuration:  # nothing else in it: setting the config makes it present
        del body["configuration"]
    return config
