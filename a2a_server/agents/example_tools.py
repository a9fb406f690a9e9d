"""Server-side tools for the example LLM agent (``examples/agents/assistant.binding.yaml``)."""

from __future__ import annotations


def add(a: float, b: float) -> float:
    """Add two numbers exactly (models are bad at arithmetic)."""
    return a + b
