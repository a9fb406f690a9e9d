"""Delivers the push outbox: whichever replica is alive claims a due task and POSTs its
notifications, in order per task and config, at least once, each with a stable delivery id.

One pass over a claimed task: its configs are read once, its pending entries are grouped by
config, and each config's entries are sent one after the other (configs in parallel). An
acknowledged (2xx) entry is removed at once, so a replica killed mid-delivery re-sends at most
the request in flight; the claim is a lease renewed while the pass runs, and another replica
takes the task once it lapses.

Outcomes: 2xx delivered; connection errors, timeouts, 408, 429 and 5xx retried with
exponential backoff and jitter (``Retry-After`` honoured, as a minimum) until the entry is
``max_age_s`` old; any other status (3xx included: redirects are not followed) is final for
that notification and marks the config FAILED with the reason; the next notification is still
tried. A URL the policy refuses at delivery time (DNS can change) is retried like a connection
error. Requests are bounded per host and per tenant (semaphores), bodies and responses are
bounded in size, and each request has a total deadline, so a receiver trickling bytes is cut
off. One tenant's tasks hold at most ``per_tenant`` of this replica's ``max_tasks`` delivery
slots.

Hook points (for metrics): ``PushDeliverer.observers`` are called with each ``AttemptEvent``.

Tracing (``PushDeliverer.tracing``, set when tracing is on): each attempt is a CLIENT span
``push delivery`` whose parent is the W3C trace context the committing run stored with the
entry (``OutboxEntry.trace``), and the webhook request carries that span as its
``traceparent``: the receiver continues the trace of the request that caused the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import orjson
from a2a.types.a2a_pb2 import StreamResponse, TaskPushNotificationConfig
from opentelemetry.trace import Span, SpanKind, StatusCode

from a2a_server.errors import StoreUnavailable
from a2a_server.observability.tracing import Tracing, inject_into, stored_context
from a2a_server.protocol.protojson import to_dict
from a2a_server.push.log import FAILED, OK, RETRYING, Attempt, DeliveryLog
from a2a_server.push.signing import PushSigner
from a2a_server.push_policy import PushUrlPolicy
from a2a_server.stores.base import OutboxEntry, Scope, Stores, set_current_scope
from a2a_server.stores.memory_outbox import now_ms

logger = logging.getLogger(__name__)

DELIVERY_ID_HEADER = "X-A2A-Delivery-Id"
SIGNATURE_HEADER = "X-A2A-Notification-Signature"
TOKEN_HEADER = "X-A2A-Notification-Token"
_RETRY_STATUSES = frozenset({408, 429})
_BATCH = 256


@dataclass(frozen=True)
class PushOptions:
    """Delivery limits (from ``Settings``)."""

    max_age_s: float = 24 * 3600.0
    retry_base_s: float = 1.0
    retry_max_s: float = 600.0
    timeout_s: float = 10.0  # total deadline of one request, connect to last byte
    max_body_bytes: int = 1_048_576
    max_response_bytes: int = 65_536
    per_host: int = 4
    per_tenant: int = 8
    lease_s: float = 30.0
    poll_s: float = 1.0
    max_tasks: int = 64  # tasks delivered at once by one replica
    sweep_s: float = 60.0  # Redis Cluster: the sweep for outboxes missing from the due set


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave."""

    status: int | None
    error: str | None
    retry: bool  # False: delivered (status 2xx) or final
    retry_after_s: float | None = None

    @property
    def delivered(self) -> bool:
        """A 2xx."""
        return self.status is not None and 200 <= self.status < 300


REFUSED_BY_POLICY = "URL refused by the push URL policy"


@dataclass(frozen=True)
class AttemptEvent:
    """What observers get after each attempt (the metrics hook)."""

    scope: Scope
    task_id: str
    config_id: str
    delivery_id: str
    outcome: Outcome
    final: bool  # the notification is done with (delivered, failed for good, or too old)


Observer = Callable[[AttemptEvent], None]


