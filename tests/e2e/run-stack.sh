#!/usr/bin/env bash
# tests/e2e/run-stack.sh BUILD_DIR (SCENARIOS | NAME.mjs | ctrl-c) [--https]
#
# The whole stack as tools/demo starts it (PostgreSQL, control, nginx origin, two edges,
# player page; the edges heartbeat to control themselves), from BUILD_DIR's binaries, under
# "BUILD_DIR/tests/e2e/stack dir" (NAME-stack for NAME.mjs) on free ports. The demo titles
# are ingested once into BUILD_DIR/tests/e2e/stack-origin and reused by later runs.
#
#   SCENARIOS  comma-separated stack.mjs scenarios (play,prefetch,preflight,players,clearkey,
#              geo,licence,parent,catalogue,seek,resume,failover): start with --detach, play
#              them in headless Chromium, stop with --stop, then check that nothing the demo
#              started is still running (by state directory and by each daemon's session),
#              and that --status says 0 while it runs and 3 once stopped.
#   --https    (with SCENARIOS) the demo runs with --https: players fetch media from the edges
#              over TLS with h2, the certificates from the demo's CA, which Chromium trusts
#              through an NSS database in a private HOME (certificate checks stay on) and node
#              through NODE_EXTRA_CA_CERTS; stack.mjs --https checks the protocol.
#   NAME.mjs   a scenario script of its own in tests/e2e (session-expiry.mjs), run as stack.mjs
#              is, with --env, --chromium and --https, on a stack under a state directory of its
#              own (BUILD_DIR/tests/e2e/NAME-stack), so that it may run beside another stack test
#   ctrl-c     start tools/demo in the foreground, wait for it to be up, send SIGINT, and
#              check that it exits and leaves no process behind (no orphans); the same for a
#              Ctrl-C to tools/demo | tee; then the same
#              with a Ctrl-C (SIGINT to its process group) while it pushes into the edges,
#              with SIGTERM to its own process alone then, and with its terminal (a pty)
#              closed then; and a daemon, or PostgreSQL, dying once it is up.
#
# Exit 0 pass, 1 fail, 77 skip (no Chromium, node, nginx, PostgreSQL or node_modules; with
# --https also no certutil or openssl). The demo is stopped on exit, failure included, and also
# when meson kills the script (timeout, Ctrl-C) before its trap is done (e2e_guard).
# SLUICE_E2E_KEEP=1 keeps the state directory (configs, logs) after a failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
[ $# -eq 2 ] || { [ $# -eq 3 ] && [ "$3" = --https ]; } ||
  { echo "usage: $0 BUILD_DIR (SCENARIOS|NAME.mjs|ctrl-c) [--https]" >&2; exit 2; }
build=$(cd "$1" && pwd)
what=$2
https=${3:+1}

. "$here/lib.sh"
e2e_need_browser dashjs playwright-core shaka-player hls.js
e2e_need_tools node nginx ffmpeg curl python3
if [ -n "$https" ]; then
  e2e_need_tools openssl
  command -v certutil >/dev/null || e2e_skip "certutil is not installed (apt-get install libnss3-tools)"
fi
chromium=$E2E_CHROMIUM
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null ||
  e2e_skip "no PostgreSQL server binaries"
for b in edge/sluice-edge control/sluice-control tools/ingest/sluice-ingest fill-agent/sluice-fill; do
  [ -x "$build/$b" ] || e2e_fail "no $build/$b"
done

# With a space in its name, as a checkout's path may have: the demo must not split it.
var="$build/tests/e2e/stack dir"
[[ $what != *.mjs ]] || var=$build/tests/e2e/${what%.mjs}-stack
export SLUICE_DEMO_VAR=$var
export SLUICE_DEMO_ORIGIN=$build/tests/e2e/stack-origin
export SLUICE_DEMO_PORTS=auto SLUICE_DEMO_SKIP_DEPS=1 SLUICE_DEMO_SKIP_BUILD=1
export SLUICE_BUILD_DIR=$build SLUICE_DEMO_PRESET=ultrafast SLUICE_DEMO_SECONDS=40
mkdir -p "$var"

demo_pid=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$demo_pid" ] && kill -INT "$demo_pid" 2>/dev/null || true
  "$top/tools/demo" --stop >/dev/null 2>&1 || true
  e2e_guard_off
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    for f in "$var"/logs/*.log; do
      [ -s "$f" ] && { echo "--- $f (last 15 lines)"; tail -n 15 "$f"; }
    done
  fi
  if [ "${SLUICE_E2E_KEEP:-0}" != 1 ]; then rm -rf "$var"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# The demo's daemons run in sessions of their own: when meson kills this script (timeout,
# Ctrl-C) before the trap is done, the guard stops the demo (SLUICE_DEMO_VAR is exported).
E2E_GUARD_TOP=$top e2e_guard '"$E2E_GUARD_TOP/tools/demo" --stop'

# A stack left by an interrupted run would hold the state directory.
"$top/tools/demo" --stop >/dev/null 2>&1 || true

# The sessions of the daemons the running demo started (their pids, each a session leader),
# for e2e_session_leftovers once it has stopped; fails when there are none to check.
demo_sessions() {
  local pids
  pids=$(awk '{ print $1 }' "$var/pids" 2>/dev/null)
  [ "$(wc -w <<<"$pids")" -ge 5 ] || e2e_fail "$var/pids lists too few daemons: $pids"
  echo "$pids"
}

# spawn_demo: tools/demo in the foreground as a terminal runs it (its own process group,
# SIGINT not ignored); sets demo_pid.
# With tee, through a pipe as `tools/demo 2>&1 | tee FILE` runs it (demo_pid is then the
# shell that runs the pipeline, whose process group a Ctrl-C reaches); with grep,
# `tools/demo --detach 2>&1 | grep -m1 '^==> starting PostgreSQL'`, which stops reading there.
spawn_demo() { # [tee|grep]
  local run=("$top/tools/demo")
  case "${1:-}" in
    tee) run=(bash -c '"$0" 2>&1 | tee -a "$1" >/dev/null' "$top/tools/demo" "$var/demo.out") ;;
    grep) run=(bash -c '"$0" --detach 2>&1 | grep -m1 "^==> starting PostgreSQL" >>"$1"'
            "$top/tools/demo" "$var/demo.out") ;;
  esac
  rm -f "$var/env"
  : >"$var/demo.out"
  # A job started with & from a script ignores SIGINT, and a process cannot trap what it
  # inherited ignored; python ignores SIGPIPE, and a run under nohup SIGHUP: restore the
  # defaults as a terminal would have them, then run the demo.
  setsid python3 -c 'import os, signal, sys
for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGTERM):
    signal.signal(sig, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "${run[@]}" >>"$var/demo.out" 2>&1 &
  demo_pid=$!
}

# spawn_demo_tty: tools/demo in the foreground on a terminal of its own, as a terminal window
# or an ssh session runs it: a pseudo-terminal whose other end a python holds, copying what the
# demo prints to demo.out. Sets demo_pid and tty_pid; SIGHUP to tty_pid closes the terminal
# (the kernel then sends the demo SIGHUP, and its writes to the terminal fail).
spawn_demo_tty() {
  rm -f "$var/env" "$var/demo.pid"
  : >"$var/demo.out"
  python3 -c 'import os, pty, signal, sys
out, pidfile, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    # As a terminal starts it: a run under nohup (or a harness ignoring SIGPIPE) would
    # otherwise hand the demo signals ignored, which a shell cannot trap.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.execv(argv[0], argv)
with open(pidfile + ".tmp", "w") as f:
    f.write(f"{pid}\n")
os.rename(pidfile + ".tmp", pidfile)
def hang_up(*_):
    os.close(fd)
    os._exit(0)
signal.signal(signal.SIGHUP, hang_up)
with open(out, "ab", buffering=0) as f:
    while True:
        try:
            b = os.read(fd, 4096)
        except OSError:
            break
        if not b:
            break
        f.write(b)' "$var/demo.out" "$var/demo.pid" "$top/tools/demo" &
  tty_pid=$!
  until [ -s "$var/demo.pid" ]; do
    kill -0 "$tty_pid" 2>/dev/null || e2e_fail "the terminal for tools/demo did not start"
    sleep 0.05
  done
  demo_pid=$(cat "$var/demo.pid")
}

# foreground_demo [tee]: spawn_demo, followed until it says it is up; sets demo_pid and sids
# (its daemons' sessions).
foreground_demo() {
  spawn_demo "$@"
  # Follow its output until it says it is up; tail stops following when the demo exits.
  # (The pipeline's status is tail's SIGPIPE once grep has matched: the file decides.)
  timeout 900 tail -n +1 --pid="$demo_pid" -f "$var/demo.out" | grep -q -m1 '^Ctrl-C stops it' || true
  grep -q '^Ctrl-C stops it' "$var/demo.out" && kill -0 "$demo_pid" 2>/dev/null ||
    { cat "$var/demo.out"; e2e_fail "tools/demo did not come up (or did not stay up)"; }
  grep -E '^(==>|tools/demo:)' "$var/demo.out" | sed 's/^/demo: /'
  [ -s "$var/env" ] || e2e_fail "the foreground demo wrote no $var/env"
  sids=$(demo_sessions)
}

# all_stopped WHAT: nothing the demo started is left, PostgreSQL included, nor its env file.
all_stopped() {
  local left
  left=$(e2e_leftovers "$var"; e2e_session_leftovers $sids)
  [ -z "$left" ] || e2e_fail "processes left after $1: $left"
  "$top/tools/pg-temp" status "$var/pg" && e2e_fail "PostgreSQL still running after $1"
  [ ! -e "$var/env" ] || e2e_fail "$var/env left behind after $1"
}

# dying_stops WHAT SIGNAL FIND SAYS: tools/demo in the foreground, up; the pid that the
# command FIND prints then gets SIGNAL: the demo exits non-zero within 60 s, says SAYS, and
# leaves nothing it started.
dying_stops() {
  local what=$1 sig=$2 find=$3 says=$4 victim
  foreground_demo
  victim=$(eval "$find")
  [ -n "$victim" ] || e2e_fail "no pid of $what to stop"
  kill "-$sig" "$victim"
  timeout 60 tail --pid="$demo_pid" -f /dev/null ||
    e2e_fail "tools/demo did not exit within 60 s of $what dying"
  wait "$demo_pid" && e2e_fail "tools/demo exited 0 after $what died"
  demo_pid=
  grep -q "$says" "$var/demo.out" ||
    e2e_fail "tools/demo did not say '$says': $(tail -n 5 "$var/demo.out")"
  all_stopped "$what died"
  echo "PASS: $what dying stopped every process tools/demo started"
}

if [ "$what" = ctrl-c ]; then
  foreground_demo
  kill -INT "$demo_pid"
  timeout 60 tail --pid="$demo_pid" -f /dev/null || e2e_fail "tools/demo did not exit within 60 s of SIGINT"
  demo_pid=
  all_stopped "Ctrl-C"
  echo "PASS: Ctrl-C stopped every process tools/demo started"
  # The same through a pipe (tools/demo | tee): the Ctrl-C ends tee too, so that every message
  # the demo prints while it stops meets a closed pipe.
  foreground_demo tee
  kill -INT -- "-$demo_pid"
  timeout 60 tail --pid="$demo_pid" -f /dev/null ||
    e2e_fail "tools/demo | tee did not exit within 60 s of a Ctrl-C"
  demo_pid=
  all_stopped "a Ctrl-C to tools/demo | tee"
  echo "PASS: a Ctrl-C to tools/demo | tee stopped every process tools/demo started"
  # A detached start through a pipe whose reader goes once PostgreSQL starts (tools/demo
  # --detach | grep -m1 ...): the start ends at its next message, and a start cut short
  # stops what it had started, as a failed one does.
  sids=
  spawn_demo grep
  timeout 120 tail --pid="$demo_pid" -f /dev/null ||
    e2e_fail "tools/demo --detach | grep -m1 did not end within 120 s"
  demo_pid=
  grep -q '^==> starting PostgreSQL' "$var/demo.out" ||
    e2e_fail "tools/demo --detach | grep -m1 saw no start of PostgreSQL: $(cat "$var/demo.out")"
  all_stopped "tools/demo --detach | grep -m1"
  echo "PASS: tools/demo --detach | grep -m1, its reader gone, stopped what the start had started"
  # A Ctrl-C (SIGINT to the demo's process group, as a terminal sends it) while it pushes into
  # the edges. edge-a is stopped (SIGSTOP) as soon as the pushes begin (their scratch files
  # appear), so that edge-a's push is still waiting on it when the Ctrl-C comes, as it would
  # on a slow edge: every process of that push must be gone within 10 s, not left running
  # until the edges are stopped. Empty caches, so that there is something to push (the
  # first start filled them).
  # The same with SIGTERM to the demo's own process only (kill PID, as a supervisor may send
  # it), which its pushes do not get; and with its terminal closed (a terminal window or an
  # ssh session gone: SIGHUP, and nowhere to write).
  push_re="$var/push\\."
  for target in group alone hangup; do
    case "$target" in
      group) said="a Ctrl-C" ;;
      alone) said="a SIGTERM to tools/demo alone" ;;
      *) said="its terminal closing" ;;
    esac
    rm -rf "$var/edge-a/cache" "$var/edge-b/cache" "$var/fill" "$var"/push.*
    if [ "$target" = hangup ]; then spawn_demo_tty; else spawn_demo; fi
    deadline=$((SECONDS + 900))
    until compgen -G "$var/push.*" >/dev/null; do
      kill -0 "$demo_pid" 2>/dev/null ||
        { cat "$var/demo.out"; e2e_fail "tools/demo exited before it pushed into the edges"; }
      ! grep -q '^==> starting the player page' "$var/demo.out" ||
        e2e_fail "tools/demo was done pushing into the edges before it was seen"
      [ $SECONDS -lt $deadline ] || e2e_fail "tools/demo did not push into the edges within 900 s"
      sleep 0.05
    done
    sids=$(awk '{ print $1 }' "$var/pids")
    ea=$(awk '/edge-a/ { print $1 }' "$var/pids")
    [ -n "$ea" ] || e2e_fail "no edge-a in $var/pids"
    kill -STOP -- "-$ea"
    sleep 1
    case "$target" in
      group) kill -INT -- "-$demo_pid" ;;
      alone) kill -TERM "$demo_pid" ;;
      *) kill -HUP "$tty_pid" ;;
    esac
    for ((i = 0; i < 100; i++)); do
      pgrep -f -- "$push_re" >/dev/null || break
      sleep 0.1
    done
    left=$(pgrep -af -- "$push_re" || true)
    kill -CONT -- "-$ea" 2>/dev/null || true
    [ -z "$left" ] || e2e_fail "a push was still running 10 s after $said during the pushes: $left"
    timeout 60 tail --pid="$demo_pid" -f /dev/null ||
      e2e_fail "tools/demo did not exit within 60 s of $said during the pushes"
    demo_pid=
    all_stopped "$said during the pushes"
    echo "PASS: $said while tools/demo pushed into the edges stopped every process it started"
  done
  # A daemon dying stops the whole demo too (docs/demo.md), and says so; PostgreSQL too,
  # which runs under pg_ctl and not as the demo's child (a fast shutdown: SIGINT).
  dying_stops edge-b KILL "awk '/edge-b/ { print \$1 }' \"\$var/pids\"" 'a demo process exited'
  dying_stops PostgreSQL INT 'head -n 1 "$var/pg/data/postmaster.pid"' 'PostgreSQL exited'
  exit 0
fi

"$top/tools/demo" --detach ${https:+--https} >"$var/demo.log" 2>&1 ||
  { cat "$var/demo.log"; e2e_fail "tools/demo --detach failed"; }
grep -E '^(==>|tools/demo:)' "$var/demo.log" | sed 's/^/demo: /'
. "$var/env"
# It holds the admin tokens: the owner's alone, as the token files are.
mode=$(stat -c %a "$var/env")
[ "$mode" = 600 ] || e2e_fail "var/demo/env, which holds the admin tokens, has mode $mode, not 600"
for k in EDGE_URL EDGE_ID EDGE_ADMIN_URL EDGE_ADMIN_TOKEN CONTROL_URL CONTROL_ADMIN_TOKEN \
         ORIGIN_URL ORIGIN_DIR PLAYER_URL TITLE_IDS; do
  [ -n "${!k:-}" ] || e2e_fail "var/demo/env has no $k"
done

# --status: 0 while the demo runs (3 once it has stopped, checked below).
demo_status() { local rc=0; "$top/tools/demo" --status >/dev/null 2>&1 || rc=$?; echo "$rc"; }
rc=$(demo_status)
[ "$rc" -eq 0 ] || e2e_fail "tools/demo --status exited $rc while the demo runs (want 0)"

run_env=()
if [ -n "$https" ]; then
  for u in "$EDGE_URL" "$EDGE2_URL"; do
    case "$u" in https://*) ;; *) e2e_fail "tools/demo --https registered $u, not an https URL" ;; esac
  done
  [ -s "${CA_FILE:-}" ] || e2e_fail "var/demo/env has no CA_FILE"
  # The checks are on: without the demo CA, curl must refuse the edge's certificate (60).
  set +e
  curl -sS -o /dev/null "$EDGE2_URL/healthz" 2>/dev/null
  rc=$?
  set -e
  [ "$rc" -eq 60 ] || e2e_fail "curl without the demo CA exited $rc against $EDGE2_URL, not 60"
  # Chromium's trust store on Linux, in a private HOME, trusting the demo CA.
  home=$var/home
  e2e_trust_ca "$home" "$CA_FILE" "sluice demo ca"
  run_env=(HOME="$home" NODE_EXTRA_CA_CERTS="$CA_FILE")
fi

# NAME.mjs: a scenario script of its own, with stack.mjs's arguments but --only.
if [[ $what == *.mjs ]]; then
  scenario=(node "$here/$what")
else
  scenario=(node "$here/stack.mjs" --only "$what")
fi
set +e
env "${run_env[@]}" "${scenario[@]}" --env "$var/env" --chromium "$chromium" ${https:+--https}
rc=$?
set -e
[ "$rc" -eq 0 ] || e2e_fail "stack scenarios failed (exit $rc)"

sids=$(demo_sessions)
"$top/tools/demo" --stop
left=$(e2e_leftovers "$var"; e2e_session_leftovers $sids)
[ -z "$left" ] || e2e_fail "processes left after tools/demo --stop: $left"
rc=$(demo_status)
[ "$rc" -eq 3 ] || e2e_fail "tools/demo --status exited $rc after --stop (want 3: no demo running)"
echo "PASS: $what"
