"""``python -m bench.memory [--quick]``: does a replica's memory come back after a burst?

Issue 14, item 4. One server (``bench.ours:create``, the in-process echo agent of
``bench/agent_cards``) on a private Redis, pinned to core 0 like every bench server.
Its resident set size (VmRSS) is read:

  before  after a warm-up burst (first-touch costs: imports, caches, code paths) and
          ``--settle`` seconds idle;
  after   at the end of a burst of ``--streams`` message:stream calls
          (``--concurrency`` at a time);
  idle    after ``--idle`` seconds with no traffic.

Target: ``idle`` within 10 % of ``before``. The server's own figures are printed too
(``a2a_process_*`` and ``a2a_task_cache_bytes`` from ``/metrics``). ``--env K=V``
passes settings to the server (e.g. ``--env A2A_SERVER_MEMORY_TRIM_SECONDS=0`` to see
the RSS without the idle trim). The result goes to stdout as JSON and one line of verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import load
from bench.servers import ROOT, Redis, Server

TOLERANCE = 0.10


def rss_mb(server: Server) -> float:
    """VmRSS of the server process, in MiB."""
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def server_figures(server: Server) -> dict[str, float]:
    """The server's memory-related metrics (task cache bytes and budget, trims)."""
    text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=30).text
    wanted = ("a2a_task_cache", "a2a_memory_trims", "a2a_memory_released")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(wanted):
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start Redis and the server, run the bursts, read the RSS; stop everything."""
    redis = Redis()
    redis.start(workdir)
    env = {"A2A_SERVER_AGENTS_DIR": str(ROOT / "bench" / "agent_cards"),
           "A2A_SERVER_LOG_LEVEL": "warning", "A2A_SERVER_REDIS_URL": redis.url}
    for pair in args.env:
        key, _, value = pair.partition("=")
        env[key] = value
    server = Server("ours-redis", "bench.ours:create", "/agents/echo/v1", env)
    try:
        server.start(workdir)
        load.run_streams(server.url, args.warmup, args.concurrency)
        server.wait_idle()
        time.sleep(args.settle)
        before = rss_mb(server)
        figures_before = server_figures(server)
        result = load.run_streams(server.url, args.streams, args.concurrency)
        server.wait_idle()
        after = rss_mb(server)
        samples = []
        started = time.monotonic()
        while (waited := time.monotonic() - started) < args.idle:
            time.sleep(min(5.0, args.idle - waited))
            samples.append((round(time.monotonic() - started, 1), round(rss_mb(server), 1)))
        idle = rss_mb(server)
        return {"streams": args.streams, "concurrency": args.concurrency,
                "completed": result.count, "errors": result.errors,
                "rss_mb": {"before": round(before, 1), "after": round(after, 1),
                           "idle": round(idle, 1)},
                "idle_samples": samples, "idle_over_before": round(idle / before, 3),
                "met": idle <= before * (1 + TOLERANCE), "env": args.env,
                "server_before": figures_before, "server_idle": server_figures(server)}
    finally:
        server.stop()
        redis.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The run's options (``--quick`` applied); ``bench.run`` calls it too."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a reduced run (1,000 streams, 45 s idle) to check the script")
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=500, help="streams before 'before'")
    parser.add_argument("--settle", type=float, default=35.0,
                        help="idle seconds before 'before' (one idle trim, as after the burst)")
    parser.add_argument("--idle", type=float, default=65.0, help="idle seconds after the burst")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for the server (repeatable)")
    args = parser.parse_args(argv)
    if args.quick:
        args.streams, args.warmup, args.idle = 1000, 200, 45.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="a2a-bench-memory-") as tmp:
        report = measure(args, Path(tmp))
    print(json.dumps(report, indent=2))
    rss = report["rss_mb"]
    print(f"RSS before {rss['before']} MiB, after {report['streams']} streams {rss['after']} MiB, "
          f"after {args.idle:g} s idle {rss['idle']} MiB ({report['idle_over_before']:.2f}x): "
          f"{'met' if report['met'] else 'MISSED'} (target: within {TOLERANCE:.0%})",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