async def _wait_or_timeout(event: asyncio.Event, seconds: float) -> None:
    """``event.wait()`` for at most ``seconds``; a cancellation is never swallowed.

    On Python 3.11, a ``cancel()`` landing as ``asyncio.timeout`` expires can come out as
    ``TimeoutError``: suppressed, it left the deliverer's loop running and ``aclose``
    waiting for it forever (seen as a hung shutdown).
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from None


def retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)


def backoff_s(failures: int, options: PushOptions, hint: float | None) -> float:
    """Exponential backoff with jitter (between half and all of the step) after ``failures``
    failures, up to ``retry_max_s``; ``hint``, a ``Retry-After``, is honoured as a minimum even
    beyond ``retry_max_s``, up to ``max_age_s``."""
    ceiling = min(options.retry_base_s * (2 ** min(failures - 1, 30)), options.retry_max_s)
    delay = random.uniform(ceiling / 2, ceiling)
    if hint is not None:
        delay = max(delay, min(hint, options.max_age_s))
    return delay


def classify(status: int) -> Outcome:
    """The outcome of a response status."""
    if 200 <= status < 300:
        return Outcome(status, None, retry=False)
    if status in _RETRY_STATUSES or status >= 500:
        return Outcome(status, f"HTTP {status}", retry=True)
    if 300 <= status < 400:
        return Outcome(status, f"HTTP {status}: redirects are not followed", retry=False)
    return Outcome(status, f"HTTP {status}", retry=False)


class _Limits:
    """A semaphore per key (host, tenant), kept only while someone holds or waits for it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._held: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        semaphore, users = self._held.get(key) or (asyncio.Semaphore(self._size), 0)
        self._held[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._held[key]
            if users == 1:
                del self._held[key]
            else:
                self._held[key] = (semaphore, users - 1)


def _error_type(outcome: Outcome) -> str:
    """A failed attempt's ``error.type`` (OpenTelemetry): the status code, or what failed."""
    if outcome.status is not None:
        return str(outcome.status)
    if outcome.error == REFUSED_BY_POLICY:
        return "url_refused"
    if not outcome.retry:
        return "body_too_large"  # the one final outcome without a status
    if outcome.error is not None and outcome.error.startswith("no complete answer"):
        return "timeout"
    return (outcome.error or "").split(":", 1)[0] or "_OTHER"  # the HTTP client error's class


def delivery_id(task_id: str, entry: OutboxEntry) -> str:
    """The id a receiver deduplicates on: the same for every attempt of one notification."""
    return f"{task_id}:{entry.entry_id}"


class PushDeliverer:
    """This replica's delivery loop over the shared outbox."""

    def __init__(self, stores: Stores, policy: PushUrlPolicy, signer: PushSigner | None,
                 owner: str, options: PushOptions | None = None) -> None:
        self._stores = stores
        self._policy = policy
        self.signer = signer
        self._owner = owner
        self.options = options or PushOptions()
        self.observers: list[Observer] = []
        self.tracing: Tracing | None = None  # set when tracing is on: a span per attempt
        self._session: aiohttp.ClientSession | None = None  # made in the running loop
        self._hosts = _Limits(self.options.per_host)
        self._tenants = _Limits(self.options.per_tenant)
        self._active: dict[tuple[Scope, str], asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop and the sweeper (idempotent)."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="push-deliverer")
            self._sweeper = asyncio.create_task(self._sweep(), name="push-sweeper")

    async def aclose(self) -> None:
        """Stop delivering (claims lapse; another replica, or this one restarted, resumes)."""
        tasks = [t for t in (self._loop, self._sweeper, *self._active.values())
                 if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = self._sweeper = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        """The one pooled, kept-alive HTTP client of this deliverer.

        aiohttp rather than httpx: ``bench/push_client.py`` measures a webhook POST at about
        a quarter of httpx's client CPU (docs/push.md). No redirects (per request), no
        proxies or ``.netrc`` from the environment (``trust_env`` off), no cookie jar, no
        DNS cache of its own (a new connection resolves afresh, as with httpx),
        responses not decompressed (only the status counts; their size is bounded).
        """
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(use_dns_cache=False),
                cookie_jar=aiohttp.DummyCookieJar(), trust_env=False, auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=self.options.timeout_s))
        return self._session

    async def _run(self) -> None:
        outbox = self._stores.outbox
        while True:
            try:
                await self._poll()
            except Exception:  # the store is down, or a bug: keep the loop alive
                logger.warning("push delivery: cannot read the outbox", exc_info=True)
            await _wait_or_timeout(outbox.wakeup, self.options.poll_s)
            outbox.wakeup.clear()

    async def _sweep(self) -> None:
        """Every ``sweep_s`` (jittered), let the store mark stranded outboxes due (on a Redis
        Cluster one replica per interval does it; elsewhere this costs nothing)."""
        outbox = self._stores.outbox
        interval_ms = max(int(self.options.sweep_s * 1000), 1)
        while True:
            await asyncio.sleep(self.options.sweep_s * random.uniform(0.5, 1.0))
            try:
                marked = await outbox.sweep(self._owner, interval_ms)
            except Exception:  # the store is down: the next interval tries again
                logger.warning("push delivery: the outbox sweep failed", exc_info=True)
                continue
            if marked:
                logger.info("push delivery: %d task(s) had notifications not marked due "
                            "(a replica died mid-commit); marked", marked)
                outbox.wakeup.set()

    async def _poll(self) -> None:
        room = self.options.max_tasks - len(self._active)
        if room <= 0:
            return
        busy = Counter(scope.tenant for scope, _ in self._active)
        for key in await self._stores.outbox.due(room + len(self._active)):
            if key in self._active or len(self._active) >= self.options.max_tasks:
                continue
            if busy[key[0].tenant] >= self.options.per_tenant:
                continue  # one tenant never holds every slot: the others' tasks go on
            busy[key[0].tenant] += 1
            task = asyncio.create_task(self._deliver_task(*key), name=f"push:{key[1]}")
            self._active[key] = task
            task.add_done_callback(lambda _, k=key: self._done(k))  # type: ignore[misc]

    def _done(self, key: tuple[Scope, str]) -> None:
        self._active.pop(key, None)
        self._stores.outbox.wakeup.set()  # a slot is free: look again at once

    async def _deliver_task(self, scope: Scope, task_id: str) -> None:
        outbox = self._stores.outbox
        lease_ms = int(self.options.lease_s * 1000)
        try:
            if not await outbox.claim(scope, task_id, self._owner, lease_ms):
                return
        except Exception:
            logger.warning("push delivery: cannot claim task %s", task_id, exc_info=True)
            return
        work = asyncio.create_task(self._pass(scope, task_id))
        renew = asyncio.create_task(self._renew(scope, task_id, lease_ms, work))
        next_due: int | None = None
        seen: str | None = None
        try:
            next_due, seen = await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # this replica is stopping
                raise
            logger.warning("push delivery of task %s: the claim was lost, stopped", task_id)
        except Exception:
            logger.warning("push delivery of task %s interrupted", task_id, exc_info=True)
            next_due = now_ms() + int(self.options.retry_base_s * 1000)
        finally:
            renew.cancel()
            with contextlib.suppress(BaseException):
                await renew
            try:
                await asyncio.shield(outbox.release(scope, task_id, self._owner, next_due, seen))
            except Exception:  # the claim lapses; another pass picks the task up
                logger.warning("push delivery: cannot release task %s", task_id, exc_info=True)

    async def _renew(self, scope: Scope, task_id: str, lease_ms: int,
                     work: asyncio.Task[tuple[int | None, str | None]]) -> None:
        """Extend the claim while ``work`` delivers; stop it if another replica took over
        (this one stalled past its lease), so one replica at a time sends in order."""
        while True:
            await asyncio.sleep(lease_ms / 3000)
            try:
                held = await self._stores.outbox.claim(scope, task_id, self._owner, lease_ms)
            except StoreUnavailable:  # keep going, try again at the next beat
                continue
            if not held:
                work.cancel()
                return

    async def _pass(self, scope: Scope, task_id: str) -> tuple[int | None, str | None]:
        """Deliver until nothing is left that may be sent now; (next due ms, last entry seen)."""
        set_current_scope(scope)
        configs = await self._configs(task_id)
        waiting: dict[str, int] = {}  # config id -> when its head entry may be retried
        seen: str | None = None
        while True:
            read = await self._stores.outbox.pending(scope, task_id, _BATCH)
            if read:
                seen = read[-1].entry_id  # the newest read (those of waiting configs included)
            entries = [e for e in read if e.config_id not in waiting]
            if not entries:
                break
            groups: dict[str, list[OutboxEntry]] = {}
            for entry in entries:
                groups.setdefault(entry.config_id, []).append(entry)
            if any(cid not in configs for cid in groups):  # registered since the pass began?
                configs = await self._configs(task_id)
            results = await asyncio.gather(*(
                self._deliver_config(scope, task_id, configs.get(cid), cid, group)
                for cid, group in groups.items()))
            for cid, retry_at in zip(groups, results, strict=True):
                if retry_at is not None:
                    waiting[cid] = retry_at
            if len(read) < _BATCH:  # that was all: what came since, release sees (``seen``)
                break               # and marks due again, so no second read to find nothing
        return (min(waiting.values()) if waiting else None), seen

    async def _configs(self, task_id: str) -> dict[str, TaskPushNotificationConfig]:
        configs = await self._stores.push_configs.get_info_for_dispatch(task_id)
        return {config.id: config for config in configs}

    async def _deliver_config(self, scope: Scope, task_id: str,
                              config: TaskPushNotificationConfig | None, config_id: str,
                              entries: list[OutboxEntry]) -> int | None:
        """Send one config's entries in order; when its head must wait, the time it may retry."""
        outbox = self._stores.outbox
        if config is None:  # deleted since: its notifications have nowhere to go
            await outbox.ack(scope, task_id, [e.entry_id for e in entries])
            return None
        log = DeliveryLog.loads(await outbox.load_log(scope, task_id, config_id))
        if log.next_retry_at is not None and log.next_retry_at > now_ms():
            return log.next_retry_at
        try:
            for entry in entries:
                retry_at = await self._deliver_entry(scope, task_id, config, entry, log)
                if retry_at is not None:
                    return retry_at
            return None
        finally:
            await outbox.save_log(scope, task_id, config_id, log.dumps())

    async def _deliver_entry(self, scope: Scope, task_id: str,
                             config: TaskPushNotificationConfig, entry: OutboxEntry,
                             log: DeliveryLog) -> int | None:
        did = delivery_id(task_id, entry)
        now = now_ms()
        if now - entry.created_ms > self.options.max_age_s * 1000:
            outcome = Outcome(None, f"gave up: not delivered within {self.options.max_age_s:g} s",
                              retry=False)
        else:
            outcome = await self._attempt(scope, task_id, config, entry, did)
        final = outcome.delivered or not outcome.retry or (
            now - entry.created_ms > self.options.max_age_s * 1000)
        retry_at: int | None = None
        if outcome.delivered:
            log.state, log.reason, log.failures, log.next_retry_at = OK, None, 0, None
            log.delivered += 1
        elif final:
            log.state, log.reason, log.failures, log.next_retry_at = FAILED, outcome.error, 0, None
        else:
            log.failures += 1
            retry_at = now_ms() + int(backoff_s(log.failures, self.options,
                                                outcome.retry_after_s) * 1000)
            log.state, log.reason, log.next_retry_at = RETRYING, outcome.error, retry_at
        log.add(Attempt(now, did, outcome.status, outcome.error, retry_at))
        if final:
            await self._stores.outbox.ack(scope, task_id, [entry.entry_id])
        self._observe(AttemptEvent(scope, task_id, config.id, did, outcome, final))
        return retry_at

    def _observe(self, event: AttemptEvent) -> None:
        for observer in self.observers:
            try:
                observer(event)
            except Exception:
                logger.exception("push delivery observer failed")

    def _body(self, entry: OutboxEntry) -> bytes:
        return orjson.dumps(to_dict(StreamResponse.FromString(entry.event)))

    def _headers(self, task_id: str, config: TaskPushNotificationConfig, did: str,
                 body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", DELIVERY_ID_HEADER: did}
        if config.token:
            headers[TOKEN_HEADER] = config.token
        auth = config.authentication
        if config.HasField("authentication") and auth.scheme and auth.credentials:
            headers["Authorization"] = f"{auth.scheme} {auth.credentials}"
        if self.signer is not None:
            jws = self.signer.sign(task_id=task_id, config_id=config.id, delivery_id=did,
                                   body=body)
            headers[SIGNATURE_HEADER] = jws
            headers.setdefault("Authorization", f"Bearer {jws}")
        return headers

    async def _attempt(self, scope: Scope, task_id: str, config: TaskPushNotificationConfig,
                       entry: OutboxEntry, did: str) -> Outcome:
        if self.tracing is None:
            return await self._attempt_once(scope, task_id, config, entry, did, None)
        return await self._traced_attempt(self.tracing, scope, task_id, config, entry, did)

    async def _traced_attempt(self, tracing: Tracing, scope: Scope, task_id: str,
                              config: TaskPushNotificationConfig, entry: OutboxEntry,
                              did: str) -> Outcome:
        """One attempt in a CLIENT span, child of the committing run's stored trace context.

        A child rather than a link (OpenTelemetry messaging conventions allow either for
        single-message processing): one notification is one request, nothing else is current
        in the deliverer's loop, and the receiver should continue the client's trace.
        """
        span = tracing.start_span("push delivery", SpanKind.CLIENT, stored_context(entry.trace))
        split = urllib.parse.urlsplit(config.url)
        span.set_attribute("http.request.method", "POST")
        if split.hostname:
            span.set_attribute("server.address", split.hostname)
        if split.port:
            span.set_attribute("server.port", split.port)
        span.set_attribute("a2a.task_id", task_id)
        span.set_attribute("a2a.push.config_id", config.id)
        span.set_attribute("a2a.push.delivery_id", did)
        try:
            outcome = await self._attempt_once(scope, task_id, config, entry, did, span)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR)
            span.end()
            raise
        if outcome.status is not None:
            span.set_attribute("http.response.status_code", outcome.status)
        if not outcome.delivered:
            span.set_attribute("error.type", _error_type(outcome))
            span.set_status(StatusCode.ERROR, outcome.error)
        span.end()
        return outcome

    async def _attempt_once(self, scope: Scope, task_id: str,
                            config: TaskPushNotificationConfig, entry: OutboxEntry, did: str,
                            span: Span | None) -> Outcome:
        body = self._body(entry)
        if len(body) > self.options.max_body_bytes:
            return Outcome(None, f"notification of {len(body)} bytes is over the "
                                 f"{self.options.max_body_bytes} byte limit", retry=False)
        if not await self._policy.for_delivery(config.url):
            return Outcome(None, REFUSED_BY_POLICY, retry=True)
        host = urllib.parse.urlsplit(config.url).netloc.lower()
        headers = self._headers(task_id, config, did, body)
        if span is not None:
            inject_into(headers, span)
        async with self._hosts.hold(host), self._tenants.hold(scope.tenant):
            try:
                async with asyncio.timeout(self.options.timeout_s):
                    return await self._send(config.url, body, headers)
            except TimeoutError:
                return Outcome(None, f"no complete answer within {self.options.timeout_s:g} s",
                               retry=True)
            except (aiohttp.ClientError, OSError) as exc:
                return Outcome(None, f"{type(exc).__name__}: {exc}"[:300], retry=True)

    async def _send(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        async with self._client().post(url, data=body, headers=headers,
                                       allow_redirects=False) as response:
            size = 0
            async for chunk in response.content.iter_any():
                size += len(chunk)
                if size > self.options.max_response_bytes:
                    response.close()  # the answer is not read further (nor the connection
                    break  # reused): its status is what counts
            outcome = classify(response.status)
            if outcome.retry:
                hint = retry_after(response.headers.get("Retry-After"), time.time())
                outcome = Outcome(outcome.status, outcome.error, True, hint)
        return outcome
