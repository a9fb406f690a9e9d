"""``python -m bench.run [--quick] [--profile]``: every server, every scenario, one run.

Servers (each a uvicorn subprocess, same settings, pinned to core 0):
  ours-redis   this server on a bench-private Redis (AOF, appendfsync everysec)
  ours-memory  this server on its in-memory store
  sdk-memory   a2a-sdk reference, InMemoryTaskStore
  sdk-sqlite   a2a-sdk reference, DatabaseTaskStore on SQLite (aiosqlite)
  ceiling      bare Starlette returning a fixed 1 KB body
  ceiling-raw  the same body from a raw ASGI callable (no framework: uvicorn's own floor)
Load: wrk, one thread, pinned to core 1, fixed connections, after a warm-up; scenario
h (gRPC next to HTTP+JSON, GET and send) uses one Python client for both bindings
(bench/grpc_load.py), since wrk speaks no gRPC.
Scenarios run server after server *within* a scenario, so drifting machine noise
hits every server alike; a bearer-token cell (a-jwt, c-jwt) runs right after its API-key
cell on the same server, in the same rounds (their order alternating), and its verdict is
the CPU per request of the two. Output: a markdown table on stdout and
bench/results/latest.json. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import bearer_instructions, load
from bench.servers import (
    CLIENT_CPU,
    ROOT,
    SERVER_CPU,
    Redis,
    Server,
    free_port,
    seed,
    steal_seconds,
)

RESULTS = ROOT / "bench" / "results"
OURS = ("ours-redis", "ours-memory")
# Issue 14.3: the Redis server with two uvicorn workers (multiprocess metrics on), next to
# ours-redis in the GET and send cells; both cores, since two workers pinned to one would
# only share it. The verdict is CPU per request; the throughput is reported (on the 2-core
# bench machine the load generator and Redis share the second core).
WORKERS2 = "ours-redis-w2"
WORKER_SCENARIOS = ("a", "c")
STREAM_RUNS = 3  # issue 14 item 2: "in three runs out of three", all within one bench run
SDK = ("sdk-memory", "sdk-sqlite")
CEILINGS = ("ceiling", "ceiling-raw")  # fixed bodies, no ratios; next to (a) only
SCENARIOS = (("a", "GET small task"), ("b1k", "GET historyLength=10, 1,000 msgs"),
             ("b10k", "GET historyLength=10, 10,000 msgs"), ("c", "message:send (new task)"),
             ("d", "follow-up message:send into 1,000 msgs"),
             # Issue 14: the same GET and send with an OAuth2 bearer token (ours only: the
             # SDK reference ignores credentials).
             ("a-jwt", "GET small task, bearer token"),
             ("c-jwt", "message:send (new task), bearer token"))
_BEARER = "-jwt"


def _servers(redis_url: str | None, workdir: Path) -> list[Server]:
    agents = {"A2A_SERVER_AGENTS_DIR": str(ROOT / "bench" / "agent_cards"),
              "A2A_SERVER_LOG_LEVEL": "warning"}
    prefix = "/agents/echo/v1"
    servers = []
    if redis_url:
        for name in ("ours-redis", "ours-redis-b"):
            servers.append(Server(name, "bench.ours:create", prefix,
                                  {**agents, "A2A_SERVER_REDIS_URL": redis_url,
                                   "A2A_SERVER_GRPC_PORT": str(free_port())}))
        metrics_dir = workdir / "metrics-w2"
        metrics_dir.mkdir(exist_ok=True)
        servers.append(Server(WORKERS2, "bench.ours:create", prefix,
                              {**agents, "A2A_SERVER_REDIS_URL": redis_url,
                               "A2A_SERVER_WORKERS": "2",
                               "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
                              workers=2, cpus="0,1"))
    servers += [
        # The SDK's in-memory store keeps every task; ours drops the oldest finished ones beyond
        # a cap (10,000 by default), which the send cells pass, taking the seeded fixtures with them.
        Server("ours-memory", "bench.ours:create", prefix,
               {**agents, "A2A_SERVER_GRPC_PORT": str(free_port()),
                "A2A_SERVER_MEMORY_MAX_FINISHED_TASKS": "10000000"}),
        Server("sdk-memory", "bench.sdk_reference:create_memory", ""),
        Server("sdk-sqlite", "bench.sdk_reference:create_sqlite", "",
               {"BENCH_SQLITE_PATH": str(workdir / "sdk.sqlite3")}),
        Server("ceiling", "bench.ceiling:create", ""),
        Server("ceiling-raw", "bench.ceiling:create_raw", ""),
    ]
    return servers


class Bench:
    """State of one benchmark run."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.seconds = 1.0 if args.quick else args.seconds
        self.warmup = 1.0 if args.quick else args.warmup
        self.connections = args.connections
        self.rounds = 1 if args.quick else args.rounds
        self.open_tasks = 40 if args.quick else 200
        self.servers: dict[str, Server] = {}
        self.unavailable: dict[str, str] = {}
        self.fixtures: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}  # server -> access token of its bearer-token cells
        self.rows: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}

    # -- set-up -------------------------------------------------------------------------

    def start(self, redis: Redis | None) -> None:
        wanted = {s for s in self.args.servers.split(",") if s}
        if "ours-redis" in wanted:
            wanted.add("ours-redis-b")  # the second replica of scenario (f)
        for server in _servers(redis.url if redis else None, self.workdir):
            if wanted and server.name not in wanted:
                continue
            try:
                server.start(self.workdir)
                self.servers[server.name] = server
            except RuntimeError as exc:
                self.unavailable[server.name] = str(exc).splitlines()[0][:200]
                log(f"  {server.name}: did not start: {self.unavailable[server.name]}")
        if redis is None:
            self.unavailable.setdefault("ours-redis", "redis backend unavailable")

    def prepare(self, name: str) -> None:
        """A small completed task, the 1k/10k tasks and the open 1k tasks of one server."""
        server = self.servers[name]
        with httpx.Client(headers=load.HEADERS, timeout=60) as client:
            response = client.post(f"{server.url}/message:send",
                                   json=load._send_body("hello"))
            response.raise_for_status()
            small = response.json()["task"]["id"]
        started = time.perf_counter()
        seeded = seed(server, {"completed": [1000, 10000],
                               "open": {"count": self.open_tasks, "messages": 1000}})
        tasks_file = self.workdir / f"{name}.tasks"
        tasks_file.write_text("".join(f"{t['id']} {t['contextId']}\n" for t in seeded["open"]))
        self.fixtures[name] = {"small": small, "h1k": seeded["completed"]["1000"]["id"],
                               "h10k": seeded["completed"]["10000"]["id"],
                               "tasks_file": tasks_file,
                               "seed_seconds": round(time.perf_counter() - started, 2)}
        log(f"  {name}: seeded in {self.fixtures[name]['seed_seconds']} s")

    # -- scenarios ------------------------------------------------------------------------

    def _check(self, server: Server, scenario: str) -> tuple[str, str, Path | None]:
        """(wrk mode, URL, tasks file) for a scenario, after one checked request."""
        fx = self.fixtures.get(server.name, {})
        headers = dict(load.HEADERS)
        if scenario.endswith(_BEARER):
            token = self.tokens[server.name] = load.access_token(f"http://127.0.0.1:{server.port}")
            del headers["X-API-Key"]
            headers["Authorization"] = f"Bearer {token}"
            scenario = scenario.removesuffix(_BEARER)
        with httpx.Client(headers=headers, timeout=120) as client:
            if scenario == "a":
                url = f"{server.url}/tasks/{fx['small']}"
                body = client.get(url).raise_for_status().json()
                assert body["id"] == fx["small"], body
                return "get", url, None
            if scenario in ("b1k", "b10k"):
                task_id = fx["h1k" if scenario == "b1k" else "h10k"]
                url = f"{server.url}/tasks/{task_id}?historyLength=10"
                body = client.get(url).raise_for_status().json()
                assert len(body["history"]) == 10, len(body["history"])
                return "get", url, None
            url = f"{server.url}/message:send"
            if scenario == "c":
                body = client.post(url, json=load._send_body("hello")).raise_for_status().json()
                assert body["task"]["status"]["state"] == "TASK_STATE_COMPLETED", body
                return "send", url, None
            # d: one follow-up into the last open task (never reached by wrk's round robin
            # before the others), checked for the input-required answer.
            lines = fx["tasks_file"].read_text().split()
            task_id, context_id = lines[-2], lines[-1]
            message = {"messageId": f"check-{time.time_ns()}", "role": "ROLE_USER",
                       "taskId": task_id, "contextId": context_id,
                       "parts": [{"text": "keep-open check"}]}
            body = client.post(url, json={"message": message,
                                          "configuration": {"historyLength": 10}})
            state = body.raise_for_status().json()["task"]["status"]["state"]
            assert state == "TASK_STATE_INPUT_REQUIRED", state
            return "followup", url, fx["tasks_file"]

    def _cell_setup(self, server: Server, scenario: str) -> tuple[str, str, Path | None, int]:
        """Check the scenario on ``server``; pick its connections (see the † note)."""
        if server.name in CEILINGS:
            return "get", f"http://127.0.0.1:{server.port}/", None, self.connections
        self._check(server, scenario)  # the first call pays one-off costs
        started = time.perf_counter()
        mode, url, tasks = self._check(server, scenario)
        single = time.perf_counter() - started
        if single * self.connections > self.seconds / self.rounds:
            # So slow that one queue of requests would not drain within a round:
            # fewer connections, no warm-up beyond the checks (marked in the table).
            return mode, url, tasks, max(1, int(self.seconds / self.rounds / single))
        return mode, url, tasks, self.connections

    def _bearer(self, scenario: str, name: str) -> str | None:
        """The access token of a bearer-token cell (fetched by its check), else None."""
        return self.tokens[name] if scenario.endswith(_BEARER) else None

    def wrk_scenario(self, cells: list[tuple[str, str]]) -> None:
        """Run ``cells`` (scenario, server) in rounds that alternate their order; figures
        aggregate the rounds. A bearer-token cell that follows its API-key cell on the same
        server forms a pair with it: in each round the two take turns in one-second slices
        (ABBA...), so that the machine's drift, which moves CPU per request by 10-20 % from
        one 5 s run to the next on a shared VM, hits both alike."""
        titles = dict(SCENARIOS)
        log("scenario " + ", ".join(dict.fromkeys(f"{s}: {titles[s]}" for s, _ in cells)))
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for scenario, name in sorted(cells, key=lambda c: [s for s, _ in SCENARIOS].index(c[0])):
            rows[scenario, name] = {"scenario": scenario, "title": titles[scenario],
                                    "server": name}
            self.rows.append(rows[scenario, name])
            if name not in self.servers:
                rows[scenario, name]["error"] = (
                    f"n/a ({self.unavailable.get(name, 'not started')})")
        units: list[tuple[tuple[str, str], ...]] = []
        for cell in cells:
            if units and cell[0].endswith(_BEARER) and units[-1] == (
                    (cell[0].removesuffix(_BEARER), cell[1]),):
                units[-1] = (*units[-1], cell)
            else:
                units.append((cell,))
        setups: dict[tuple[str, str], tuple[str, str, Path | None, int]] = {}
        runs: dict[tuple[str, str], list[load.WrkResult]] = {}
        per_round = self.seconds / self.rounds
        slices = max(1, round(per_round))
        for round_ in range(self.rounds):
            for unit in units if round_ % 2 == 0 else units[::-1]:
                if len(unit) == 1:
                    self._run_cell(unit[0], rows[unit[0]], per_round, setups, runs)
                    continue
                for turn in range(slices):  # the pair: A B, B A, A B...
                    for cell in unit if (turn + round_) % 2 == 0 else unit[::-1]:
                        self._run_cell(cell, rows[cell], per_round / slices, setups, runs)
        for cell, results in runs.items():
            row, server = rows[cell], self.servers[cell[1]]
            requests = sum(r.requests for r in results)
            seconds = sum(r.seconds for r in results)
            row.update(rps=requests / seconds if seconds else 0.0,
                       cpu_us=row["cpu_s"] / requests * 1e6 if requests else None,
                       p50_ms=sum(r.p50_ms for r in results) / len(results),
                       p99_ms=max(r.p99_ms for r in results),
                       errors=sum(r.errors for r in results), requests=requests,
                       connections=setups[cell][3], peak_rss_mb=server.peak_rss_mb(),
                       rounds=[vars(r) for r in results])
            if not server.alive():
                row["error"] = "server died"

    def _run_cell(self, cell: tuple[str, str], row: dict[str, Any], seconds: float,
                  setups: dict[tuple[str, str], tuple[str, str, Path | None, int]],
                  runs: dict[tuple[str, str], list[load.WrkResult]]) -> None:
        """One measured wrk run of ``cell`` (set up and warmed up on its first run)."""
        scenario, name = cell
        server = self.servers.get(name)
        if server is None or "error" in row:
            return
        try:
            server.wait_idle()
            if cell not in setups:
                setups[cell] = self._cell_setup(server, scenario)
                server.reset_peak_rss()
                mode, url, tasks, connections = setups[cell]
                if connections == self.connections:
                    load.run_wrk(url, mode, self.warmup, connections, tasks,
                                 self._bearer(scenario, name))
                    server.wait_idle()
            mode, url, tasks, connections = setups[cell]
            cpu = server.cpu_seconds()
            result = load.run_wrk(url, mode, seconds, connections, tasks,
                                  self._bearer(scenario, name))
            row["drain_s"] = round(row.get("drain_s", 0) + server.wait_idle(), 2)
            # what the server burnt on this run's requests (drained ones included)
            cpu_s = server.cpu_seconds() - cpu
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
            log(f"  {name}: FAILED {row['error']}")
            return
        row["cpu_s"] = row.get("cpu_s", 0.0) + cpu_s
        row.setdefault("run_cpu_us", []).append(
            cpu_s / result.requests * 1e6 if result.requests else None)
        runs.setdefault(cell, []).append(result)
        log(f"  {scenario:6s} {name:13s} {result.rps:9.1f} req/s  p50 {result.p50_ms:8.2f} ms  "
            f"p99 {result.p99_ms:8.2f} ms  CPU {row['run_cpu_us'][-1] or 0:5.0f} us/req  "
            f"errors {result.errors}")

    def stream_scenario(self, names: list[str]) -> None:
        """(e), ``STREAM_RUNS`` times, the servers in alternating order; issue 14 item 2's
        verdict needs every run (one row per server and run)."""
        count = 60 if self.args.quick else 200
        runs = 1 if self.args.quick else STREAM_RUNS
        title = f"{count} message:stream calls (10 at a time)"
        log(f"scenario e: {title}, {runs} run(s)")
        for run in range(1, runs + 1):
            for name in (names if run % 2 else names[::-1]):
                self._stream_cell(name, title, count, run)

    def _stream_cell(self, name: str, title: str, count: int, run: int) -> None:
        row: dict[str, Any] = {"scenario": "e", "title": title, "server": name, "run": run}
        self.rows.append(row)
        server = self.servers.get(name)
        if server is None:
            row["error"] = f"n/a ({self.unavailable.get(name, 'not started')})"
            return
        server.wait_idle()
        server.reset_peak_rss()
        waited = server.runqueue_wait_seconds()
        stolen = {cpu: steal_seconds(cpu) for cpu in (SERVER_CPU, CLIENT_CPU)}
        try:
            res = load.run_streams(server.url, count)
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
            return
        # The tails of (e) are mostly the server waiting for its core (docs/performance.md,
        # "Stream tails"): say how long it waited during the cell, so a run can be read.
        descheduled_ms = (server.runqueue_wait_seconds() - waited) * 1000
        # ... and how long the hypervisor took each core away from the VM (steal time)
        steal_ms = {cpu: (steal_seconds(cpu) - was) * 1000 for cpu, was in stolen.items()}
        row.update(rps=res.rps, p50_ms=res.done_p50_ms, p99_ms=res.done_p99_ms,
                   first_p50_ms=res.first_p50_ms, first_p99_ms=res.first_p99_ms,
                   errors=res.errors, requests=res.count, peak_rss_mb=server.peak_rss_mb(),
                   descheduled_ms=descheduled_ms, client_cpu_ms=res.client_cpu_ms,
                   steal_server_ms=steal_ms[SERVER_CPU], steal_client_ms=steal_ms[CLIENT_CPU])
        log(f"  run {run} {name:12s} first event p50 {res.first_p50_ms:.2f} p99 "
            f"{res.first_p99_ms:.2f} ms; done p50 {res.done_p50_ms:.2f} p99 "
            f"{res.done_p99_ms:.2f} ms; errors {res.errors}; server descheduled "
            f"{descheduled_ms:.0f} ms during the cell; client CPU "
            f"{res.client_cpu_ms:.2f} ms per stream; steal time server core "
            f"{steal_ms[SERVER_CPU]:.0f} ms, client core {steal_ms[CLIENT_CPU]:.0f} ms")

    def grpc_scenario(self, names: list[str]) -> None:
        """(h): gRPC next to HTTP+JSON for GET and send, the same Python client for both."""
        from bench import grpc_load

        seconds = 2.0 if self.args.quick else self.seconds
        for mode, what in (("get", "GET small task"), ("send", "message:send (new task)")):
            title = f"{what}, gRPC vs HTTP+JSON (same Python client)"
            log(f"scenario h-{mode}: {title}")
            for name in names:
                server = self.servers.get(name)
                port = server.env.get("A2A_SERVER_GRPC_PORT") if server else None
                for binding, label in (("grpc", "gRPC"), ("http", "HTTP+JSON")):
                    row: dict[str, Any] = {"scenario": f"h-{mode}", "title": title,
                                           "server": f"{name} {label}"}
                    self.rows.append(row)
                    if server is None or port is None:
                        row["error"] = "n/a (not started)"
                        continue
                    target = f"127.0.0.1:{port}" if binding == "grpc" else server.url
                    task_id = self.fixtures[name]["small"]
                    try:
                        server.wait_idle()
                        grpc_load.run(binding, mode, target, task_id, 1.0, self.connections)
                        server.wait_idle()
                        cpu = server.cpu_seconds()
                        res = grpc_load.run(binding, mode, target, task_id, seconds,
                                            self.connections)
                        server.wait_idle()
                        cpu_s = server.cpu_seconds() - cpu
                    except Exception as exc:
                        row["error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
                        log(f"  {row['server']}: FAILED {row['error']}")
                        continue
                    if not res.requests:
                        row["error"] = f"no request succeeded ({res.errors} errors)"
                        log(f"  {row['server']}: FAILED {row['error']}")
                        continue
                    row.update(rps=res.rps, p50_ms=res.p50_ms, p99_ms=res.p99_ms,
                               errors=res.errors, requests=res.requests,
                               cpu_us=cpu_s / res.requests * 1e6 if res.requests else None)
                    log(f"  {row['server']:22s} {res.rps:9.1f} req/s  p50 {res.p50_ms:8.2f} ms"
                        f"  p99 {res.p99_ms:8.2f} ms  CPU {row['cpu_us'] or 0:.0f} us/req  "
                        f"errors {res.errors}")

    def cross_replica(self) -> None:
        samples = 30 if self.args.quick else 100
        log(f"scenario f: cross-replica delivery, {samples} samples")
        a, b = self.servers.get("ours-redis"), self.servers.get("ours-redis-b")
        if a is None or b is None:
            self.extra["f"] = {"error": "n/a (redis backend unavailable)"}
            return
        a.wait_idle()
        try:
            res = load.run_cross(a.url, b.url, samples)
        except Exception as exc:
            self.extra["f"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            log(f"  FAILED {self.extra['f']['error']}")
            return
        self.extra["f"] = vars(res)
        log(f"  B p50 {res.b_p50_ms:.2f} p99 {res.b_p99_ms:.2f} ms (A local p50 "
            f"{res.a_p50_ms:.2f} p99 {res.a_p99_ms:.2f}; B-A p50 {res.extra_p50_ms:.2f} p99 "
            f"{res.extra_p99_ms:.2f}); dropped {res.dropped}")

    def redis_bytes(self, redis: Redis | None) -> None:
        count = 50 if self.args.quick else 200
        log(f"scenario g: Redis bytes per small completed task ({count} tasks)")
        server = self.servers.get("ours-redis")
        if redis is None or server is None:
            self.extra["g"] = {"error": "n/a (redis backend unavailable)"}
            return
        try:
            before = load.redis_bytes(redis.url)
            failures = load.small_tasks(server.url, count)
            after = load.redis_bytes(redis.url)
        except Exception as exc:
            self.extra["g"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            return
        ok = count - failures
        per_pattern = {}
        for pattern, (size, keys) in after.items():
            size0, keys0 = before.get(pattern, (0, 0))
            if ok and size != size0:
                per_pattern[pattern] = {"bytes_per_task": round((size - size0) / ok, 1),
                                        "keys_per_task": round((keys - keys0) / ok, 2)}
        total = sum(p["bytes_per_task"] for p in per_pattern.values())
        keys_total = sum(p["keys_per_task"] for p in per_pattern.values())
        self.extra["g"] = {"tasks": ok, "failures": failures,
                           "bytes_per_task": total if ok else math.nan,
                           "keys_per_task": keys_total if ok else math.nan,
                           "by_key": dict(sorted(per_pattern.items(),
                                                 key=lambda kv: -kv[1]["bytes_per_task"]))}
        log(f"  {self.extra['g']['bytes_per_task']:.0f} bytes, "
            f"{self.extra['g']['keys_per_task']:.1f} keys per task: {self.extra['g']['by_key']}")

    def _cells(self, scenario: str, names: list[str],
               want: Callable[[str], bool]) -> list[tuple[str, str]]:
        """The (scenario, server) cells run together for ``scenario``: every server, the
        two-worker one right after ours-redis, each of ours followed by its bearer-token
        cell when that is wanted too (so the pair runs back to back), the ceilings after (a).
        A bearer-token scenario has cells of its own only when its API-key one is not run."""
        if not want(scenario):
            return []
        if scenario.endswith(_BEARER):
            base = scenario.removesuffix(_BEARER)
            return [] if want(base) else [(scenario, n) for n in OURS if n in self.servers]
        cells = [(scenario, n) for n in names]
        if scenario in WORKER_SCENARIOS and WORKERS2 in self.servers:
            cells.insert(1 if cells and cells[0][1] == "ours-redis" else 0, (scenario, WORKERS2))
        if scenario + _BEARER in dict(SCENARIOS) and want(scenario + _BEARER):
            at = {name: i for i, (_, name) in enumerate(cells)}
            for name in reversed([n for n in OURS if n in at]):  # later positions first
                cells.insert(at[name] + 1, (scenario + _BEARER, name))
        return cells + [(scenario, n) for n in CEILINGS if scenario == "a" and n in self.servers]

    def run_all(self, redis: Redis | None, want: Callable[[str], bool]) -> None:
        """Seed every server, then run the scenarios ``want`` accepts."""
        if want("g"):
            self.redis_bytes(redis)
        log("seeding")
        for name in (*OURS, WORKERS2, *SDK):
            if name in self.servers:
                try:
                    self.prepare(name)
                except Exception as exc:
                    self.unavailable[name] = f"seeding failed: {exc}"[:200]
                    log(f"  {name}: {self.unavailable[name]}")
                    self.servers.pop(name).stop()
        if redis is not None:
            redis.compact()
        names = [n for n in (*OURS, *SDK) if n in self.servers]
        for scenario, _ in SCENARIOS:
            cells = self._cells(scenario, names, want)
            if cells:
                self.wrk_scenario(cells)
                if redis is not None:
                    redis.compact()
        if want("e"):
            self.stream_scenario(names)
        if want("f"):
            self.cross_replica()
        if want("h"):
            self.grpc_scenario([n for n in OURS if n in self.servers])

    def stop_servers(self) -> None:
        """Stop every server (the timed cells are over; ``--profile`` restarts none)."""
        if not self.args.profile:
            for server in self.servers.values():
                server.stop()

    def memory_and_clients(self) -> None:
        """Items 4 (``bench.memory``: RSS back after a burst) and 5 (``bench.redis_clients``:
        our Redis connection against maintained clients), each with its own servers, after
        the cells: in a full run, or when named in ``--scenarios`` (``mem``, ``clients``; a
        quick run's scale with ``--quick``)."""
        named = {s for s in self.args.scenarios.split(",") if s}
        quick = ["--quick"] if self.args.quick else []

        def due(name: str) -> bool:
            return name in named or not (named or self.args.quick)

        if due("mem"):
            from bench import memory

            options = memory.parse(quick)
            log(f"item 4: RSS before, after {options.streams} streams and after "
                f"{options.idle:g} s idle (bench.memory, ~{2 if quick else 3} min)")
            try:
                self.extra["memory"] = memory.measure(options, self.workdir)
                rss = self.extra["memory"]["rss_mb"]
                log(f"  RSS {rss['before']} -> {rss['after']} -> {rss['idle']} MiB")
            except Exception as exc:
                self.extra["memory"] = {"error": f"{type(exc).__name__}: {str(exc)[:160]}"}
                log(f"  failed: {self.extra['memory']['error']}")
        if due("clients"):
            from bench import redis_clients

            log("item 5: our Redis connection against maintained clients (bench.redis_clients,"
                " ~1 min)")
            try:
                results = redis_clients.run(redis_clients.parse(quick))
                self.extra["redis_clients"] = {"worst": redis_clients.worst_cells(results),
                                               "table": redis_clients.table(results, 1)}
                log(redis_clients.verdict(results))
            except Exception as exc:
                self.extra["redis_clients"] = {"error": f"{type(exc).__name__}: "
                                                        f"{str(exc)[:160]}"}
                log(f"  failed: {self.extra['redis_clients']['error']}")

    def instructions(self, redis: bool) -> None:
        """Issue 14 item 1 by counted instructions (callgrind): bearer token over API key for
        a GET and a send on each store our servers ran on, unmoved by the machine's noise."""
        wanted = {s for s in self.args.servers.split(",") if s}
        stores = tuple(store for store, server in (("memory", "ours-memory"),
                                                   ("redis", "ours-redis"))
                       if (not wanted or server in wanted) and (store != "redis" or redis))
        if not stores:
            return
        if not bearer_instructions.available():
            log("instructions: valgrind not found (apt-get install -y valgrind); item 1 by "
                "instructions not measured")
            return
        log(f"instructions: bearer token vs API key under callgrind ({', '.join(stores)}; "
            "~4 min)")
        pinned = os.sched_getaffinity(0)
        os.sched_setaffinity(0, range(os.cpu_count() or 1))  # one core per store's valgrind
        try:
            counted = bearer_instructions.measure_stores(stores, gets=300, sends=100,
                                                         connections=1)
        except Exception as exc:
            log(f"  instructions failed: {type(exc).__name__}: {str(exc)[:200]}")
            self.extra["instructions"] = {"error": str(exc)[:200]}
            return
        finally:
            os.sched_setaffinity(0, pinned)
        self.extra["instructions"] = {
            f"{c.store}/{c.kind}": {"ratio": c.ratio, "key": c.key, "bearer": c.bearer,
                                    "per_request": c.per_request, "requests": c.requests,
                                    "shown": bearer_instructions.describe(c)}
            for c in counted.values()}
        for c in counted.values():
            log(f"  {c.store:6s} {c.kind:4s} {bearer_instructions.describe(c)}")

    def profile(self) -> None:
        """py-spy on our servers and the SDK's in-memory one during extra (unrecorded) runs of
        a, a-jwt (ours), b10k, c and d."""
        from bench.profile import profile_run

        self.extra["profiles"] = {}
        for name in (*OURS, "sdk-memory"):
            server = self.servers.get(name)
            if server is None or name not in self.fixtures:
                continue
            for scenario in ("a", "a-jwt", "b10k", "c", "d"):
                if self.args.scenarios and scenario not in self.args.scenarios.split(","):
                    continue
                if scenario.endswith(_BEARER) and name not in OURS:
                    continue
                try:
                    mode, url, tasks = self._check(server, scenario)
                    out = RESULTS / f"profile-{name}-{scenario}"
                    bearer = self._bearer(scenario, name)
                    summary = profile_run(server, out, lambda m=mode, u=url, t=tasks, b=bearer:
                                          load.run_wrk(u, m, self.seconds, self.connections, t,
                                                       b))
                except Exception as exc:
                    summary = f"profile failed: {type(exc).__name__}: {exc}"
                self.extra["profiles"][f"{name}/{scenario}"] = summary
                log(f"  profiled {name}/{scenario} -> {RESULTS}/profile-{name}-{scenario}.*")


# -- report ------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _find(rows: list[dict[str, Any]], scenario: str, server: str,
          run: int | None = None) -> dict[str, Any] | None:
    """The first row of ``scenario`` on ``server`` (of that ``run`` of (e) when given)."""
    for row in rows:
        if (row["scenario"] == scenario and row["server"] == server and "error" not in row
                and (run is None or row.get("run") == run)):
            return row
    return None


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None, ref: dict[str, Any] | None, key: str) -> str:
    if value is None or ref is None or not ref.get(key):
        return "-"
    return f"{value / ref[key]:.2f}x"


def _cell(row: dict[str, Any], key: str, refs: tuple[dict[str, Any] | None, ...],
          digits: int, with_ratio: bool) -> str:
    value = row.get(key)
    text = _fmt(value, digits)
    if with_ratio and value is not None:
        text += " (" + " / ".join(_ratio(value, ref, key) for ref in refs) + ")"
    return text


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("**met**" if ok else "**MISSED**")


def _pair_ratios(bearer: dict[str, Any], key: dict[str, Any]) -> list[float]:
    """CPU per request of each bearer-token run over that of the API-key run next to it."""
    return [b / k for b, k in zip(bearer.get("run_cpu_us", []), key.get("run_cpu_us", []),
                                  strict=False) if b and k]


def _bearer_ratio(bearer: dict[str, Any] | None, key: dict[str, Any] | None) -> float | None:
    """Item 1's measure: the median of the pairs' CPU ratios (a slice the machine disturbed
    moves it less than it moves the cells' totals)."""
    ratios = _pair_ratios(bearer, key) if bearer and key else []
    return statistics.median(ratios) if ratios else None


def _bearer_shown(bearer: dict[str, Any] | None, key: dict[str, Any] | None) -> str:
    """The pairs' median CPU ratio, their range, the cells' totals, and req/s (informational:
    wrk's own core sends the longer header)."""
    ratio = _bearer_ratio(bearer, key)
    if ratio is None or not bearer or not key or not key.get("cpu_us") or not key.get("rps"):
        return "n/a"
    ratios = _pair_ratios(bearer, key)
    return (f"{ratio:.3f}x the CPU of the API key (median of {len(ratios)} back-to-back pairs,"
            f" {min(ratios):.2f}-{max(ratios):.2f}; cells {bearer['cpu_us']:.1f} vs "
            f"{key['cpu_us']:.1f} us); req/s {bearer['rps'] / key['rps']:.2f}x")


def _stream_runs(rows: list[dict[str, Any]], server: str) -> dict[int, float]:
    """(e)'s p99 first event of ``server``, by run."""
    return {row.get("run", 1): row["first_p99_ms"] for row in rows
            if row["scenario"] == "e" and row["server"] == server and "error" not in row}


def targets(rows: list[dict[str, Any]], extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue, evaluated for ours-redis (and ours-memory for reference)."""
    out: list[dict[str, Any]] = []

    def rps(scenario: str, server: str) -> float | None:
        row = _find(rows, scenario, server)
        return row["rps"] if row else None

    def cpu(scenario: str, server: str) -> float | None:
        row = _find(rows, scenario, server)
        return row.get("cpu_us") if row else None

    def add(target: str, server: str, value: float | None, ok: Callable[[float], bool],
            shown: str) -> None:
        out.append({"target": target, "server": server,
                    "value": None if value is None else round(value, 3),
                    "met": None if value is None else bool(ok(value)),
                    "shown": shown if value is not None else "n/a"})

    def div(x: float | None, y: float | None) -> float | None:
        return None if x is None or not y else x / y

    for server in OURS:
        r = div(rps("a", server), rps("a", "sdk-memory"))
        add("(a) GET small >= 1.5x sdk-memory", server, r, lambda v: v >= 1.5, f"{r or 0:.2f}x")
        r = div(rps("b10k", server), rps("a", server))
        add("(b) GET h=10, 10k msgs within 10% of (a)", server, r, lambda v: v >= 0.9,
            f"{r or 0:.2f}x of (a)")
        r = div(rps("b10k", server), rps("b1k", server))
        add("(b, flatness, informational) h=10: 10k msgs vs 1k msgs", server, r,
            lambda v: v >= 0.9, f"{r or 0:.2f}x of b1k")
        r = div(cpu("a", server), cpu("b10k", server))
        add("(b, by CPU per request, informational) 10k msgs within 10% of (a)", server, r,
            lambda v: v >= 0.9, f"{1 / r if r else 0:.2f}x the CPU of (a)")
        r = div(rps("c", server), rps("c", "sdk-memory"))
        add("(c) message:send >= 1.0x sdk-memory", server, r, lambda v: v >= 1.0,
            f"{r or 0:.2f}x")
        r = div(rps("c", server), rps("c", "sdk-sqlite"))
        add("(c) message:send >= 4x sdk-sqlite", server, r, lambda v: v >= 4.0, f"{r or 0:.2f}x")
        for base, what in (("a", "GET"), ("c", "send")):
            r = _bearer_ratio(_find(rows, base + _BEARER, server), _find(rows, base, server))
            add(f"(14.1) {what} with a bearer token within 5% of the API key, by CPU per "
                "request", server, r, lambda v: v <= 1.05,
                _bearer_shown(_find(rows, base + _BEARER, server), _find(rows, base, server)))
        store = server.removeprefix("ours-")
        for kind in bearer_instructions.KINDS:
            counted = extra.get("instructions", {}).get(f"{store}/{kind}")
            r = counted["ratio"] if counted else None
            add(f"(14.1) {kind} with a bearer token within 5% of the API key, by instructions "
                "per request (callgrind)", server, r, lambda v: v <= 1.05,
                counted["shown"] if counted else "n/a")
        mine, sdks = _stream_runs(rows, server), _stream_runs(rows, "sdk-memory")
        pairs = [(run, mine[run], sdks[run]) for run in sorted(mine) if run in sdks]
        met = sum(m <= s / 2 for _, m, s in pairs)
        add("(14.2) (e) p99 first event at most half the SDK's, in every run", server,
            None if not pairs else float(STREAM_RUNS - met),  # runs missed (or not run)
            lambda v: v == 0,
            f"{met} of {len(pairs)} runs: " + "; ".join(
                f"run {run} {m:.1f} vs {s:.1f} ms (half {s / 2:.1f})" for run, m, s in pairs))
        for base, what in (("a", "GET"), ("c", "send")):
            r = div(rps(base + _BEARER, server), rps(base, "sdk-memory"))
            add(f"(14.6) {what} with a bearer token >= 4x sdk-memory (by req/s)", server, r,
                lambda v: v >= 4.0, f"{r or 0:.2f}x; by CPU per request "
                f"{div(cpu(base, 'sdk-memory'), cpu(base + _BEARER, server)) or 0:.2f}x")
        r = div(rps("d", server), rps("c", server))
        add("(d) follow-up (1k msgs) within 20% of first message", server, r,
            lambda v: v >= 0.8, f"{r or 0:.2f}x of (c)")
    for scenario in WORKER_SCENARIOS:
        r = div(cpu(scenario, WORKERS2), cpu(scenario, "ours-redis"))
        add(f"(14.3) ({scenario}) CPU per request, 2 workers within 10% of 1", WORKERS2, r,
            lambda v: v <= 1.1, f"{r or 0:.2f}x the CPU of ours-redis; "
            f"{rps(scenario, WORKERS2) or 0:,.0f} req/s in all "
            f"({div(rps(scenario, WORKERS2), rps(scenario, 'ours-redis')) or 0:.2f}x)")
    f = extra.get("f", {})
    add("(f) cross-replica p50 <= 5 ms", "ours-redis", f.get("b_p50_ms"), lambda v: v <= 5,
        f"{f.get('b_p50_ms') or 0:.2f} ms")
    add("(f) cross-replica p99 <= 20 ms", "ours-redis", f.get("b_p99_ms"), lambda v: v <= 20,
        f"{f.get('b_p99_ms') or 0:.2f} ms")
    mem = extra.get("memory", {})
    r = mem.get("idle_over_before")
    add("(14.4) RSS after a burst of streams, once idle, within 10% of before", "ours-redis", r,
        lambda v: v <= 1.10, f"{r or 0:.2f}x: {mem.get('rss_mb', {}).get('before')} MiB before, "
        f"{mem.get('rss_mb', {}).get('after')} after {mem.get('streams')} streams, "
        f"{mem.get('rss_mb', {}).get('idle')} idle")
    worst = extra.get("redis_clients", {}).get("worst") or {}
    others = {name: v for name, v in worst.items() if name != "redis-py"}  # not pipelining
    best = min(others.values()) if others else None
    add("(14.5) keep our Redis connection: no maintained auto-pipelining client within 20% of "
        "its CPU per call", "ours-redis", best, lambda v: v > 1.20,
        ", ".join(f"{name} {v:.2f}x (worst cell)" for name, v in worst.items()))
    g = extra.get("g", {})
    add("(g) <= 2 KB Redis per small task", "ours-redis", g.get("bytes_per_task"),
        lambda v: v <= 2048, f"{g.get('bytes_per_task') or 0:,.0f} B")
    return out


def markdown(rows: list[dict[str, Any]], extra: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [f"Run {meta['started']} · {meta['mode']} · wrk -t1 -c{meta['connections']} "
             f"{meta['seconds']:g} s per cell in {meta['rounds']} round(s) after "
             f"{meta['warmup']:g} s warm-up · server on CPU 0, "
             f"load on CPU {CLIENT_CPU} · commit {meta['commit']}",
             "",
             "Ratios in parentheses: vs sdk-memory / vs sdk-sqlite, same run. p50 = mean of "
             "the rounds' p50, p99 = the worst round's p99; server CPU us/req = the server "
             "process's user + system CPU time over the requests it completed (the work a "
             "request costs: steadier than req/s on a noisy machine); for latency, CPU and RSS a "
             "ratio below 1 is better. "
             "† = one request took so long that the cell ran with fewer connections "
             "(c) and no warm-up; n = requests completed.",
             "",
             "| scenario | server | req/s | p50 ms | p99 ms | server CPU us/req | peak RSS MiB "
             "| errors |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['scenario']} {row['title']} | {row['server']} | "
                         f"{row['error']} | | | | | |")
            continue
        title = row["title"]
        refs = (_find(rows, row["scenario"], "sdk-memory", row.get("run")),
                _find(rows, row["scenario"], "sdk-sqlite", row.get("run")))
        ratio = row["server"] not in SDK and row["server"] not in CEILINGS
        p50 = _cell(row, "p50_ms", refs, 2, ratio)
        p99 = _cell(row, "p99_ms", refs, 2, ratio)
        if row["scenario"] == "e":
            title = f"{row['title']}, run {row.get('run', 1)}"
            p50 = f"first {_fmt(row['first_p50_ms'], 2)} / done {p50}"
            p99 = f"first {_fmt(row['first_p99_ms'], 2)} / done {p99}"
            if row.get("descheduled_ms") is not None:
                p99 += f" (server descheduled {row['descheduled_ms']:,.0f} ms in the cell"
                if row.get("client_cpu_ms") is not None:
                    p99 += f"; client CPU {row['client_cpu_ms']:.2f} ms per stream"
                if row.get("steal_server_ms") is not None:
                    p99 += (f"; VM steal server core {row['steal_server_ms']:,.0f} ms, client "
                            f"core {row['steal_client_ms']:,.0f} ms")
                p99 += ")"
        rps = _cell(row, "rps", refs, 1, ratio)
        if row.get("connections", meta["connections"]) != meta["connections"]:
            rps += f" † c={row['connections']}, n={row['requests']}"
        lines.append(f"| {row['scenario']} {title} | {row['server']} | "
                     f"{rps} | {p50} | {p99} | {_cell(row, 'cpu_us', refs, 0, ratio)} | "
                     f"{_cell(row, 'peak_rss_mb', refs, 0, ratio)} | {row.get('errors', 0)} |")
    f, g = extra.get("f", {}), extra.get("g", {})
    lines += ["", "| scenario | result |", "|---|---|"]
    if not f:
        lines.append("| f cross-replica delivery (A → subscriber on B) | not run |")
    elif "error" in f:
        lines.append(f"| f cross-replica delivery (A → subscriber on B) | {f['error']} |")
    else:
        lines.append(f"| f cross-replica delivery (A → subscriber on B) | producer timestamp → "
                     f"B's subscriber: p50 {f['b_p50_ms']:.2f} ms, p99 {f['b_p99_ms']:.2f} ms; "
                     f"→ A's own stream: p50 {f['a_p50_ms']:.2f} ms, p99 {f['a_p99_ms']:.2f} ms;"
                     f" B minus A per event: p50 {f['extra_p50_ms']:.2f} ms, p99 "
                     f"{f['extra_p99_ms']:.2f} ms ({f['samples']} events, {f['dropped']} "
                     f"dropped) |")
    if not g:
        lines.append("| g Redis bytes per small completed task | not run |")
    elif "error" in g:
        lines.append(f"| g Redis bytes per small completed task | {g['error']} |")
    else:
        parts = ", ".join(f"`{k}` {v['bytes_per_task']:,.0f}"
                          for k, v in list(g["by_key"].items())[:8])
        lines.append(f"| g Redis bytes per small completed task | {g['bytes_per_task']:,.0f} B "
                     f"({g['keys_per_task']:.1f} keys) over {g['tasks']} tasks; by key: {parts} |")
    lines += ["", "| target | server | result | verdict |", "|---|---|---|---|"]
    for t in meta["targets"]:
        lines.append(f"| {t['target']} | {t['server']} | {t['shown']} | {_verdict(t['met'])} |")
    return "\n".join(lines)


@contextlib.contextmanager
def _redis(workdir: Path) -> Iterator[Redis | None]:
    redis = Redis()
    try:
        redis.start(workdir)
    except RuntimeError as exc:
        log(f"redis: {exc}")
        yield None
        return
    try:
        yield redis
    finally:
        redis.stop()


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="~1 minute smoke run")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per cell")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds per cell, alternating the server order (full run)")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, profile our servers with py-spy (extra runs)")
    parser.add_argument("--no-instructions", action="store_true",
                        help="skip item 1's instruction counts under callgrind (~4 min)")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis-backed server")
    parser.add_argument("--servers", default="",
                        help="comma-separated servers to run (default: all); for quick iteration")
    parser.add_argument("--scenarios", default="",
                        help="comma-separated scenarios to run (a,b1k,b10k,c,d,a-jwt,c-jwt,e,f,g,h, "
                        "and items 4 and 5 of issue 14: mem,clients; default: all)")
    args = parser.parse_args(argv)
    only = {s for s in args.scenarios.split(",") if s}

    def want(scenario: str) -> bool:
        return not only or scenario in only

    load.require_wrk()
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="a2a-bench-") as tmp:
        workdir = Path(tmp)
        bench = Bench(args, workdir)
        with contextlib.ExitStack() as stack:
            redis = None if args.no_redis else stack.enter_context(_redis(workdir))
            stack.callback(lambda: [s.stop() for s in bench.servers.values()])
            bench.start(redis)
            bench.run_all(redis, want)
            bench.stop_servers()
            bench.memory_and_clients()
            if not (args.quick or args.no_instructions) and (want("a-jwt") or want("c-jwt")):
                bench.instructions(redis is not None)
            if args.profile:
                bench.profile()
        meta = {"started": started.strftime("%Y-%m-%d %H:%M UTC"),
                "mode": "quick" if args.quick else "full", "seconds": bench.seconds,
                "warmup": bench.warmup, "connections": bench.connections,
                "rounds": bench.rounds,
                "commit": _commit(), "python": platform.python_version(),
                "cpus": os.cpu_count(), "machine": platform.machine(),
                "duration_s": round((datetime.now(UTC) - started).total_seconds(), 1),
                "unavailable": bench.unavailable,
                "fixtures": {k: {kk: str(vv) for kk, vv in v.items()}
                             for k, v in bench.fixtures.items()}}
        meta["targets"] = targets(bench.rows, bench.extra)
        table = markdown(bench.rows, bench.extra, meta)
    (RESULTS / "latest.json").write_bytes(orjson.dumps(
        {"meta": meta, "rows": bench.rows, "extra": bench.extra},
        option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=str))
    (RESULTS / "latest.md").write_text(table + "\n")
    print(table)
    log(f"wrote {RESULTS / 'latest.json'} in {meta['duration_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
