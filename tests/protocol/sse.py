"""A small SSE reader for tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class SseEvent:
    data: Any
    event: str | None = None
    id: str | None = None


class _Frames:
    """``text/event-stream`` lines in, complete events out (one parser for both readers)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        if line == "":
            event = (SseEvent(json.loads("\n".join(self.data)), self.fields.get("event"),
                              self.fields.get("id")) if self.data else None)
            self.fields, self.data = {}, []
            return event
        if not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                self.data.append(value)
            else:
                self.fields[name] = value
        return None


async def read_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """Parse ``text/event-stream`` frames as they arrive."""
    frames = _Frames()
    async for line in response.aiter_lines():
        if (event := frames.feed(line)) is not None:
            yield event


def read_events_sync(response: httpx.Response) -> Iterator[SseEvent]:
    """``read_events`` for a synchronous response."""
    frames = _Frames()
    for line in response.iter_lines():
        if (event := frames.feed(line)) is not None:
            yield event
