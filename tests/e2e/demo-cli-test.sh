#!/usr/bin/env bash
# tests/e2e/demo-cli-test.sh (stale | ports | died)
#
# tools/demo on what it meets before it starts anything, and on a daemon dying at start-up.
#
# stale: tools/demo --stop and --status when what a detached demo left names nothing alive (it
# died, or the machine rebooted): --status says no demo runs (exit 3), --stop says so too (exit
# 0) and removes the stale pid file and settings (var/demo/env), so no one loads a dead demo's
# addresses. A pid file line whose pid is alive but runs something else is not taken for the
# demo's, and that process is left alone. Both say which state directory they looked in, and
# name a demo running under another one with the SLUICE_DEMO_VAR that reaches it (they said
# only "no demo running").
#
# died: sluice-control (a stand-in build directory's) exits at start-up for a reason the demo
# does not check beforehand: tools/demo stops at once, saying so with the end of control's
# log, and leaves nothing running (it waited 30 s for an answer, then said only that control
# did not answer). Needs PostgreSQL, nginx, node, curl, ffmpeg and the page's npm packages;
# skips otherwise.
#
# ports: control's port taken on [::1] alone (control listens there too, for the client in
# BR), and edge-a's taken on SLUICE_DEMO_HOST alone: tools/demo stops at once, before it
# builds or starts anything, saying which port and where, as it does for a port taken on
# 127.0.0.1, rather than starting PostgreSQL and its daemons and waiting 30 s for one that
# could not listen. Skips when [::1]:7000 or 127.0.0.2:8080 cannot be held here (no IPv6, or
# the port taken) or a default port is taken on 127.0.0.1.
# Exit 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
mode=${1:-}
case "$mode" in stale | ports | died) ;; *) echo "usage: $0 (stale|ports|died)" >&2; exit 2 ;; esac
var=$(mktemp -d "/tmp/sluice-demo-$mode.XXXXXX")
helper= other=
trap 'rm -rf "$var"; for p in $helper $other; do kill "$p" 2>/dev/null || true; done' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "$mode" = stale ]; then
  sleep 300 &
  helper=$!
  # A dead pid, and a live one whose command line is not what the demo started there.
  printf '%s %s\n' 999999999 "sluice-edge --config $var/edge-a.yaml" "$helper" \
    "sluice-control --config $var/control.yaml" >"$var/pids"
  printf 'export SLUICE_EDGE_A=http://127.0.0.1:1/\n' >"$var/env"

  rc=0
  out=$(SLUICE_DEMO_VAR=$var "$top/tools/demo" --status 2>&1) || rc=$?
  [ "$rc" = 3 ] || fail "--status exit $rc, not 3: $out"
  grep -qF "no demo running under $var (SLUICE_DEMO_VAR)" <<<"$out" ||
    fail "--status does not say where it looked: $out"

  out=$(SLUICE_DEMO_VAR=$var "$top/tools/demo" --stop 2>&1) || fail "--stop failed: $out"
  grep -qF "no demo running under $var (SLUICE_DEMO_VAR)" <<<"$out" || fail "--stop said: $out"
  reach="started with SLUICE_DEMO_VAR=DIR is reached with SLUICE_DEMO_VAR=DIR tools/demo --stop"
  grep -qF "$reach" <<<"$out" || fail "--stop does not say how to reach a demo elsewhere: $out"
  [ ! -e "$var/env" ] || fail "--stop left the stale $var/env"
  [ ! -e "$var/pids" ] || fail "--stop left the stale $var/pids"
  kill -0 "$helper" 2>/dev/null || fail "--stop killed a process that was not the demo's"
  echo "ok: a dead demo's --status and --stop"

  # Another demo's control (a stand-in), under a state directory of its own.
  mkdir "$var/other"
  python3 -c 'import time; time.sleep(300)' sluice-control --config "$var/other/control.yaml" &
  other=$!
  echo "$other sluice-control --config $var/other/control.yaml" >"$var/other/pids"
  out=$(SLUICE_DEMO_VAR=$var "$top/tools/demo" --stop 2>&1) || fail "--stop failed: $out"
  grep -qF "a demo runs under $var/other: SLUICE_DEMO_VAR=$var/other tools/demo --stop" \
    <<<"$out" || fail "--stop does not name the demo running under $var/other: $out"
  kill -0 "$other" 2>/dev/null || fail "--stop stopped the other demo"
  echo "ok: --stop names a demo running under another state directory"
  exit 0
fi

