"""A2A 0.3 requests converted to 1.0 with the client's mistakes answered as InvalidParams.

The SDK's 0.3 -> 1.0 conversions (``a2a.compat.v0_3.conversions``) raise plain
``ValueError``s for input pydantic accepted but protobuf cannot hold: an
integer outside an ``int32`` field (``historyLength: 2147483648``), file bytes
that are not base64. Left alone those become InternalError / HTTP 500 with the
exception's text. ``to_core`` turns them into InvalidParams naming the problem,
on both bindings: the REST routes call it, and ``GuardedRequestHandler03``
replaces the SDK's 0.3 JSON-RPC handler for the methods that carry such input.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from typing import Any, TypeVar

from a2a.compat.v0_3 import conversions
from a2a.compat.v0_3 import types as types_v03
from a2a.compat.v0_3.request_handler import RequestHandler03
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import Task
from a2a.utils import proto_utils
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError
from google.protobuf.json_format import ParseError
from google.protobuf.message import DecodeError

_In = TypeVar("_In")
_Out = TypeVar("_Out")


def to_core(convert: Callable[[_In], _Out], request: _In) -> _Out:
    """``convert(request)``; a value protobuf cannot hold is the client's error.

    Raises:
        InvalidParamsError: the conversion refused a value (``binascii.Error`` is a
            ``ValueError``; ``TypeError``/``OverflowError`` for out-of-range numbers;
            protobuf's ``ParseError``/``DecodeError`` for JSON nested beyond its limit).
    """
    try:
        return convert(request)
    except (ValueError, TypeError, OverflowError, ParseError, DecodeError) as exc:
        raise InvalidParamsError(message=f"invalid params: {exc}") from exc


class GuardedRequestHandler03(RequestHandler03):
    """The SDK's 0.3 handler, converting client input through ``to_core``."""

    async def on_message_send(
        self, request: types_v03.SendMessageRequest, context: ServerCallContext
    ) -> types_v03.Task | types_v03.Message:
        """See ``RequestHandler03.on_message_send``."""
        core = to_core(conversions.to_core_send_message_request, request)
        result = await self.request_handler.on_message_send(core, context)
        if isinstance(result, Task):
            return conversions.to_compat_task(result)
        return conversions.to_compat_message(result)

    async def on_message_send_stream(
        self, request: types_v03.SendMessageRequest, context: ServerCallContext
    ) -> AsyncIterable[types_v03.SendStreamingMessageSuccessResponse]:
        """See ``RequestHandler03.on_message_send_stream``."""
        core = to_core(conversions.to_core_send_message_request, request)
        async for event in self.request_handler.on_message_send_stream(core, context):
            yield conversions.to_compat_stream_response(
                proto_utils.to_stream_response(event), request.id
            )

    async def on_get_task(
        self, request: types_v03.GetTaskRequest, context: ServerCallContext
    ) -> types_v03.Task:
        """See ``RequestHandler03.on_get_task``."""
        core = to_core(conversions.to_core_get_task_request, request)
        task = await self.request_handler.on_get_task(core, context)
        if task:
            return conversions.to_compat_task(task)
        raise TaskNotFoundError

    async def on_create_task_push_notification_config(
        self, request: types_v03.SetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> types_v03.TaskPushNotificationConfig:
        """See ``RequestHandler03.on_create_task_push_notification_config``."""
        core = to_core(conversions.to_core_create_task_push_notification_config_request, request)
        config: Any = await self.request_handler.on_create_task_push_notification_config(
            core, context
        )
        return conversions.to_compat_task_push_notification_config(config)
