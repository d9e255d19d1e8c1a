# shellcheck shell=sh disable=SC2034
# tools/image.d/layout.sh — the appliance disk's partition layout, sourced by tools/image (and
# by tests/image/test_layout.py, which checks that it does not move between releases).
#
# image_layout ROOT_CONTENT_MB ROOT_MB CACHE_MB sets, in MiB: esp_mb, conf_mb, esp_start,
# root_start, conf_start, cache_start and total. The root partition has a fixed size (ROOT_MB,
# tools/image --root-size) rather than one taken from what it holds, so that the config and
# cache partitions start at the same offsets in every release built with the same size: an
# upgrade writes partitions 1 and 2 and keeps the operator's configuration and the cache.
# Returns 1, having said why, when the root's contents (with a quarter and 64 MiB of room for
# the file system's own metadata) do not fit ROOT_MB.

image_layout() { # ROOT_CONTENT_MB ROOT_MB CACHE_MB
  esp_mb=128
  conf_mb=16
  _need=$(( $1 * 5 / 4 + 64 ))
  if [ "$_need" -gt "$2" ]; then
    echo "the root file system's contents ($1 MiB) need a partition of $_need MiB, and" \
      "--root-size is $2 MiB: give a larger --root-size (the config and cache partitions" \
      "then start elsewhere, so the next upgrade writes the whole disk)" >&2
    return 1
  fi
  # 1 MiB for the GPT, the partitions back to back, 1 MiB for the backup GPT.
  esp_start=1
  root_start=$((esp_start + esp_mb))
  conf_start=$((root_start + $2))
  cache_start=$((conf_start + conf_mb))
  total=$((cache_start + $3 + 1))
}
