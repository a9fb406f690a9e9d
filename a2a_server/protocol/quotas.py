"""Enforcing a tenant's ``limits:`` (requests per minute, running tasks, open streams).

The bindings call ``check_request`` after the gate (every agent protocol request of a
tenant with ``requests_per_minute``) and ``hold_send`` before a send reaches the handler
(``concurrent_tasks``, and ``open_streams`` for ``message:stream`` / ``SendStreamingMessage``).
A refusal is ``QuotaExceeded``: HTTP 429 with ``Retry-After`` and the IETF ``RateLimit`` /
``RateLimit-Policy`` fields (draft-ietf-httpapi-ratelimit-headers), rendered by each
binding in its own error format (JSON-RPC keeps the 429).

Slots taken by ``hold_send`` are handed to the request handler through a context
variable (it runs in the request's task): ``attach_run`` ties the task slot to the run,
which gives it back when the run ends (completed, failed, canceled, stopped), and
``attach_stream`` ties the stream slot to the event stream, which gives it back when the
stream closes. A slot is renewed every third of ``SLOT_SECONDS`` while it is held, so a
replica that dies loses its slots within ``SLOT_SECONDS``. Whatever the handler did not
take (the request failed first) the binding gives back in ``Holds.settle``.

A request naming a tenant-created agent this replica has not loaded is counted before the
store read that loads it (``count_ahead``, from ``TenantAgents.ensure_for``): over the
limit, nothing is read and the gate refuses it with the 429; under it, ``check_request``
uses that count rather than counting again. A request whose agent is then not found is
counted too (the gate's ``AgentNotFound``), so the answers for an existing, another
tenant's and a missing agent stay alike, and a tenant's ``requests_per_minute`` bounds the
store reads its credentials can cause.

Counting happens in the tenant's own keys (``QuotaStore``): one tenant at its limit adds
nothing to another's requests, and a tenant without ``limits`` costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

from a2a_server.errors import QuotaExceeded, StoreUnavailable
from a2a_server.stores.base import Scope
from a2a_server.stores.quotas import Decision, QuotaStore
from a2a_server.stores.usage import UsageCounters, today
from a2a_server.tenancy.auth import Principal
from a2a_server.tenancy.config import TenantConfig

logger = logging.getLogger(__name__)

SLOT_SECONDS = 30.0
_WINDOW_MS = 60_000
_T = TypeVar("_T")
_current: contextvars.ContextVar[Holds | None] = contextvars.ContextVar(
    "a2a_server_holds", default=None)
_keepers: set[asyncio.Task[None]] = set()


def _retry_after(ms: int) -> str:
    return str(max(1, math.ceil(ms / 1000)))


def _refusal(name: str, limit: int, decision: Decision, *, window: bool) -> QuotaExceeded:
    # A slot frees when some run ends, which nobody can predict: ask for a retry in 1 s.
    reset = _retry_after(decision.reset_ms) if window else "1"
    policy = f'"{name}";q={limit};w=60' if window else \
        f'"{name}";q={limit};qu="concurrent-requests"'
    what = {"requests": f"{limit} requests per minute",
            "credential": f"{limit} requests per minute for each API key or client",
            "tasks": f"{limit} concurrently running tasks",
            "tokens": f"{limit} model tokens per day (UTC) for its LLM agents",
            "streams": f"{limit} open streams"}[name]
    return QuotaExceeded(
        f"rate limit exceeded: this tenant is allowed {what}; retry after {reset} s",
        {"Retry-After": reset, "RateLimit-Policy": policy, "RateLimit": f'"{name}";r=0;t={reset}'},
    )


class Slot:
    """One held slot of a tenant's bounded set."""

    def __init__(self, store: QuotaStore, tenant: str, name: str) -> None:
        self.store, self.tenant, self.name = store, tenant, name
        self.holder = uuid.uuid4().hex
        self._released: asyncio.Future[None] | None = None

    def keep_until(self, done: asyncio.Event) -> None:
        """Renew the slot until ``done`` is set, then give it back."""
        keeper = asyncio.create_task(self._keep(done), name=f"quota:{self.name}")
        _keepers.add(keeper)
        keeper.add_done_callback(_keepers.discard)

    async def _keep(self, done: asyncio.Event) -> None:
        slot_ms = int(SLOT_SECONDS * 1000)
        try:
            while True:
                try:
                    await asyncio.wait_for(done.wait(), SLOT_SECONDS / 3)
                    break
                except TimeoutError:
                    with contextlib.suppress(StoreUnavailable):
                        await self.store.renew(self.tenant, self.name, self.holder, slot_ms)
        finally:
            await self.release()

    async def release(self) -> None:
        """Give the slot back, once; every caller returns when it is back."""
        if self._released is None:
            self._released = asyncio.ensure_future(self._release())
        await asyncio.shield(self._released)

    async def _release(self) -> None:
        """(An outage leaves the slot to expire.)"""
        try:
            await self.store.release(self.tenant, self.name, self.holder)
        except StoreUnavailable:
            logger.warning("quota slot %s of %s left to expire", self.name, self.tenant)


