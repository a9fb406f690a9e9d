"""Command line: ``a2a-server serve | hash-secret | check`` (also ``python -m a2a_server``)."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from a2a_server.tenancy.config import ConfigError, sha256_hex


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from a2a_server.app import create_app
    from a2a_server.settings import Settings

    overrides = {k: v for k, v in {
        "host": args.host, "port": args.port, "tenants_dir": args.tenants_dir,
        "agents_dir": args.agents_dir, "redis_url": args.redis_url, "public_url": args.public_url,
        "grpc_port": args.grpc_port,
    }.items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        print(f"a2a-server: invalid settings: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(settings)
    except ConfigError as exc:
        print(f"a2a-server: configuration error: {exc}", file=sys.stderr)
        return 2
    base = settings.base_url
    store = f"Redis at {settings.redis_url}" if settings.redis_url else "the in-memory store"
    print(f"a2a-server listening on http://{settings.host}:{settings.port} "
          f"(public URL {base}), using {store}"
          + (f"; gRPC on {settings.grpc_host or settings.host}:{settings.grpc_port}"
             if settings.grpc_port is not None else ""))
    print("Try it:\n"
          f"  curl -s -X POST {base}/agents/echo/v1/message:send \\\n"
          "    -H 'Tenant-Name: demo' -H 'X-API-Key: demo-key' "
          "-H 'Content-Type: application/json' \\\n"
          "    -d '{\"message\":{\"role\":\"user\",\"kind\":\"message\",\"messageId\":\"m1\","
          "\"parts\":[{\"kind\":\"text\",\"text\":\"hello\"}]}}'", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=settings.access_log,
                timeout_graceful_shutdown=5)
    return 0


def _hash_secret(args: argparse.Namespace) -> int:
    secret = args.secret if args.secret is not None else getpass.getpass("secret: ")
    print(sha256_hex(secret))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="a2a-server", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--tenants-dir", type=Path)
    serve.add_argument("--agents-dir", type=Path)
    serve.add_argument("--redis-url")
    serve.add_argument("--public-url")
    serve.add_argument("--grpc-port", type=int,
                       help="also serve A2A over gRPC for every agent on this port")
    serve.set_defaults(func=_serve)
    hasher = commands.add_parser("hash-secret", help="print the sha256 digest to put in a tenant file")
    hasher.add_argument("secret", nargs="?")
    hasher.set_defaults(func=_hash_secret)
    from a2a_server.check.cli import register as register_check

    register_check(commands)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
