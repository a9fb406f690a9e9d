"""Server-side tools of an LLM agent: Python functions named ``package.module:function``.

The function is called with the model's arguments as keyword arguments; it may be
async. Its return value is fed to the model (a string as is, anything else as
JSON). An exception is fed back as an error result (the model may recover); it
never fails the task. Without ``parameters`` in the binding, the JSON Schema of
the arguments is built from the function's signature (pydantic).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ConfigDict, create_model

from a2a_server.agents.llm_options import ServerTool
from a2a_server.agents.tools import ToolContext, ToolResult, ToolSpec

logger = logging.getLogger(__name__)


def _schema(function: Callable[..., Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(function).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (annotation, default)
    model = create_model(f"{function.__name__}_args", __config__=ConfigDict(), **fields)
    schema = model.model_json_schema()
    schema.pop("title", None)
    return schema


class FunctionTool:
    """A Python function offered to the model."""

    def __init__(self, config: ServerTool) -> None:
        module, _, name = config.function.partition(":")
        try:
            function = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"server tool '{config.function}': cannot import it: {exc}") from exc
        if not callable(function):
            raise ValueError(f"server tool '{config.function}' is not a function")
        self._function = function
        description = config.description or inspect.getdoc(function) or ""
        self._spec = ToolSpec(config.name or name, description.strip(),
                              config.parameters or _schema(function))

    @property
    def spec(self) -> ToolSpec:
        """Name, description and JSON Schema of the arguments."""
        return self._spec

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        """Run the function (a sync one in a thread); errors become error results."""
        del context
        try:
            if inspect.iscoroutinefunction(self._function):
                value = await self._function(**arguments)
            else:
                value = await asyncio.to_thread(self._function, **arguments)
        except Exception as exc:  # noqa: BLE001 - the model is told, the task goes on
            logger.info("server tool %s failed: %s", self._spec.name, exc)
            return ToolResult(f"error: {type(exc).__name__}: {exc}", is_error=True)
        output = value if isinstance(value, str) else json.dumps(value, default=str)
        return ToolResult(output)


def server_tool(item: str | ServerTool) -> FunctionTool:
    """The tool for one ``server_tools`` entry."""
    return FunctionTool(ServerTool(function=item) if isinstance(item, str) else item)
