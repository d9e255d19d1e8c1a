#!/usr/bin/env bash
# tests/e2e/make-clip.sh OUTDIR [SECONDS] [SOURCE]
#
# Encode a synthetic DASH title into OUTDIR with ffmpeg: a moving lavfi test pattern (SOURCE,
# default testsrc2) with each rendition's label burnt in, plus a sine tone; H.264 (libx264) and
# AAC; fMP4 segments of 4 s with keyframes aligned across renditions. The title id is
# basename(OUTDIR). Layout (as the origin stores titles, see DESIGN.md):
#
#   OUTDIR/manifest.mpd            SegmentTemplate MPD for this clip (control will generate
#                                  MPDs later; until then the clip's own is pushed to the edge)
#   OUTDIR/<rep>/init.mp4          rep = v216 v360 v576 v720 a128 (the seed ladder's lower
#                                  rungs: 0.3, 0.7, 1.5 and 3 Mbit/s video, 128 kbit/s audio)
#   OUTDIR/<rep>/seg-<n>.m4s       n = 1, 2, ...
#
# SECONDS defaults to 16 (at most 600). Reruns with the same inputs reuse OUTDIR (stamp file
# OUTDIR/.clip-stamp); anything else rebuilds it from scratch.
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  '') usage >&2; exit 2 ;;
esac

out=$1
secs=${2:-16}
source=${3:-testsrc2}
case "$secs" in
  ''|*[!0-9]*) echo "make-clip: SECONDS must be a whole number: $secs" >&2; exit 2 ;;
esac
if [ "$secs" -lt 4 ] || [ "$secs" -gt 600 ]; then
  echo "make-clip: SECONDS must be between 4 and 600" >&2; exit 2
fi
case "$source" in
  testsrc2|testsrc|rgbtestsrc|smptehdbars|life|mandelbrot|cellauto) ;;
  *) echo "make-clip: unsupported SOURCE: $source" >&2; exit 2 ;;
esac
command -v ffmpeg >/dev/null || { echo "make-clip: ffmpeg not found" >&2; exit 2; }

fps=25
seg=4
gop=$((fps * seg))
# name size video-bitrate(kbit/s); sizes exactly 16:9 (the dash muxer wants one aspect ratio
# per adaptation set); audio is one 128 kbit/s AAC representation.
ladder=("v216 384x216 300" "v360 640x360 700" "v576 1024x576 1500" "v720 1280x720 3000")

# The stamp covers everything that shapes the output, including this script itself.
stamp_want=$( { cat "$0"; echo "$secs $source"; ffmpeg -hide_banner -version | head -1; } |
  sha256sum | cut -d' ' -f1)
if [ -f "$out/.clip-stamp" ] && [ "$(cat "$out/.clip-stamp")" = "$stamp_want" ] &&
   [ -f "$out/manifest.mpd" ]; then
  exit 0
fi

font=""
for f in /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf \
         /usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf; do
  [ -f "$f" ] && { font=$f; break; }
done
text=0
filters=$(ffmpeg -hide_banner -filters 2>/dev/null || true)
if grep -qw drawtext <<<"$filters" && [ -n "$font" ]; then
  text=1
fi

case "$source" in
  life) src="life=s=1280x720:r=$fps:mold=10:ratio=0.1:death_color=#203040:life_color=#40c060" ;;
  cellauto) src="cellauto=s=1280x720:r=$fps:rule=110" ;;
  mandelbrot) src="mandelbrot=s=1280x720:r=$fps" ;;
  *) src="$source=s=1280x720:r=$fps" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-clip.XXXXXX")
trap 'rm -rf "$work"' EXIT

