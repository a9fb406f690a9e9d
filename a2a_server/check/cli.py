"""``a2a-server check URL [--header K:V ...] [--token-url URL] [--client-id ID]
[--client-secret S] [--junit FILE]``."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from a2a_server.check.runner import CheckOptions, run_check

DEFAULT_JUNIT = Path(tempfile.gettempdir()) / "a2a-server-check.xml"


def _header(value: str) -> tuple[str, str]:
    name, sep, content = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got '{value}'")
    return name.strip(), content.strip()


def register(commands: Any) -> None:
    """Add the ``check`` sub-command to the CLI's sub-parsers."""
    check = commands.add_parser(
        "check", help="contract-test an A2A server from its agent card",
        description="Fetch an agent card, validate it against A2A 1.0, then probe what it "
                    "declares. Exit status: 0 all checks passed, 1 a check failed.")
    check.add_argument("url", help="the agent card URL, or a base URL (then "
                                   "/.well-known/agent-card.json is fetched)")
    check.add_argument("--header", "-H", action="append", type=_header, default=[],
                       metavar="K:V", help="a header for every request (credentials, "
                                           "Tenant-Name...); repeatable")
    check.add_argument("--token-url", help="OAuth2 token endpoint (default: the card's "
                                           "client-credentials flow)")
    check.add_argument("--client-id", help="OAuth2 client id (client credentials grant)")
    check.add_argument("--client-secret", help="OAuth2 client secret")
    check.add_argument("--junit", type=Path, metavar="FILE", nargs="?", const=DEFAULT_JUNIT,
                       help=f"also write JUnit XML to FILE (without FILE: {DEFAULT_JUNIT}, "
                            "outside the working tree)")
    check.add_argument("--timeout", type=float, default=30.0,
                       help="seconds per request (default: %(default)s)")
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the checks, print the report, write JUnit XML if asked; 1 if anything failed."""
    if args.token_url and not args.client_id:
        print("a2a-server check: --token-url needs --client-id and --client-secret",
              file=sys.stderr)
        return 2
    report = run_check(CheckOptions(
        url=args.url, headers=dict(args.header), token_url=args.token_url,
        client_id=args.client_id, client_secret=args.client_secret, timeout=args.timeout))
    print(report.render(), flush=True)
    if args.junit:
        report.write_junit(args.junit)
        print(f"JUnit XML written to {args.junit}", file=sys.stderr)
    return 0 if report.ok else 1
