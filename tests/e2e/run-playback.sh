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

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

chromium=${SLUICE_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || skip "no Chromium at $chromium (apt-get install chromium)"
command -v node >/dev/null || skip "node is not installed"
[ -f "$here/node_modules/dashjs/package.json" ] &&
  [ -f "$here/node_modules/playwright-core/package.json" ] ||
  skip "tests/e2e/node_modules is missing (run: cd tests/e2e && npm ci)"
command -v ffmpeg >/dev/null || skip "ffmpeg is not installed"
command -v curl >/dev/null || skip "curl is not installed"
edge_bin=$build/edge/sluice-edge
[ -x "$edge_bin" ] || fail "no edge binary at $edge_bin"

media=$build/tests/e2e/media/$title
mkdir -p "$build/tests/e2e"
"$here/make-clip.sh" "$media" "$secs" || fail "could not encode the clip"
node "$here/hls-playlists.mjs" "$media" || fail "could not write HLS playlists for the clip"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-e2e.XXXXXX")
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    # Wait for each to go (bounded); whatever is left after that is killed outright.
    timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
  done
  exec 3<&- 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    for f in edge.log player.err; do
      [ -s "$tmp/$f" ] && { echo "--- $f (last 40 lines)"; tail -n 40 "$tmp/$f"; }
    done
  fi
  if [ "${SLUICE_E2E_KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Three free loopback ports: client listener, admin listener, and one left closed that stands
# for an unreachable upstream (everything the test plays is pushed, so no fill may happen).
read -r port admin_port dead_port < <(node -e '
  const net = require("node:net");
  const socks = [0, 1, 2].map(() => net.createServer().listen(0, "127.0.0.1"));
  Promise.all(socks.map((s) => new Promise((r) => s.on("listening", r)))).then(() => {
    console.log(socks.map((s) => s.address().port).join(" "));
    socks.forEach((s) => s.close());
  });')
[ -n "$dead_port" ] || fail "could not find free ports"
edge_url=http://127.0.0.1:$port
admin_url=http://127.0.0.1:$admin_port

# The player page's server picks its own port and reports it on its first stdout line.
mkfifo "$tmp/player.out"
node "$here/player/serve.mjs" --listen 127.0.0.1:0 --edge "$edge_url" --edge-id e2e-edge \
  --title "$title" >"$tmp/player.out" 2>"$tmp/player.err" &
pids+=($!)
exec 3<"$tmp/player.out"
line=""
read -r -t 15 line <&3 || true
case "$line" in
  PLAYER_URL=http://*) player_url=${line#PLAYER_URL=} ;;
  *) fail "the player server did not start: '$line'" ;;
esac
player_origin=${player_url%/}

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/admin.token"
token=$(cat "$tmp/admin.token")
cat >"$tmp/edge.yaml" <<EOF
listen: ["127.0.0.1:$port"]
workers: 1
admin: {listen: "127.0.0.1:$admin_port", token_file: "$tmp/admin.token"}
cache: {dir: "$tmp/cache", max_size: 256M}
upstreams: [{url: "http://127.0.0.1:$dead_port"}]
tokens: {required: false}
control: {edge_id: e2e-edge, region: local}
log: {level: info, target: stderr, access_log: "$tmp/access.log"}
cors_origins: ["$player_origin"]
EOF

"$edge_bin" --check-config --config "$tmp/edge.yaml" >"$tmp/edge.log" 2>&1 ||
  fail "edge rejected the test config: $(cat "$tmp/edge.log")"
"$edge_bin" --config "$tmp/edge.yaml" >>"$tmp/edge.log" 2>&1 &
edge_pid=$!
pids+=("$edge_pid")

# Ready when /healthz answers; curl retries on refused connections up to its deadline.
curl -sf -o /dev/null --retry 20 --retry-connrefused --retry-delay 1 --retry-max-time 20 \
  "$admin_url/healthz" || fail "edge did not become healthy on $admin_url"
kill -0 "$edge_pid" 2>/dev/null || fail "edge exited during start-up"

# Push every file of the title; the edge must accept each with its length and SHA-256.
pushed=0
while IFS= read -r -d '' f; do
  rel=${f#"$media"/}
  sum=$(sha256sum "$f" | cut -d' ' -f1)
  code=$(curl -sS -o "$tmp/put.out" -w '%{http_code}' -X PUT -T "$f" -H 'Expect:' \
    -H "Authorization: Bearer $token" -H "X-Sluice-SHA256: $sum" \
    "$admin_url/admin/objects/$title/$rel") || fail "PUT $title/$rel: curl failed"
  case "$code" in
    200|201|204) pushed=$((pushed + 1)) ;;
    *) fail "PUT $title/$rel answered $code: $(head -c 300 "$tmp/put.out")" ;;
  esac
done < <(find "$media" -type f ! -name '.*' -print0 | sort -z)
[ "$pushed" -ge 10 ] || fail "only $pushed files pushed"
echo "pushed $pushed objects of $title into the edge"

# The admin API must refuse a push without the token: the test's pushes above prove nothing
# about authorisation otherwise.
code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary x \
  "$admin_url/admin/objects/$title/unauthorised.bin")
[ "$code" = 401 ] || [ "$code" = 403 ] || fail "PUT without a token answered $code"

set +e
case "$mode" in
  playback)
    node "$here/play.mjs" --page "${player_url}?title=$title" --edge "$edge_url" \
      --title "$title" --media "$media" --chromium "$chromium" \
      --screenshot "$build/tests/e2e/playback.png" & ;;
  abr)
    node "$here/abr.mjs" --page "${player_url}?title=$title&buffer=12" --chromium "$chromium" & ;;
  players)
    node "$here/alt-players.mjs" --page-origin "$player_origin" --edge "$edge_url" \
      --dash "$edge_url/$title/manifest.mpd" --hls "$edge_url/$title/master.m3u8" \
      --chromium "$chromium" & ;;
esac
play_pid=$!
pids+=("$play_pid")
wait "$play_pid"
play_rc=$?
set -e
[ "$play_rc" -eq 77 ] && skip "Chromium cannot play this content"
[ "$play_rc" -eq 0 ] || fail "$mode checks failed (exit $play_rc)"

# SIGTERM drains the edge and it exits 0 (DESIGN.md contract).
kill -TERM "$edge_pid"
timeout 20 tail --pid="$edge_pid" -f /dev/null || fail "edge did not exit within 20 s of SIGTERM"
set +e
wait "$edge_pid"
edge_rc=$?
set -e
[ "$edge_rc" -eq 0 ] || fail "edge exited $edge_rc after SIGTERM"
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
  fail "access log shows $cmcd_hits requests with CMCD parsed and kept out of the key"
echo "edge logged CMCD for $cmcd_hits requests, cache keys without it"
echo "PASS: playback through sluice-edge"
