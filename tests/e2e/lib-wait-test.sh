#!/usr/bin/env bash
# tests/e2e/lib-wait-test.sh
#
# e2e_wait_http (lib.sh) is bounded by its SECONDS even against a listener that accepts the
# connection and never answers (a daemon stuck after bind): it must fail, naming what did not
# answer, within SECONDS and a margin, not wait for ever. e2e_push_dir likewise fails a PUT
# that such a listener never answers, within its 30 s and a margin. So do tools/demo's own
# requests (its functions, taken from the script): api() to control, the wait for steering,
# and push_missing's GET of the holdings and its PUTs (against a listener that answers the
# GET and never a PUT), each failing with a message naming what did not answer.
# Exit 0 pass, 1 fail, 77 skip (no python3 or curl).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
e2e_need_tools python3 curl
e2e_scratch sluice-lib-wait listener.err

# listen MODE: a listener on a free port (in $listen_port) that accepts and never answers
# ("silent"), or that answers GETs with an empty holdings list and never a PUT ("holdings").
listen() {
  mkfifo "$E2E_TMP/port-$1"
  python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept()
    if sys.argv[1] == "holdings" and c.recv(65536).startswith(b"GET "):
        b = b"{\"keys\": []}"
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(b) + b)
        c.close()
    else:
        held.append(c)
' "$1" >"$E2E_TMP/port-$1" 2>>"$E2E_TMP/listener.err" &
  e2e_pids+=($!)
  read -r -t 10 listen_port <"$E2E_TMP/port-$1" || e2e_fail "the $1 listener did not start"
}
listen silent
port=$listen_port

# lib_case NAME BUDGET WANT SCRIPT ARGS...: runs SCRIPT (lib.sh sourced, ARGS as $2...) for at
# most 90 s; it must fail (exit 1) saying WANT within BUDGET s.
lib_case() {
  local name=$1 budget=$2 want=$3 script=$4 out rc start=$SECONDS
  shift 4
  set +e
  out=$(timeout 90 bash -c ". \"\$1\"; $script" "$name" "$here/lib.sh" "$@" 2>&1)
  rc=$?
  set -e
  local took=$((SECONDS - start))
  [ "$rc" -ne 124 ] || e2e_fail "$name still waited after 90 s"
  [ "$rc" -eq 1 ] && grep -qF -- "$want" <<<"$out" || e2e_fail "$name exited $rc: $out"
  [ "$took" -le "$budget" ] || e2e_fail "$name took $took s"
  echo "ok - $name gave up on the silent listener after $took s: $(tail -n 1 <<<"$out")"
}
lib_case e2e_wait_http 10 'the silent listener did not answer' \
  'e2e_wait_http "http://127.0.0.1:$2/" "the silent listener" 3' "$port"
mkdir -p "$E2E_TMP/push"
echo segment >"$E2E_TMP/push/seg-1.m4s"
lib_case e2e_push_dir 40 'PUT title/seg-1.m4s answered 000' \
  'e2e_push_dir "http://127.0.0.1:$2" token "$3" title' "$port" "$E2E_TMP/push"

# tools/demo's functions as the script defines them ("name() {" to the first "}" line).
demo_fn() {
  awk -v f="$1() {" 'index($0, f) == 1 { p = 1; if ($0 ~ /}$/) { print; exit } }
    p { print } p && /^}/ { exit }' "$top/tools/demo"
}
fns=""
for f in die say api wait_steering push_missing; do
  def=$(demo_fn "$f")
  [ -n "$def" ] || e2e_fail "tools/demo defines no $f()"
  fns+="$def"$'\n'
done
# A listener that answers GET /admin/holdings (nothing held) and never answers a PUT.
listen holdings
port2=$listen_port
mkdir -p "$E2E_TMP/origin/t" "$E2E_TMP/var"
echo segment >"$E2E_TMP/origin/t/seg-1.m4s"
echo '{"files": [{"path": "seg-1.m4s", "sha256": "00"}]}' >"$E2E_TMP/origin/t/asset.json"
# demo_case NAME BUDGET EXPECTED CALL: runs CALL with the demo's functions (in the
# background, the cases at once), then checks it failed within BUDGET s saying EXPECTED.
demo_case() {
  ( start=$SECONDS
    set +e
    timeout 90 bash -c 'set -euo pipefail; var=$1; origin=$2; control_url=$3; ctl_token=t
      edge_token=t; eval "$4"; eval "$5"' demo "$E2E_TMP/var" "$E2E_TMP/origin" \
      "http://127.0.0.1:$port" "$fns" "$4" >"$E2E_TMP/$1.out" 2>&1
    echo "$? $((SECONDS - start))" >"$E2E_TMP/$1.rc" ) &
  case_pids+=($!)
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$E2E_TMP/cases"
}
: >"$E2E_TMP/cases"
case_pids=()
demo_case api 40 'sluice-control did not answer POST /v1/admin/edges at' 'api POST /v1/admin/edges "{}"'
demo_case steering 50 'sluice-control did not answer POST /v1/playback at' 'wait_steering'
demo_case holdings 40 "did not answer GET /admin/holdings" 'push_missing "$control_url"'
demo_case put 40 "PUT into http://127.0.0.1:$port2 failed (000: no answer within 30 s): 000 t/seg-1.m4s" \
  "push_missing http://127.0.0.1:$port2"
wait "${case_pids[@]}"
bad=0
while IFS=$'\t' read -r name budget want; do
  read -r rc took <"$E2E_TMP/$name.rc"
  out=$(cat "$E2E_TMP/$name.out")
  if [ "$rc" -eq 124 ]; then
    echo "not ok - tools/demo's $name still waited after 90 s"
  elif [ "$rc" -ne 1 ] || ! grep -qF -- "$want" <<<"$out"; then
    echo "not ok - tools/demo's $name exited $rc, not 1 saying \"$want\": $out"
  elif [ "$took" -gt "$budget" ]; then
    echo "not ok - tools/demo's $name took $took s (over $budget s)"
  else
    echo "ok - tools/demo's $name gave up on a listener that never answers after $took s: $(tail -n 1 <<<"$out")"
    continue
  fi
  bad=1
done <"$E2E_TMP/cases"
[ "$bad" = 0 ] || e2e_fail "tools/demo waited on a listener that never answers, or did not say so"
echo "PASS: waiting for a listener that never answers is bounded"
