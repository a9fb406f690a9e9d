"""Command line: ``a2a-server serve | hash-secret | check | tenants`` (also ``python -m a2a_server``)."""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from a2a_server.tenancy.config import ConfigError, sha256_hex

DESCRIPTION = "Multi-tenant A2A agent server (A2A 1.0 and 0.3, Corti-style routing)."
ENV_PREFIX = "A2A_SERVER_"
# serve's flags: (flag, settings field, argparse type)
SERVE_FLAGS: tuple[tuple[str, str, Any], ...] = (
    ("--host", "host", str),
    ("--port", "port", int),
    ("--tenants-dir", "tenants_dir", Path),
    ("--agents-dir", "agents_dir", Path),
    ("--redis-url", "redis_url", str),
    ("--public-url", "public_url", str),
    ("--grpc-port", "grpc_port", int),
    ("--workers", "workers", int),
)
_FLAG_OF = {field: flag for flag, field, _ in SERVE_FLAGS}


def settings_error(exc: ValidationError) -> str:
    """One line per problem, naming the flag and variable; never the value given."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        field = str(error["loc"][0]) if error["loc"] else ""
        if not field:
            lines.append(message)
            continue
        names = [name for name in (_FLAG_OF.get(field), ENV_PREFIX + field.upper()) if name]
        lines.append(f"{' / '.join(names)}: {message}")
    return "; ".join(lines)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed (a taken port fails here)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from a2a_server.app import create_app
    from a2a_server.observability.logs import configure_logging
    from a2a_server.settings import Settings

    overrides = {field: getattr(args, field) for _, field, _ in SERVE_FLAGS
                 if getattr(args, field) is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        print(f"a2a-server: invalid settings: {settings_error(exc)}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        app = create_app(settings)
    except ConfigError as exc:
        print(f"a2a-server: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        print(f"a2a-server: cannot listen on {settings.host}:{settings.port}: {exc.strerror} "
              "(--port / A2A_SERVER_PORT)", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    base = settings.base_url
    store = "Redis" if settings.redis_url else "the in-memory store"
    print(f"a2a-server listening on http://{settings.host}:{port} "
          f"(public URL {base}), using {store}"
          + (f", {settings.workers} worker processes" if settings.workers > 1 else "")
          + (f"; gRPC on {settings.grpc_host or settings.host}:{settings.grpc_port}"
             if settings.grpc_port is not None else ""))
    print("Try it:\n"
          f"  curl -s -X POST {base}/agents/echo/v1/message:send \\\n"
          "    -H 'Tenant-Name: demo' -H 'X-API-Key: demo-key' "
          "-H 'Content-Type: application/json' \\\n"
          "    -d '{\"message\":{\"role\":\"user\",\"kind\":\"message\",\"messageId\":\"m1\","
          "\"parts\":[{\"kind\":\"text\",\"text\":\"hello\"}]}}'", flush=True)
    json_logs = settings.log_format == "json"
    options: dict[str, Any] = {
        "log_level": settings.log_level,
        "access_log": settings.access_log and not json_logs,  # JSON: our access line instead
        "log_config": None if json_logs else uvicorn.config.LOGGING_CONFIG,
        "timeout_graceful_shutdown": 5,
    }
    if settings.workers > 1:
        from a2a_server.workers import export_settings, metrics_directory, run_workers

        del app  # it proved the configuration; each worker builds its own
        export_settings(overrides)
        with metrics_directory(settings.metrics) as metrics_dir:
            run_workers(settings, sock, metrics_dir, **options)
        return 0
    uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
    return 0


def _read_secret(args: argparse.Namespace) -> str:
    if args.secret is not None:
        return str(args.secret)
    if sys.stdin.isatty():
        return getpass.getpass("secret: ")
    return sys.stdin.readline().rstrip("\r\n")  # piped: the first line, no prompt


def _hash_secret(args: argparse.Namespace) -> int:
    secret = _read_secret(args)
    if not secret:
        print("a2a-server hash-secret: the secret is empty", file=sys.stderr)
        return 2
    print(sha256_hex(secret))
    return 0


def _serve_help(field: str) -> str:
    from a2a_server.settings import Settings

    info = Settings.model_fields[field]
    default = info.get_default(call_default_factory=True)
    shown = "unset" if default is None else str(default)
    text = (info.description or "").rstrip(".")
    return f"{text} (env {ENV_PREFIX}{field.upper()}; default: {shown})".lstrip()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="a2a-server", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the server", description="Run the server. Every setting can also be "
        "given as an environment variable (see README: Configuration); a flag wins over it.")
    for flag, field, kind in SERVE_FLAGS:
        serve.add_argument(flag, dest=field, type=kind, help=_serve_help(field))
    serve.set_defaults(func=_serve)
    hasher = commands.add_parser(
        "hash-secret", help="print the sha256 digest to put in a tenant file",
        description="Print the sha256 digest of a secret (argument, prompt, or first line of "
                    "stdin when piped) for a tenant file's secret_sha256 / sha256.")
    hasher.add_argument("secret", nargs="?", help="the secret (default: prompt, or stdin)")
    hasher.set_defaults(func=_hash_secret)
    from a2a_server.check.cli import register as register_check

    register_check(commands)
    from a2a_server.tenancy.admin import register as register_tenants

    register_tenants(commands)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # the reader went away (`a2a-server tenants list | head`): stop quietly, as the
        # Python documentation's note on SIGPIPE recommends, rather than with a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
