#!/usr/bin/env bash
# tests/e2e/netns-killed.sh BUILD_DIR
#
# run-netns.sh killed the way meson ends a test that overruns its timeout or that Ctrl-C
# interrupts: SIGTERM to the test's process group, SIGKILL half a second later. Once its
# namespaces, PostgreSQL, control, the origin and the edges are up, it is killed so; within
# 30 s no namespace of that run, no process naming its state directory and no PostgreSQL of it
# may be left.
#
# Exit 0 pass, 1 fail, 77 skip (whatever run-netns.sh skips for, with its reason).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)

. "$here/lib.sh"
[ "$(id -u)" = 0 ] || e2e_skip "network namespaces need root (run as root)"
command -v ip >/dev/null || e2e_skip "no ip command (apt-get install iproute2)"

NETNS_PREFIX=sluice-e2e-killed-$$
. "$here/netns-net.sh"
var=$build/tests/e2e/netns
out=$(mktemp "${TMPDIR:-/tmp}/sluice-netns-killed.XXXXXX")
pid=

left() { # what the killed run left: its namespaces, its processes, its PostgreSQL
  ip netns list | grep -F "$NETNS_PREFIX-" || true
  e2e_leftovers "$var"
  if [ -f "$var/pg/data/PG_VERSION" ] && "$top/tools/pg-temp" status "$var/pg" >/dev/null 2>&1; then
    echo "PostgreSQL in $var/pg"
  fi
}

# Whatever the run left (on a failure), this test removes.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -z "$pid" ] || kill -KILL -- "-$pid" 2>/dev/null || true
  "$top/tools/pg-temp" stop "$var/pg" >/dev/null 2>&1 || true
  netns_teardown
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    echo "--- run-netns.sh (last 20 lines)"
    tail -n 20 "$out"
  fi
  rm -f "$out"
  if [ "${SLUICE_E2E_KEEP:-0}" != 1 ]; then rm -rf "$var"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A session of its own, as meson starts each test: its pid is its process group.
NETNS_PREFIX=$NETNS_PREFIX setsid "$here/run-netns.sh" "$build" >"$out" 2>&1 &
pid=$!
# Up once the first title is pushed into an edge (every server then runs); tail stops
# following when the run exits.
timeout 300 tail -n +1 --pid="$pid" -f "$out" | grep -q -m1 '^pushed ' || true
if ! kill -0 "$pid" 2>/dev/null; then
  set +e
  wait "$pid"
  rc=$?
  set -e
  pid=
  [ "$rc" -ne 77 ] || e2e_skip "run-netns.sh skipped: $(grep '^SKIP:' "$out" | head -n 1)"
  e2e_fail "run-netns.sh exited $rc before its stack was up"
fi
grep -q '^pushed ' "$out" || e2e_fail "run-netns.sh did not bring its stack up within 300 s"
[ -n "$(left)" ] || e2e_fail "run-netns.sh is up but shows nothing to leave behind (is the check blind?)"

kill -TERM -- "-$pid"
timeout 0.5 tail --pid="$pid" -f /dev/null || kill -KILL -- "-$pid" 2>/dev/null || true
set +e
wait "$pid"
set -e
pid=
echo "killed run-netns.sh (SIGTERM, then SIGKILL to its process group after 0.5 s)"

deadline=$((SECONDS + 30))
while [ -n "$(left)" ]; do
  [ $SECONDS -lt $deadline ] || e2e_fail "left 30 s after run-netns.sh was killed: $(left | tr '\n' ' ')"
  # Paces the poll: what is left runs in other sessions and namespaces, not as our children.
  timeout 1 tail -f /dev/null || true
done
echo "PASS: nothing of the killed run is left (namespaces, processes, PostgreSQL)"
