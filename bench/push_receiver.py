"""The push benchmark's receiver: ``python -m bench.push_receiver PORT`` (stdlib only).

HTTP/1.1 with keep-alive; 200 with an empty body to every POST; ``GET /count`` answers how
many POSTs arrived.
"""

from __future__ import annotations

import asyncio
import sys


async def _serve_receiver(port: int) -> None:
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"GET /count"):
                    body = str(count).encode()
                else:
                    count += 1
                    body = b""
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body),
                                                                                   body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve_receiver(int(sys.argv[1])))
