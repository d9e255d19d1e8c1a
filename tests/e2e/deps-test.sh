#!/usr/bin/env bash
# tests/e2e/deps-test.sh
#
# tools/deps install, which every tools/demo and tools/check runs, on a machine that has
# every package: it stops none of the machine's services (its own nginx, h2o or prometheus
# server). On a machine that lacks nginx-light: it installs it and stops the nginx that
# Debian starts on install, and no other service. dpkg-query, apt-get and systemctl are
# stand-ins on the PATH that log what they are asked; nothing is installed or stopped.
# Exit 0 pass, 1 fail.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
dir=$(mktemp -d /tmp/sluice-deps-test.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Every package is installed but those listed in $dir/absent; every service is running.
cat >"$dir/dpkg-query" <<'STUB'
#!/bin/sh
for a; do pkg=$a; done
grep -qx "$pkg" "$(dirname "$0")/absent" 2>/dev/null && exit 1
printf 'install ok installed'
STUB
cat >"$dir/systemctl" <<'STUB'
#!/bin/sh
echo "systemctl $*" >>"$(dirname "$0")/calls"
exit 0
STUB
cat >"$dir/apt-get" <<'STUB'
#!/bin/sh
echo "apt-get $*" >>"$(dirname "$0")/calls"
exit 0
STUB
cp "$dir/apt-get" "$dir/sudo"
sed -i 's/apt-get \$\*/sudo $*/; s/^exit 0$/exec "$@"/' "$dir/sudo"
chmod +x "$dir"/*

: >"$dir/calls"
PATH=$dir:$PATH "$top/tools/deps" install >/dev/null || fail "tools/deps install failed"
stops=$(grep 'systemctl stop' "$dir/calls" || true)
[ -z "$stops" ] || fail "with every package there, tools/deps stopped the machine's: $stops"
! grep -q 'apt-get' "$dir/calls" || fail "with every package there, tools/deps ran apt-get"

echo nginx-light >"$dir/absent"
: >"$dir/calls"
PATH=$dir:$PATH "$top/tools/deps" install >/dev/null || fail "tools/deps install failed"
grep -q 'apt-get .*install.* nginx-light' "$dir/calls" ||
  fail "tools/deps did not install the missing nginx-light: $(cat "$dir/calls")"
stops=$(grep 'systemctl stop' "$dir/calls" || true)
[ "$stops" = "systemctl stop nginx" ] ||
  fail "having installed nginx-light, tools/deps stopped: ${stops:-nothing}"
echo "ok: tools/deps install stops only the services of what it installed"
