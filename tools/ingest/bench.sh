#!/usr/bin/env bash
# tools/ingest/bench.sh BUILD_DIR [SECONDS] — the two figures issue 3 asks for:
#  1. ladder encoding time per source minute, renditions in parallel (--jobs = cores) against
#     the same ffmpeg commands one after another (--jobs 1);
#  2. the encryption pass in MB/s against `openssl enc -aes-128-ctr` over the same bytes.
# Wall times on a shared machine mislead: CPU seconds are printed beside them.
set -euo pipefail
build=${1:?usage: bench.sh BUILD_DIR [SECONDS]}
secs=${2:-30}
ingest="$build/tools/ingest/sluice-ingest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/origin"

run() { # title, then ingest arguments; prints "wall user sys"
  local t=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$ingest" --title "$t" --origin "$work/origin" \
    --no-progress "$@" 2>"$work/$t.log" >/dev/null
  cat "$work/time"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)"
read -r pw pu ps < <(run par --test-source "$secs" --ladder 240p,360p,480p,720p,1080p)
read -r sw su ss < <(run ser --test-source "$secs" --ladder 240p,360p,480p,720p,1080p --jobs 1)
awk -v s="$secs" -v pw="$pw" -v pc="$(echo "$pu + $ps" | bc)" -v sw="$sw" -v sc="$(echo "$su + $ss" | bc)" 'BEGIN {
  printf "ladder (5 rungs + audio), %d s source\n", s
  printf "  parallel: %7.1f s wall per source minute (%.1f CPU-s)\n", pw * 60 / s, pc * 60 / s
  printf "  serial:   %7.1f s wall per source minute (%.1f CPU-s)\n", sw * 60 / s, sc * 60 / s
  printf "  serial / parallel wall ratio: %.2f\n", sw / pw }'

run enc --test-source "$secs" --ladder 240p,360p,480p,720p,1080p --encrypt \
  --key-out "$work/key.json" >/dev/null
grep 'encrypted' "$work/enc.log" | sed 's/^sluice-ingest: /  ingest /'
find "$work/origin/enc" -name 'seg-*.m4s' -print0 | xargs -0 cat >"$work/all.bin"
bytes=$(stat -c %s "$work/all.bin")
start=$(date +%s.%N)
openssl enc -aes-128-ctr -K "$(jq -r .key "$work/key.json")" -iv 00000000000000000000000000000000 \
  -in "$work/all.bin" -out /dev/null
end=$(date +%s.%N)
awk -v b="$bytes" -v t="$(echo "$end - $start" | bc)" \
  'BEGIN { printf "  openssl enc -aes-128-ctr: %.1f MB in %.3f s (%.1f MB/s)\n", b / 1e6, t, b / 1e6 / t }'
