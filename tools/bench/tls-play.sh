#!/usr/bin/env bash
# tools/bench/tls-play.sh [RUNS] — cold time to first frame with the media over plain HTTP
# against over TLS with h2 (tools/bench/tls-play.mjs), on two demo stacks of its own started
# side by side: tools/demo --detach and tools/demo --https --detach, state in temporary
# directories, stopped at the end. Chromium trusts the https demo's CA through an NSS database
# in a private HOME. The demo titles are reused from var/demo/origin when a demo has made them
# (SLUICE_DEMO_ORIGIN overrides). Environment: SLUICE_BUILD_DIR (build).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-7}
command -v certutil >/dev/null || { echo "tls-play: certutil is not installed (libnss3-tools)" >&2; exit 1; }
state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-tls-play.XXXXXX")
# PostgreSQL may run as another user (tools/pg-temp as root): it must reach each demo's pg/.
chmod 0711 "$state"
export SLUICE_DEMO_PORTS=auto SLUICE_DEMO_SKIP_DEPS=1
export SLUICE_DEMO_ORIGIN=${SLUICE_DEMO_ORIGIN:-$top/var/demo/origin}
stop() {
  SLUICE_DEMO_VAR=$state/http "$top/tools/demo" --stop >/dev/null 2>&1 || true
  SLUICE_DEMO_VAR=$state/https "$top/tools/demo" --stop >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap stop EXIT
mkdir -p "$state/http" "$state/https"
SLUICE_DEMO_VAR=$state/http "$top/tools/demo" --detach >"$state/http.log" 2>&1 ||
  { cat "$state/http.log" >&2; exit 1; }
SLUICE_DEMO_VAR=$state/https SLUICE_DEMO_SKIP_BUILD=1 "$top/tools/demo" --https --detach \
  >"$state/https.log" 2>&1 || { cat "$state/https.log" >&2; exit 1; }
. "$top/tests/e2e/lib.sh"
e2e_trust_ca "$state/home" "$state/https/tls/ca.pem" "sluice demo ca"
HOME=$state/home node "$top/tools/bench/tls-play.mjs" --http "$state/http/env" \
  --https "$state/https/env" --runs "$runs"
