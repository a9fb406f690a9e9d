"""The production backend: every store on one Redis or Redis Cluster, shared by all replicas.

``create_redis_stores(settings, tenant_ttl)`` builds it; the key schema is in
``_keys``; the Lua scripts are in ``lua/``. Background loops on every replica:
a health check (flips ``available`` and brings it back with no restart) and the
lease reaper (fails tasks whose replica died).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from a2a_server.settings import Settings
from a2a_server.stores._keys import KeySchema
from a2a_server.stores._redis_base import (
    UNAVAILABLE_ERRORS,
    Health,
    RedisClient,
    RedisContext,
    map_redis_errors,
)
from a2a_server.stores.base import Stores
from a2a_server.stores.redis_agents import RedisAgentStore
from a2a_server.stores.redis_outbox import RedisOutbox
from a2a_server.stores.redis_records import RedisContextStore, RedisPushConfigStore
from a2a_server.stores.redis_streams import RedisEventStream, RedisLeaseManager
from a2a_server.stores.redis_tasks import TASK_CACHE_BYTES, RedisTaskStore
from a2a_server.stores.redis_usage import RedisUsageCounters

__all__ = ["RedisStores", "create_redis_client", "create_redis_stores", "map_redis_errors"]

logger = logging.getLogger(__name__)

_HEALTH_ERRORS: tuple[type[Exception], ...] = (*UNAVAILABLE_ERRORS, TimeoutError)
_HEALTH_UP_S = 2.0
_HEALTH_DOWN_S = 0.25


def create_redis_client(url: str, *, cluster: bool = False) -> RedisClient:
    """A client that fails fast (one quick retry) so a Redis outage becomes a prompt 503."""
    options = {
        "socket_connect_timeout": 1.0,
        "socket_timeout": 5.0,  # above the 2 s XREAD BLOCK
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
        "decode_responses": False,
    }
    if cluster:
        return RedisCluster.from_url(url, **options)
    return Redis.from_url(url, health_check_interval=10, **options)  # type: ignore[arg-type]


def default_replica_id() -> str:
    """``host:pid:random``: unique per process, readable in Redis."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class RedisStores(Stores):
    """Every store on one Redis (or Redis Cluster)."""

    name = "redis"
    leases: RedisLeaseManager

    def __init__(
        self,
        client: RedisClient,
        tenant_ttl: Callable[[str], int | None],
        *,
        replica_id: str | None = None,
        lease_seconds: float = 15.0,
        prefix: str = "a2a",
        finished_events_seconds: float = 300.0,
        task_cache_bytes: int = TASK_CACHE_BYTES,
    ) -> None:
        self.client = client
        self.health = Health()
        self.redis = RedisContext(client, KeySchema(prefix), tenant_ttl, self.health)
        self.tasks = RedisTaskStore(self.redis, int(finished_events_seconds * 1000),
                                    task_cache_bytes)
        self.events = RedisEventStream(self.redis)
        self.push_configs = RedisPushConfigStore(self.redis)
        self.outbox = RedisOutbox(self.redis)
        self.tasks.outbox_wakeup = self.outbox.wakeup
        self.tasks.outbox = self.outbox
        self.contexts = RedisContextStore(self.redis)
        self.usage = RedisUsageCounters(self.redis)
        self.agents = RedisAgentStore(self.redis)
        self.leases = RedisLeaseManager(self.redis, self.tasks, replica_id or default_replica_id(),
                                        lease_seconds)
        self._loops: list[asyncio.Task[None]] = []

    @property
    def available(self) -> bool:
        """False from the first failed Redis call until the health loop reaches Redis again."""
        return self.health.available

    async def agree(self, name: str, value: bytes) -> bytes:
        """SET NX then GET of ``<prefix>:{agreed}:<name>``: the first replica's value wins."""
        key = self.redis.keys.agreed(name)
        with self.redis.errors():
            await self.client.set(key, value, nx=True)
            stored = await self.client.get(key)
        return stored if isinstance(stored, bytes) else value

    async def _ping(self) -> str:
        await self.client.ping()
        return "redis ok"

    async def start(self) -> None:
        """Ping (with retries), log the server once, start the health loop and the reaper."""
        for attempt in range(5):
            try:
                info = await self.client.info("server")
                memory = await self.client.info("memory")
            except UNAVAILABLE_ERRORS as exc:
                self.health.down(exc)
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            version = info.get("redis_version") if isinstance(info, dict) else "?"
            used = memory.get("used_memory_human") if isinstance(memory, dict) else "?"
            logger.info("redis %s reachable, %s used, replica %s", version, used,
                        self.leases.replica_id)
            self.health.up("redis ok")
            break
        else:
            logger.error("redis unreachable at start-up; serving 503 until it answers")
        self._loops = [asyncio.create_task(self._health_loop()),
                       asyncio.create_task(self.leases.reaper()),
                       await self.leases.start_cancel_reader()]

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(_HEALTH_UP_S if self.health.available else _HEALTH_DOWN_S)
            try:
                self.health.up(await asyncio.wait_for(self._ping(), 2.0))
            except _HEALTH_ERRORS as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from exc
                self.health.down(exc)

    async def close(self) -> None:
        """Stop the loops and close the connections."""
        pending = set(self._loops)
        for _ in range(3):  # a cancel can land inside redis-py and be turned into an error
            for loop in pending:
                loop.cancel()
            if not pending:
                break
            _, pending = await asyncio.wait(pending, timeout=1.0)
        if pending:
            logger.error("%d background loops did not stop", len(pending))
        for loop in self._loops:
            if loop.done() and not loop.cancelled() and loop.exception() is not None:
                logger.error("background loop failed", exc_info=loop.exception())
        await self.redis.aclose()
        await self.client.aclose()

    async def ready(self) -> tuple[bool, str]:
        """Ready when Redis answers a PING within a second."""
        try:
            detail = await asyncio.wait_for(self._ping(), 1.0)
        except _HEALTH_ERRORS as exc:
            self.health.down(exc)
            return False, self.health.detail
        self.health.up(detail)
        return True, detail


def create_redis_stores(settings: Settings, tenant_ttl: Callable[[str], int | None]) -> Stores:
    """The Redis backend for ``settings.redis_url`` (Redis Cluster if ``redis_cluster``)."""
    if not settings.redis_url:
        raise ValueError("redis_url is not set")
    client = create_redis_client(settings.redis_url, cluster=settings.redis_cluster)
    return RedisStores(client, tenant_ttl, replica_id=settings.replica_id,
                       lease_seconds=settings.lease_seconds, prefix=settings.redis_prefix,
                       finished_events_seconds=settings.finished_events_seconds,
                       task_cache_bytes=settings.task_cache_mb * 1024 * 1024)
