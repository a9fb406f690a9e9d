"""What every Redis store shares: the client, the Lua scripts, health, and error mapping.

``map_redis_errors()`` is the one boundary where a redis-py error becomes a
server error: a lost connection, a timeout, a cluster that cannot serve, or a
Redis that is still loading its AOF become ``StoreUnavailable`` (HTTP 503) and
mark the backend unavailable until the health loop sees Redis answer again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any, Literal
from urllib.parse import quote

from redis import exceptions as rexc
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection

from a2a_server.errors import StoreUnavailable
from a2a_server.stores._keys import KeySchema
from a2a_server.stores._pipeline import PipelinedRedis, Script

logger = logging.getLogger(__name__)

RedisClient = Redis | RedisCluster

# Errors that mean "Redis cannot serve now", as opposed to a bug in our commands.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    rexc.ConnectionError,  # includes BusyLoadingError (AOF replay after a restart)
    rexc.TimeoutError,
    rexc.ClusterDownError,
    rexc.TryAgainError,
    rexc.MasterDownError,
    rexc.ReadOnlyError,
    rexc.SlotNotCoveredError,
    OSError,
)

def stop_if_cancelling() -> None:
    """Re-raise a cancellation that redis-py turned into a connection error.

    Cancelling a task blocked in a Redis call can surface as a ConnectionError (redis-py drops
    the connection); a loop that retries on connection errors would then never stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def follow_stream(client: Any, key: str, cursor: str, *, block_ms: int
                        ) -> AsyncIterator[tuple[str, dict[bytes, bytes]]]:
    """Every entry of the stream ``key`` after ``cursor``, forever (``XREAD BLOCK``), as
    (entry id, fields); while Redis is unreachable, retried every half second."""
    while True:
        try:
            reply = await client.xread({key: cursor}, count=100, block=block_ms)
        except UNAVAILABLE_ERRORS:
            stop_if_cancelling()
            await asyncio.sleep(0.5)
            continue
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                cursor = entry_id.decode()
                yield cursor, fields


_SCRIPTS = ("save", "get", "put", "index", "unindex", "ctx_add", "ctx_page", "ctx_scrub",
            "lease_claim", "lease_release", "usage_add", "usage_get", "outbox_claim",
            "outbox_release", "outbox_done", "agent_create", "agent_update", "agent_delete")


def _commit(lua: Any) -> str:
    """``save.lua``, then, if it succeeded, ``index.lua``, the lease change and the outbox's
    due mark, as one script.

    Single Redis only: the keys span the task's, the scope's and the lease set's slots.
    KEYS: 1..5 the save's keys  6 the task's :lease  7 the lease-expiry set  8 the outbox's
    due set  9.. the index's.
    ARGV: 1 task id  2 member  3 state  4 retention ms  5 terminal (the index's arguments but
    the version)  6 lease change (0 keep, 1 claim, 2 release)  7 replica id  8 lease ms
    9 lease-set member (also the due set's)  10 lease expiry ms  11.. the save's arguments.
    Returns what ``save.lua`` returns.
    """
    save = (lua / "save.lua").read_text()
    index = (lua / "index.lua").read_text()
    return f"""local function save(KEYS, ARGV)
{save}
end
local function index(KEYS, ARGV)
{index}
end
local sargv = {{}}
for i = 11, #ARGV do sargv[i - 10] = ARGV[i] end
local r = save({{KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]}}, sargv)
if r[1] == 1 then
  local ikeys = {{}}
  for i = 9, #KEYS do ikeys[i - 8] = KEYS[i] end
  index(ikeys, {{ARGV[1], r[2], ARGV[2], ARGV[3], ARGV[4], ARGV[5]}})
  if ARGV[6] == '1' then
    redis.call('SET', KEYS[6], ARGV[7], 'PX', ARGV[8])
    redis.call('ZADD', KEYS[7], ARGV[10], ARGV[9])
  elseif ARGV[6] == '2' then
    if redis.call('GET', KEYS[6]) == ARGV[7] then redis.call('DEL', KEYS[6]) end
    redis.call('ZREM', KEYS[7], ARGV[9])
  end
  if r[4] > 0 then
    local now = redis.call('TIME')
    redis.call('ZADD', KEYS[8], 'LT', tonumber(now[1]) * 1000 +
               math.floor(tonumber(now[2]) / 1000), ARGV[9])
  end
end
return r
"""


