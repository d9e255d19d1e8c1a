#!/usr/bin/env bash
# tests/e2e/demo-stop-test.sh
#
# tools/demo --stop and --status when what a detached demo left names nothing alive (it died,
# or the machine rebooted): --status says no demo runs (exit 3), --stop says so too (exit 0)
# and removes the stale pid file and settings (var/demo/env), so no one loads a dead demo's
# addresses. A pid file line whose pid is alive but runs something else is not taken for the
# demo's, and that process is left alone.
# Exit 0 pass, 1 fail.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
var=$(mktemp -d /tmp/sluice-demo-stop.XXXXXX)
sleeper=
trap 'rm -rf "$var"; [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

sleep 300 &
sleeper=$!
# A dead pid, and a live one whose command line is not what the demo started there.
printf '%s %s\n' 999999999 "sluice-edge --config $var/edge-a.yaml" "$sleeper" \
  "sluice-control --config $var/control.yaml" >"$var/pids"
printf 'export SLUICE_EDGE_A=http://127.0.0.1:1/\n' >"$var/env"

rc=0
out=$(SLUICE_DEMO_VAR=$var "$top/tools/demo" --status 2>&1) || rc=$?
[ "$rc" = 3 ] || fail "--status exit $rc, not 3: $out"
grep -q "no demo running" <<<"$out" || fail "--status said: $out"

out=$(SLUICE_DEMO_VAR=$var "$top/tools/demo" --stop 2>&1) || fail "--stop failed: $out"
grep -q "no demo running" <<<"$out" || fail "--stop said: $out"
[ ! -e "$var/env" ] || fail "--stop left the stale $var/env"
[ ! -e "$var/pids" ] || fail "--stop left the stale $var/pids"
kill -0 "$sleeper" 2>/dev/null || fail "--stop killed a process that was not the demo's"
echo "ok: a dead demo's --status and --stop"