class Holds:
    """The slots one send took; the handler attaches them, the binding settles the rest."""

    def __init__(self) -> None:
        self.task: Slot | None = None
        self.stream: Slot | None = None
        self.run: tuple[Slot, asyncio.Event] | None = None
        self.answered = False  # a blocking send's answer is final: its run is ending
        self._token: contextvars.Token[Holds | None] | None = None

    async def settle(self) -> None:
        """Give back the slots no run or stream took (the request ended before either)."""
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        for slot in (self.task, self.stream):
            if slot is not None:
                await slot.release()
        if self.run is not None and (self.answered or self.run[1].is_set()):
            # A blocking send's run ends with its answer: give its slot back now (not when
            # the keeper sees the run's end), so the client's next send finds it free.
            await self.run[0].release()
        self.task = self.stream = self.run = None


def attach_run(finished: asyncio.Event) -> None:
    """Hand the current send's task slot to its run (``finished``: set when the run ends)."""
    holds = _current.get()
    if holds is not None and holds.task is not None:
        holds.task.keep_until(finished)
        holds.run, holds.task = (holds.task, finished), None


def run_answered() -> None:
    """The current blocking send has its final (or interrupted) answer: its run is ending."""
    holds = _current.get()
    if holds is not None:
        holds.answered = True


@contextlib.contextmanager
def nested_send() -> Iterator[None]:
    """A send made from inside a run (an expert's task): it holds none of the run's slots.

    The run inherited its request's holds; without this, the nested send's
    ``run_answered`` would mark the outer send answered and give its slot back early.
    """
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


def attach_stream(events: AsyncIterator[_T]) -> AsyncIterator[_T]:
    """Hand the current send's stream slot to ``events``: given back when they end."""
    holds = _current.get()
    if holds is None or holds.stream is None:
        return events
    slot, holds.stream = holds.stream, None
    return _holding(slot, events)


async def _holding(slot: Slot, events: AsyncIterator[_T]) -> AsyncIterator[_T]:
    ended = asyncio.Event()
    slot.keep_until(ended)
    try:
        async for event in events:
            yield event
    finally:
        ended.set()


