"""Experts: agents an LLM agent's model may delegate a question to, offered as tools.

Both kinds answer through a **task of the tenant**, sent in-process through an
agent's own request handler and task runner, in the caller's tenant:

- A **reference** (``agent: <id>``) is another agent of the same tenant: the
  expert's task is a task of that agent (listed, readable, cancellable under it).
  A reference's ``system_prompt`` (Corti's ``systemPrompt`` on an expert reference:
  "additional system instructions appended to the default system prompt") is
  appended to the referenced LLM agent's system prompt for the expert's task only,
  carried in the send's server-side call-context state (``EXPERT_INSTRUCTIONS_KEY``);
  agents that are not LLM agents ignore it. A created agent that is referenced is
  loaded on this replica first if needed (``AgentServices.load_handler``).
- An **inline** expert (``llm: {...}``) is a model with its own system prompt,
  defined in the caller's binding. Its task is a task of the **caller's** agent
  (listed, readable, cancellable under it) with ``metadata.expert = <name>``; it is
  run by the caller's executor with the expert's options (``LlmAgentExecutor``
  picks them from ``INLINE_EXPERT_KEY`` in the call context's state, which only the
  server sets: a client cannot reach an inline expert directly).

Either way: the expert's message carries ``metadata.caller = {"agent", "task_id"}``
and ``referenceTaskIds: [<caller's task>]``, the caller's exchange message names the
expert's task in ``referenceTaskIds`` (and its ``tool_result`` in ``task_id``).
Cancelling the caller's run cancels the expert's task, and the expert's usage
(``Task.metadata.usage``) rolls up into the caller's task.

Corti's ``GET /agents/registry/experts`` lists what a tenant may use as experts
(``experts_registry``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from a2a_server.agents.llm_options import ExpertOptions
from a2a_server.agents.services import AgentServices
from a2a_server.agents.tools import Tool, ToolContext, ToolResult, ToolSpec
from a2a_server.agents.usage import EXPERT, MODEL_USED, PROVIDER, USAGE, Usage
from a2a_server.protocol import quotas
from a2a_server.stores.base import SCOPE_KEY, Scope

logger = logging.getLogger(__name__)

# ServerCallContext.state key naming the inline expert a send is for (set only here).
INLINE_EXPERT_KEY = "a2a_server.inline_expert"
# ServerCallContext.state key: a reference's extra instructions, appended to the referenced
# LLM agent's system prompt for the expert's task (set only here; other executors ignore it).
EXPERT_INSTRUCTIONS_KEY = "a2a_server.expert_instructions"
CALLER = "caller"

_PARAMETERS = {
    "type": "object",
    "properties": {"message": {"type": "string",
                               "description": "The question or task for the expert, in full."}},
    "required": ["message"],
}

_NO_QUESTION = ToolResult("error: give the expert a 'message' (a non-empty string)",
                          is_error=True)


def _question(arguments: dict[str, Any]) -> str | None:
    value = arguments.get("message")
    return value if isinstance(value, str) and value.strip() else None


class TaskExpert:
    """An expert answered by a new task of ``agent`` (in the caller's tenant), in-process.

    ``inline`` names the caller's inline expert when ``agent`` is the caller itself.
    """

    def __init__(self, options: ExpertOptions, services: AgentServices, caller: str) -> None:
        self._inline = options.name if options.llm is not None else None
        self._instructions = options.system_prompt if options.llm is None else None
        self._agent = options.agent or caller
        self._services = services
        self._caller = caller
        fallback = (f"Ask the {options.name} expert." if self._inline
                    else f"Ask the '{self._agent}' agent.")
        self._spec = ToolSpec(f"expert_{options.name}", options.description or fallback,
                              _PARAMETERS)

    @property
    def spec(self) -> ToolSpec:
        """One ``message`` argument."""
        return self._spec

    @property
    def _label(self) -> str:
        return f"the expert '{self._inline}'" if self._inline else f"the expert '{self._agent}'"

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """Send the question as a new task of the expert's agent; its answer is the output."""
        question = _question(arguments)
        if question is None:
            return _NO_QUESTION
        handler = await self._services.load_handler(context.scope.tenant, self._agent)
        if handler is None:
            return ToolResult(f"error: the expert agent '{self._agent}' is not available",
                              is_error=True)
        state: dict[str, Any] = {SCOPE_KEY: Scope(context.scope.tenant, self._agent),
                                 "headers": {}}
        message = Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()),
                          parts=[Part(text=question)])
        message.metadata.update({CALLER: {"agent": self._caller, "task_id": context.task_id}})
        if self._inline is not None:
            state[INLINE_EXPERT_KEY] = self._inline
            message.metadata.update({EXPERT: self._inline})
        elif self._instructions:
            state[EXPERT_INSTRUCTIONS_KEY] = self._instructions
        message.reference_task_ids.append(context.task_id)
        request = SendMessageRequest(message=message)
        call_context = ServerCallContext(state=state)
        try:
            with quotas.nested_send():
                result = await handler.on_message_send(request, call_context)
        except asyncio.CancelledError:
            await self._cancel(handler, request.message, call_context)
            raise
        except Exception as exc:  # noqa: BLE001 - the model is told; the caller goes on
            logger.warning("%s failed: %s", self._label, exc)
            return ToolResult(f"error: {self._label} failed: {exc}", is_error=True)
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


def expert_tool(options: ExpertOptions, services: AgentServices, caller: str) -> Tool:
    """The tool the model sees for one expert (either kind)."""
    return TaskExpert(options, services, caller)


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
