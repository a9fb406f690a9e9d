"""An auto-pipelining Redis connection for the hot path: one socket, hiredis, no pool.

redis-py's asyncio client spends most of a command's CPU outside Redis: the pool
checkout, the retry wrapper, packing and the health check. ``PipelinedRedis``
multiplexes every coroutine over one connection instead. The commands issued during
one event-loop tick are packed with ``hiredis.pack_command`` and written with one
``transport.write`` (auto-pipelining, as ioredis does); a ``hiredis.Reader`` parses the
replies, which Redis sends in order, and each resolves the oldest waiting caller.

Errors are redis-py's own classes (reply errors go through redis-py's parser table), so
``map_redis_errors()`` maps them unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import hiredis
from redis import exceptions as rexc
from redis._parsers.base import BaseParser
from redis.asyncio.connection import RedisSSLContext, SSLConnection, parse_url

# hiredis' "no complete reply yet" marker: its default, False, is a valid RESP3 reply.
_INCOMPLETE = object()


@dataclass(frozen=True)
class Script:
    """A Lua script and its SHA1, computed locally as Redis computes it."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


class _Connection(asyncio.Protocol):
    """One Redis connection: a tick's commands go out in one write; replies resolve FIFO."""

    def __init__(self, timeout: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.timeout = timeout
        self.closed = False
        self.writes = 0
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self._transport: asyncio.WriteTransport | None = None
        self._reader = hiredis.Reader(
            protocolError=rexc.InvalidResponse,
            replyError=BaseParser.parse_error,  # "NOSCRIPT ..." -> NoScriptError, etc.
            notEnoughData=_INCOMPLETE,
        )
        self._pending: deque[asyncio.Future[Any]] = deque()  # written or buffered, unanswered
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._received = 0
        # (write time, commands sent by then): the watchdog's view of the oldest command.
        self._batches: deque[tuple[float, int]] = deque()
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.WriteTransport, transport)  # uvloop's is not a subclass

    def send(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        """Queue one command for this tick's write; the future gets its reply."""
        packed = hiredis.pack_command(args)  # raises TypeError before anything is queued
        fut = self.loop.create_future()
        self._pending.append(fut)
        self._out.append(packed)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._flush_handle = None
        assert self._transport is not None
        self._transport.write(b"".join(self._out))
        self._out.clear()
        self.writes += 1
        now = self.loop.time()
        self._oldest_sent_at()  # drop answered batches, so the deque stays short
        self._batches.append((now, self._received + len(self._pending)))
        if self._watchdog is None:
            self._watchdog = self.loop.call_at(now + self.timeout, self._check_timeout)

    def _oldest_sent_at(self) -> float | None:
        """When the oldest unanswered command was written (None if every one is answered)."""
        batches = self._batches
        while batches and batches[0][1] <= self._received:
            batches.popleft()
        return batches[0][0] if batches else None

    def _check_timeout(self) -> None:
        self._watchdog = None
        sent_at = self._oldest_sent_at()
        if sent_at is None:
            return
        deadline = sent_at + self.timeout
        if self.loop.time() < deadline:
            self._watchdog = self.loop.call_at(deadline, self._check_timeout)
        else:  # replies are matched by position: a missing one desyncs everything behind it
            self.close(rexc.TimeoutError, f"Timeout reading from redis (no reply in {self.timeout}s)")

    def data_received(self, data: bytes) -> None:
        reader, pending = self._reader, self._pending
        reader.feed(data)
        try:
            reply = reader.gets()
            while reply is not _INCOMPLETE:
                fut = pending.popleft()
                self._received += 1
                if not fut.done():  # a cancelled caller's reply is read and dropped
                    if isinstance(reply, Exception):
                        fut.set_exception(reply)
                    else:
                        fut.set_result(reply)
                reply = reader.gets()
        except (rexc.InvalidResponse, IndexError) as exc:  # garbage, or a reply nobody asked for
            self.close(rexc.ConnectionError, f"Protocol error from redis: {type(exc).__name__}: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(rexc.ConnectionError, f"Connection to redis lost: {exc or 'closed by the server'}")
        if not self.lost.done():
            self.lost.set_result(None)

    def close(self, error: type[rexc.RedisError], message: str) -> None:
        """Fail every unanswered command with ``error(message)`` and drop the connection."""
        if self.closed:
            return
        self.closed = True
        for handle in (self._flush_handle, self._watchdog):
            if handle is not None:
                handle.cancel()
        self._out.clear()
        while self._pending:
            fut = self._pending.popleft()
            if not fut.done():
                fut.set_exception(error(message))
        if self._transport is not None:
            self._transport.abort()


class PipelinedRedis:
    """One auto-pipelined connection to a single (non-cluster) Redis, shared by all coroutines.

    Connects lazily on first use (concurrent first commands share one attempt) and again on
    the first command after the connection was lost. Replies are raw RESP2 (bytes, as
    redis-py with ``decode_responses=False``).

    Never send blocking commands (``BLPOP``, ``XREAD BLOCK``, ``WAIT``...) here: every
    command queued behind one waits for it. Nor commands that change the connection's state
    (``SELECT``, ``MULTI``/``WATCH``, ``SUBSCRIBE``, ``CLIENT REPLY``): other coroutines'
    commands share it. Use a Lua script for atomicity, redis-py for the rest.

    Errors: an error reply raises redis-py's class for it (``NoScriptError``,
    ``BusyLoadingError``, ``ReadOnlyError``, ``ResponseError``...) for that command only. A
    lost connection, a failed connect or garbage from the server raise ``ConnectionError``
    (``AuthenticationError`` for a refused AUTH) for every unanswered command. A reply late by
    more than ``socket_timeout`` raises ``TimeoutError`` for every unanswered command, as the
    connection is dropped: replies are matched by position.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` (TLS, with
            redis-py's ``ssl_*`` query options and defaults) or ``unix://path?db=N``.
        socket_timeout: Seconds a reply may take (the URL's ``socket_timeout`` wins).
        socket_connect_timeout: Seconds to connect, AUTH and SELECT (the URL's wins).
    """

    def __init__(self, url: str, *, socket_timeout: float = 5.0, socket_connect_timeout: float = 1.0) -> None:
        options: dict[str, Any] = dict(parse_url(url))
        self.socket_timeout = float(options.get("socket_timeout", socket_timeout))
        self.connect_timeout = float(options.get("socket_connect_timeout", socket_connect_timeout))
        self._path: str | None = options.get("path")
        self._host: str = options.get("host", "localhost")
        self._port: int = options.get("port", 6379)
        self._ssl = _ssl_context(options) if options.get("connection_class") is SSLConnection else None
        user, password, db = options.get("username"), options.get("password"), options.get("db", 0)
        self._handshake: list[tuple[Any, ...]] = []
        if password is not None:
            self._handshake.append(("AUTH", user, password) if user else ("AUTH", password))
        if db:
            self._handshake.append(("SELECT", db))
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None
        self._closed = False

    @property
    def writes(self) -> int:
        """``transport.write`` calls made on the current connection (for tests and metrics)."""
        return self._conn.writes if self._conn is not None else 0

    async def execute(self, *args: Any) -> Any:
        """Send one command (str, bytes, int or float arguments) and return its reply."""
        conn = self._conn
        if conn is None or conn.closed:
            conn = await self._connect()
        return await conn.send(args)

    async def evalsha(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a Lua script by SHA1, loading it if Redis does not know it (e.g. after a restart)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        conn = self._conn  # execute(), inlined: one coroutine frame less on every script call
        if conn is None or conn.closed:
            conn = await self._connect()
        try:
            return await conn.send(command)
        except rexc.NoScriptError:
            await self.execute("SCRIPT", "LOAD", script.source)
            return await self.execute(*command)

    async def aclose(self) -> None:
        """Close the connection for good; unanswered commands raise ``ConnectionError``."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close(rexc.ConnectionError, "PipelinedRedis was closed")
            await conn.lost

    async def _connect(self) -> _Connection:
        if self._closed:
            raise rexc.ConnectionError("PipelinedRedis was closed")
        task = self._connecting
        if task is None or task.done():
            task = self._connecting = asyncio.get_running_loop().create_task(self._open())
        conn = await asyncio.shield(task)  # one caller's cancellation must not cancel the others'
        if conn.closed:
            raise rexc.ConnectionError("Connection to redis lost right after connecting")
        return conn

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        conn: _Connection | None = None
        where = self._path or f"{self._host}:{self._port}"
        try:
            async with asyncio.timeout(self.connect_timeout):
                if self._path is not None:
                    _, conn = await loop.create_unix_connection(self._new_connection, self._path)
                else:
                    _, conn = await loop.create_connection(
                        self._new_connection, self._host, self._port, ssl=self._ssl
                    )
                # AUTH and SELECT go out in one write, before any caller's command.
                await asyncio.gather(*(conn.send(command) for command in self._handshake))
        except rexc.ConnectionError:  # AUTH refused (AuthenticationError)
            _close(conn, f"Error connecting to redis at {where}")
            raise
        except (OSError, TimeoutError, rexc.RedisError) as exc:
            # type and str, not repr: redis-py 8's exception repr drops the message
            message = f"Error connecting to redis at {where}: {type(exc).__name__}: {exc}"
            _close(conn, message)
            raise rexc.ConnectionError(message) from exc
        if self._closed:  # aclose() ran while we connected
            _close(conn, "PipelinedRedis was closed")
            raise rexc.ConnectionError("PipelinedRedis was closed")
        self._conn = conn
        return conn

    def _new_connection(self) -> _Connection:
        return _Connection(self.socket_timeout)


def _close(conn: _Connection | None, message: str) -> None:
    if conn is not None:
        conn.close(rexc.ConnectionError, message)


def _ssl_context(options: dict[str, Any]) -> ssl.SSLContext:
    """The TLS context redis-py's ``SSLConnection`` builds from the URL's ``ssl_*`` options."""
    settings: dict[str, Any] = {"cert_reqs": "required", "check_hostname": True}
    settings.update({k.removeprefix("ssl_"): v for k, v in options.items() if k.startswith("ssl_")})
    return RedisSSLContext(**settings).get()
