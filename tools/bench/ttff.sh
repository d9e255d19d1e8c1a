#!/usr/bin/env bash
# tools/bench/ttff.sh [RUNS [ttff.mjs options]] — time to first frame and seek-to-playing through Sluice and
# through nginx over the same files (tools/bench/ttff.mjs), on a demo stack of its own:
# tools/demo --detach with its state in a temporary directory, stopped at the end. The demo
# titles are reused from var/demo/origin when a demo has made them (SLUICE_DEMO_ORIGIN
# overrides). Prints a Markdown table; further options go to ttff.mjs (--variants, --timeline).
# Environment: SLUICE_BUILD_DIR (build).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-10}
[ $# -gt 0 ] && shift
state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-ttff-demo.XXXXXX")
export SLUICE_DEMO_VAR=$state SLUICE_DEMO_PORTS=auto SLUICE_DEMO_SKIP_DEPS=1
export SLUICE_DEMO_ORIGIN=${SLUICE_DEMO_ORIGIN:-$top/var/demo/origin}
stop() {
  "$top/tools/demo" --stop >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap stop EXIT
"$top/tools/demo" --detach >"$state/demo.log" 2>&1 || { cat "$state/demo.log" >&2; exit 1; }
node "$top/tools/bench/ttff.mjs" --env "$state/env" --runs "$runs" "$@"
