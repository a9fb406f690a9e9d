"""Benchmark harness: this server (Redis, memory) against the a2a-sdk reference servers.

Run ``make bench`` (or ``python -m bench.run [--quick]``); see docs/performance.md.
"""
