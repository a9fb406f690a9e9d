"""Agent runs: the running gauge, the finished counter, the run span, the task id of a send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.types.a2a_pb2 import TaskState

from a2a_server.observability.http import note_task
from a2a_server.observability.metrics import Metrics, bind_metrics
from a2a_server.observability.tracing import Tracing, reset_run_tracer, set_run_tracer
from a2a_server.stores.base import Scope

if TYPE_CHECKING:
    from a2a_server.runs.run import TaskRun

_STATE_NAMES = {value: name.removeprefix("TASK_STATE_").lower()
                for name, value in TaskState.items()}


class RunObserver:
    """Called by the ``TaskRunner`` of one agent when a run starts and when it ends."""

    def __init__(self, agent: str, metrics: Metrics | None) -> None:
        self._metrics = metrics
        self._agent = agent
        self._running: Any = metrics.tasks_running.labels(agent) if metrics is not None else None
        self._finished: dict[tuple[str, ...], Any] = {}

    def started(self, scope: Scope, run: TaskRun) -> None:
        """A run was started (on this replica)."""
        del scope
        note_task(run.task_id)
        if self._metrics is not None:
            self._running.inc()
            # record_llm_usage in the run's tasks (created next, from this context) reports here
            bind_metrics(self._metrics)

    def finished(self, scope: Scope, run: TaskRun) -> None:
        """The run ended; count it by the task's state at the end."""
        metrics = self._metrics
        if metrics is None:
            return
        self._running.dec()
        task = run.task
        state = _STATE_NAMES.get(task.status.state, "unknown") if task is not None else "none"
        key: tuple[str, ...] = (self._agent, state)
        if metrics.tenant_label:
            key = (*key, scope.tenant)
        child = self._finished.get(key)
        if child is None:
            child = self._finished[key] = metrics.tasks_finished.labels(*key)
        child.inc()


class TracedExecutor(AgentExecutor):
    """An executor whose every run is a span (the parent of the agent's outbound calls)."""

    def __init__(self, inner: AgentExecutor, agent: str, tracing: Tracing) -> None:
        self._inner = inner
        self._agent = agent
        self._tracer = tracing.tracer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Run the agent in an ``agent run`` span."""
        with self._tracer.start_as_current_span(f"agent run {self._agent}") as span:
            span.set_attribute("a2a.agent_id", self._agent)
            if context.task_id:
                span.set_attribute("a2a.task_id", context.task_id)
            token = set_run_tracer(self._tracer)  # for the agent's outbound_span calls
            try:
                await self._inner.execute(context, event_queue)
            finally:
                reset_run_tracer(token)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Cancel, in a span."""
        with self._tracer.start_as_current_span(f"agent cancel {self._agent}"):
            token = set_run_tracer(self._tracer)
            try:
                await self._inner.cancel(context, event_queue)
            finally:
                reset_run_tracer(token)

