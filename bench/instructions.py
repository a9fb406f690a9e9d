"""Instructions per request of the observability layer, under callgrind (load-independent).

    PYTHONHASHSEED=0 setarch -R valgrind --tool=callgrind --dump-before=getppid \\
        --callgrind-out-file=/tmp/cg .venv/bin/python -m bench.instructions on get 2000
    callgrind_annotate /tmp/cg.2 | grep 'PROGRAM TOTALS'     # divide by the count

Builds one app of ``bench.instrumentation`` (metrics ``off`` or ``on``), warms it up, then
serves ``count`` task GETs (or echo sends) between two ``os.getppid()`` calls, so that
callgrind's second dump (``.2``) holds the loop alone. Compare ``off`` with ``on``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from bench.instrumentation import SEND_BODY, _app, _call


async def main(variant: str, kind: str, count: int) -> None:
    """Warm up, then serve ``count`` requests between two dump markers."""
    logging.getLogger("a2a_server.access").disabled = True
    app, lifespan, task_id = await _app({"metrics": False} if variant == "off" else {}, None)
    path = f"/agents/echo/v1/tasks/{task_id}"
    for _ in range(300):
        await _call(app, "GET", path)
    for _ in range(5):
        await _call(app, "POST", "/agents/echo/v1/message:send", SEND_BODY)
    os.getppid()  # callgrind --dump-before=getppid: the loop starts
    for _ in range(count):
        if kind == "send":
            await _call(app, "POST", "/agents/echo/v1/message:send", SEND_BODY)
        else:
            await _call(app, "GET", path)
    os.getppid()  # the loop ends
    await lifespan.__aexit__(None, None, None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", choices=("off", "on"))
    parser.add_argument("kind", choices=("get", "send"))
    parser.add_argument("count", type=int)
    args = parser.parse_args()
    asyncio.run(main(args.variant, args.kind, args.count))
