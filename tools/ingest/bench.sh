#!/usr/bin/env bash
# tools/ingest/bench.sh BUILD_DIR [SECONDS] — the two figures issue 3 asks for:
#  1. ladder encoding time per source minute, renditions in parallel (--jobs = cores) against
#     the same ffmpeg commands one after another: run by ingest (--jobs 1), and by hand (the
#     commands the parallel run started, recorded by a wrapper and replayed here in turn);
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

# Records the arguments of each ffmpeg run (NUL-separated, a file per run) and runs it.
mkdir "$work/cmds" "$work/hand"
printf '#!/bin/sh\nprintf "%%s\\0" "$@" >"%s/cmds/$$"\nexec ffmpeg "$@"\n' "$work" >"$work/ffmpeg-rec"
chmod +x "$work/ffmpeg-rec"

hand() { # replay the recorded commands one after another, into $work/hand
  local f a args
  for f in "$work/cmds"/*; do
    args=()
    while IFS= read -r -d '' a; do
      # output paths pointed into ingest's temporary title directory: keep REP/FILE
      if [[ $a == "$work/origin/.ingest."* ]]; then
        a=$work/hand/$(basename "$(dirname "$a")")/$(basename "$a")
        mkdir -p "$(dirname "$a")"
      fi
      args+=("$a")
    done <"$f"
    ffmpeg "${args[@]}" >/dev/null
  done
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)"
read -r pw pu ps < <(run par --test-source "$secs" --ladder 240p,360p,480p,720p,1080p \
  --ffmpeg "$work/ffmpeg-rec")
read -r sw su ss < <(run ser --test-source "$secs" --ladder 240p,360p,480p,720p,1080p --jobs 1)
export -f hand
export work
/usr/bin/time -f "%e %U %S" -o "$work/time" bash -c hand
read -r hw hu hs <"$work/time"
awk -v s="$secs" -v pw="$pw" -v pc="$(echo "$pu + $ps" | bc)" -v sw="$sw" -v sc="$(echo "$su + $ss" | bc)" \
  -v hw="$hw" -v hc="$(echo "$hu + $hs" | bc)" -v n="$(ls "$work/cmds" | wc -l)" 'BEGIN {
  printf "ladder (5 rungs + audio), %d s source\n", s
  printf "  parallel: %7.1f s wall per source minute (%.1f CPU-s)\n", pw * 60 / s, pc * 60 / s
  printf "  serial:   %7.1f s wall per source minute (%.1f CPU-s)\n", sw * 60 / s, sc * 60 / s
  printf "  by hand:  %7.1f s wall per source minute (%.1f CPU-s), %d ffmpeg commands in turn\n", hw * 60 / s, hc * 60 / s, n
  printf "  serial / parallel wall ratio: %.2f\n", sw / pw
  printf "  by hand / parallel wall ratio: %.2f\n", hw / pw }'

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