class Quotas:
    """The quota checks of one app."""

    def __init__(self, store: QuotaStore, usage: UsageCounters | None = None,
                 llm_agents: frozenset[str] = frozenset()) -> None:
        self.store = store
        self._usage = usage
        self._llm_agents = llm_agents
        # The LLM agents a tenant created through the API, deleted ones included (their
        # usage today still counts): set by create_app (protocol/agents_api.py).
        self.created_llm_agents: Callable[[str], Awaitable[list[str]]] | None = None

    async def check_tokens(self, tenant: TenantConfig, agent: str) -> None:
        """Refuse a send to an LLM agent once the tenant used ``tokens_per_day`` today (UTC).

        The enforcement hook on the usage counters: it reads today's counters of the
        tenant's LLM agents (one read per agent). Runs already going on are not stopped, so
        the day's total may end a little above the limit.

        Raises:
            QuotaExceeded: the day's tokens are used; retry after the next UTC midnight.
        """
        limits = tenant.limits
        if limits is None or limits.tokens_per_day is None or self._usage is None:
            return
        created = (await self.created_llm_agents(tenant.name)
                   if self.created_llm_agents is not None else [])
        if agent not in self._llm_agents and agent not in created:
            return
        day = today()
        used = 0
        for other in [*sorted(self._llm_agents), *created]:
            if other in created or tenant.allows_agent(other):
                for counted in await self._usage.days(Scope(tenant.name, other), day, day):
                    used += counted.input_tokens + counted.output_tokens
        if used >= limits.tokens_per_day:
            midnight = datetime.combine(day + timedelta(days=1), time.min, UTC)
            reset_ms = int((midnight - datetime.now(UTC)).total_seconds() * 1000)
            refusal = _refusal("tokens", limits.tokens_per_day, Decision(False, used, reset_ms),
                               window=True)
            refusal.headers["RateLimit-Policy"] = f'"tokens";q={limits.tokens_per_day};w=86400'
            raise refusal

    async def check_request(self, tenant: TenantConfig, principal: Principal,
                            request: Request | None,
                            marks: MutableMapping[str, Any] | None = None) -> None:
        """Count one request against ``requests_per_minute`` (and per credential), unless
        ``count_ahead`` counted it already (in ``marks``: the request's ASGI scope by default).

        An admitted request remembers its counts for ``add_rate_limit_fields``.

        Raises:
            QuotaExceeded: the tenant (or this credential) used its requests of this minute.
        """
        if marks is None and request is not None:
            marks = request.scope
        ahead = marks.pop(_COUNTED, None) if marks is not None else None
        if ahead is not None and ahead[0] == tenant.name:
            admitted = ahead[1]
            if isinstance(admitted, QuotaExceeded):
                raise admitted
        else:
            admitted = await self._count(tenant, principal)
        if request is not None and admitted:
            request.scope[_ADMITTED] = admitted

    async def count_ahead(self, tenant: TenantConfig, principal: Principal,
                          marks: MutableMapping[str, Any]) -> bool:
        """Count a request now, before a store read it would cause, and leave the outcome in
        ``marks`` for its ``check_request``; False if it is over the limit (refused there).
        A quota store outage counts nothing here (``check_request`` meets it)."""
        try:
            marks[_COUNTED] = (tenant.name, await self._count(tenant, principal))
        except QuotaExceeded as exc:
            marks[_COUNTED] = (tenant.name, exc)
            return False
        except StoreUnavailable:
            return True
        return True

    async def _count(self, tenant: TenantConfig,
                     principal: Principal) -> list[tuple[str, int, Decision]]:
        """Count against the tenant's request windows: (policy, limit, decision) of each.

        Raises:
            QuotaExceeded: the tenant (or this credential) used its requests of this minute.
        """
        limits = tenant.limits
        if limits is None:
            return []
        windows: list[tuple[str, int, str]] = []  # (counter, limit, policy name)
        if limits.requests_per_minute is not None:
            windows.append(("rpm", limits.requests_per_minute, "requests"))
        if limits.requests_per_minute_per_credential is not None:
            credential = f"rpm.{principal.method}.{principal.subject}"  # jwt / api_key apart
            windows.append((credential, limits.requests_per_minute_per_credential, "credential"))
        if not windows:
            return []
        decisions = await self.store.hit(tenant.name, [(n, q) for n, q, _ in windows], _WINDOW_MS)
        for (_, limit, policy), decision in zip(windows, decisions, strict=True):
            if not decision.admitted:
                raise _refusal(policy, limit, decision, window=True)
        return [(policy, limit, decision) for (_, limit, policy), decision
                in zip(windows, decisions, strict=True)]

    async def hold_send(self, tenant: TenantConfig, *, stream: bool,
                        agent: str = "") -> Holds | None:
        """Take the slots a send needs (None: the tenant limits neither).

        Raises:
            QuotaExceeded: the tenant runs ``concurrent_tasks`` tasks / holds
                ``open_streams`` streams already; nothing is held.
        """
        limits = tenant.limits
        if limits is None:
            return None
        await self.check_tokens(tenant, agent)
        if limits.concurrent_tasks is None and (not stream or limits.open_streams is None):
            return None
        holds = Holds()
        try:
            if limits.concurrent_tasks is not None:
                holds.task = await self._acquire(tenant.name, "tasks", limits.concurrent_tasks)
            if stream and limits.open_streams is not None:
                holds.stream = await self._acquire(tenant.name, "streams", limits.open_streams)
        except BaseException:
            await holds.settle()
            raise
        holds._token = _current.set(holds)
        return holds

    async def admit_jsonrpc(self, request: Request, tenant: TenantConfig, principal: Principal,
                            body: bytes, agent: str) -> Holds | None:
        """``check_request``, then ``hold_send`` if the JSON-RPC request is a send.

        Raises:
            QuotaExceeded: as ``check_request`` and ``hold_send``.
        """
        limits = tenant.limits
        if limits is None:
            return None
        await self.check_request(tenant, principal, request)
        if (limits.concurrent_tasks is None and limits.open_streams is None
                and limits.tokens_per_day is None):
            return None
        method = _method(body)
        if method not in _SENDS:
            return None
        return await self.hold_send(tenant, stream=method in _STREAMS, agent=agent)

    async def admit_call(self, tenant: TenantConfig, principal: Principal,
                         method: str, agent: str,
                         marks: MutableMapping[str, Any] | None = None) -> Holds | None:
        """``check_request`` and, for a send ``method`` (by name), ``hold_send``: other bindings
        (``marks``: the call's, where ``count_ahead`` may have left its count).

        Raises:
            QuotaExceeded: as ``check_request`` and ``hold_send``.
        """
        if tenant.limits is None:
            return None
        await self.check_request(tenant, principal, None, marks)
        if method not in _SENDS:
            return None
        return await self.hold_send(tenant, stream=method in _STREAMS, agent=agent)

    async def _acquire(self, tenant: str, name: str, limit: int) -> Slot:
        slot = Slot(self.store, tenant, name)
        decision = await self.store.acquire(tenant, name, slot.holder, limit,
                                            int(SLOT_SECONDS * 1000))
        if not decision.admitted:
            raise _refusal(name, limit, decision, window=False)
        return slot


