#!/usr/bin/env bash
# tests/e2e/run-playback.sh BUILD_DIR [MODE]
#
# MODE (default playback):
#   playback  dash.js plays a 16 s clip (checks below, in play.mjs)
#   abr       dash.js plays a 60 s, 4-rung clip under a CDP throttle 8 → 1 → 8 Mbit/s (abr.mjs)
#   players   Shaka Player (the MPD) and hls.js (HLS playlists written for the clip by
#             hls-playlists.mjs and pushed with it) play the 16 s clip (alt-players.mjs)
#
# Real-player playback test: encode a short DASH clip, start the real sluice-edge from
# BUILD_DIR on free loopback ports, push every file of the clip through the admin API (with its
# X-Sluice-SHA256), serve the player page from a second origin, and let dash.js in headless
# Chromium play the clip from the edge (tests/e2e/play.mjs lists the checks). Also checks that
# the admin API refuses a push without the token, that the edge exits 0 on SIGTERM, and that
# its access log shows the player's CMCD parsed and kept out of the cache key.
#
# Exit 0 pass, 1 fail, 77 skip (no Chromium, node, ffmpeg, curl or tests/e2e/node_modules).
# Environment: SLUICE_CHROMIUM (default /usr/bin/chromium), SLUICE_E2E_KEEP=1 keeps the temp
# dir (config, logs) for a look after a failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 BUILD_DIR [playback|abr|players]" >&2; exit 2; }
build=$(cd "$1" && pwd)
mode=${2:-playback}
case "$mode" in
  playback|players) title=e2e-clip secs=16 ;;
  abr) title=e2e-abr secs=60 ;;
  *) echo "unknown mode: $mode" >&2; exit 2 ;;
esac

. "$here/lib.sh"
e2e_need_browser dashjs playwright-core
e2e_need_tools ffmpeg curl
chromium=$E2E_CHROMIUM
edge_bin=$build/edge/sluice-edge
[ -x "$edge_bin" ] || e2e_fail "no edge binary at $edge_bin"

media=$build/tests/e2e/media/$title
mkdir -p "$build/tests/e2e"
"$here/make-clip.sh" "$media" "$secs" || e2e_fail "could not encode the clip"
node "$here/hls-playlists.mjs" "$media" || e2e_fail "could not write HLS playlists for the clip"

e2e_scratch sluice-e2e edge.log player.err
tmp=$E2E_TMP

# Three free loopback ports: client listener, admin listener, and one left closed that stands
# for an unreachable upstream (everything the test plays is pushed, so no fill may happen).
read -r port admin_port dead_port < <(e2e_free_ports 3)
[ -n "$dead_port" ] || e2e_fail "could not find free ports"
edge_url=http://127.0.0.1:$port
admin_url=http://127.0.0.1:$admin_port

# The player page's server picks its own port and reports it on its first stdout line.
e2e_player_start "$tmp" --listen 127.0.0.1:0 --edge "$edge_url" --edge-id e2e-edge --title "$title"
player_url=$E2E_PLAYER_URL
player_origin=${player_url%/}

e2e_secret "$tmp/admin.token" 32
token=$(cat "$tmp/admin.token")
e2e_edge_yaml "$tmp" "$port" "$admin_port" "$dead_port" "$player_origin" >"$tmp/edge.yaml"

e2e_edge_start "$edge_bin" "$tmp/edge.yaml" "$tmp/edge.log" "$admin_url"
edge_pid=$E2E_EDGE_PID

# Push every file of the title; the edge must accept each with its length and SHA-256.
e2e_push_dir "$admin_url" "$token" "$media" "$title"
[ "$E2E_PUSHED" -ge 10 ] || e2e_fail "only $E2E_PUSHED files pushed"
echo "pushed $E2E_PUSHED objects of $title into the edge"

# The admin API must refuse a push without the token: the test's pushes above prove nothing
# about authorisation otherwise.
code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary x \
  "$admin_url/admin/objects/$title/unauthorised.bin")
[ "$code" = 401 ] || [ "$code" = 403 ] || e2e_fail "PUT without a token answered $code"

case "$mode" in
  playback)
    checker=("$here/play.mjs" --page "${player_url}?title=$title" --edge "$edge_url"
      --title "$title" --media "$media" --chromium "$chromium"
      --screenshot "$build/tests/e2e/playback.png") ;;
  abr)
    checker=("$here/abr.mjs" --page "${player_url}?title=$title&buffer=12" --chromium "$chromium") ;;
  players)
    checker=("$here/alt-players.mjs" --page-origin "$player_origin" --edge "$edge_url"
      --dash "$edge_url/$title/manifest.mpd" --hls "$edge_url/$title/master.m3u8"
      --chromium "$chromium") ;;
esac
e2e_run_checks "$mode" node "${checker[@]}"

# SIGTERM drains the edge and it exits 0 (DESIGN.md contract).
e2e_edge_stop "$edge_pid"
echo "edge exited 0 after SIGTERM"

if [ "$mode" != playback ]; then
  echo "PASS: $mode through sluice-edge"
  exit 0
fi

# The player sent CMCD in the query (player.js default): the edge must have parsed it and kept
# it out of the cache key (access-log line format: edge/access-log.h).
cmcd_hits=$(grep -cE "\"GET /$title/[^\" ?]+\?CMCD=[^\"]*\" 20[06] .* key=/$title/[^ ?]+ cmcd=[^-]" \
  "$tmp/access.log" || true)
[ "$cmcd_hits" -ge 2 ] ||
  e2e_fail "access log shows $cmcd_hits requests with CMCD parsed and kept out of the key"
echo "edge logged CMCD for $cmcd_hits requests, cache keys without it"
echo "PASS: playback through sluice-edge"
