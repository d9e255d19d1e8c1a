# tests/e2e/lib.sh — what the e2e shell drivers share (sourced, not run).
#
# Prerequisites (skip with a reason), free ports, the player page server, starting an edge and
# waiting for it, pushing a directory of objects through the admin API, a CA trusted by Chromium
# (an NSS database in a private HOME), and stopping an edge with the SIGTERM contract checked.
# Every function that talks to a process runs its command inside the network namespace named by
# E2E_NETNS when that is set (ip netns exec), so the multi-host driver uses the same code as the
# single-host ones.
#
# Globals the caller reads: E2E_CHROMIUM, E2E_EDGE_PID, E2E_PLAYER_URL, E2E_PUSHED, E2E_TMP.
# Globals the caller owns: e2e_pids (stopped by e2e_stop_pids, newest last).

e2e_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
e2e_pids=()

e2e_skip() { echo "SKIP: $*"; exit 77; }
e2e_fail() { echo "FAIL: $*" >&2; exit 1; }

# Run a command in E2E_NETNS (when set) or here.
e2e_run() {
  if [ -n "${E2E_NETNS:-}" ]; then ip netns exec "$E2E_NETNS" "$@"; else "$@"; fi
}

# e2e_need_browser MODULE...: Chromium (SLUICE_CHROMIUM, default /usr/bin/chromium), node, and
# each MODULE under tests/e2e/node_modules; skips otherwise. Sets E2E_CHROMIUM.
e2e_need_browser() {
  E2E_CHROMIUM=${SLUICE_CHROMIUM:-/usr/bin/chromium}
  [ -x "$E2E_CHROMIUM" ] || e2e_skip "no Chromium at $E2E_CHROMIUM (apt-get install chromium)"
  command -v node >/dev/null || e2e_skip "node is not installed"
  local m
  for m in "$@"; do
    [ -f "$e2e_here/node_modules/$m/package.json" ] ||
      e2e_skip "tests/e2e/node_modules/$m is missing (run: cd tests/e2e && npm ci)"
  done
}

# e2e_need_tools TOOL...: skips unless every TOOL is on the PATH.
e2e_need_tools() {
  local t
  for t in "$@"; do command -v "$t" >/dev/null || e2e_skip "$t is not installed"; done
}

