"""Tenant files reloaded without a restart: on ``SIGHUP`` and when they change on disk.

Each replica watches its own tenants directory by polling: every
``tenants_reload_seconds`` it ``stat``s the directory's tenant files (name, size,
mtime, inode, following symlinks) and reloads when that fingerprint changed. Polling
rather than inotify (``watchfiles``): the revocation bound must hold on every mount a
deployment uses (Kubernetes ConfigMaps swap a symlink, NFS and overlay file systems
send no events, inotify watches run out), and a handful of ``stat`` calls every few
seconds costs nothing measurable.

A reload reads and checks every file exactly as start-up does (``load_tenants``, in a
worker thread) and then swaps the whole registry in one assignment
(``TenantRegistry.replace``): requests see the old files or the new ones, never a mix.
A directory that fails the check changes nothing: the old configuration stays in use
and one line says which file and field is wrong. Open streams and running tasks are
not touched: they were admitted with the old configuration and run to their end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterable
from pathlib import Path

from a2a_server.tenancy.config import ConfigError, TenantRegistry, load_tenants, tenant_files

logger = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int, int, int], ...] | None


def fingerprint(directory: Path) -> Fingerprint:
    """What identifies the current contents of the tenant files (None: no directory)."""
    try:
        paths = tenant_files(directory)
    except OSError:
        return None
    if not directory.is_dir():
        return None
    entries = []
    for path in paths:
        try:
            st = path.stat()  # follows symlinks: a ConfigMap's ..data swap changes the inode
        except OSError:
            entries.append((path.name, -1, -1, -1, -1))
            continue
        entries.append((path.name, st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev))
    return tuple(entries)


class TenantReloader:
    """Keeps one replica's ``TenantRegistry`` in step with its tenants directory."""

    def __init__(self, registry: TenantRegistry, directory: Path,
                 known_agents: Callable[[], Iterable[str]], interval_seconds: float,
                 key_cache_size: int) -> None:
        """Reload ``registry`` from ``directory`` (``interval_seconds`` 0: on SIGHUP only)."""
        self.registry = registry
        self.directory = directory
        self._agents = known_agents
        self.interval = interval_seconds
        self._key_cache_size = key_cache_size
        self._seen = fingerprint(directory)
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[bool]] = set()

    async def reload(self, reason: str) -> bool:
        """Load the directory and swap it in if it checks out; True if it was swapped."""
        async with self._lock:
            before = await asyncio.to_thread(fingerprint, self.directory)
            try:
                fresh = await asyncio.to_thread(load_tenants, self.directory, list(self._agents()),
                                                self._key_cache_size)
            except ConfigError as exc:
                self._seen = before  # logged once per change, not on every poll
                logger.error("tenant reload (%s) refused, the previous configuration stays in "
                             "use: %s", reason, exc)
                return False
            after = await asyncio.to_thread(fingerprint, self.directory)
            if after != before:
                # A file changed while it was read (a write in progress): try again next poll.
                logger.info("tenant reload (%s) deferred: the files changed while being read",
                            reason)
                return False
            self._seen = after
            self.registry.replace(fresh)
            logger.info("tenants reloaded (%s): %d tenants, generation %d", reason, len(fresh),
                        self.registry.generation)
            return True

    async def check(self) -> bool:
        """One poll: reload if the files changed since they were last read."""
        current = await asyncio.to_thread(fingerprint, self.directory)
        if current == self._seen:
            return False
        return await self.reload("the files changed")

    def request_reload(self, reason: str) -> None:
        """Schedule a reload on the running loop (the SIGHUP handler's callback)."""
        task = asyncio.get_running_loop().create_task(self.reload(reason))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # never let the watcher die: the next poll tries again
                logger.exception("tenant reload failed")

    def start(self) -> None:
        """Start polling (if an interval is set) and listen for SIGHUP."""
        if self.interval > 0:
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        _sighup.add(self)

    async def aclose(self) -> None:
        """Stop polling and listening."""
        _sighup.discard(self)
        tasks = [t for t in (self._poller, *self._pending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _SighupListeners:
    """One SIGHUP handler for the process, reloading every replica built in it."""

    def __init__(self) -> None:
        self._listeners: list[TenantReloader] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, reloader: TenantReloader) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            try:
                loop.add_signal_handler(signal.SIGHUP, self._fire)
            except (ValueError, RuntimeError, NotImplementedError, AttributeError):
                # Not the main thread (a server run in a thread), or no SIGHUP here:
                # polling still reloads.
                logger.debug("SIGHUP cannot be handled in this thread; tenant files reload "
                             "by polling only")
                return
            self._loop = loop
        if loop is self._loop:
            self._listeners.append(reloader)

    def discard(self, reloader: TenantReloader) -> None:
        if reloader in self._listeners:
            self._listeners.remove(reloader)
        if not self._listeners and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_signal_handler(signal.SIGHUP)
            self._loop = None

    def _fire(self) -> None:
        logger.info("SIGHUP (pid %d): reloading the tenant files", os.getpid())
        for reloader in list(self._listeners):
            reloader.request_reload("SIGHUP")


_sighup = _SighupListeners()