_STREAMS = frozenset({"SendStreamingMessage", "message/stream"})
_SENDS = _STREAMS | {"SendMessage", "message/send"}


def _method(body: bytes) -> str | None:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # the dispatcher answers it
    method = parsed.get("method") if isinstance(parsed, dict) else None
    return method if isinstance(method, str) else None


_ADMITTED = "a2a_server.ratelimit"
_COUNTED = "a2a_server.counted_ahead"  # (tenant, counts or refusal) left by count_ahead


def add_rate_limit_fields(request: Request, response: Response) -> None:
    """``RateLimit`` / ``RateLimit-Policy`` on an admitted request's answer (if counted)."""
    admitted: list[tuple[str, int, Decision]] | None = request.scope.get(_ADMITTED)
    if admitted is None:
        return
    response.headers["RateLimit-Policy"] = ", ".join(
        f'"{policy}";q={limit};w=60' for policy, limit, _ in admitted)
    response.headers["RateLimit"] = ", ".join(
        f'"{policy}";r={max(limit - d.used, 0)};t={_retry_after(d.reset_ms)}'
        for policy, limit, d in admitted)


def quotas_of(request: Request) -> Quotas:
    """The app's ``Quotas`` (through ``A2AServerApp.server_state`` when there is one)."""
    server = getattr(request.scope["app"], "server_state", None)
    quotas: Quotas = server.quotas if server is not None else request.app.state.quotas
    return quotas
