"""Experts: agents an LLM agent's model may delegate a question to, offered as tools.

- A **reference** (``agent: <id>``) is another agent of the same tenant. Calling
  it sends an A2A message to that agent in-process, through its own request
  handler and task runner, in the caller's tenant: the expert's task is a real
  task of the tenant (listed, readable, cancellable under its agent), its
  message carries ``metadata.caller = {"agent", "task_id"}``, and the caller's
  exchange message names it in ``referenceTaskIds``. Cancelling the caller's run
  cancels the expert's task. Its usage (``Task.metadata.usage``) rolls up into the
  caller's task.
- An **inline** expert (``llm: {...}``) is a model with its own system prompt,
  called directly (one completion, no task of its own); its usage rolls up too.

Corti's ``GET /agents/registry/experts`` lists what a tenant may use as experts
(``experts_registry``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    Task,
    TaskState,
)
from google.protobuf.json_format import MessageToDict

from a2a_server.agents.llm_conversation import task_messages, text_of
from a2a_server.agents.llm_options import ExpertOptions, ProviderOptions
from a2a_server.agents.llm_provider import ProviderClient, ProviderError
from a2a_server.agents.services import AgentServices
from a2a_server.agents.tools import Tool, ToolContext, ToolResult, ToolSpec
from a2a_server.agents.usage import MODEL_USED, PROVIDER, USAGE, Usage
from a2a_server.stores.base import SCOPE_KEY, Scope

logger = logging.getLogger(__name__)

_PARAMETERS = {
    "type": "object",
    "properties": {"message": {"type": "string",
                               "description": "The question or task for the expert, in full."}},
    "required": ["message"],
}


def _spec(options: ExpertOptions, fallback: str) -> ToolSpec:
    return ToolSpec(f"expert_{options.name}", options.description or fallback, _PARAMETERS)


def _question(arguments: dict[str, Any]) -> str | None:
    value = arguments.get("message")
    return value if isinstance(value, str) and value.strip() else None


_NO_QUESTION = ToolResult("error: give the expert a 'message' (a non-empty string)",
                          is_error=True)


class _Expert:
    """What both kinds of expert share: a tool with one ``message`` argument."""

    _spec: ToolSpec

    @property
    def spec(self) -> ToolSpec:
        """One ``message`` argument."""
        return self._spec


class AgentExpert(_Expert):
    """Another agent of the tenant, called in-process."""

    def __init__(self, options: ExpertOptions, services: AgentServices, caller: str) -> None:
        assert options.agent is not None
        self._agent = options.agent
        self._services = services
        self._caller = caller
        self._spec = _spec(options, f"Ask the '{options.agent}' agent.")

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """Send the question as a new task of the expert agent; its answer is the output."""
        question = _question(arguments)
        if question is None:
            return _NO_QUESTION
        handler = self._services.handler(context.scope.tenant, self._agent)
        if handler is None:
            return ToolResult(f"error: the expert agent '{self._agent}' is not available",
                              is_error=True)
        scope = Scope(context.scope.tenant, self._agent)
        call_context = ServerCallContext(state={SCOPE_KEY: scope, "headers": {}})
        message = Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()),
                          parts=[Part(text=question)])
        message.metadata.update({"caller": {"agent": self._caller, "task_id": context.task_id}})
        message.reference_task_ids.append(context.task_id)
        request = SendMessageRequest(message=message)
        try:
            result = await handler.on_message_send(request, call_context)
        except asyncio.CancelledError:
            await self._cancel(handler, request.message, call_context)
            raise
        except Exception as exc:  # noqa: BLE001 - the model is told; the caller goes on
            logger.warning("expert %s failed: %s", self._agent, exc)
            return ToolResult(f"error: the expert '{self._agent}' failed: {exc}", is_error=True)
        return _result_of(result)

    async def _cancel(self, handler: Any, message: Message, call_context: ServerCallContext) -> None:
        """The caller was cancelled: cancel the expert's task too (it has the message's id)."""
        task_id = message.task_id
        if not task_id:
            return
        with contextlib.suppress(Exception):
            await asyncio.shield(handler.on_cancel_task(CancelTaskRequest(id=task_id),
                                                        call_context))


def _result_of(result: Task | Message) -> ToolResult:
    if isinstance(result, Message):
        return ToolResult(text_of(result))
    metadata = MessageToDict(result.metadata) if result.metadata else {}
    answer = text_of(result.status.message) if result.status.HasField("message") else ""
    if not answer:
        answer = "\n".join(text_of(m) for m in task_messages(result) if m.role == Role.ROLE_AGENT)
    failed = result.status.state != TaskState.TASK_STATE_COMPLETED
    if failed:
        answer = f"error: the expert's task ended {TaskState.Name(result.status.state)}: {answer}"
    usage = Usage.from_metadata(metadata.get(USAGE)) if USAGE in metadata else None
    return ToolResult(answer, is_error=failed, usage=usage,
                      model_used=metadata.get(MODEL_USED), provider=metadata.get(PROVIDER),
                      reference_task_id=result.id)


class InlineExpert(_Expert):
    """A model with its own system prompt, asked directly."""

    def __init__(self, options: ExpertOptions) -> None:
        assert options.llm is not None
        self._llm: ProviderOptions = options.llm
        env = self._llm.api_key_env
        key = os.environ.get(env) if env else "not-needed"
        self._provider = ProviderClient(self._llm, key) if key else None
        self._spec = _spec(options, f"Ask the {options.name} expert.")

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """One completion with the expert's system prompt."""
        question = _question(arguments)
        if question is None:
            return _NO_QUESTION
        if self._provider is None:
            return ToolResult(f"error: the expert's provider is not configured (set "
                              f"{self._llm.api_key_env})", is_error=True)
        messages = [{"role": "user", "content": question}]
        if self._llm.system_prompt:
            messages.insert(0, {"role": "system", "content": self._llm.system_prompt})

        async def ignore(piece: str) -> None:
            del piece

        loop = asyncio.get_running_loop()
        deadline = context.deadline or loop.time() + self._llm.timeout_seconds
        try:
            completion = await self._provider.complete(messages, [], ignore, deadline)
        except ProviderError as exc:
            return ToolResult(f"error: {exc.message}", is_error=True)
        return ToolResult(completion.text, usage=completion.usage, model_used=completion.model,
                          provider=self._provider.name)


def expert_tool(options: ExpertOptions, services: AgentServices, caller: str) -> Tool:
    """The tool the model sees for one expert."""
    if options.agent is not None:
        return AgentExpert(options, services, caller)
    return InlineExpert(options)


def experts_registry(services: AgentServices, tenant: str) -> list[dict[str, Any]]:
    """What ``tenant`` may use as experts: its enabled agents (Corti's registry shape)."""
    config = services.tenants.get(tenant)
    out = []
    for agent_id in sorted(services.runtimes):
        runtime = services.runtimes[agent_id]
        if config is None or runtime.agent.owner is not None or not runtime.agent.enabled_for(config):
            continue  # the operator's agents (a tenant's created agents: GET /agents)
        options = runtime.agent.binding.options
        servers = options.get("mcp_servers") or []
        out.append({
            "id": agent_id,
            "name": runtime.agent.card.name,
            "description": runtime.agent.card.description,
            "mcpServers": [{"name": s.get("name"),
                            "authorizationType": s.get("authorizationType",
                                                       s.get("authorization_type", "none"))}
                           for s in servers if isinstance(s, dict)],
        })
    return out
