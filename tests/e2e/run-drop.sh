#!/usr/bin/env bash
# tests/e2e/run-drop.sh BUILD_DIR
#
# A sharp bandwidth drop under the player page, over a real shaped link: the edge and the
# player page's server in one network namespace, Chromium in another, one veth link between
# them whose download direction is rate-limited with tc (tbf). The page plays the 60 s, 4-rung
# clip (e2e/abr's) from the edge, starting at the 360p rung (startbw), while the link goes
# 8 -> 0.6 -> 8 Mbit/s (15 s, 25 s, 10 s): the drop meets a 720p segment in flight, which
# dash.js abandons. tests/e2e/drop.mjs lists the checks: no media error, a switch down, media
# time going on, the abandoned download cancelled, no request timeout, no segment appended
# behind another rung's init segment.
#
# Exit 0 pass, 1 fail, 77 skip (not root, no ip or tc, namespaces, ip netns exec, veth pairs
# or tbf refused, or no Chromium, node, ffmpeg, curl or tests/e2e/node_modules). The
# namespaces and everything in them are removed on exit, and by a guard when meson kills the
# script first. SLUICE_E2E_KEEP=1 keeps the temp dir (config, logs).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
title=e2e-abr secs=60 # the e2e/abr clip: made once, for both

. "$here/lib.sh"
[ "$(id -u)" = 0 ] || e2e_skip "network namespaces need root (run as root)"
command -v ip >/dev/null || e2e_skip "no ip command (apt-get install iproute2)"
command -v tc >/dev/null || e2e_skip "no tc command (apt-get install iproute2)"
e2e_need_browser dashjs playwright-core
e2e_need_tools ffmpeg curl
edge_bin=$build/edge/sluice-edge
[ -x "$edge_bin" ] || e2e_fail "no edge binary at $edge_bin"

NETNS_PREFIX=sluice-e2e-drop-$$
. "$here/netns-net.sh"
why=$(netns_probe) || e2e_skip "$why"

media=$build/tests/e2e/media/$title
mkdir -p "$build/tests/e2e"
"$here/make-clip.sh" "$media" "$secs" || e2e_fail "could not encode the clip"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-e2e-drop.XXXXXX")
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  e2e_stop_pids
  netns_teardown
  e2e_guard_off
  exec 3<&- 2>/dev/null || true
  local left
  left=$(ip netns list | grep -F "$NETNS_PREFIX-" || true)
  if [ -n "$left" ]; then
    echo "FAIL: left behind after the test: $left" >&2
    [ "$rc" -eq 0 ] && rc=1
  fi
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then e2e_show_logs "$tmp" edge.log player.err; fi
  if [ "${SLUICE_E2E_KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
E2E_GUARD_NET=$here/netns-net.sh NETNS_PREFIX=$NETNS_PREFIX e2e_guard '
  . "$E2E_GUARD_NET"
  netns_teardown'

# The hub namespace is the server's side of the link (10.77.1.1), the client's is 10.77.1.2.
netns_hub_make || e2e_fail "could not make the hub namespace"
netns_host_add client 1 || e2e_fail "could not link the client namespace"
netns_netem_probe || e2e_skip "$NETNS_NETEM_WHY"
hub=$(netns_name hub)
client=$(netns_name client)
server=10.77.1.1
# Towards the client: tbf on the hub's end of the link. drop.mjs changes the rate.
tc -n "$hub" qdisc add dev v-client root tbf rate 8mbit burst 32kb latency 200ms ||
  e2e_fail "could not shape the client's link"
shape="tc -n $hub qdisc change dev v-client root tbf rate {rate} burst 32kb latency 200ms"

export E2E_NETNS=$hub
e2e_player_start "$tmp" --listen "$server:8090" --edge "http://$server:8080" --edge-id e2e-edge \
  --title "$title"
player_url=$E2E_PLAYER_URL

e2e_secret "$tmp/admin.token" 32
cat >"$tmp/edge.yaml" <<YAML
listen: ["$server:8080"]
workers: 1
admin: {listen: "127.0.0.1:8081", token_file: "$tmp/admin.token"}
cache: {dir: "$tmp/cache", max_size: 256M}
upstreams: [{url: "http://127.0.0.1:8082"}]
tokens: {required: false}
control: {edge_id: e2e-edge, region: local}
log: {level: info, target: stderr, access_log: "$tmp/access.log"}
cors_origins: ["${player_url%/}"]
YAML
e2e_edge_start "$edge_bin" "$tmp/edge.yaml" "$tmp/edge.log" http://127.0.0.1:8081
edge_pid=$E2E_EDGE_PID
e2e_push_dir http://127.0.0.1:8081 "$(cat "$tmp/admin.token")" "$media" "$title"
[ "$E2E_PUSHED" -ge 10 ] || e2e_fail "only $E2E_PUSHED files pushed"
echo "pushed $E2E_PUSHED objects of $title into the edge"

# 700 kbit/s: the 360p rung, from which dash.js climbs to 720p before the drop.
e2e_run_checks drop ip netns exec "$client" node "$here/drop.mjs" \
  --page "${player_url}?title=$title&startbw=700000" --shape "$shape" --chromium "$E2E_CHROMIUM"

e2e_edge_stop "$edge_pid"
echo "PASS: a bandwidth drop through sluice-edge"
