"""The runs of one agent on this replica: starting them, one at a time per task, and stopping them.

Push notifications are not sent from here: each commit writes them to the store's outbox
(``stores.base.PushOutbox``) and ``a2a_server.push.deliverer`` delivers them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.agent_execution.active_task import TERMINAL_TASK_STATES
from a2a.server.cluster import StoredTask
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import (
    SendMessageRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import (
    InvalidParamsError,
    TaskNotFoundError,
    UnsupportedOperationError,
)

from a2a_server.observability.runs import RunObserver
from a2a_server.runs.run import TaskRun
from a2a_server.stores.base import Scope, Stores

logger = logging.getLogger(__name__)

_Key = tuple[Scope, str]


@dataclass
class _Turn:
    """Serializes the runs of one task on this replica (the SDK queues them the same way)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class TaskRunner:
    """Starts runs of one agent; a task has at most one run at a time on this replica."""

    def __init__(self, executor: AgentExecutor, stores: Stores) -> None:
        self._executor = executor
        self._stores = stores
        self._runs: dict[_Key, TaskRun] = {}
        self._turns: dict[_Key, _Turn] = {}
        self.observer: RunObserver | None = None  # metrics and the access line (observability)

    def running(self, scope: Scope, task_id: str) -> TaskRun | None:
        """The run of ``task_id`` on this replica, if there is one."""
        return self._runs.get((scope, task_id))

    async def load(self, scope: Scope, params: SendMessageRequest) -> tuple[StoredTask | None,
                                                                           _Key | None]:
        """The task a message continues (after any run of it on this replica), checked.

        Returns the stored task (None for a new task) and the key of the turn taken, which
        ``start`` (or ``give_back``) must receive.

        Raises:
            TaskNotFoundError: the message names a task that does not exist in the scope.
            InvalidParamsError: the message's contextId is not the task's.
            UnsupportedOperationError: the task is in a terminal state.
        """
        task_id = params.message.task_id
        if not task_id:
            return None, None
        key = (scope, task_id)
        turn = self._turns.setdefault(key, _Turn())
        turn.users += 1
        await turn.lock.acquire()
        try:
            stored = await self._stores.tasks.load(scope, task_id)
            if stored is None:
                raise TaskNotFoundError(message=f"Task {task_id} not found")
            task = stored.task
            context_id = params.message.context_id
            if context_id and task.context_id != context_id:
                raise InvalidParamsError(message=(
                    f"Context {context_id} does not match context {task.context_id} of task "
                    f"{task_id}"))
            if task.status.state in TERMINAL_TASK_STATES:
                raise UnsupportedOperationError(message=(
                    f"Task {task_id} is in terminal state: {TaskState.Name(task.status.state)}"))
        except BaseException:
            self.give_back(key)
            raise
        return stored, key

    def give_back(self, key: _Key | None) -> None:
        """Release a turn taken by ``load`` (the run ended, or the request failed before one)."""
        if key is None:
            return
        turn = self._turns[key]
        turn.lock.release()
        turn.users -= 1
        if not turn.users:
            del self._turns[key]

    def start(
        self,
        scope: Scope,
        call_context: ServerCallContext,
        params: SendMessageRequest,
        stored: StoredTask | None,
        turn: _Key | None,
        history_length: int | None,
        push_config: TaskPushNotificationConfig | None = None,
    ) -> TaskRun:
        """Build the request context and start the agent on it (not awaited).

        ``push_config``: a new task's inline push config (normalized), stored by the run's
        first commit rather than by a write of its own.
        """
        task = stored.task if stored is not None else None
        request = RequestContext(
            call_context=call_context,
            request=params,
            task_id=task.id if task is not None else None,
            context_id=task.context_id if task is not None else (
                params.message.context_id or None),
            task=task,
        )

        def finished(run: TaskRun) -> None:
            if self._runs.get(key) is run:
                del self._runs[key]
            self.give_back(turn)
            if self.observer is not None:
                self.observer.finished(scope, run)

        run = TaskRun(
            scope=scope,
            stores=self._stores,
            executor=self._executor,
            request=request,
            stored=stored,
            push_config=push_config,
            history_length=history_length,
            return_immediately=params.configuration.return_immediately,
            on_finished=finished,
        )
        key = (scope, run.task_id)
        self._runs[key] = run
        if self.observer is not None:
            self.observer.started(scope, run)
        return run

    @property
    def idle(self) -> bool:
        """No run of this agent is going on on this replica."""
        return not self._runs

    def stop(self, scope: Scope, task_id: str) -> bool:
        """Stop the run of a task cancelled on another replica; whether there was one."""
        run = self._runs.get((scope, task_id))
        if run is None:
            return False
        run.stop()
        return True

    async def aclose(self) -> None:
        """Stop every run (their leases lapse; another replica's reaper fails the tasks)."""
        runs = list(self._runs.values())
        if runs:
            logger.warning("stopping %d running tasks", len(runs))
        await asyncio.gather(*(run.aclose() for run in runs), return_exceptions=True)
