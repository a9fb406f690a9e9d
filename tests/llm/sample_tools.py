"""Server-side tools the tests' LLM agents may call (``tests.llm.sample_tools:add``)."""

from __future__ import annotations


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def explode(reason: str) -> str:
    """Always fails (to show that a failing tool does not fail the task)."""
    raise RuntimeError(f"boom: {reason}")
