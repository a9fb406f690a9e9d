"""Contexts and push-notification configs on Redis (see ``_keys`` for the schema)."""

from __future__ import annotations

from a2a.server.context import ServerCallContext
from a2a.server.tasks import PushNotificationConfigStore
from a2a.server.tasks.push_notification_config_store import normalize_push_notification_config
from a2a.types.a2a_pb2 import Message, TaskPushNotificationConfig

from a2a_server.stores._redis_base import RedisContext
from a2a_server.stores.base import (
    ContextItem,
    ContextPage,
    ContextStore,
    Scope,
    current_scope,
    scope_of,
)


class RedisContextStore(ContextStore):
    """A context is a list of items (``t<task id>`` | ``m<message>``) plus a set of its task ids."""

    def __init__(self, redis: RedisContext) -> None:
        self._r = redis

    def _keys(self, scope: Scope, context_id: str) -> list[str]:
        sk = self._r.keys.scope(scope.tenant, scope.agent)
        return [sk.ctx(context_id), sk.ctx_scrubbed(context_id)]

    async def add_task(self, scope: Scope, context_id: str, task_id: str) -> None:
        """Append a task reference once (the task store also does this on first save)."""
        with self._r.errors():
            await self._r.run("ctx_add", self._keys(scope, context_id)[:1], ["t", task_id, 0])

    async def add_message(self, scope: Scope, context_id: str, message: Message) -> None:
        """Append a direct message; refreshes the tenant's retention TTL."""
        with self._r.errors():
            await self._r.run("ctx_add", self._keys(scope, context_id)[:1],
                              ["m", message.SerializeToString(), self._r.ttl_ms(scope.tenant)])

    async def page(
        self, scope: Scope, context_id: str, limit: int, offset: int
    ) -> ContextPage | None:
        """Items ``offset .. offset+limit`` in order (one LRANGE), with the total."""
        with self._r.errors():
            raw = await self._r.run("ctx_page", self._keys(scope, context_id), [offset, limit])
        if raw is None:
            return None
        items = [
            ContextItem(task_id=item[1:].decode())
            if item[:1] == b"t"
            else ContextItem(message=Message.FromString(item[1:]))
            for item in raw[1]
        ]
        return ContextPage(items=items, total=int(raw[0]))

    async def scrub(self, scope: Scope, context_id: str) -> list[str] | None:
        """Drop direct messages, keep task references; return the task ids."""
        with self._r.errors():
            raw = await self._r.run("ctx_scrub", self._keys(scope, context_id), [])
        return None if raw is None else [item.decode() for item in raw]


class RedisPushConfigStore(PushNotificationConfigStore):
    """Configs in a hash on the task's slot; visible to whichever replica dispatches."""

    def __init__(self, redis: RedisContext) -> None:
        self._r = redis

    def _key(self, scope: Scope, task_id: str) -> str:
        return self._r.keys.task(scope.tenant, scope.agent, task_id).push

    async def set_info(
        self, task_id: str, notification_config: TaskPushNotificationConfig,
        context: ServerCallContext,
    ) -> TaskPushNotificationConfig:
        """Store a normalized copy (replacing one with the same id)."""
        stored = normalize_push_notification_config(task_id, notification_config)
        with self._r.errors():
            await self._r.command("HSET", self._key(scope_of(context), task_id), stored.id,
                                  stored.SerializeToString())
        return stored

    async def _all(self, scope: Scope, task_id: str) -> list[TaskPushNotificationConfig]:
        with self._r.errors():
            raw = await self._r.client.hgetall(self._key(scope, task_id))
        configs = [TaskPushNotificationConfig.FromString(v) for v in raw.values()]
        return sorted(configs, key=lambda c: c.id)

    async def get_info(
        self, task_id: str, context: ServerCallContext
    ) -> list[TaskPushNotificationConfig]:
        """The caller's configs for the task."""
        return await self._all(scope_of(context), task_id)

    async def get_info_for_dispatch(self, task_id: str) -> list[TaskPushNotificationConfig]:
        """Every config of the task in the scope that runs it, for the dispatching replica."""
        return await self._all(current_scope(), task_id)

    async def delete_info(
        self, task_id: str, context: ServerCallContext, config_id: str | None = None
    ) -> None:
        """Delete one config, or all of the task's configs."""
        key = self._key(scope_of(context), task_id)
        with self._r.errors():
            if config_id is None:
                await self._r.client.delete(key)
            else:
                await self._r.client.hdel(key, config_id)