class Health:
    """Whether Redis is believed reachable; flipped by errors and by the health loop."""

    def __init__(self) -> None:
        self.available = True
        self.detail = "not checked yet"
        self.listeners: list[Callable[[bool], None]] = []  # called with each new state

    def down(self, exc: BaseException) -> None:
        """Record an outage (logged once per outage)."""
        if self.available:
            logger.warning("redis unavailable: %s", exc)
            for listener in self.listeners:
                listener(False)
        self.available = False
        self.detail = f"redis unavailable: {exc}"

    def up(self, detail: str) -> None:
        """Record that Redis answers."""
        if not self.available:
            logger.info("redis reachable again")
            for listener in self.listeners:
                listener(True)
        self.available = True
        self.detail = detail



class map_redis_errors:  # lower case: used as the function it was (a generator-based
    # context manager cost ~1 us per store call; this one costs a tenth of that)
    """Translate redis-py errors into ``StoreUnavailable`` (the one mapping boundary).

    Raises:
        StoreUnavailable: Redis cannot be reached or cannot serve right now.
    """

    __slots__ = ("health",)

    def __init__(self, health: Health | None = None) -> None:
        self.health = health

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> Literal[False]:
        if exc is not None and isinstance(exc, UNAVAILABLE_ERRORS):
            if self.health is not None:
                self.health.down(exc)
            raise StoreUnavailable() from exc
        return False


def pipelined_for(client: RedisClient) -> PipelinedRedis | None:
    """An auto-pipelined connection to the Redis ``client`` talks to (single Redis, TCP or
    unix socket); None for a Redis Cluster or TLS, which keep redis-py for everything."""
    if isinstance(client, RedisCluster):
        return None
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    if issubclass(pool.connection_class, SSLConnection):
        return None
    auth = ""
    if kwargs.get("password") is not None:
        auth = f"{quote(kwargs.get('username') or '', safe='')}:{quote(kwargs['password'], safe='')}@"
    if issubclass(pool.connection_class, UnixDomainSocketConnection):
        url = f"unix://{auth}{kwargs['path']}?db={kwargs.get('db', 0)}"
    else:
        url = f"redis://{auth}{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/" \
              f"{kwargs.get('db', 0)}"
    return PipelinedRedis(url, socket_timeout=kwargs.get("socket_timeout") or 5.0,
                          socket_connect_timeout=kwargs.get("socket_connect_timeout") or 1.0)


class RedisContext:
    """The client, the key schema, the loaded scripts and retention, shared by every store.

    On a single Redis the scripts run on one auto-pipelined connection (``_pipeline``):
    every store call of one event-loop tick goes out in one write, at a fraction of
    redis-py's CPU per command. redis-py keeps everything else: blocking reads (XREAD
    BLOCK), the health check, and a Redis Cluster.
    """

    def __init__(
        self,
        client: RedisClient,
        keys: KeySchema,
        tenant_ttl: Callable[[str], int | None],
        health: Health,
    ) -> None:
        # redis-py types replies as bytes | str (decode_responses is a runtime choice); ours
        # are bytes, so the stores treat replies as Any and parse them where they are read.
        self.client: Any = client
        self.keys = keys
        self.health = health
        self._tenant_ttl = tenant_ttl
        lua = resources.files("a2a_server.stores") / "lua"
        sources = {name: (lua / f"{name}.lua").read_text() for name in _SCRIPTS}
        # Scripts that touch a task's slot and a scope's (or the lease set's) slot at once:
        # only on a single Redis. In a Redis Cluster the keys live in different slots and
        # the stores make one call per slot (see ``_keys``).
        self.cluster = isinstance(client, RedisCluster)
        if not self.cluster:
            sources["commit"] = _commit(lua)
        self.scripts = {name: client.register_script(source) for name, source in sources.items()}
        self.pipelined = pipelined_for(client)
        self._fast = {name: Script(source) for name, source in sources.items()}

    def ttl_ms(self, tenant: str) -> int:
        """The tenant's retention in ms (0 = keep forever)."""
        seconds = self._tenant_ttl(tenant)
        return int(seconds * 1000) if seconds else 0

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script (EVALSHA, loading it on NOSCRIPT, e.g. after a Redis restart)."""
        if self.pipelined is not None:
            return await self.pipelined.evalsha(self._fast[name], keys, args)
        return await self.scripts[name](keys=keys, args=args)

    async def command(self, *args: Any) -> Any:
        """One plain command on the pipelined connection when there is one (redis-py's
        otherwise). Only for commands whose reply redis-py passes through unparsed (HSET,
        HGET, XDEL, EXPIRE, ...): the pipelined connection returns raw replies."""
        if self.pipelined is not None:
            return await self.pipelined.execute(*args)
        return await self.client.execute_command(*args)

    async def aclose(self) -> None:
        """Close the pipelined connection (the caller closes the redis-py client)."""
        if self.pipelined is not None:
            await self.pipelined.aclose()

    def errors(self) -> contextlib.AbstractContextManager[None]:
        """``map_redis_errors`` bound to this backend's health."""
        return map_redis_errors(self.health)
