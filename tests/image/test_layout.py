# SPDX-License-Identifier: MIT
"""The appliance disk's partitions start at the same offsets whatever its root holds (no image).

    python3 test_layout.py SOURCE_DIR

The root partition was sized by its contents (plus a quarter and 64 MiB), so a release whose
root grew by a few MiB moved the config and cache partitions: an upgrade could not write the
ESP and root alone and keep the operator's configuration and the cache. tools/image now gives
the root a fixed size (--root-size, default 1G) through tools/image.d/layout.sh, which this
test runs as tools/image does: roots of different sizes get the same offsets, and contents
that do not fit the fixed size are refused with a message naming --root-size.
"""
import os
import re
import subprocess
import sys

failed = []


def layout(src, content_mb, root_mb, cache_mb=256):
    """(exit status, {name: MiB}, stderr) of image_layout, sourced as tools/image sources it."""
    script = ('. "$1/tools/image.d/layout.sh"; image_layout "$2" "$3" "$4" || exit $?; '
              'echo "esp_start=$esp_start root_start=$root_start conf_start=$conf_start '
              'cache_start=$cache_start total=$total"')
    p = subprocess.run(["sh", "-c", script, "sh", src, str(content_mb), str(root_mb),
                        str(cache_mb)], capture_output=True, text=True, timeout=30)
    got = dict(kv.split("=") for kv in p.stdout.split())
    return p.returncode, {k: int(v) for k, v in got.items()}, p.stderr


def main():
    src = sys.argv[1]
    with open(os.path.join(src, "tools", "image")) as f:
        image = f.read()
    m = re.search(r"^root_size=(\S+)$", image, re.M)
    if not m or m.group(1) != "1G":
        failed.append(f"tools/image's default root size is {m and m.group(1)}, want 1G")
    if not re.search(r'image_layout "\$\(du -sm "\$root" \| cut -f1\)" "\$root_mb" "\$cache_mb"',
                     image):
        failed.append("tools/image does not lay the disk out with image_layout")
    helptext = subprocess.run([os.path.join(src, "tools", "image"), "--help"],
                              capture_output=True, text=True, timeout=30).stdout
    if "--root-size" not in helptext:
        failed.append("tools/image --help does not list --root-size")
    # Refused before anything is built (before the root check and debootstrap).
    for args in (["--root-size", "1Q"], ["--root-size", "1K"], ["--cache-size", "lots"]):
        p = subprocess.run([os.path.join(src, "tools", "image")] + args, capture_output=True,
                           text=True, timeout=30)
        if p.returncode == 0 or f"bad {args[0]} '{args[1]}'" not in p.stderr:
            failed.append(f"tools/image {' '.join(args)}: exit {p.returncode}, "
                          f"{p.stderr.strip()!r}, want a refusal naming the size")

    # Releases whose roots hold 300, 369 (the 2026-12-05 image) and 700 MiB.
    seen = {}
    for content in (300, 369, 700):
        rc, lay, err = layout(src, content, 1024)
        if rc != 0:
            failed.append(f"a root of {content} MiB in 1024: exit {rc}: {err.strip()}")
            continue
        seen[content] = lay
    want = {"esp_start": 1, "root_start": 129, "conf_start": 1153, "cache_start": 1169,
            "total": 1426}
    for content, lay in seen.items():
        if lay != want:
            failed.append(f"a root of {content} MiB lays the disk out as {lay}, want {want} "
                          "(the same for every release)")
    rc, lay, err = layout(src, 369, 1024, cache_mb=4096)
    if rc != 0 or lay.get("conf_start") != 1153 or lay.get("total") != 1153 + 16 + 4096 + 1:
        failed.append(f"a 4 GiB cache: exit {rc}, {lay}")
    # 800 MiB need 800 * 5/4 + 64 = 1064 MiB: refused, saying what to do.
    rc, lay, err = layout(src, 800, 1024)
    if rc == 0 or "--root-size" not in err or "1064 MiB" not in err:
        failed.append(f"a root of 800 MiB in 1024: exit {rc}, {err.strip()!r}, want a refusal "
                      "naming the size needed and --root-size")
    rc, lay, err = layout(src, 800, 2048)
    if rc != 0 or lay.get("conf_start") != 1 + 128 + 2048:
        failed.append(f"a root of 800 MiB with --root-size 2G: exit {rc}, {lay}")

    for msg in failed:
        print("not ok -", msg)
    if not failed:
        print("ok - the config and cache partitions start at the same offsets whatever the "
              "root holds; a root too large for --root-size is refused")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
