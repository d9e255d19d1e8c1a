#!/usr/bin/env bash
# tests/e2e/demo-ports-test.sh
#
# tools/demo with its control port taken on [::1] alone (control listens there too, for the
# client in BR): it stops at once, before it builds or starts anything, saying which port,
# as it does for a port taken on 127.0.0.1, rather than starting PostgreSQL and control and
# waiting 30 s for a control that could not listen. Skips (77) when [::1]:7000 cannot be held
# here (no IPv6, or the port taken).
# Exit 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
var=$(mktemp -d /tmp/sluice-demo-ports.XXXXXX)
holder=
trap 'rm -rf "$var"; [ -z "$holder" ] || kill "$holder" 2>/dev/null || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The default ports must be free on 127.0.0.1, where the demo checks them first.
for p in 7000 9000 8080 8081 8082 8083 8090 8443; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "SKIP: port $p is in use on 127.0.0.1 (a demo running?)"
    exit 77
  fi
done

# Control's default port, held on [::1] only; the holder says when it listens.
mkfifo "$var/ready"
python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
try:
    s.bind(("::1", 7000))
    s.listen()
except OSError as e:
    print(f"skip {e}", flush=True)
    sys.exit(0)
print("held", flush=True)
sys.stdin.read()' <"$var/ready" >"$var/holder.out" &
holder=$!
exec 3>"$var/ready"
for _ in $(seq 100); do [ -s "$var/holder.out" ] && break; sleep 0.05; done
case "$(cat "$var/holder.out")" in
  held) ;;
  *) echo "SKIP: cannot hold [::1]:7000 here: $(cat "$var/holder.out")"; exit 77 ;;
esac

rc=0
out=$(SLUICE_DEMO_VAR=$var SLUICE_DEMO_PORTS= SLUICE_DEMO_SKIP_DEPS=1 SLUICE_DEMO_SKIP_BUILD=1 \
  timeout 20 "$top/tools/demo" --detach 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "tools/demo exit $rc with [::1]:7000 taken, not 1: $out"
grep -q "port 7000 is already in use on \\[::1\\]" <<<"$out" || fail "tools/demo said: $out"
[ ! -e "$var/pg/data" ] || fail "tools/demo started PostgreSQL with its control port taken"
echo "ok: tools/demo refuses a control port taken on [::1]"
