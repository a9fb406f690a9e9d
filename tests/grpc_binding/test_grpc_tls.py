"""gRPC served over TLS directly (certificate and key settings), and the settings' rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import grpc.aio
import pydantic
import pytest
import trustme
from a2a.types import a2a_pb2_grpc
from a2a.types.a2a_pb2 import GetTaskRequest

from a2a_server.settings import Settings
from tests.conftest import make_settings
from tests.grpc_binding.conftest import grpc_app, grpc_settings, user_message


async def test_grpc_over_tls(settings_for: Callable[..., Settings], tmp_path: Path) -> None:
    authority = trustme.CA()
    cert = authority.issue_cert("localhost", "127.0.0.1")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    settings = grpc_settings(settings_for, "memory", grpc_tls_cert_file=cert_file,
                             grpc_tls_key_file=key_file)
    address = settings.grpc_public_address or ""
    trusted = grpc.ssl_channel_credentials(authority.cert_pem.bytes())
    metadata = (("x-api-key", "demo-key"), ("x-agent-id", "echo"))
    async with grpc_app(settings):
        async with grpc.aio.secure_channel(address, trusted) as channel:
            stub = a2a_pb2_grpc.A2AServiceStub(channel)
            sent = await stub.SendMessage(user_message("over tls"), metadata=metadata)
            got = await stub.GetTask(GetTaskRequest(id=sent.task.id, tenant="demo/echo"),
                                     metadata=metadata)
            assert got.artifacts[0].parts[0].text == "echo: over tls"
        async with grpc.aio.insecure_channel(address) as plain:  # plaintext is refused
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await a2a_pb2_grpc.A2AServiceStub(plain).SendMessage(
                    user_message("plain"), metadata=metadata, timeout=5)
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE


def test_cert_and_key_go_together(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="go together"):
        make_settings(grpc_port=50051, grpc_tls_cert_file=tmp_path / "tls.crt")


def test_the_grpc_interface_url() -> None:
    assert make_settings().grpc_url is None
    assert make_settings(grpc_port=50051).grpc_url == "testserver:50051"
    assert make_settings(grpc_port=50051,
                         grpc_public_address="a2a.example.com:443").grpc_url == (
        "a2a.example.com:443")
