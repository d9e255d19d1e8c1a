#!/usr/bin/env bash
# tests/e2e/lib-wait-test.sh
#
# e2e_wait_http (lib.sh) is bounded by its SECONDS even against a listener that accepts the
# connection and never answers (a daemon stuck after bind): it must fail, naming what did not
# answer, within SECONDS and a margin, not wait for ever. e2e_push_dir likewise fails a PUT
# that such a listener never answers, within its 30 s and a margin.
# Exit 0 pass, 1 fail, 77 skip (no python3 or curl).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
e2e_need_tools python3 curl
e2e_scratch sluice-lib-wait listener.err

# A listener that accepts and never answers; it prints its port, then waits.
mkfifo "$E2E_TMP/port"
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
' >"$E2E_TMP/port" 2>"$E2E_TMP/listener.err" &
e2e_pids+=($!)
read -r -t 10 port <"$E2E_TMP/port" || e2e_fail "the silent listener did not start"

start=$SECONDS
set +e
out=$(timeout 60 bash -c '. "$1"; e2e_wait_http "http://127.0.0.1:$2/" "the silent listener" 3' \
  wait "$here/lib.sh" "$port" 2>&1)
rc=$?
set -e
took=$((SECONDS - start))
[ "$rc" -ne 124 ] || e2e_fail "e2e_wait_http ... 3 still waited after 60 s"
[ "$rc" -eq 1 ] && grep -q 'the silent listener did not answer' <<<"$out" ||
  e2e_fail "e2e_wait_http exited $rc: $out"
[ "$took" -le 10 ] || e2e_fail "e2e_wait_http ... 3 took $took s"
echo "ok - e2e_wait_http gave up on a silent listener after $took s: $out"
mkdir -p "$E2E_TMP/push"
echo segment >"$E2E_TMP/push/seg-1.m4s"
start=$SECONDS
set +e
out=$(timeout 90 bash -c '. "$1"; e2e_push_dir "http://127.0.0.1:$2" token "$3" title' \
  push "$here/lib.sh" "$port" "$E2E_TMP/push" 2>&1)
rc=$?
set -e
took=$((SECONDS - start))
[ "$rc" -ne 124 ] || e2e_fail "e2e_push_dir still waited for its PUT after 90 s"
[ "$rc" -eq 1 ] && grep -q 'PUT title/seg-1.m4s answered 000' <<<"$out" ||
  e2e_fail "e2e_push_dir exited $rc: $out"
[ "$took" -le 40 ] || e2e_fail "e2e_push_dir took $took s"
echo "ok - e2e_push_dir gave up on a PUT the silent listener never answered after $took s"
echo "PASS: waiting for a listener that never answers is bounded"
