"""Every Redis key the server uses, built here and nowhere else. This docstring is the schema.

Notation: ``<t>`` tenant, ``<a>`` agent id, ``<id>`` task id, ``<ctx>`` context id,
``<r>`` replica id. Ids that come from clients are percent-encoded (``{``, ``}``,
``:`` and anything outside ``[A-Za-z0-9._-]``), so a client-chosen id can neither
break a hash tag nor collide with another key. Everything starts with the
``prefix`` (default ``a2a``).

One task -- hash tag ``{t:<t>:<a>:<id>}``, so every key of one task lives in one
Redis Cluster slot and the save script touches them atomically::

    a2a:{t:<t>:<a>:<id>}:task    HASH  d = Task protobuf WITHOUT history (status message
                                           and artifacts included)
                                       v = version (1, 2, ... one per save)
                                       x = 1 when terminal (the state is in ``ixm``)
                                       h = number of messages in :hist
                                       f = 1: :hist entries are framed (below); absent on
                                       tasks written before, rewritten by their next save
    a2a:{t:<t>:<a>:<id>}:hist    LIST  one Message per entry, oldest first, framed as an
                                       entry of a Task's ``history`` field (tag, length,
                                       Message protobuf): ``d`` + the concatenated entries
                                       is the serialized task, so get.lua returns the
                                       entries joined and a read is served without a
                                       parse. historyLength=N is LRANGE -N -1 (O(N)). A
                                       replica holding the task at ``v``/``h`` asks get.lua
                                       with them and gets "unchanged" without the LRANGE.
    a2a:{t:<t>:<a>:<id>}:events  STREAM  the task's event log: entry id ``<version>-0``,
                                       fields v (version) and e (StreamResponse protobuf).
                                       XADDed by the save script, so event order is
                                       version order and an SSE id is a version.
                                       Capped (MAXLEN ~) at ``EVENTS_MAXLEN`` entries.
    a2a:{t:<t>:<a>:<id>}:push    HASH  push config id -> TaskPushNotificationConfig protobuf
    a2a:{t:<t>:<a>:<id>}:outbox  STREAM  push notifications not yet acknowledged: entry id
                                       ``<version>-<n>`` (n: the config's rank among the
                                       task's configs, sorted by id, at that commit), fields
                                       c (config id), e (StreamResponse protobuf), t (ms
                                       written). XADDed by the save script, for each step
                                       with an event, only when :push exists; XDELed when
                                       the webhook answers 2xx (or the entry finally fails).
    a2a:{t:<t>:<a>:<id>}:plog    HASH  push config id -> delivery log (JSON: state, reason,
                                       next retry, the last attempts); kept 7 days after
                                       its last write
    a2a:{t:<t>:<a>:<id>}:oblease STRING  replica id delivering the task's outbox (PX)
    a2a:{t:<t>:<a>:<id>}:lease   STRING  replica id of the replica running the task (PX);
                                       released once the last event its agent enqueued is
                                       saved (or the task is terminal), else left to lapse

The agent is part of the tag: a task of agent X is simply not found through agent Y.

One scope (tenant + agent) -- hash tag ``{s:<t>}`` (one slot per tenant)::

    a2a:{s:<t>}:<a>:ix           ZSET (all scores 0, ordered BYLEX) of ListTasks members
                                       ``<1|0><ts ns, 20 digits>:<id>``: has-timestamp flag,
                                       status timestamp, id -- the SDK's sort key, so
                                       ZRANGE ... BYLEX REV gives ListTasks order and a page
                                       token (the SDK's cursor) is an exclusive lex bound.
    a2a:{s:<t>}:<a>:ix:st:<n>    ZSET  the same members, for tasks in TaskState n
    a2a:{s:<t>}:<a>:ix:ctx:<ctx> ZSET  the same members, for tasks of one context
    a2a:{s:<t>}:<a>:ixm          HASH  task id -> ``<version>|<member>|<state>`` (what the
                                       indexes hold for it; a stale version is ignored)
    a2a:{s:<t>}:<a>:ctx:<ctx>    LIST  the context's items in order: ``t<task id>`` or
                                       ``m<Message protobuf>``; a task joins it when it is
                                       first indexed (no ``ixm`` entry yet)
    a2a:{s:<t>}:<a>:ctxs:<ctx>   STRING  "1": a context whose scrub left it empty (it stays
                                       known, for audit); absent otherwise

Indexes live in another slot than the task. What runs depends on the mode:

- **Single Redis** (``redis_cluster`` off): one script, ``save.lua`` then, if it
  succeeded, ``index.lua`` (composed in ``_redis_base``), with every key passed in
  KEYS: the save and the index update are one atomic round trip.
- **Redis Cluster**: the two slots cannot meet in one script. ``save.lua`` runs on
  the task's slot, then ``index.lua`` on the scope's, which is idempotent and
  ordered by version (an older update arriving late is ignored). A replica dying
  between the two leaves a task out of date in ListTasks until its next save; GET
  is never affected.

Either way an index entry whose task expired (retention) is removed when a
listing finds it gone.

Usage counters -- hash tag ``{u:<t>}`` (one slot per tenant, so a range of days is one
script)::

    a2a:{u:<t>}:<a>:usage:<day>  HASH  one UTC day (YYYY-MM-DD) of an agent's model calls,
                                       counted with HINCRBY (exact across replicas): in, out
                                       (tokens), calls, cost (estimated, in 1e-9 of the
                                       currency), cur (currency), m:<model>:in|out|calls.
                                       Expires 400 days after its last call.

Process-wide -- no tenant::

    a2a:{leases}                 ZSET  ``<t>\\x1f<a>\\x1f<id>`` scored by lease expiry (ms);
                                       the reaper on every replica reads ZRANGEBYSCORE -inf now
                                       (no SCAN) and the replica whose ZREM wins fails the task.

A lease is the task's ``:lease`` plus its member here: two slots. On a single Redis
claiming (``SET PX`` + ``ZADD``, ``lease_claim.lua``) and releasing (compare-and-``DEL``
+ ``ZREM``, ``lease_release.lua``) are one script each; in a Redis Cluster each is
two calls, the ``:lease`` first.
    a2a:{outbox}                 ZSET  ``<t>\x1f<a>\x1f<id>`` of tasks with outbox entries,
                                       scored by when they are due (ms). The commit adds
                                       with ZADD LT now (single Redis: inside the commit
                                       script; Redis Cluster: right after the save; a
                                       replica dying between the two leaves the entries
                                       to the sweeper, below); deliverers re-score
                                       it to their next retry or ZREM it when empty.
    a2a:{outbox}:sweep           STRING  replica id of the replica sweeping the Redis
                                       Cluster for outboxes missing from the due set
                                       (SET NX PX one sweep interval; see redis_outbox.py)
    a2a:{agreed}:<name>          STRING  a value the first replica set and the others use:
                                       ``push-dev-key`` (dev mode's generated push signing
                                       key, PEM; production configures its keys instead),
                                       ``token-dev-key`` (dev mode without
                                       A2A_SERVER_JWT_SECRET: the token signing key)
    a2a:{r:<r>}:cancel           STREAM  cancels for the replica named by a task's :lease:
                                       fields t (task id), s (tenant \x1f agent); read by that
                                       replica from its position at start-up (MAXLEN ~1000,
                                       expires a day after the last cancel)

Agents tenants created through the API (Corti's agent CRUD) -- hash tag ``{agents}``
(one slot: a definition is found by its id alone, before the tenant is known; every
write is one script over these keys)::

    a2a:{agents}:def:<id>        HASH  d = the definition (JSON: id, tenant, spec, version,
                                       ephemeral, created_ms, updated_ms, expires_ms,
                                       deleted), x = 1 once deleted (a tombstone, kept
                                       with a PX TTL while the agent's tasks stay readable),
                                       v = version (1, 2, ...: compare-and-set by
                                       agent_update.lua), t = owner tenant. An ephemeral
                                       agent's hash has a PX TTL (it is gone for everyone)
    a2a:{agents}:ix:<t>          ZSET  the tenant's agent ids scored by creation ms (list
                                       order), tombstones included; agent_create.lua drops
                                       members whose definition expired and counts the
                                       others but the tombstones (x = 1) against the limit
                                       (all of them against 10 x the limit)
    a2a:{agents}:changes         STREAM  one entry (field a = agent id) per create, update
                                       and delete (MAXLEN ~1000); every replica XREADs it from
                                       its position at start-up and drops its cached copy

Quotas and idempotency -- hash tag ``{q:<t>}`` (one slot per tenant: one tenant's
counters never share a key, or a hot slot, with another's)::

    a2a:{q:<t>}:rpm              STRING  requests admitted in the current minute (PX: the
    a2a:{q:<t>}:rpm.<c>                rest of the window); ``<c>`` one credential (``api_key.key:<name>``
                                       or ``jwt.<client id>``); quota_hit.lua checks and
                                       counts both in one call
    a2a:{q:<t>}:tasks            ZSET  holder id -> expiry ms (Redis TIME) of each running
    a2a:{q:<t>}:streams                task / open stream; quota_acquire.lua drops expired
                                       members (a dead replica's) before counting; PX = slot
    a2a:{q:<t>}:idem:<a>:<sha>   STRING  an Idempotency-Key's claim (JSON: body digest, task
                                       id or direct reply), ``<sha>`` the key's SHA-256;
                                       SET NX GET PX (idempotency_ttl_seconds)

Retention: when a task reaches a terminal state and its tenant has
``retention_seconds``, the save script PEXPIREs :task, :hist, :events, :push and :outbox
together (notifications still pending when a task expires are dropped with it); the
context keys get the same TTL on each terminal save and direct message. Without retention nothing expires.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, unquote

from a2a_server.stores._gc import untracked

EVENTS_MAXLEN = 10_000
LEASES = "{leases}"
OUTBOX = "{outbox}"
AGENTS = "{agents}"
_SEP = "\x1f"


def enc(value: str) -> str:
    """Percent-encode a client-supplied id so it cannot break the key grammar."""
    return quote(value, safe="-_.")


class TaskKeys(NamedTuple):
    """The keys of one task (one hash slot).

    A tuple of strings, untracked by the garbage collector when ``KeySchema`` makes it
    (``_gc``; CPython would keep a named tuple tracked): it remembers thousands.
    """

    task: str
    hist: str
    events: str
    push: str
    lease: str
    outbox: str
    plog: str
    oblease: str

    @property
    def all(self) -> list[str]:
        """Every key of the task, for retention and delete."""
        return [self.task, self.hist, self.events, self.push, self.lease, self.outbox,
                self.plog, self.oblease]


@dataclass(frozen=True, slots=True)
class ScopeKeys:
    """The index and context keys of one scope (one hash slot per tenant)."""

    base: str

    @property
    def ix(self) -> str:
        """All tasks of the scope, ListTasks order."""
        return f"{self.base}:ix"

    @property
    def ixm(self) -> str:
        """Task id -> what the indexes hold."""
        return f"{self.base}:ixm"

    def ix_state(self, state: int) -> str:
        """Tasks in one state."""
        return f"{self.base}:ix:st:{state}"

    def ix_ctx(self, context_id: str) -> str:
        """Tasks of one context."""
        return f"{self.base}:ix:ctx:{enc(context_id)}"

    def ctx(self, context_id: str) -> str:
        """A context's items, in order."""
        return f"{self.base}:ctx:{enc(context_id)}"

    def ctx_scrubbed(self, context_id: str) -> str:
        """Marks a context whose scrub left it empty."""
        return f"{self.base}:ctxs:{enc(context_id)}"


