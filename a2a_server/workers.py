"""``a2a-server serve --workers N``: N processes sharing one listening socket.

uvicorn's multiprocess supervisor (``uvicorn.supervisors.Multiprocess``) spawns the
workers, restarts one that dies (and stops if a worker cannot start at all: a broken
configuration would fail the same way every time), and adds or removes one on SIGTTIN /
SIGTTOU. SIGHUP is passed on to every worker, which reloads its tenant files (open streams
kept), the same as for a single process; uvicorn's own SIGHUP would replace the workers.
The socket is bound once by the CLI and inherited by every worker; the kernel hands each
new connection to one worker.

Each worker is a full replica on the Redis store (what two ``serve`` processes on one
Redis already are): leases, cancels, streams and resubscribes work across workers
because they work across replicas. The in-memory store lives in one process, so the
settings refuse ``workers > 1`` without ``redis_url``.

Settings reach the workers through the environment: the supervisor exports every
command-line flag as its ``A2A_SERVER_*`` variable before spawning, and each worker
reads ``Settings()`` and builds its app in :func:`worker_app` (uvicorn's factory).

Metrics: with metrics on, ``PROMETHEUS_MULTIPROC_DIR`` is set for the workers (a fresh
temporary directory, removed at exit, unless the variable is already set; then that
directory is emptied first), so every worker's ``/metrics`` answers the aggregate. The
supervisor drops the live gauges of a worker that died without saying so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess as prometheus_multiprocess
from uvicorn import Config
from uvicorn.supervisors.multiprocess import Multiprocess

from a2a_server.observability.metrics import MULTIPROC_ENV
from a2a_server.protocol.routing import A2AServerApp
from a2a_server.settings import Settings

logger = logging.getLogger(__name__)

ENV_PREFIX = "A2A_SERVER_"
WORKER_APP = "a2a_server.workers:worker_app"  # uvicorn's import string (factory)


def worker_app() -> A2AServerApp:
    """One worker's app, from the environment the supervisor exported (uvicorn factory)."""
    from a2a_server.app import create_app
    from a2a_server.observability.logs import configure_logging

    settings = Settings()
    configure_logging(settings)
    if settings.replica_id is not None:  # replicas need distinct ids (cancel streams, leases)
        settings = settings.model_copy(update={"replica_id": f"{settings.replica_id}-{os.getpid()}"})
    return create_app(settings, dev_warning=False)  # the supervisor's create_app warned, once


def export_settings(overrides: dict[str, Any]) -> None:
    """Put command-line values in the environment, as the variables the workers read."""
    for field, value in overrides.items():
        os.environ[ENV_PREFIX + field.upper()] = str(value)


@contextlib.contextmanager
def metrics_directory(enabled: bool) -> Iterator[Path | None]:
    """The multiprocess metrics directory for this run (None when metrics are off)."""
    if not enabled:
        yield None
        return
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # counts of an earlier run would be added to ours
            stale.unlink()
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="a2a-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


class Supervisor(Multiprocess):
    """uvicorn's supervisor, dropping the live gauges of each worker it replaces or loses."""

    def __init__(self, config: Config, sockets: list[socket.socket],
                 metrics_dir: Path | None) -> None:
        super().__init__(config, sockets)
        self.metrics_dir = metrics_dir

    def _pids(self) -> set[int]:
        return {pid for process in self.processes if (pid := process.pid) is not None}

    def _forget(self, before: set[int]) -> None:
        if self.metrics_dir is None:
            return
        for pid in before - self._pids():
            prometheus_multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
                pid, str(self.metrics_dir))

    def keep_subprocess_alive(self) -> None:
        """Restart dead workers (uvicorn), then forget the dead ones' gauges."""
        before = self._pids()
        super().keep_subprocess_alive()
        self._forget(before)

    def handle_hup(self) -> None:
        """SIGHUP: every worker reloads its tenant files, as a single process does.

        uvicorn's own answer would replace the workers, dropping their open streams; a
        reload keeps them. To replace workers (new code), restart the service.
        """
        logger.info("SIGHUP: asking every worker to reload the tenant files")
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)


def run_workers(settings: Settings, sock: socket.socket, metrics_dir: Path | None,
                **uvicorn_options: Any) -> None:
    """Serve on ``sock`` with ``settings.workers`` worker processes until told to stop."""
    config = Config(WORKER_APP, factory=True, workers=settings.workers, **uvicorn_options)
    Supervisor(config, [sock], metrics_dir).run()