# e2e_secret FILE BYTES: BYTES random bytes, hex, into FILE (mode 0600).
e2e_secret() { (umask 077; head -c "$2" /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"); }

# e2e_free_ports N: N distinct free TCP ports on 127.0.0.1, on one line.
e2e_free_ports() {
  node -e '
  const net = require("node:net");
  const socks = Array.from({ length: Number(process.argv[1]) }, () => net.createServer().listen(0, "127.0.0.1"));
  Promise.all(socks.map((s) => new Promise((r) => s.on("listening", r)))).then(() => {
    console.log(socks.map((s) => s.address().port).join(" "));
    socks.forEach((s) => s.close());
  });' "$1"
}

# e2e_wait_http URL WHAT [SECONDS]: fails unless URL answers 2xx within SECONDS (20); curl
# retries on refused connections, so this waits for the listener, not for a fixed time. Each
# try is bounded too (--max-time): a listener that accepts and never answers fails the wait
# within twice SECONDS instead of holding it for ever.
e2e_wait_http() {
  local t=${3:-20}
  e2e_run curl -sf -o /dev/null --max-time "$t" --retry "$t" --retry-connrefused --retry-delay 1 \
    --retry-max-time "$t" "$1" || e2e_fail "$2 did not answer at $1 within $t s"
}

# e2e_scratch PREFIX LOG...: a new temp dir, E2E_TMP, and EXIT/INT/TERM traps that stop
# e2e_pids, show the LOGs in E2E_TMP after a failure (not a skip) and remove E2E_TMP (kept with
# SLUICE_E2E_KEEP=1), exiting with the script's status.
e2e_scratch() {
  E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  shift
  e2e_scratch_logs=("$@")
  trap e2e_scratch_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

e2e_scratch_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  e2e_stop_pids
  exec 3<&- 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then e2e_show_logs "$E2E_TMP" "${e2e_scratch_logs[@]}"; fi
  if [ "${SLUICE_E2E_KEEP:-0}" = 1 ]; then echo "kept $E2E_TMP"; else rm -rf "$E2E_TMP"; fi
  exit "$rc"
}

# e2e_player_start DIR SERVE-ARGS...: start tests/e2e/player/serve.mjs (its stdout through a
# fifo in DIR, its stderr in DIR/player.err) and set E2E_PLAYER_URL from its first line.
# Holds fd 3 open on the fifo for as long as the server runs.
e2e_player_start() {
  local dir=$1 line=""
  shift
  mkfifo "$dir/player.out"
  if [ -n "${E2E_NETNS:-}" ]; then
    ip netns exec "$E2E_NETNS" node "$e2e_here/player/serve.mjs" "$@" \
      >"$dir/player.out" 2>"$dir/player.err" &
  else
    node "$e2e_here/player/serve.mjs" "$@" >"$dir/player.out" 2>"$dir/player.err" &
  fi
  e2e_pids+=($!)
  exec 3<"$dir/player.out"
  read -r -t 15 line <&3 || true
  case "$line" in
    PLAYER_URL=http://*) E2E_PLAYER_URL=${line#PLAYER_URL=} ;;
    *) e2e_fail "the player server did not start: '$line'" ;;
  esac
}

# e2e_edge_yaml DIR PORT ADMIN_PORT DEAD_PORT CORS_ORIGIN: on stdout, the config of one
# worker listening on PORT (admin on ADMIN_PORT, token DIR/admin.token, cache in DIR/cache,
# access log DIR/access.log) whose only upstream, DEAD_PORT, never answers: everything played
# is pushed, so no fill may happen. Tokens off; CORS for CORS_ORIGIN.
e2e_edge_yaml() {
  cat <<EOF
listen: ["127.0.0.1:$2"]
workers: 1
admin: {listen: "127.0.0.1:$3", token_file: "$1/admin.token"}
cache: {dir: "$1/cache", max_size: 256M}
upstreams: [{url: "http://127.0.0.1:$4"}]
tokens: {required: false}
control: {edge_id: e2e-edge, region: local}
log: {level: info, target: stderr, access_log: "$1/access.log"}
cors_origins: ["$5"]
EOF
}

# e2e_edge_start BIN CONFIG LOG ADMIN_URL: check the config, start the edge (output appended
# to LOG), wait until ADMIN_URL/healthz answers. Sets E2E_EDGE_PID (a child of this shell).
e2e_edge_start() {
  local bin=$1 cfg=$2 log=$3 admin=$4
  "$bin" --check-config --config "$cfg" >"$log" 2>&1 ||
    e2e_fail "edge rejected $cfg: $(cat "$log")"
  if [ -n "${E2E_NETNS:-}" ]; then
    ip netns exec "$E2E_NETNS" "$bin" --config "$cfg" >>"$log" 2>&1 &
  else
    "$bin" --config "$cfg" >>"$log" 2>&1 &
  fi
  E2E_EDGE_PID=$!
  e2e_pids+=("$E2E_EDGE_PID")
  e2e_wait_http "$admin/healthz" "edge ($cfg)"
  kill -0 "$E2E_EDGE_PID" 2>/dev/null || e2e_fail "edge ($cfg) exited during start-up"
}

# e2e_push_dir ADMIN_URL TOKEN DIR PREFIX [SKIP-REGEX]: PUT every file under DIR (dot files
# and paths matching SKIP-REGEX aside) as PREFIX/<relative path>, each with its SHA-256; fails
# on any status but 2xx, and on a PUT not answered within 30 s. Sets E2E_PUSHED to the count.
e2e_push_dir() {
  local admin=$1 token=$2 dir=$3 prefix=$4 skip=${5:-} f rel sum code out
  out=$(mktemp "${TMPDIR:-/tmp}/sluice-e2e-put.XXXXXX")
  E2E_PUSHED=0
  while IFS= read -r -d '' f; do
    rel=${f#"$dir"/}
    if [ -n "$skip" ] && [[ "$rel" =~ $skip ]]; then continue; fi
    sum=$(sha256sum "$f" | cut -d' ' -f1)
    code=$(e2e_run curl -sS -o "$out" -w '%{http_code}' --max-time 30 -X PUT -T "$f" -H 'Expect:' \
      -H "Authorization: Bearer $token" -H "X-Sluice-SHA256: $sum" \
      "$admin/admin/objects/$prefix/$rel") || code=000
    case "$code" in
      2??) E2E_PUSHED=$((E2E_PUSHED + 1)) ;;
      *) local why
         why=$(head -c 300 "$out" 2>/dev/null)
         rm -f "$out"
         e2e_fail "PUT $prefix/$rel answered $code: $why" ;;
    esac
  done < <(find "$dir" -type f ! -name '.*' -print0 | sort -z)
  rm -f "$out"
}

