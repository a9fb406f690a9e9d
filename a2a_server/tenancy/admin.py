"""``a2a-server tenants list | check | add-key | revoke-key``: the operator's tools on tenant files.

They work on the files only; running replicas pick a change up by themselves (within
``A2A_SERVER_TENANTS_RELOAD_SECONDS``, or at once on ``SIGHUP``). Edits keep the rest of
the file as it was (comments, order, quoting: ruamel.yaml's round trip), are checked as
start-up checks a file before anything is written, and replace the file atomically
(a temporary file beside it, then a rename), so a replica never reads half a file.
Secrets are never printed, except the one ``add-key`` generates, once.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RuamelYAMLError

from a2a_server.field_errors import first_problem
from a2a_server.tenancy.config import (
    ConfigError,
    TenantConfig,
    check_tenant_files,
    read_tenant_file,
    sha256_hex,
    tenant_files,
)

KEY_PREFIX = "a2a_"  # recognisable to secret scanners; the rest is 256 random bits
_KEY_NAME_MAX = 128


class AdminError(Exception):
    """A command could not be carried out; nothing was changed."""


def _default_dir(variable: str, field: str) -> Path:
    from a2a_server.settings import Settings

    given = os.environ.get(variable)
    if given:
        return Path(given)
    default = Settings.model_fields[field].default
    assert isinstance(default, Path)
    return default


def generate_key() -> str:
    """A new API key: ``a2a_`` and 43 URL-safe characters (256 bits from ``secrets``)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _round_trip() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)  # the style of the shipped tenant files
    rt.width = 4096  # never fold a long line the file had on one line
    return rt


def _tenant_path(directory: Path, tenant: str) -> Path:
    for path in tenant_files(directory):
        if path.stem == tenant:
            return path
    raise AdminError(f"no tenant file for '{tenant}' in {directory}")


def _load_for_edit(path: Path) -> tuple[YAML, CommentedMap]:
    """The file as an editable document; refused if it is not a valid tenant file now."""
    rt = _round_trip()
    try:
        text = path.read_text()
        yaml.safe_load(text)
        document = rt.load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RuamelYAMLError) as exc:
        raise AdminError(f"{path}: cannot be edited: {exc}") from exc
    if not isinstance(document, CommentedMap):
        raise AdminError(f"{path}: must be a mapping with at least 'name'")
    _validate(path, yaml.safe_load(text))
    return rt, document


def _validate(path: Path, raw: object) -> TenantConfig:
    try:
        tenant = TenantConfig.model_validate(raw)
    except ValidationError as exc:
        field, message = first_problem(exc, "(file)")
        raise AdminError(f"{path}: field '{field}': {message}") from exc
    return tenant


def _write_atomically(path: Path, rt: YAML, document: CommentedMap) -> None:
    """Check the edited document as a tenant file, then replace ``path`` with it."""
    buffer = io.StringIO()
    rt.dump(document, buffer)
    text = buffer.getvalue()
    _validate(path, yaml.safe_load(text))  # the result must load as start-up loads it
    target = path.resolve()  # a symlinked file: edit what it points to, keep the link
    mode = stat.S_IMODE(target.stat().st_mode)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def add_key(directory: Path, tenant: str, name: str) -> str:
    """Add a generated key called ``name`` to ``tenant``'s file; return the key (shown once)."""
    if not name or len(name) > _KEY_NAME_MAX or not name.isprintable():
        raise AdminError(f"the key name must be 1 to {_KEY_NAME_MAX} printable characters")
    path = _tenant_path(directory, tenant)
    rt, document = _load_for_edit(path)
    keys = document.get("api_keys")
    if keys is None:
        keys = document["api_keys"] = CommentedSeq()
    if not isinstance(keys, CommentedSeq):
        raise AdminError(f"{path}: field 'api_keys': must be a list")
    if any(isinstance(entry, dict) and entry.get("name") == name for entry in keys):
        raise AdminError(f"{path}: tenant '{tenant}' already has a key named '{name}' "
                         "(revoke it first, or choose another name)")
    key = generate_key()
    entry = CommentedMap()
    entry["name"] = name
    entry["sha256"] = sha256_hex(key)
    keys.fa.set_block_style()  # `api_keys: []` becomes a block list, like the rest
    keys.append(entry)
    _write_atomically(path, rt, document)
    return key


def revoke_key(directory: Path, tenant: str, name: str) -> int:
    """Remove every key called ``name`` from ``tenant``'s file; return how many."""
    path = _tenant_path(directory, tenant)
    rt, document = _load_for_edit(path)
    keys = document.get("api_keys")
    if not isinstance(keys, CommentedSeq):
        keys = CommentedSeq()
    doomed = [i for i, entry in enumerate(keys) if isinstance(entry, dict)
              and entry.get("name") == name]
    if not doomed:
        raise AdminError(f"{path}: tenant '{tenant}' has no key named '{name}'")
    for index in reversed(doomed):
        del keys[index]
    _write_atomically(path, rt, document)
    return len(doomed)


def describe(tenant: TenantConfig) -> dict[str, Any]:
    """What ``list`` shows of a tenant: names only, never a secret or a digest."""
    return {
        "name": tenant.name,
        "agents": tenant.agents if tenant.agents == "*" else list(tenant.agents),
        "clients": [client.client_id for client in tenant.clients],
        "api_keys": [key.name for key in tenant.api_keys],
        "default_agent": tenant.default_agent,
        "retention_seconds": tenant.retention_seconds,
        "limits": tenant.limits.model_dump(exclude_none=True) if tenant.limits else {},
    }


