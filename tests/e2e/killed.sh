#!/usr/bin/env bash
# tests/e2e/killed.sh BUILD_DIR (netns | stack)
#
# A stack driver killed the way meson ends a test that overruns its timeout or that Ctrl-C
# interrupts: SIGTERM to the test's process group, SIGKILL half a second later. Once what it
# runs is up, it is killed so; within 30 s nothing of that run may be left.
#
#   netns  run-netns.sh, once its namespaces, PostgreSQL, control, the origin and the edges are
#          up: no namespace of the run, no process naming its state directory, no PostgreSQL
#   stack  run-stack.sh play, once tools/demo --detach is up: no process naming the demo's
#          state directory or in a session of one of its daemons, no PostgreSQL
#
# Exit 0 pass, 1 fail, 77 skip (whatever the driver skips for, with its reason).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
[ $# -eq 2 ] && { [ "$2" = netns ] || [ "$2" = stack ]; } ||
  { echo "usage: $0 BUILD_DIR (netns|stack)" >&2; exit 2; }
build=$(cd "$1" && pwd)
what=$2

. "$here/lib.sh"
if [ "$what" = netns ]; then
  [ "$(id -u)" = 0 ] || e2e_skip "network namespaces need root (run as root)"
  command -v ip >/dev/null || e2e_skip "no ip command (apt-get install iproute2)"
  NETNS_PREFIX=sluice-e2e-killed-$$
  . "$here/netns-net.sh"
  var=$build/tests/e2e/netns
  driver=("$here/run-netns.sh" "$build")
  up='^pushed '
else
  var="$build/tests/e2e/stack dir"
  driver=("$here/run-stack.sh" "$build" play)
  up='^demo: '
fi
out=$(mktemp "${TMPDIR:-/tmp}/sluice-killed.XXXXXX")
pid=
sids=

left() { # what the killed run left
  if [ "$what" = netns ]; then ip netns list | grep -F "$NETNS_PREFIX-" || true; fi
  e2e_leftovers "$var"
  [ -z "$sids" ] || e2e_session_leftovers $sids
  if [ -f "$var/pg/data/PG_VERSION" ] && "$top/tools/pg-temp" status "$var/pg" >/dev/null 2>&1; then
    echo "PostgreSQL in $var/pg"
  fi
}

# Whatever the run left (on a failure), this test removes.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -z "$pid" ] || kill -KILL -- "-$pid" 2>/dev/null || true
  if [ "$what" = netns ]; then
    "$top/tools/pg-temp" stop "$var/pg" >/dev/null 2>&1 || true
    netns_teardown
  else
    SLUICE_DEMO_VAR=$var "$top/tools/demo" --stop >/dev/null 2>&1 || true
  fi
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    echo "--- ${driver[0]##*/} (last 20 lines)"
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
if [ "$what" = netns ]; then
  NETNS_PREFIX=$NETNS_PREFIX setsid "${driver[@]}" >"$out" 2>&1 &
else
  setsid "${driver[@]}" >"$out" 2>&1 &
fi
pid=$!
# tail stops following when the run exits.
timeout 300 tail -n +1 --pid="$pid" -f "$out" | grep -q -m1 "$up" || true
if ! kill -0 "$pid" 2>/dev/null; then
  set +e
  wait "$pid"
  rc=$?
  set -e
  pid=
  [ "$rc" -ne 77 ] || e2e_skip "${driver[0]##*/} skipped: $(grep '^SKIP:' "$out" | head -n 1)"
  e2e_fail "${driver[0]##*/} exited $rc before it was up"
fi
grep -q "$up" "$out" || e2e_fail "${driver[0]##*/} was not up within 300 s"
# The demo's daemons each run in a session of their own (tools/demo, var/demo/pids).
[ "$what" = netns ] || sids=$(awk '{ print $1 }' "$var/pids" 2>/dev/null || true)
[ -n "$(left)" ] || e2e_fail "${driver[0]##*/} is up but shows nothing to leave behind (is the check blind?)"

kill -TERM -- "-$pid"
timeout 0.5 tail --pid="$pid" -f /dev/null || kill -KILL -- "-$pid" 2>/dev/null || true
set +e
wait "$pid"
set -e
pid=
echo "killed ${driver[0]##*/} (SIGTERM, then SIGKILL to its process group after 0.5 s)"

deadline=$((SECONDS + 30))
while [ -n "$(left)" ]; do
  [ $SECONDS -lt $deadline ] || e2e_fail "left 30 s after ${driver[0]##*/} was killed: $(left | tr '\n' ' ')"
  # Paces the poll: what is left runs in other sessions (and namespaces), not as our children.
  timeout 1 tail -f /dev/null || true
done
echo "PASS: nothing of the killed ${driver[0]##*/} run is left"
