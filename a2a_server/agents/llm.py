"""``executor: llm``: an agent backed by an OpenAI-compatible Chat Completions provider.

One run (a message to the agent) is one turn:

1. The model is shown the system prompt, the context's earlier messages (read
   from the store, so any replica continues a conversation) and the task's own.
2. Its answer is streamed to ``message:stream`` subscribers as chunks of one
   artifact (``append``), then replaced by the full text (``lastChunk``), and the
   task completes with the answer as its status message.
3. Tool calls: server tools and experts run here and the model is asked again
   (each round is a ``working`` status message with ``tool_call`` and
   ``tool_result`` DataParts); client tools end the run in ``input-required``
   with the calls as DataParts, and the client's ``tool_result`` DataParts resume
   the same task (see ``llm_conversation`` and docs/agents.md).

The whole run is bounded by ``timeout_seconds`` (``asyncio.timeout``: the client's
own timeout limits each read only). Failures end the task ``failed`` with
``metadata.error`` (``usage.py``): ``provider_not_configured``, ``timeout``,
``provider_error``, ``tool_loop_limit``. Usage is written on the task (summed
over its turns, tools and experts), on each answering message (its turn), and
counted per tenant and agent in the store (this agent's own calls).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from a2a.helpers.proto_helpers import new_data_part, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Message, Part, Task, TaskState
from google.protobuf.json_format import MessageToDict
from pydantic import ValidationError

from a2a_server.agents import llm_conversation as conv
from a2a_server.agents.experts import EXPERT_INSTRUCTIONS_KEY, INLINE_EXPERT_KEY, expert_tool
from a2a_server.agents.llm_options import LlmOptions, validation_message
from a2a_server.agents.llm_provider import Completion, ProviderClient, ProviderError, ToolCall
from a2a_server.agents.llm_tools import server_tool
from a2a_server.agents.mcp import open_mcp_toolset
from a2a_server.agents.services import AgentServices
from a2a_server.agents.tools import Tool, ToolContext, ToolResult, Toolset
from a2a_server.agents.usage import ERROR, EXPERT, MODEL_USED, PROVIDER, USAGE, Usage
from a2a_server.observability.metrics import record_llm_usage
from a2a_server.push_policy import PushUrlPolicy
from a2a_server.runs.run import let_commit_start
from a2a_server.stores.base import SCOPE_KEY, Scope

logger = logging.getLogger(__name__)

_NO_KEY = "not-needed"  # local providers (Ollama, vLLM) take any key


@dataclass
class _Run:
    """The state of one turn."""

    updater: TaskUpdater
    scope: Scope
    deadline: float
    prior: Usage
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    artifact_id: str = field(default_factory=lambda: f"answer-{uuid.uuid4().hex[:12]}")
    streamed: bool = False
    # A referencing caller's extra instructions (experts.EXPERT_INSTRUCTIONS_KEY), this run only.
    instructions: str = ""


def _instructions(state: Mapping[str, Any]) -> str:
    """Extra system instructions for this run: only what ``experts.TaskExpert`` put in the
    call context's server-side state (a client's message metadata never reaches it)."""
    value = state.get(EXPERT_INSTRUCTIONS_KEY)
    return value if isinstance(value, str) else ""


class LlmAgentExecutor(AgentExecutor):
    """Answers with a language model; see the module docstring."""

    def __init__(self, **options: Any) -> None:
        try:
            self.options = LlmOptions.model_validate(options)
        except ValidationError as exc:
            raise ValueError(validation_message(exc)) from exc
        self._tools: dict[str, Tool] = {}
        for item in self.options.server_tools:
            self._add_tool(server_tool(item))
        self._client_tools = {tool.name: tool for tool in self.options.client_tools}
        clash = set(self._client_tools) & set(self._tools)
        if clash:
            raise ValueError(f"field 'options.client_tools': names also used by server tools: "
                             f"{sorted(clash)}")
        self._services: AgentServices | None = None
        self._agent_id = ""
        self._expert: str | None = None  # the inline expert this executor answers for
        self._tenant_defined = False
        self.provider = self._make_provider()
        # Inline experts: run by this agent's runner as tasks of this agent, each with its own
        # options (model, system prompt, prices...) and only its own task's messages.
        self._inline: dict[str, LlmAgentExecutor] = {}
        for expert in self.options.experts:
            if expert.llm is not None:
                inner = LlmAgentExecutor(**expert.llm.model_dump(), context_messages=0)
                inner._expert = expert.name
                self._inline[expert.name] = inner

    @property
    def tenant_defined(self) -> bool:
        """Defined by a tenant through the API: its MCP servers (and its inline experts')
        must pass the outbound-URL policy and may not be stdio."""
        return self._tenant_defined

    @tenant_defined.setter
    def tenant_defined(self, value: bool) -> None:
        self._tenant_defined = value
        for inner in self._inline.values():
            inner.tenant_defined = value

    def _add_tool(self, tool: Tool) -> None:
        name = tool.spec.name
        if name in self._tools:
            raise ValueError(f"field 'options': two tools are called '{name}'")
        self._tools[name] = tool

    def _make_provider(self) -> ProviderClient | None:
        env = self.options.api_key_env
        key = os.environ.get(env) if env else _NO_KEY
        return ProviderClient(self.options, key) if key else None

    def bind(self, services: AgentServices, agent_id: str = "") -> None:
        """Reach the stores and the other agents (called once by the runtime)."""
        self._services = services
        self._agent_id = agent_id
        for expert in self.options.experts:
            self._add_tool(expert_tool(expert, services, agent_id))
        for inner in self._inline.values():
            inner.bind(services, agent_id)
        if self.provider is None:
            who = f"agent {agent_id or '?'}"
            if self._expert is not None:
                who += f", inline expert '{self._expert}'"
            logger.warning(
                "%s: provider '%s' is not configured: the environment variable %s is not "
                "set; its tasks will fail with provider_not_configured", who,
                self.options.provider_name, self.options.api_key_env)

    # -- the run --------------------------------------------------------------------------

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Run one turn (see the module docstring); an inline expert's task with its options."""
        state = context.call_context.state if context.call_context else {}
        expert = state.get(INLINE_EXPERT_KEY)
        if expert is not None and self._expert is None:
            await self._inline[expert].execute(context, event_queue)
            return
        message = context.message
        assert message is not None  # the SDK always builds one for a send
        task = context.current_task
        # Read before the first event: the run applies events to this very task object.
        stored = conv.task_messages(task) if task is not None else []
        prior = Usage.from_metadata(_metadata(task).get(USAGE))
        if task is None:
            await event_queue.enqueue_event(new_task_from_user_message(message))
        updater = TaskUpdater(event_queue, context.task_id or message.task_id,
                              context.context_id or "")
        # Working first: a follow-up's answer is then the commit that interrupts or ends the
        # run, not the first one (which would still show the input-required it resumes). An
        # inline expert's task is named as such from its first commit on.
        await updater.update_status(
            TaskState.TASK_STATE_WORKING,
            metadata={EXPERT: self._expert} if self._expert is not None else None)
        scope = context.call_context.state.get(SCOPE_KEY) if context.call_context else None
        assert isinstance(scope, Scope)
        loop = asyncio.get_running_loop()
        run = _Run(updater, scope, loop.time() + self.options.timeout_seconds, prior,
                   instructions=_instructions(state))
        if self.provider is None:
            await self._fail(run, "provider_not_configured", (
                f"This agent's model provider '{self.options.provider_name}' is not configured: "
                f"set the environment variable {self.options.api_key_env} to its API key and "
                "restart the server."))
            return
        try:
            async with asyncio.timeout(self.options.timeout_seconds) as limit:
                await self._turn(run, context, message, stored)
        except TimeoutError:
            if not limit.expired():
                raise
            await self._fail(run, "timeout", (
                f"The agent did not finish within its timeout of "
                f"{self.options.timeout_seconds:g} seconds; the run was stopped."))
        except ProviderError as exc:
            await self._fail(run, exc.code, exc.message)

    async def _turn(self, run: _Run, context: RequestContext, message: Message,
                    stored: list[Message]) -> None:
        conversation = await self._conversation(run, context, stored)
        if not await self._check_results(run, conversation, message):
            return
        conversation.add(message)
        toolsets = self._open_toolsets()
        try:
            tools = dict(self._tools)
            for tool in await self._listed(toolsets, run, context):
                tools.setdefault(tool.spec.name, tool)
            await self._rounds(run, context, conversation, tools)
        finally:
            for toolset in toolsets:
                try:
                    await toolset.aclose()
                except Exception:
                    logger.warning("toolset close failed", exc_info=True)

    async def _conversation(self, run: _Run, context: RequestContext,
                            stored: list[Message]) -> conv.Conversation:
        conversation = conv.Conversation()
        if self._services is not None and self.options.context_messages:
            for earlier in await conv.earlier_messages(
                    self._services.stores, run.scope, context.context_id or "",
                    context.task_id or "", self.options.context_messages):
                conversation.add(earlier)
            conversation.pending.clear()  # calls of other tasks are not this task's to answer
        for earlier in stored:
            conversation.add(earlier)
        return conversation

    async def _check_results(self, run: _Run, conversation: conv.Conversation,
                             message: Message) -> bool:
        """Whether the message can resume the turn; if not, ask again (input-required)."""
        results = conv.tool_results(message)
        if not results:
            return True
        pending = conversation.pending
        wrong = [str(r.get("call_id")) for r in results if r.get("call_id") not in pending]
        answered = {r.get("call_id") for r in results}
        missing = [call for call_id, call in pending.items() if call_id not in answered]
        if wrong:
            expected = ", ".join(f"'{c}'" for c in pending) or "none (no tool call is pending)"
            text = (f"No pending tool call has call_id {', '.join(repr(w) for w in wrong)}; "
                    f"this task waits for call_id {expected}. Nothing was run.")
            missing = list(pending.values())
        elif missing and not conv.text_of(message):
            text = "Some tool calls are still unanswered; send a tool_result for each."
        else:
            return True  # all answered, or a text reply: the rest are "not run"
        if not pending:
            await self._fail(run, "invalid_tool_result", text)
            return False
        parts = [new_text_part(text), *(new_data_part(dict(c)) for c in missing)]
        await run.updater.requires_input(run.updater.new_agent_message(parts))
        return False

    async def _rounds(self, run: _Run, context: RequestContext,
                      conversation: conv.Conversation, tools: dict[str, Tool]) -> None:
        specs = [t.spec.to_openai() for t in tools.values()]
        specs += [{"type": "function", "function": {
            "name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in self._client_tools.values()]
        for _ in range(self.options.max_tool_rounds):
            completion = await self._complete(run, conversation, specs)
            if not completion.tool_calls:
                await self._answer(run, completion.text)
                return
            exchange = await self._run_tools(run, context, completion.tool_calls, tools)
            if exchange is not None:
                conversation.add(exchange)
            client = [c for c in completion.tool_calls if c.name in self._client_tools]
            if client:
                await self._ask_client(run, client)
                return
        await self._fail(run, "tool_loop_limit", (
            f"The model kept calling tools for {self.options.max_tool_rounds} rounds without "
            "answering; the run was stopped."))

    async def _complete(self, run: _Run, conversation: conv.Conversation,
                        specs: list[dict[str, Any]]) -> Completion:
        assert self.provider is not None
        messages = conv.trim(conversation.messages, self.options.context_messages,
                             self.options.context_tokens)
        system = "\n\n".join(p for p in (self.options.system_prompt, run.instructions) if p)
        if system:
            messages = [{"role": "system", "content": system}, *messages]

        async def on_text(piece: str) -> None:
            await run.updater.add_artifact([new_text_part(piece)], artifact_id=run.artifact_id,
                                           name="answer", append=run.streamed or None)
            run.streamed = True

        await let_commit_start()  # the task's commit travels while the request is built
        completion = await self.provider.complete(messages, specs, on_text, run.deadline)
        run.usage = run.usage + completion.usage
        run.model = completion.model
        if self._services is not None:
            try:
                await self._services.stores.usage.add(run.scope, completion.usage, completion.model)
            except Exception:
                logger.warning("usage counter update failed", exc_info=True)
        usage = completion.usage
        record_llm_usage(agent=run.scope.agent, provider=self.options.provider_name,
                         model=completion.model, input_tokens=usage.input_tokens,
                         output_tokens=usage.output_tokens,
                         cost_usd=usage.estimated_cost if usage.currency == "USD" else None)
        return completion

    async def _run_tools(self, run: _Run, context: RequestContext, calls: list[ToolCall],
                         tools: dict[str, Tool]) -> Message | None:
        """Run the server-side calls at once; the exchange as one agent message."""
        local = [c for c in calls if c.name not in self._client_tools]
        if not local:
            return None
        tool_context = ToolContext(run.scope, run.updater.task_id, run.updater.context_id,
                                   run.deadline, _authorization(context))
        results = await asyncio.gather(*(self._call(c, tools, tool_context) for c in local))
        parts: list[Part] = [new_data_part(_call_part(c)) for c in local]
        references = []
        for call, result in zip(local, results, strict=True):
            if result.usage is not None:
                run.usage = run.usage + result.usage
            item: dict[str, Any] = {"type": conv.TOOL_RESULT, "call_id": call.call_id,
                                    "output": result.output}
            if result.is_error:
                item["is_error"] = True
            if result.reference_task_id:
                item["task_id"] = result.reference_task_id
                references.append(result.reference_task_id)
            parts.append(new_data_part(item))
        exchange = run.updater.new_agent_message(parts)
        exchange.reference_task_ids.extend(references)
        await run.updater.start_work(exchange)
        return exchange

    async def _call(self, call: ToolCall, tools: dict[str, Tool],
                    context: ToolContext) -> ToolResult:
        tool = tools.get(call.name)
        if tool is None:
            return ToolResult(f"error: there is no tool called '{call.name}'", is_error=True)
        if "_unparsed" in call.arguments:
            return ToolResult("error: the arguments are not a JSON object", is_error=True)
        return await tool.call(call.arguments, context)

    async def _ask_client(self, run: _Run, calls: list[ToolCall]) -> None:
        parts = [new_text_part("Run these tools and answer with one tool_result DataPart "
                               "per call_id."),
                 *(new_data_part(_call_part(c)) for c in calls)]
        reply = run.updater.new_agent_message(parts, metadata={USAGE: run.usage.to_metadata()})
        await run.updater.update_status(TaskState.TASK_STATE_INPUT_REQUIRED, reply,
                                        metadata=self._task_metadata(run))

    async def _answer(self, run: _Run, text: str) -> None:
        await run.updater.add_artifact([new_text_part(text)], artifact_id=run.artifact_id,
                                       name="answer", append=False, last_chunk=True)
        reply = run.updater.new_agent_message([new_text_part(text)],
                                              metadata={USAGE: run.usage.to_metadata()})
        await run.updater.update_status(TaskState.TASK_STATE_COMPLETED, reply,
                                        metadata=self._task_metadata(run))

    def _task_metadata(self, run: _Run) -> dict[str, Any]:
        metadata: dict[str, Any] = {USAGE: (run.prior + run.usage).to_metadata(),
                                    MODEL_USED: run.model or self.options.model,
                                    PROVIDER: self.options.provider_name}
        if self._expert is not None:
            metadata[EXPERT] = self._expert
        return metadata

    async def _fail(self, run: _Run, code: str, text: str) -> None:
        logger.info("task %s failed: %s: %s", run.updater.task_id, code, text)
        metadata = self._task_metadata(run)
        metadata[ERROR] = {"code": code, "message": text}
        reply = run.updater.new_agent_message([new_text_part(text)],
                                              metadata={USAGE: run.usage.to_metadata()})
        await run.updater.update_status(TaskState.TASK_STATE_FAILED, reply, metadata=metadata)

    # -- MCP ---------------------------------------------------------------------------------

    def _open_toolsets(self) -> list[Toolset]:
        """One toolset per MCP server, for this run (closed when it ends).

        Servers from agent files (the operator's): stdio is allowed and no URL policy
        applies; servers of an agent a tenant defined (``tenant_defined``) must pass the
        outbound-URL policy and may not be stdio. With several servers, tool names carry the server's name so
        that two servers' ``search`` tools stay apart.
        """
        servers = self.options.mcp_servers
        prefixed = len(servers) > 1
        if self.tenant_defined:  # a tenant's servers: the outbound-URL policy, never stdio
            policy = self._services.url_policy if self._services is not None else PushUrlPolicy()
            return [open_mcp_toolset(config, name_prefix=config.name if prefixed else None,
                                     url_policy=policy, allow_stdio=False)
                    for config in servers]
        return [open_mcp_toolset(config, name_prefix=config.name if prefixed else None)
                for config in servers]

    async def _listed(self, toolsets: list[Toolset], run: _Run,
                      context: RequestContext) -> list[Tool]:
        tool_context = ToolContext(run.scope, run.updater.task_id, run.updater.context_id,
                                   run.deadline, _authorization(context))
        out: list[Tool] = []
        for toolset in toolsets:
            out.extend(await toolset.list_tools(tool_context))
        return out

    async def aclose(self) -> None:
        """Close the provider's connections (server shutdown)."""
        if self.provider is not None:
            await self.provider.aclose()
        for inner in self._inline.values():
            await inner.aclose()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Mark the task canceled (the runner then stops the run, closing the provider call)."""
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.cancel()


def _metadata(task: Task | None) -> dict[str, Any]:
    if task is None or not task.metadata:
        return {}
    return MessageToDict(task.metadata)


def _call_part(call: ToolCall) -> dict[str, Any]:
    return {"type": conv.TOOL_CALL, "call_id": call.call_id, "name": call.name,
            "arguments": call.arguments}


def _authorization(context: RequestContext) -> str | None:
    if context.call_context is None:
        return None
    headers = context.call_context.state.get("headers") or {}
    value = headers.get("authorization")
    return value if isinstance(value, str) else None