# e2e_edge_stop PID: SIGTERM drains the edge and it exits 0 (DESIGN.md); fails otherwise.
e2e_edge_stop() {
  local pid=$1 rc
  kill -TERM "$pid"
  timeout 20 tail --pid="$pid" -f /dev/null || e2e_fail "edge did not exit within 20 s of SIGTERM"
  set +e
  wait "$pid"
  rc=$?
  set -e
  [ "$rc" -eq 0 ] || e2e_fail "edge exited $rc after SIGTERM"
}

# e2e_run_checks WHAT CMD...: run a checker (a player script) in the background, so that the
# traps can stop it, and wait for it; skips when it exits 77, fails on any other non-zero exit.
e2e_run_checks() {
  local what=$1 pid rc
  shift
  "$@" &
  pid=$!
  e2e_pids+=("$pid")
  set +e
  wait "$pid"
  rc=$?
  set -e
  [ "$rc" -ne 77 ] || e2e_skip "Chromium cannot play this content"
  [ "$rc" -eq 0 ] || e2e_fail "$what checks failed (exit $rc)"
}

# e2e_guard SCRIPT: a watcher in a session of its own runs the bash code SCRIPT once this shell
# has exited, unless e2e_guard_off ran first. meson ends a test that overruns its timeout, or
# that Ctrl-C interrupts, with SIGTERM to the test's process group and SIGKILL half a second
# later: too soon for an EXIT trap to stop what lives outside that group (PostgreSQL, the demo's
# daemons, network namespaces), and the guard is outside it. SCRIPT gets what it needs from the
# environment (prefix the call with NAME=value), so that the watcher's command line names no
# state directory (e2e_leftovers would count it).
e2e_guard() {
  setsid bash -c "tail --pid=$$ -f /dev/null; $1" </dev/null >/dev/null 2>&1 &
  e2e_guard_pid=$!
}

# e2e_guard_off: the EXIT trap has stopped everything; the watcher (and its tail) go.
e2e_guard_off() {
  [ -z "${e2e_guard_pid:-}" ] || kill -TERM -- "-$e2e_guard_pid" 2>/dev/null || true
  e2e_guard_pid=
}

# e2e_stop_pids: SIGTERM every pid in e2e_pids, wait up to 10 s for each, SIGKILL what is left.
e2e_stop_pids() {
  local p
  for p in "${e2e_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${e2e_pids[@]}"; do
    timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
  done
  e2e_pids=()
}

# e2e_leftovers TEXT: "pid: command line" of every process (this shell aside) whose command
# line contains TEXT — a state directory names what a test started there.
e2e_leftovers() {
  local p out=()
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = $$ ] && continue
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$1" || continue
    out+=("${p#/proc/}: $(tr '\0' ' ' 2>/dev/null <"$p/cmdline" | head -c 120)")
  done
  [ ${#out[@]} -eq 0 ] || printf '%s\n' "${out[@]}"
}

# e2e_session_leftovers SID...: "pid: command line" of every process still in one of the
# sessions SID. tools/demo starts each daemon with setsid and records its pid (its session id)
# in var/demo/pids, so this finds what a daemon left behind even when its command line names
# no state directory: the player page's node, nginx's workers.
e2e_session_leftovers() {
  local p stat rest sid out=()
  for p in /proc/[0-9]*; do
    stat=$(cat "$p/stat" 2>/dev/null) || continue
    rest=${stat##*) }           # after the command name, which may hold spaces
    read -r _ _ _ sid _ <<<"$rest"
    case " $* " in *" $sid "*) ;; *) continue ;; esac
    out+=("${p#/proc/}: $(tr '\0' ' ' 2>/dev/null <"$p/cmdline" | head -c 120)")
  done
  [ ${#out[@]} -eq 0 ] || printf '%s\n' "${out[@]}"
}

# e2e_trust_ca HOME CA_FILE NAME: a new NSS database in HOME/.pki/nssdb (the store Chromium
# reads on Linux) trusting CA_FILE for servers ("C,,"), so Chromium run with HOME=HOME verifies
# certificates against it with every check left on. Needs certutil.
e2e_trust_ca() {
  mkdir -p "$1/.pki/nssdb"
  certutil -N -d "sql:$1/.pki/nssdb" --empty-password || e2e_fail "certutil -N in $1"
  certutil -A -d "sql:$1/.pki/nssdb" -n "$3" -t "C,," -i "$2" || e2e_fail "certutil -A $2"
}

# e2e_show_logs DIR FILE...: the last 40 lines of each non-empty DIR/FILE (after a failure).
e2e_show_logs() {
  local dir=$1 f
  shift
  for f in "$@"; do
    [ -s "$dir/$f" ] && { echo "--- $f (last 40 lines)"; tail -n 40 "$dir/$f"; }
  done
  return 0
}