class KeySchema:
    """Builds every key from a prefix (tests and deployments may share a Redis)."""

    def __init__(self, prefix: str = "a2a") -> None:
        self.prefix = prefix
        # Every request builds its task's keys (percent-encoding three ids): remember recent ones.
        self._tasks = functools.lru_cache(maxsize=16_384)(self._task_keys)
        self._scopes = functools.lru_cache(maxsize=1_024)(self._scope_keys)

    def forget(self) -> None:
        """Empty the remembered keys (rebuilt on demand)."""
        self._tasks.cache_clear()
        self._scopes.cache_clear()

    def task(self, tenant: str, agent: str, task_id: str) -> TaskKeys:
        """The keys of one task."""
        return self._tasks(tenant, agent, task_id)

    def _task_keys(self, tenant: str, agent: str, task_id: str) -> TaskKeys:
        base = f"{self.prefix}:{{t:{enc(tenant)}:{enc(agent)}:{enc(task_id)}}}"
        return untracked(TaskKeys(f"{base}:task", f"{base}:hist", f"{base}:events",
                                  f"{base}:push", f"{base}:lease", f"{base}:outbox",
                                  f"{base}:plog", f"{base}:oblease"))

    def scope(self, tenant: str, agent: str) -> ScopeKeys:
        """The index and context keys of one scope."""
        return self._scopes(tenant, agent)

    def _scope_keys(self, tenant: str, agent: str) -> ScopeKeys:
        return ScopeKeys(f"{self.prefix}:{{s:{enc(tenant)}}}:{enc(agent)}")

    def quota(self, tenant: str, name: str) -> str:
        """A tenant's quota counter or slot set (``rpm``, ``rpm.<credential>``, ``tasks``...)."""
        return f"{self.prefix}:{{q:{enc(tenant)}}}:{enc(name)}"

    def idempotency(self, tenant: str, agent: str, digest: str) -> str:
        """The claim of one Idempotency-Key (``digest``: its SHA-256, hex)."""
        return f"{self.prefix}:{{q:{enc(tenant)}}}:idem:{enc(agent)}:{digest}"

    def usage(self, tenant: str, agent: str, day: str) -> str:
        """One day's usage counters of a scope."""
        return f"{self.prefix}:{{u:{enc(tenant)}}}:{enc(agent)}:usage:{day}"

    @property
    def leases(self) -> str:
        """The lease-expiry sorted set."""
        return f"{self.prefix}:{LEASES}"

    @property
    def outbox_due(self) -> str:
        """The set of tasks with push notifications to deliver, by due time."""
        return f"{self.prefix}:{OUTBOX}"

    @property
    def outbox_sweep(self) -> str:
        """The lease of the replica sweeping for outboxes missing from the due set."""
        return f"{self.prefix}:{OUTBOX}:sweep"

    @property
    def outbox_pattern(self) -> str:
        """A SCAN ``MATCH`` pattern of every task's ``:outbox`` key."""
        prefix = "".join(f"\\{c}" if c in "*?[]\\" else c for c in self.prefix)
        return f"{prefix}:{{t:*}}:outbox"

    def parse_outbox_key(self, key: str) -> tuple[str, str, str] | None:
        """Tenant, agent, task id of a task's ``:outbox`` key (None: not one)."""
        head, tail = f"{self.prefix}:{{t:", "}:outbox"
        if not (key.startswith(head) and key.endswith(tail)):
            return None
        parts = key[len(head):-len(tail)].split(":")
        if len(parts) != 3:
            return None
        return unquote(parts[0]), unquote(parts[1]), unquote(parts[2])

    def agreed(self, name: str) -> str:
        """A value the replicas share (``Stores.agree``), e.g. the dev push signing key."""
        return f"{self.prefix}:{{agreed}}:{enc(name)}"

    def agent(self, agent_id: str) -> str:
        """A tenant-created agent's definition."""
        return f"{self.agent_prefix}{enc(agent_id)}"

    @property
    def agent_prefix(self) -> str:
        """What a definition key is, before the agent id (the create script prunes by it)."""
        return f"{self.prefix}:{AGENTS}:def:"

    def agent_index(self, tenant: str) -> str:
        """A tenant's created agents."""
        return f"{self.prefix}:{AGENTS}:ix:{enc(tenant)}"

    @property
    def agent_changes(self) -> str:
        """The stream of changed agent ids."""
        return f"{self.prefix}:{AGENTS}:changes"

    def cancels(self, replica: str) -> str:
        """The cancel stream of one replica."""
        return f"{self.prefix}:{{r:{replica}}}:cancel"

    @staticmethod
    def lease_member(tenant: str, agent: str, task_id: str) -> str:
        """A member of the lease-expiry set."""
        return _SEP.join((tenant, agent, task_id))

    @staticmethod
    def parse_lease_member(member: str) -> tuple[str, str, str]:
        """Tenant, agent, task id of a lease-expiry member."""
        tenant, agent, task_id = member.split(_SEP, 2)
        return tenant, agent, task_id


def sort_member(has_timestamp: bool, timestamp_ns: int, task_id: str) -> str:
    """The ListTasks index member: the SDK's sort key, ordered lexicographically."""
    return f"{1 if has_timestamp else 0}{max(timestamp_ns, 0):020d}:{task_id}"
