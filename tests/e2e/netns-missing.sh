#!/usr/bin/env bash
# tests/e2e/netns-missing.sh BUILD_DIR
#
# run-netns.sh on a host that lacks one thing the multi-host test needs skips (77) and says
# which, rather than failing half way: each case puts a stand-in for ip or tc first on the
# PATH that refuses that one thing as the kernel does, and passes everything else on.
#
#   veth   ip ... type veth         "Error: Unknown device type." (no veth module)
#   exec   ip netns exec            "mount --make-rslave /: Permission denied" (a container)
#   tc     tc qdisc add ... netem|tbf  "Error: Specified qdisc kind is unknown."
#
# Each run must also leave no namespace behind. Exit 0 pass, 1 fail, 77 skip (not root, no ip
# or tc, or run-netns.sh skips for something else first: Chromium, node, nginx, ...).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)

. "$here/lib.sh"
[ "$(id -u)" = 0 ] || e2e_skip "network namespaces need root (run as root)"
real_ip=$(command -v ip) || e2e_skip "no ip command (apt-get install iproute2)"
real_tc=$(command -v tc) || e2e_skip "no tc command (apt-get install iproute2)"
e2e_scratch sluice-netns-missing run.out

NETNS_PREFIX=sluice-e2e-missing-$$
. "$here/netns-net.sh"
why=$(netns_probe) || e2e_skip "$why"

stand_in() { # name real-binary case-pattern message
  mkdir -p "$E2E_TMP/bin"
  cat >"$E2E_TMP/bin/$1" <<SH
#!/bin/sh
case " \$* " in $3) echo "$4" >&2; exit 2 ;; esac
exec "$2" "\$@"
SH
  chmod +x "$E2E_TMP/bin/$1"
}

# one_case NAME BINARY CASE-PATTERN MESSAGE WANT: run-netns.sh with a BINARY (ip or tc) that
# refuses what CASE-PATTERN matches with MESSAGE must skip, its reason containing WANT.
one_case() {
  local name=$1 bin=$2 real rc skip left
  if [ "$bin" = ip ]; then real=$real_ip; else real=$real_tc; fi
  rm -rf "$E2E_TMP/bin"
  stand_in "$bin" "$real" "$3" "$4"
  set +e
  PATH=$E2E_TMP/bin:$PATH NETNS_PREFIX=$NETNS_PREFIX "$here/run-netns.sh" "$build" >"$E2E_TMP/run.out" 2>&1
  rc=$?
  set -e
  skip=$(grep -m1 '^SKIP:' "$E2E_TMP/run.out" || true)
  left=$(ip netns list | grep -F "$NETNS_PREFIX-" || true)
  netns_teardown
  [ -z "$left" ] || e2e_fail "$name: run-netns.sh left namespaces behind: $left"
  if [ "$rc" -eq 77 ] && ! grep -qF -- "$5" <<<"$skip"; then
    # Skipped before it came to namespaces (no Chromium, ...): nothing to check on this host.
    case "$skip" in *namespace*|*veth*|*tc*) ;; *) e2e_skip "run-netns.sh: $skip" ;; esac
  fi
  [ "$rc" -eq 77 ] && grep -qF -- "$5" <<<"$skip" ||
    e2e_fail "$name: run-netns.sh exited $rc, not 77 naming '$5': $(grep -E '^(SKIP|FAIL)' "$E2E_TMP/run.out" | head -n 2)"
  echo "ok - $name: $skip"
}
one_case veth ip "*' type veth '*" "Error: Unknown device type." "veth"
one_case exec ip "*' netns exec '*" "mount --make-rslave /: Permission denied" "ip netns exec"
one_case tc tc "*' qdisc add '*' netem '*|*' qdisc add '*' tbf '*" \
  "Error: Specified qdisc kind is unknown." "tc can shape no link"
echo "PASS: a host without veth, ip netns exec or tc shaping skips the multi-host test, saying why"
