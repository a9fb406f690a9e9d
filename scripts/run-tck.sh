#!/usr/bin/env bash
# Run the A2A TCK (a2aproject/a2a-tck, branch 1.0-dev) against this server's `conformance`
# agent, on every binding its card declares (JSON-RPC, HTTP+JSON and, served on a second free
# port, gRPC), through the demo tenant's credentials. The suite is cloned OUTSIDE this repository; nothing of it is vendored.
#
# Usage: scripts/run-tck.sh [TCK_SOURCE] [-- extra run_tck.py / pytest arguments]
#
#   TCK_SOURCE   git URL or local path (a mirror or bare repository) of the TCK;
#                default https://github.com/a2aproject/a2a-tck.git
#
# Environment (all optional):
#   TCK_REF      branch or tag to check out (default 1.0-dev)
#   TCK_COMMIT   exact commit to check out instead (docs/conformance.md names the one we used)
#   TCK_DIR      work tree of the TCK (default /tmp/a2a-tck; must be outside this repository)
#   TCK_VENV     the TCK's own virtualenv (default /tmp/tck-venv)
#   PYTHON       interpreter for that venv (default python3; the TCK needs >= 3.11)
#   PORT         port for the server started here (default: a free one)
#   GRPC_PORT    its gRPC port (default: a free one; "off" serves no gRPC)
#   SUT_BASE     test an already running server at this base URL instead of starting one
#                (e.g. http://127.0.0.1:8080); the SUT is $SUT_BASE/agents/conformance/v1
#   A2A_TCK_TENANT, A2A_TCK_CLIENT_ID, A2A_TCK_CLIENT_SECRET, A2A_TCK_API_KEY
#                credentials the TCK's requests carry (see scripts/tck_credentials.py);
#                default: tenant demo via OAuth2 client demo-client / demo-secret
#   SERVER_CMD   command that starts the server (default: .venv/bin/a2a-server of this
#                repository); "serve --port N --grpc-port M" is appended
#   A2A_SERVER_* settings of the server started here; A2A_SERVER_PUSH_URL_ALLOWLIST defaults
#                to "localhost" (the TCK's webhook receiver listens on localhost)
#
# Exit status: run_tck.py's (0 = no failure). Reports: $TCK_DIR/reports/.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOURCE="https://github.com/a2aproject/a2a-tck.git"
if [[ $# -gt 0 && "$1" != "--" ]]; then SOURCE="$1"; shift; fi
if [[ $# -gt 0 && "$1" == "--" ]]; then shift; fi
TCK_REF="${TCK_REF:-1.0-dev}"
TCK_DIR="${TCK_DIR:-/tmp/a2a-tck}"
TCK_VENV="${TCK_VENV:-/tmp/tck-venv}"
PYTHON="${PYTHON:-python3}"

case "$(realpath -m "$TCK_DIR")/" in
  "$REPO"/*) echo "run-tck: TCK_DIR ($TCK_DIR) must be outside the repository" >&2; exit 2 ;;
esac

# 1. The suite, at the requested branch or commit.
if [[ -d "$TCK_DIR/.git" ]]; then
  git -C "$TCK_DIR" fetch --quiet "$SOURCE" "+refs/heads/*:refs/remotes/origin/*"
else
  git clone --quiet "$SOURCE" "$TCK_DIR"
fi
if [[ -n "${TCK_COMMIT:-}" ]]; then
  git -C "$TCK_DIR" checkout --quiet --detach "$TCK_COMMIT"
else
  git -C "$TCK_DIR" checkout --quiet --detach "origin/$TCK_REF"
fi
echo "run-tck: TCK $(git -C "$TCK_DIR" log -1 --format='%H (%cs) %s')"

# 2. Its own virtualenv, dependencies from PyPI.
if [[ ! -x "$TCK_VENV/bin/python" ]]; then "$PYTHON" -m venv "$TCK_VENV"; fi
"$TCK_VENV/bin/python" -m pip install --quiet --upgrade pip
"$TCK_VENV/bin/python" -m pip install --quiet -e "$TCK_DIR"

# 3. The server (unless one is given), stopped on exit.
SERVER_PID=""
cleanup() { if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT
if [[ -z "${SUT_BASE:-}" ]]; then
  PORT="${PORT:-$("$TCK_VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
  SUT_BASE="http://127.0.0.1:$PORT"
  FREE_PORT='import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
  GRPC_PORT="${GRPC_PORT:-$("$TCK_VENV/bin/python" -c "$FREE_PORT")}"
  GRPC_ARGS=()
  if [[ "$GRPC_PORT" != "off" ]]; then GRPC_ARGS=(--grpc-port "$GRPC_PORT"); fi
  export A2A_SERVER_PUSH_URL_ALLOWLIST="${A2A_SERVER_PUSH_URL_ALLOWLIST:-localhost}"
  LOG="${TMPDIR:-/tmp}/a2a-server-tck.log"
  # shellcheck disable=SC2086  # SERVER_CMD may be a command with arguments
  ${SERVER_CMD:-"$REPO/.venv/bin/a2a-server"} serve --port "$PORT" "${GRPC_ARGS[@]}" >"$LOG" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -fsS "$SUT_BASE/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "run-tck: the server died, see $LOG" >&2; exit 2; }
    sleep 0.2
  done
  echo "run-tck: server pid $SERVER_PID on $SUT_BASE, gRPC ${GRPC_PORT} (log $LOG)"
fi
SUT="$SUT_BASE/agents/conformance/v1"

# 4. The run: credentials are added by the pytest plugin scripts/tck_credentials.py.
cd "$TCK_DIR"
rm -rf reports
status=0
PYTHONPATH="$REPO/scripts${PYTHONPATH:+:$PYTHONPATH}" \
  "$TCK_VENV/bin/python" run_tck.py --sut-host "$SUT" -- -p tck_credentials -rs "$@" || status=$?

# 5. The numbers that count: the exit status and reports/compatibility.json.
"$TCK_VENV/bin/python" - <<'EOF' || true
import json
report = json.load(open("reports/compatibility.json"))
print("\nper binding (records in reports/compatibility.json):")
for binding, row in report["per_transport"].items():
    print(f"  {binding:11s} passed {row['passed']:3d}  failed {row['failed']:3d}  "
          f"skipped {row['skipped']:3d}  total {row['total']:3d}")
print("requirements not passed (NOT TESTED = no test exists in this TCK):")
for rid, row in report["per_requirement"].items():
    if row["status"] not in ("PASS", "NOT TESTED"):
        where = ",".join(t for t, s in row["transports"].items() if s != "SKIPPED" or
                         row["status"] == "SKIPPED") or "-"
        error = (row["errors"] or [""])[0].replace("\n", " ")[:100]
        print(f"  {row['status']:8s} {row['level']:6s} {rid:18s} {where:18s} {error}")
EOF
echo "run-tck: run_tck.py exit status $status"
exit "$status"
