#!/usr/bin/env bash
# API fuzzing with schemathesis (PyPI) against cloudnet's /openapi.json:
# starts `cloudnet serve` on loopback with a temporary data dir and token,
# runs schemathesis with the checks below, and stops the server.
#
#   not_a_server_error           no 5xx for any generated request
#   response_schema_conformance  bodies match the documented schemas
#   neutron_error                every error body is a NeutronError
#                                (scripts/schemathesis_hooks.py)
#
# Environment:
#   SCHEMATHESIS_VENV      venv (default /var/cache/cloudnet/schemathesis-venv),
#                          created with the pinned schemathesis when missing
#   CLOUDNET_BIN           cloudnet binary (default: cargo build -p cli)
#   ST_MAX_EXAMPLES        cases per operation (default 50)
#   ST_SEED                generation seed (default 1; fixed so runs repeat)
#   ST_REPORT_DIR          where the JUnit report goes (default: temp dir)
# Extra arguments go to `st run` (e.g. --include-path-regex networks).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
venv="${SCHEMATHESIS_VENV:-/var/cache/cloudnet/schemathesis-venv}"
version="4.32.5"
# hypothesis-jsonschema (pulled in by schemathesis) calls `many.more()`,
# which newer hypothesis releases removed: pin one that still has it.
hypothesis="6.140.0"

# (Captured, not piped into `grep -q`: under pipefail an early grep exit
# fails the pipeline.)
have_st="$("$venv/bin/st" --version 2>/dev/null || true)"
have_hyp="$("$venv/bin/pip" show hypothesis 2>/dev/null || true)"
if [[ "$have_st" != *"version $version" || "$have_hyp" != *"Version: $hypothesis"* ]]; then
  bash "$here/python-venv.sh" "$venv" "schemathesis==$version" "hypothesis==$hypothesis"
fi
[ "${1:-}" = "--install-only" ] && exit 0

bin="${CLOUDNET_BIN:-}"
if [ -z "$bin" ]; then
  (cd "$repo" && cargo build -q -p cli)
  bin="$(cd "$repo" && cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/cloudnet"
fi

work="$(mktemp -d /tmp/cloudnet-schemathesis.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

token="st-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
printf '{"tokens": {"%s": {"project_id": "schemathesis", "roles": ["admin"]}}}\n' "$token" >"$work/tokens.json"
"$bin" serve --api-only --bind 127.0.0.1:0 --data-dir "$work/data" --token-file "$work/tokens.json" 2>"$work/serve.log" &
pid=$!
addr=""
for _ in $(seq 1 100); do
  addr="$(sed -n 's|.*listening on http://\([0-9.:]*\).*|\1|p' "$work/serve.log" | head -n1)"
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "schemathesis: server did not start"; cat "$work/serve.log"; exit 1; }
echo "schemathesis: cloudnet serve on $addr (pid $pid)"

status=0
# schemathesis writes state (.schemathesis/) into its working directory.
cd "$work"
SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$here" "$venv/bin/st" run \
  "http://$addr/openapi.json" \
  --header "X-Auth-Token: $token" \
  --checks not_a_server_error,response_schema_conformance,neutron_error \
  --max-examples "${ST_MAX_EXAMPLES:-50}" \
  --seed "${ST_SEED:-1}" \
  --generation-database none \
  --report junit --report-dir "${ST_REPORT_DIR:-$work/report}" \
  --no-color \
  "$@" || status=$?

if ! kill -0 "$pid" 2>/dev/null; then
  echo "schemathesis: the server died during the run"
  cat "$work/serve.log"
  status=1
fi
exit "$status"
