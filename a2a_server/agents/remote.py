"""The ``remote`` executor: an agent that forwards to a remote A2A agent by its card URL.

Binding (``agent_cards/<id>.binding.yaml``)::

    executor: remote
    options:
      card_url: https://agents.example.com/agents/triage/v1/.well-known/agent-card.json
      headers: {Tenant-Name: clinic}        # plain headers, sent on every request
      auth: header                          # none | header | oauth2
      auth_header: X-API-Key                # header: its name (default Authorization)
      auth_value_env: TRIAGE_API_KEY        # header: the variable holding its value
      # auth: oauth2 -> token_url, client_id_env, client_secret_env, scope
      timeout_seconds: 300                  # the whole forwarded turn
      read_timeout_seconds: 60              # nothing heard from the remote for this long
      max_answer_bytes: 16777216            # what one turn may relay

What it does, per message sent to the local agent:

- The card is fetched (with the headers and credentials above, cached for
  ``card_ttl_seconds``) and the remote is called with the a2a-sdk client
  (JSON-RPC or HTTP+JSON, as the card offers; streaming when the remote
  streams). The card URL and every interface URL in the card are judged by the
  push-webhook policy (``a2a_server.push_policy``): private, loopback and
  metadata addresses are refused unless ``push_url_allowlist`` allows them.
- The remote's task is mirrored by a local one: ids are ours; the remote's task
  and context ids are kept in ``Task.metadata.remote`` (``{"task_id",
  "context_id", "card_url"}``). Status updates (with their messages) and
  artifacts are relayed as they come, so ``message:stream``, ``tasks/get`` and
  ``:subscribe`` on the local agent see the remote's progress. A remote that
  answers with a direct Message gives a direct Message.
- A follow-up in the same local task goes to the same remote task and context;
  a new task in the same local context goes to the same remote context (its id
  is derived from the tenant, agent and local context, so any replica finds it).
- ``usage``, ``model_used``, ``provider`` and ``error`` from the remote task's
  metadata are copied onto the local task (``a2a_server.agents.usage``).
- A cancel of the local task (on any replica) cancels the remote task
  (``CancelTask``: closing the stream alone would leave it running).
- A remote that is down, refuses, fails or is too slow fails the local task with
  an agent message saying what happened and ``metadata.error`` =
  ``{"code": "remote_unavailable" | "remote_refused" | "remote_error" |
  "remote_failed" | "timeout" | "remote_url_refused" | "remote_not_configured",
  "message": ...}``.
  Credentials are never logged nor put in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import urllib.parse
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import httpx
from a2a.client import (
    A2AClientError,
    A2AClientTimeoutError,
    AgentCardResolutionError,
    ClientConfig,
    ClientFactory,
)
from a2a.client.card_resolver import A2ACardResolver
from a2a.client.client import Client
from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import (
    AgentCard,
    Artifact,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import A2AError
from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from a2a_server.agents.oauth import DEFAULT_TOKEN_CACHE, TokenError
from a2a_server.agents.services import AgentServices
from a2a_server.agents.usage import ERROR, MODEL_USED, PROVIDER, USAGE
from a2a_server.field_errors import first_problem
from a2a_server.observability.tracing import async_inject_trace_headers, outbound_span
from a2a_server.push_policy import PushUrlPolicy
from a2a_server.stores.base import scope_of

logger = logging.getLogger(__name__)

REMOTE = "remote"
_PASSED_THROUGH = (USAGE, MODEL_USED, PROVIDER, ERROR)
_TERMINAL = {TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED,
             TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED}
_TURN_ENDS = _TERMINAL | {TaskState.TASK_STATE_INPUT_REQUIRED, TaskState.TASK_STATE_AUTH_REQUIRED}
_CANCEL_TIMEOUT_S = 10.0
_MAX_DETAIL = 300
_CONTEXT_NAMESPACE = uuid.UUID("5b0f3c52-7a52-4d0e-9d53-6a4f1d1b2c9e")


class RemoteOptions(BaseModel):
    """The ``options`` of an ``executor: remote`` binding (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    card_url: str = Field(min_length=1, max_length=2048)
    headers: dict[str, str] = {}
    auth: Literal["none", "header", "oauth2"] = "none"
    auth_header: str = Field(default="Authorization", min_length=1, max_length=128)
    auth_value_env: str | None = None
    auth_value_prefix: str = ""
    token_url: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    scope: str | None = None
    timeout_seconds: float = Field(default=300.0, gt=0)
    read_timeout_seconds: float = Field(default=60.0, gt=0)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    card_ttl_seconds: float = Field(default=300.0, ge=0)
    streaming: bool = True
    max_answer_bytes: int = Field(default=16 * 1024 * 1024, gt=0)

    @field_validator("card_url", "token_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _auth_complete(self) -> RemoteOptions:
        if self.auth == "header" and not self.auth_value_env:
            raise ValueError("auth 'header' needs auth_value_env (the variable holding the value)")
        if self.auth == "oauth2" and not (self.token_url and self.client_id_env
                                          and self.client_secret_env):
            raise ValueError("auth 'oauth2' needs token_url, client_id_env and client_secret_env")
        return self


class RemoteFailure(Exception):
    """The forwarded turn failed: an ``error`` code and a sentence a person can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Exchange:
    """One forwarded turn: the local task's ids and what is known of the remote's."""

    task_id: str
    context_id: str
    message: Message
    task_exists: bool
    remote_task_id: str | None = None
    remote_context_id: str | None = None
    final: bool = False
    replied: bool = False
    relayed_bytes: int = 0
    remote_metadata: dict[str, Any] = field(default_factory=dict)
    known_artifacts: dict[str, Artifact] = field(default_factory=dict)  # the local task's
    known_status: TaskStatus | None = None  # the local task's, relayed by an earlier turn


def _remote_of(task: Task | None) -> tuple[str | None, str | None]:
    """The remote task and context ids kept on a local task."""
    if task is None or REMOTE not in task.metadata:
        return None, None
    remote = MessageToDict(task.metadata).get(REMOTE)
    if not isinstance(remote, dict):
        return None, None
    task_id, context_id = remote.get("task_id"), remote.get("context_id")
    return (task_id if isinstance(task_id, str) else None,
            context_id if isinstance(context_id, str) else None)


def _same_status(remote: TaskStatus, local: TaskStatus | None) -> bool:
    """Whether ``remote`` is the status an earlier turn already relayed (a follow-up's stream
    starts with a snapshot of the task as the last turn left it)."""
    return (local is not None and remote.state == local.state
            and remote.timestamp == local.timestamp
            and remote.message.message_id == local.message.message_id)


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status behind a client error (the SDK keeps it as the cause), if any."""
    if isinstance(exc, AgentCardResolutionError) and exc.status_code:
        return exc.status_code
    cause = exc.__cause__
    if isinstance(cause, httpx.HTTPStatusError):
        return cause.response.status_code
    return None


def _detail(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else f"{text[:_MAX_DETAIL]}..."


class RemoteAgentExecutor(AgentExecutor):
    """Forwards every message to a remote A2A agent and mirrors its task locally."""

    def __init__(self, **options: Any) -> None:
        try:
            self.options = RemoteOptions.model_validate(options)
        except ValidationError as exc:
            where, message = first_problem(exc, "options")
            raise ValueError(f"remote: field '{where}': {message}") from None
        self._environ: Mapping[str, str] = os.environ
        self._policy = PushUrlPolicy()
        self._card: tuple[AgentCard, float] | None = None
        missing = self._missing_variables()
        if missing:
            logger.warning("remote agent %s: environment variable(s) %s not set; its tasks will "
                           "fail until they are", self.options.card_url, ", ".join(missing))

    def bind(self, services: AgentServices, agent_id: str = "") -> None:
        """Outbound URLs are judged by the deployment's policy (``push_url_allowlist``)."""
        del agent_id
        self._policy = services.url_policy

    def _missing_variables(self) -> list[str]:
        options = self.options
        names = {"header": [options.auth_value_env],
                 "oauth2": [options.client_id_env, options.client_secret_env]}.get(options.auth, [])
        return [name for name in names if name and not self._environ.get(name)]

    # -- credentials, card, client -------------------------------------------------------

    async def _headers(self) -> dict[str, str]:
        options = self.options
        headers = dict(options.headers)
        missing = self._missing_variables()
        if missing:
            raise RemoteFailure("remote_not_configured",
                                f"the remote agent's credentials are not configured: set "
                                f"{', '.join(missing)}")
        if options.auth == "header":
            value = self._environ[options.auth_value_env or ""]
            headers[options.auth_header] = f"{options.auth_value_prefix}{value}"
        elif options.auth == "oauth2":
            assert options.token_url is not None
            try:
                token = await DEFAULT_TOKEN_CACHE.token(
                    options.token_url, self._environ[options.client_id_env or ""],
                    self._environ[options.client_secret_env or ""], options.scope,
                    time_limit=options.connect_timeout_seconds)
            except TokenError as exc:
                raise RemoteFailure("remote_unavailable", f"no token for the remote agent: {exc}") \
                    from None
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _check_url(self, url: str, what: str) -> None:
        if not await self._policy.for_delivery(url):
            raise RemoteFailure("remote_url_refused",
                                f"the remote agent's {what} {url} is not allowed: its host is not "
                                f"public and not in push_url_allowlist")

    def _http(self, headers: dict[str, str]) -> httpx.AsyncClient:
        options = self.options
        return httpx.AsyncClient(
            headers=headers, follow_redirects=False,
            timeout=httpx.Timeout(options.connect_timeout_seconds, read=options.read_timeout_seconds),
            # W3C trace context of the run (nothing when tracing is off): the remote continues it
            event_hooks={"request": [async_inject_trace_headers]})

    async def _agent_card(self, http: httpx.AsyncClient) -> AgentCard:
        cached = self._card
        if cached is not None and time.monotonic() - cached[1] < self.options.card_ttl_seconds:
            return cached[0]
        await self._check_url(self.options.card_url, "card URL")
        card = await A2ACardResolver(http, self.options.card_url, agent_card_path="").get_agent_card()
        for interface in card.supported_interfaces:
            await self._check_url(interface.url, "interface URL")
        self._card = (card, time.monotonic())
        return card

    def _client(self, card: AgentCard, http: httpx.AsyncClient) -> Client:
        config = ClientConfig(httpx_client=http, streaming=self.options.streaming,
                              supported_protocol_bindings=["JSONRPC", "HTTP+JSON"])
        try:
            return ClientFactory(config).create(card)
        except ValueError as exc:
            raise RemoteFailure("remote_error", f"the remote agent's card offers no usable "
                                f"interface ({exc})") from None

    # -- the forwarded turn ----------------------------------------------------------------

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Forward the message, relay the remote's events; failures fail the local task."""
        message = context.message
        assert message is not None  # the SDK always builds one for a send
        exchange = _Exchange(
            task_id=context.task_id or message.task_id, context_id=context.context_id or "",
            message=message, task_exists=context.current_task is not None)
        exchange.remote_task_id, exchange.remote_context_id = _remote_of(context.current_task)
        if context.current_task is not None:
            exchange.known_artifacts = {a.artifact_id: a for a in context.current_task.artifacts}
            exchange.known_status = context.current_task.status
        try:
            async with asyncio.timeout(self.options.timeout_seconds):
                await self._forward(context, exchange, event_queue)
        except asyncio.CancelledError:
            await self._cancel_remote(exchange)
            raise
        except TimeoutError:
            await self._cancel_remote(exchange)
            await self._fail(exchange, event_queue, "timeout",
                             f"the remote agent at {self.options.card_url} did not finish within "
                             f"{self.options.timeout_seconds:g} s")
        except RemoteFailure as exc:
            await self._cancel_remote(exchange)
            await self._fail(exchange, event_queue, exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - every remote failure ends as a failed task
            code, text = self._explain(exc)
            await self._cancel_remote(exchange)
            await self._fail(exchange, event_queue, code, text)

    def _outbound(self, context: RequestContext, exchange: _Exchange) -> SendMessageRequest:
        outbound = Message()
        outbound.CopyFrom(exchange.message)
        del outbound.reference_task_ids[:]  # local ids mean nothing to the remote
        outbound.ClearField("task_id")
        if exchange.remote_task_id:
            outbound.task_id = exchange.remote_task_id
        scope = scope_of(context.call_context)
        outbound.context_id = exchange.remote_context_id or str(uuid.uuid5(
            _CONTEXT_NAMESPACE, f"{scope.tenant}/{scope.agent}/{exchange.context_id}"))
        return SendMessageRequest(message=outbound)

    async def _forward(self, context: RequestContext, exchange: _Exchange,
                       queue: EventQueue) -> None:
        headers = await self._headers()
        where = urllib.parse.urlsplit(self.options.card_url)
        attributes: dict[str, Any] = {"rpc.system": "a2a", "rpc.method": "SendMessage",
                                      "server.address": where.hostname or ""}
        if where.port:
            attributes["server.port"] = where.port
        # One CLIENT span per forwarded turn (card fetch, send, final get_task); the
        # requests inside carry it as their traceparent.
        with outbound_span("a2a SendMessage", attributes):
            async with self._http(headers) as http:
                card = await self._agent_card(http)
                client = self._client(card, http)
                # The SDK declares an AsyncIterator; it is a generator, closed here on any exit.
                stream = cast(AsyncGenerator[StreamResponse, None],
                              client.send_message(self._outbound(context, exchange)))
                async with contextlib.aclosing(stream):
                    async for event in stream:
                        await self._relay(event, exchange, queue, client)
                if not exchange.final and not exchange.replied and exchange.remote_task_id:
                    # The stream ended without a terminal or interrupted state: ask for it.
                    task = await client.get_task(GetTaskRequest(id=exchange.remote_task_id))
                    await self._relay(StreamResponse(task=task), exchange, queue, client)

    async def _relay(self, event: StreamResponse, exchange: _Exchange, queue: EventQueue,
                     client: Client) -> None:
        exchange.relayed_bytes += event.ByteSize()
        if exchange.relayed_bytes > self.options.max_answer_bytes:
            raise RemoteFailure("remote_error", f"the remote agent at {self.options.card_url} "
                                f"answered more than {self.options.max_answer_bytes} bytes")
        kind = event.WhichOneof("payload")
        if kind == "message":
            await self._relay_message(event.message, exchange, queue)
        elif kind == "task":
            await self._relay_task(event.task, exchange, queue)
        elif kind == "status_update":
            update = event.status_update
            self._learn(exchange, update.task_id, update.context_id)
            await self._ensure_task(exchange, queue)
            if update.status.state in _TURN_ENDS and not self._carries_usage(update.metadata):
                await self._fetch_metadata(exchange, client)
            await self._relay_status(update.status, update.metadata, exchange, queue)
        elif kind == "artifact_update":
            update = event.artifact_update
            self._learn(exchange, update.task_id, update.context_id)
            await self._ensure_task(exchange, queue)
            local = TaskArtifactUpdateEvent()
            local.CopyFrom(update)
            local.task_id, local.context_id = exchange.task_id, exchange.context_id
            await queue.enqueue_event(local)

    @staticmethod
    def _carries_usage(metadata: Struct) -> bool:
        return USAGE in metadata

    async def _fetch_metadata(self, exchange: _Exchange, client: Client) -> None:
        """The remote task's usage etc., which a status update may not carry (best effort)."""
        if not exchange.remote_task_id:
            return
        try:
            task = await client.get_task(GetTaskRequest(id=exchange.remote_task_id, history_length=0))
        except (A2AError, httpx.HTTPError) as exc:
            logger.info("remote task %s: metadata not read: %s", exchange.remote_task_id,
                        type(exc).__name__)
            return
        self._keep_metadata(exchange, task.metadata)

    @staticmethod
    def _keep_metadata(exchange: _Exchange, metadata: Struct) -> None:
        found = MessageToDict(metadata)
        exchange.remote_metadata.update({k: found[k] for k in _PASSED_THROUGH if k in found})

    @staticmethod
    def _learn(exchange: _Exchange, task_id: str, context_id: str) -> None:
        if task_id:
            exchange.remote_task_id = task_id
        if context_id:
            exchange.remote_context_id = context_id

    def _remote_marker(self, exchange: _Exchange) -> dict[str, Any]:
        return {REMOTE: {"task_id": exchange.remote_task_id or "",
                         "context_id": exchange.remote_context_id or "",
                         "card_url": self.options.card_url}}

    async def _ensure_task(self, exchange: _Exchange, queue: EventQueue,
                           status: TaskStatus | None = None) -> None:
        """Create the local task (new tasks only), carrying the remote's ids."""
        if exchange.task_exists:
            return
        task = new_task_from_user_message(exchange.message)
        task.id, task.context_id = exchange.task_id, exchange.context_id
        if status is not None:
            task.status.CopyFrom(self._local_status(status, exchange))
        task.metadata.update(self._remote_marker(exchange))
        exchange.task_exists = True
        await queue.enqueue_event(task)

    def _local_status(self, status: TaskStatus, exchange: _Exchange) -> TaskStatus:
        local = TaskStatus()
        local.CopyFrom(status)
        if local.HasField("message"):
            local.message.task_id, local.message.context_id = exchange.task_id, exchange.context_id
        return local

    async def _relay_task(self, task: Task, exchange: _Exchange, queue: EventQueue) -> None:
        """A snapshot of the remote task (the first event of a stream, or a blocking answer)."""
        self._learn(exchange, task.id, task.context_id)
        self._keep_metadata(exchange, task.metadata)
        if not exchange.task_exists:
            await self._ensure_task(exchange, queue)
        for artifact in task.artifacts:
            if exchange.known_artifacts.get(artifact.artifact_id) == artifact:
                continue  # a follow-up's snapshot repeats what the local task already has
            await queue.enqueue_event(TaskArtifactUpdateEvent(
                task_id=exchange.task_id, context_id=exchange.context_id, artifact=artifact))
        if not _same_status(task.status, exchange.known_status):
            await self._relay_status(task.status, Struct(), exchange, queue)

    async def _relay_status(self, status: TaskStatus, metadata: Struct, exchange: _Exchange,
                            queue: EventQueue) -> None:
        event = TaskStatusUpdateEvent(task_id=exchange.task_id, context_id=exchange.context_id,
                                      status=self._local_status(status, exchange))
        event.metadata.CopyFrom(metadata)
        event.metadata.update(self._remote_marker(exchange))
        if status.state in _TURN_ENDS:
            passed = dict(exchange.remote_metadata)
            if status.state == TaskState.TASK_STATE_FAILED and ERROR not in passed:
                passed[ERROR] = {"code": "remote_failed",
                                 "message": "the remote agent failed the task"}
            event.metadata.update(passed)
            exchange.final = True
        await queue.enqueue_event(event)

    async def _relay_message(self, message: Message, exchange: _Exchange,
                             queue: EventQueue) -> None:
        reply = Message()
        reply.CopyFrom(message)
        reply.context_id = exchange.context_id
        reply.ClearField("task_id")
        if exchange.task_exists:  # a follow-up answered by a Message: it completes the task
            reply.task_id = exchange.task_id
            status = TaskStatus(state=TaskState.TASK_STATE_COMPLETED, message=reply)
            await self._relay_status(status, Struct(), exchange, queue)
            return
        exchange.replied = True
        await queue.enqueue_event(reply)

    # -- failures and cancels --------------------------------------------------------------

    def _explain(self, exc: Exception) -> tuple[str, str]:
        where = f"the remote agent at {self.options.card_url}"
        status = _http_status(exc)
        if status in (401, 403):
            return "remote_refused", (f"{where} refused this server's credentials (HTTP {status}): "
                                      f"check the binding's auth options and their variables")
        if isinstance(exc, AgentCardResolutionError):
            reason = f"HTTP {status}" if status else "unreachable"
            return "remote_unavailable", f"{where}: its card could not be read ({reason})"
        if isinstance(exc, A2AClientTimeoutError):
            return "timeout", (f"{where} sent nothing for {self.options.read_timeout_seconds:g} s")
        if isinstance(exc, A2AClientError):
            return "remote_unavailable", f"{where} could not be reached: {_detail(exc.message)}"
        if isinstance(exc, A2AError):
            return "remote_error", (f"{where} refused the request: {type(exc).__name__}: "
                                    f"{_detail(exc.message)}")
        if isinstance(exc, httpx.TimeoutException):
            return "timeout", f"{where} timed out"
        if isinstance(exc, httpx.HTTPError):
            return "remote_unavailable", f"{where} could not be reached ({type(exc).__name__})"
        logger.exception("remote agent %s: unexpected failure", self.options.card_url)
        return "remote_error", f"{where}: unexpected {type(exc).__name__}"

    async def _fail(self, exchange: _Exchange, queue: EventQueue, code: str, text: str) -> None:
        logger.warning("task %s: remote agent failed (%s): %s", exchange.task_id, code, text)
        if exchange.final or exchange.replied:
            return  # the turn's outcome is already out
        await self._ensure_task(exchange, queue)
        message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_AGENT,
                          task_id=exchange.task_id, context_id=exchange.context_id,
                          parts=[new_text_part(text)])
        event = TaskStatusUpdateEvent(
            task_id=exchange.task_id, context_id=exchange.context_id,
            status=TaskStatus(state=TaskState.TASK_STATE_FAILED, message=message))
        event.metadata.update({ERROR: {"code": code, "message": text}})
        if exchange.remote_task_id:
            event.metadata.update(self._remote_marker(exchange))
        exchange.final = True
        await queue.enqueue_event(event)

    async def _cancel_remote(self, exchange: _Exchange) -> None:
        """Cancel the remote task of an unfinished turn (closing the stream would not)."""
        if exchange.final or not exchange.remote_task_id or self._card is None:
            return
        remote_id, card = exchange.remote_task_id, self._card[0]

        async def cancel() -> None:
            async with self._http(await self._headers()) as http:
                await self._client(card, http).cancel_task(CancelTaskRequest(id=remote_id))

        try:
            await asyncio.shield(asyncio.wait_for(cancel(), _CANCEL_TIMEOUT_S))
            logger.info("remote task %s cancelled", remote_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - best effort: the local task is closed anyway
            logger.warning("remote task %s: cancel failed: %s", remote_id, type(exc).__name__)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Nothing to send here: the run stops ``execute``, which cancels the remote task."""
        del context, event_queue
