"""Idempotent sends: an ``Idempotency-Key`` header makes a retried send return the same task.

On ``message:send``, ``message:stream`` and the JSON-RPC sends (1.0 and 0.3), a request
carrying ``Idempotency-Key`` (at most ``MAX_KEY_LENGTH`` visible ASCII characters; an
IETF structured string, quoted or not) claims the key in the ``QuotaStore`` before the
agent runs, atomically (``SET NX GET`` on Redis), so of concurrent duplicates on any
replicas exactly one runs the agent. The claim, scoped to the authenticated tenant and
the agent, records the SHA-256 of the request (its protobuf, deterministic: the same
message whatever binding or version carried it) and the id the new task will have; a
direct Message answer is recorded once known.

A retry with the same key and request gets the task's current state (a stream: one
event with it) without running anything; if the first request has not committed its
task yet the retry waits up to ``WAIT_SECONDS`` for it, then is told to retry (409). The
same key with another request is refused (422). A claim lives ``PENDING_SECONDS`` until
the first request has its answer (so a replica that died mid-run does not lock the key
for a day), then ``idempotency_ttl_seconds``; a request that failed before its task
existed gives the key back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
from a2a.server.context import ServerCallContext
from a2a.server.jsonrpc_models import JSONRPCError
from a2a.server.request_handlers import response_helpers
from a2a.types.a2a_pb2 import Message, SendMessageRequest, Task
from a2a.utils import errors as sdk_errors
from a2a.utils.errors import A2AError, InvalidRequestError

from a2a_server.runs.apply import view
from a2a_server.runs.run import Tagged
from a2a_server.stores.base import Stores, scope_of
from a2a_server.stores.quotas import QuotaStore

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
PENDING_SECONDS = 300.0
WAIT_SECONDS = 10.0
_POLL_S = 0.05
_KEY = re.compile(r'^"?([\x21\x23-\x7e]{1,255})"?$')


class IdempotencyKeyReused(A2AError):
    """The Idempotency-Key was used with a different request: 422."""

    message = "this Idempotency-Key was already used with a different request body"


class IdempotencyInProgress(A2AError):
    """The first request with this key has no task yet: 409, retry shortly."""

    message = "a request with this Idempotency-Key is still being processed; retry shortly"


def _register(error: type[A2AError], http: int, status: str, reason: str, code: int) -> None:
    # The SDK maps its errors to wire codes in tables; ours join the same tables.
    sdk_errors.A2A_ERROR_MAPPING[error] = sdk_errors.ErrorMapping(http, status, reason)
    sdk_errors.JSON_RPC_ERROR_CODE_MAP[error] = code
    sdk_errors.A2A_ERROR_REASONS[error] = reason
    response_helpers.EXCEPTION_MAP[error] = JSONRPCError


_register(IdempotencyKeyReused, 422, "INVALID_ARGUMENT", "IDEMPOTENCY_KEY_REUSED", -32602)
_register(IdempotencyInProgress, 409, "ABORTED", "IDEMPOTENCY_KEY_IN_PROGRESS", -32600)


def parse_key(raw: str | None) -> str | None:
    """The key of an ``Idempotency-Key`` header value (None if absent).

    Raises:
        InvalidRequestError: empty, too long, or not visible ASCII.
    """
    if raw is None:
        return None
    found = _KEY.match(raw.strip())
    if found is None:
        raise InvalidRequestError(message=(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"))
    return found.group(1)


@dataclass
class Begun:
    """What ``Idempotency.begin`` decided for one send."""

    replay: Task | Message | None = None  # answer this, run nothing
    tagged: Tagged | None = None  # the replayed answer with its version (streams)
    task_id: str | None = None  # the id a new task must get (the claimed one)
    _owner: Idempotency | None = None
    _where: tuple[str, str, str] = ("", "", "")
    _value: bytes = b""
    _body: str = ""
    _task: str = ""  # the task the claim names (new or continued)
    _done: bool = field(default=False)

    async def failed(self) -> None:
        """The send failed before its task existed: give the key back."""
        if self._owner is not None and not self._done:
            self._done = True
            await self._owner.store.release_claim(*self._where, self._value)

    async def ended_without_answer(self, task_exists: bool) -> None:
        """The agent failed: retries get its (failed) task, or may run again if there is none."""
        if task_exists:
            await self.answered(None)
        else:
            await self.failed()

    async def answered(self, result: Task | Message | None) -> None:
        """The send has its answer: keep the claim for the full TTL (with a direct reply)."""
        if self._owner is None or self._done:
            return
        self._done = True
        record: dict[str, str] = {"b": self._body, "t": self._task}
        if isinstance(result, Message):
            record["m"] = base64.b64encode(result.SerializeToString()).decode()
        await self._owner.store.put_claim(*self._where, orjson.dumps(record),
                                          self._owner.ttl_ms)

    def following(self, events: AsyncIterator[Tagged]) -> AsyncIterator[Tagged]:
        """``events``, recording the answer at the first one (or failing the claim)."""
        return events if self._owner is None else self._following(events)

    async def _following(self, events: AsyncIterator[Tagged]) -> AsyncIterator[Tagged]:
        first = True
        try:
            async for version, event in events:
                if first:
                    first = False
                    await self.answered(event if isinstance(event, Message) else None)
                yield version, event
        finally:
            if first:
                await self.failed()


_UNKEYED = Begun()  # a send without a key: every method a no-op


class Idempotency:
    """The idempotency claims of one app (None store: the feature is off)."""

    def __init__(self, store: QuotaStore | None, stores: Stores | None, ttl_seconds: int) -> None:
        self._store = store
        self._stores = stores
        self.ttl_ms = ttl_seconds * 1000
        self.enabled = store is not None and stores is not None

    @property
    def store(self) -> QuotaStore:
        """Where claims are kept (only used when ``enabled``)."""
        assert self._store is not None
        return self._store

    async def begin(self, params: SendMessageRequest, context: ServerCallContext,
                    history_length: int | None) -> Begun:
        """Claim the request's key, or find what the first request with it got.

        Raises:
            InvalidRequestError: a malformed Idempotency-Key.
            IdempotencyKeyReused: the key was used with another request.
            IdempotencyInProgress: the first request still has no task after the wait.
        """
        headers = context.state.get("headers") or {}
        key = parse_key(headers.get(HEADER)) if self.enabled else None
        if key is None:
            return _UNKEYED
        scope = scope_of(context)
        where = (scope.tenant, scope.agent, hashlib.sha256(key.encode()).hexdigest())
        body = hashlib.sha256(params.SerializeToString(deterministic=True)).hexdigest()
        task_id = params.message.task_id or str(uuid.uuid4())
        mine = orjson.dumps({"b": body, "t": task_id})
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            found = await self.store.claim(*where, mine, int(PENDING_SECONDS * 1000))
            if found is None:
                return Begun(task_id=None if params.message.task_id else task_id, _owner=self,
                             _where=where, _value=mine, _body=body, _task=task_id)
            replay = await self._replay(found, body, context, history_length)
            if replay is not None:
                return replay
            if time.monotonic() > deadline:
                raise IdempotencyInProgress
            await asyncio.sleep(_POLL_S)

    async def _replay(self, found: bytes, body: str, context: ServerCallContext,
                      history_length: int | None) -> Begun | None:
        record = orjson.loads(found)
        if record.get("b") != body:
            raise IdempotencyKeyReused
        if "m" in record:
            message = Message()
            message.ParseFromString(base64.b64decode(record["m"]))
            return Begun(replay=message, tagged=(None, message))
        assert self._stores is not None
        stored = await self._stores.tasks.get(record["t"], context)
        if stored is None:
            return None
        task = view(stored.task, history_length)
        return Begun(replay=task, tagged=(stored.version, task))