def _agent_ids(agents_dir: Path) -> list[str]:
    from a2a_server.agents.registry import load_agents

    return load_agents(agents_dir).ids()


def _list(args: argparse.Namespace) -> int:
    agents = set(_agent_ids(args.agents_dir))
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for path in tenant_files(args.tenants_dir):
        try:
            rows.append(describe(read_tenant_file(path, agents)[0]))
        except ConfigError as exc:
            problems.append(str(exc))
    if args.json:
        print(json.dumps({"tenants": rows, "problems": problems}, indent=2))
    else:
        for row in rows:
            agents_text = "*" if row["agents"] == "*" else ", ".join(row["agents"]) or "(none)"
            print(f"{row['name']}")
            print(f"  agents:   {agents_text}")
            print(f"  clients:  {', '.join(row['clients']) or '(none)'}")
            print(f"  api keys: {', '.join(row['api_keys']) or '(none)'}")
            if row["limits"]:
                limits = ", ".join(f"{k}={v}" for k, v in row["limits"].items())
                print(f"  limits:   {limits}")
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _check(args: argparse.Namespace) -> int:
    agents = _agent_ids(args.agents_dir)
    tenants, problems = check_tenant_files(args.tenants_dir, agents)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s); a server would refuse to start (or, running, keep "
              "its previous tenants)", file=sys.stderr)
        return 1
    print(f"ok: {len(tenants)} tenant(s) in {args.tenants_dir}")
    return 0


def _add_key(args: argparse.Namespace) -> int:
    key = add_key(args.tenants_dir, args.tenant, args.name)
    print(key, flush=True)
    print(f"added API key '{args.name}' to tenant '{args.tenant}'; the key above is shown only "
          "this once (the file keeps its sha256). Running servers accept it after their next "
          "reload (A2A_SERVER_TENANTS_RELOAD_SECONDS, or SIGHUP).", file=sys.stderr)
    return 0


def _revoke_key(args: argparse.Namespace) -> int:
    count = revoke_key(args.tenants_dir, args.tenant, args.name)
    print(f"revoked API key '{args.name}' of tenant '{args.tenant}'"
          + (f" ({count} entries)" if count > 1 else "")
          + "; running servers refuse it after their next reload "
          "(A2A_SERVER_TENANTS_RELOAD_SECONDS, or SIGHUP).")
    return 0


def _guarded(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except (AdminError, ConfigError) as exc:
            print(f"a2a-server tenants: {exc}", file=sys.stderr)
            return 1
    return run


def register(commands: Any) -> None:
    """Add the ``tenants`` sub-command (list, check, add-key, revoke-key) to the CLI."""
    tenants = commands.add_parser(
        "tenants", help="list, check and edit tenant files (API keys)",
        description="Work on the tenant files. Running servers reload them by themselves "
                    "(A2A_SERVER_TENANTS_RELOAD_SECONDS) or on SIGHUP. Exit status: 0 done, "
                    "1 a problem (nothing changed).")
    actions = tenants.add_subparsers(dest="action", required=True)

    def common(parser: argparse.ArgumentParser, agents: bool) -> None:
        parser.add_argument(
            "--tenants-dir", type=Path,
            default=_default_dir("A2A_SERVER_TENANTS_DIR", "tenants_dir"),
            help="the tenant files (env A2A_SERVER_TENANTS_DIR; default: %(default)s)")
        if agents:
            parser.add_argument(
                "--agents-dir", type=Path,
                default=_default_dir("A2A_SERVER_AGENTS_DIR", "agents_dir"),
                help="the agent files tenants may name (env A2A_SERVER_AGENTS_DIR; "
                     "default: %(default)s)")

    listing = actions.add_parser(
        "list", help="tenants, their agents and credential names (never secrets)",
        description="List every tenant file: the tenant, its agents, its OAuth client ids, "
                    "its API key names and its limits; never a secret or a digest. A file "
                    "that fails the start-up checks is reported on stderr (exit status 1).")
    common(listing, agents=True)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_guarded(_list))
    check = actions.add_parser(
        "check", help="validate every tenant file as start-up does",
        description="Check every tenant file as a server's start-up (or reload) does, against "
                    "the agents of --agents-dir; one line per problem naming the file and "
                    "the field. Exit status 1 if any.")
    common(check, agents=True)
    check.set_defaults(func=_guarded(_check))
    adding = actions.add_parser(
        "add-key", help="generate an API key, store its sha256, print the key once",
        description="Generate an API key for TENANT, store only its sha256 under api_keys "
                    "with name NAME, and print the key once on stdout (the rest goes to "
                    "stderr, so KEY=$(a2a-server tenants add-key TENANT NAME) works).")
    common(adding, agents=False)
    adding.add_argument("tenant", metavar="TENANT", help="the tenant (its file's name, without .yaml)")
    adding.add_argument("name", metavar="NAME",
                        help="the key's name (unique in the tenant; revoke-key uses it)")
    adding.set_defaults(func=_guarded(_add_key))
    revoking = actions.add_parser(
        "revoke-key", help="remove an API key by its name",
        description="Remove TENANT's API key(s) named NAME from its file; running servers "
                    "refuse the key after their next reload.")
    common(revoking, agents=False)
    revoking.add_argument("tenant", metavar="TENANT", help="the tenant (its file's name, without .yaml)")
    revoking.add_argument("name", metavar="NAME", help="the key's name, as add-key or list shows it")
    revoking.set_defaults(func=_guarded(_revoke_key))