n=${#ladder[@]}
graph="[0:v]split=$n"
for i in $(seq 0 $((n - 1))); do graph+="[s$i]"; done
graph+=";"
maps=()
codec=()
for i in $(seq 0 $((n - 1))); do
  read -r name size kbps <<<"${ladder[$i]}"
  h=${size#*x}
  chain="[s$i]scale=${size/x/:},setsar=1"
  if [ "$text" = 1 ]; then
    size=$((h / 10))
    # Rendition label and media time, so a screenshot shows which quality is on screen.
    chain+=",drawtext=fontfile=$font:fontsize=$size:fontcolor=white:box=1:boxcolor=black@0.6"
    chain+=":boxborderw=$((size / 4)):x=(w-tw)/2:y=h/12"
    chain+=":text='$(basename "$out") ${h}p ${kbps}k'"
    chain+=",drawtext=fontfile=$font:fontsize=$size:fontcolor=yellow:box=1:boxcolor=black@0.6"
    chain+=":boxborderw=$((size / 4)):x=(w-tw)/2:y=h-th-h/12"
    chain+=":text='%{pts\\:hms}'"
  fi
  graph+="$chain[v$i]"
  [ "$i" -lt $((n - 1)) ] && graph+=";"
  maps+=(-map "[v$i]")
  codec+=(-b:v:$i "${kbps}k" -maxrate:v:$i "$((kbps * 11 / 10))k" -bufsize:v:$i "$((kbps * 2))k")
done
maps+=(-map 1:a)

vsets=$(seq -s, 0 $((n - 1)))
for i in $(seq 0 "$n"); do mkdir "$work/r$i"; done # the dash muxer makes no directories
# $RepresentationID$ is ffmpeg's stream index; representations get their names below.
# repeat-headers puts SPS/PPS in every keyframe too: when a player abandons a download on a
# sudden throughput drop and switches rung, a late segment can land behind the other rung's
# init segment, and in-band parameter sets let the decoder take it instead of failing.
ffmpeg -hide_banner -loglevel error -nostdin -y \
  -f lavfi -i "$src" \
  -f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=48000" \
  -filter_complex "$graph" "${maps[@]}" -t "$secs" \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
  -g "$gop" -keyint_min "$gop" -sc_threshold 0 -x264-params "scenecut=0:open_gop=0:repeat-headers=1" \
  "${codec[@]}" \
  -c:a aac -b:a 128k -ac 2 -ar 48000 \
  -f dash -seg_duration "$seg" -use_template 1 -use_timeline 0 -single_file 0 \
  -init_seg_name 'r$RepresentationID$/init.mp4' \
  -media_seg_name 'r$RepresentationID$/seg-$Number$.m4s' \
  -adaptation_sets "id=0,streams=$vsets id=1,streams=$n" \
  "$work/manifest.mpd"

# Give representations stable names: directory r<i> → <name>, and the MPD's ids with it.
mpd="$work/manifest.mpd"
names=()
for i in $(seq 0 $((n - 1))); do read -r name _ <<<"${ladder[$i]}"; names+=("$name"); done
names+=(a128)
for i in "${!names[@]}"; do
  [ -d "$work/r$i" ] || { echo "make-clip: ffmpeg wrote no r$i/" >&2; exit 1; }
  mv "$work/r$i" "$work/${names[$i]}"
  sed -i -E "s/(<Representation id=\")$i(\")/\1${names[$i]}\2/" "$mpd"
done
sed -i -E 's/"r\$RepresentationID\$/"$RepresentationID$/g' "$mpd"
for name in "${names[@]}"; do
  grep -q "<Representation id=\"$name\"" "$mpd" ||
    { echo "make-clip: could not name representation $name in the MPD" >&2; exit 1; }
  [ -s "$work/$name/init.mp4" ] && [ -s "$work/$name/seg-1.m4s" ] ||
    { echo "make-clip: $name has no init or first segment" >&2; exit 1; }
done

mkdir -p "$(dirname "$out")"
rm -rf "$out"
mv "$work" "$out"
chmod -R a+rX "$out"
trap - EXIT
echo "$stamp_want" >"$out/.clip-stamp"