if [ "$mode" = died ]; then
  for dep in nginx node curl ffmpeg openssl; do
    command -v "$dep" >/dev/null || { echo "SKIP: $dep is not installed"; exit 77; }
  done
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "SKIP: no PostgreSQL"; exit 77; }
  if [ ! -f "$top/tests/e2e/node_modules/dashjs/package.json" ] ||
      [ ! -f "$top/tests/e2e/node_modules/hls.js/package.json" ]; then
    echo "SKIP: the player page's npm packages are not installed (npm ci in tests/e2e)"
    exit 77
  fi
  # A build directory of stand-ins: each accepts --check-config; control then exits at once.
  b=$var/build
  mkdir -p "$b/edge" "$b/control" "$b/tools/ingest" "$b/fill-agent"
  for f in edge/sluice-edge tools/ingest/sluice-ingest fill-agent/sluice-fill; do
    printf '#!/bin/sh\nexit 0\n' >"$b/$f"
  done
  printf '%s\n' '#!/bin/sh' 'case " $* " in *" --check-config "*) exit 0 ;; esac' \
    'echo "sluice-control: stand-in: cannot load the GeoIP database, exiting" >&2' 'exit 4' \
    >"$b/control/sluice-control"
  chmod 0755 "$b/edge/sluice-edge" "$b/control/sluice-control" \
    "$b/tools/ingest/sluice-ingest" "$b/fill-agent/sluice-fill"
  # The demo titles already ingested (each ingest is skipped).
  for t in demo-series-e1 demo-series-e2 demo-movie demo-secret; do
    mkdir -p "$var/origin/$t"
    echo '{"files": []}' >"$var/origin/$t/asset.json"
  done
  mkdir -p "$var/origin.keys"
  echo '{}' >"$var/origin.keys/demo-secret.json"

  rc=0
  out=$(SLUICE_DEMO_VAR=$var SLUICE_DEMO_PORTS=auto SLUICE_DEMO_SKIP_DEPS=1 \
    SLUICE_DEMO_SKIP_BUILD=1 SLUICE_BUILD_DIR=$b timeout 120 "$top/tools/demo" --detach 2>&1) ||
    rc=$?
  [ "$rc" = 1 ] || fail "tools/demo exit $rc with control dying at start-up, not 1: $out"
  grep -qF "sluice-control exited at start-up (status 4)" <<<"$out" ||
    fail "tools/demo does not say control exited: $out"
  grep -qF "    sluice-control: stand-in: cannot load the GeoIP database, exiting" <<<"$out" ||
    fail "tools/demo does not show the end of control's log: $out"
  if "$top/tools/pg-temp" status "$var/pg" 2>/dev/null; then fail "PostgreSQL left running"; fi
  [ ! -s "$var/pids" ] || fail "the demo left its pid file: $(cat "$var/pids")"
  echo "ok: control dying at start-up stops the demo at once, with the end of its log"
  exit 0
fi

# The default ports must be free on 127.0.0.1, where the demo checks them first.
for p in 7000 9000 8080 8081 8082 8083 8090 8443; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "SKIP: port $p is in use on 127.0.0.1 (a demo running?)"
    exit 77
  fi
done

# hold ADDR PORT: a listener on ADDR:PORT alone (the helper); skips when it cannot be had.
hold() {
  [ -z "$helper" ] || { kill "$helper"; wait "$helper" 2>/dev/null || true; }
  rm -f "$var/ready" "$var/helper.out"
  mkfifo "$var/ready"
  python3 -c 'import socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
if ":" in addr:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
try:
    s.bind((addr, port))
    s.listen()
except OSError as e:
    print(f"skip {e}", flush=True)
    sys.exit(0)
print("held", flush=True)
sys.stdin.read()' "$1" "$2" <"$var/ready" >"$var/helper.out" &
  helper=$!
  exec 3>"$var/ready"
  for _ in $(seq 100); do [ -s "$var/helper.out" ] && break; sleep 0.05; done
  case "$(cat "$var/helper.out")" in
    held) ;;
    *) echo "SKIP: cannot hold $1:$2 here: $(cat "$var/helper.out")"; exit 77 ;;
  esac
}

# refused WHERE [ENV...]: tools/demo --detach (with ENV) exits 1 at once saying that WHERE
# ("port P is already in use on A") is taken, with nothing started.
refused() {
  local where=$1 rc=0 out
  shift
  out=$(env "$@" SLUICE_DEMO_VAR="$var" SLUICE_DEMO_PORTS= SLUICE_DEMO_SKIP_DEPS=1 \
    SLUICE_DEMO_SKIP_BUILD=1 timeout 20 "$top/tools/demo" --detach 2>&1) || rc=$?
  [ "$rc" = 1 ] || fail "tools/demo exit $rc with $where taken, not 1: $out"
  grep -qF "port $where (stop" <<<"$out" || fail "tools/demo said: $out"
  [ ! -e "$var/pg/data" ] || fail "tools/demo started PostgreSQL with $where taken"
  echo "ok: tools/demo stops at once: port $where"
}

# Control's default port, held on [::1] only.
hold ::1 7000
refused "7000 is already in use on [::1]"
# edge-a's default port, held on the address the client-facing listeners are given only.
hold 127.0.0.2 8080
refused "8080 is already in use on 127.0.0.2" SLUICE_DEMO_HOST=127.0.0.2
