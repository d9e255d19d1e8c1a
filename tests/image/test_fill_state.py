# SPDX-License-Identifier: MIT
"""The appliance keeps the fill agent's journal across reboots (no image, no qemu).

    python3 test_fill_state.py SOURCE_DIR

/var is a tmpfs on the appliance (systemd.volatile=state), so the journal under the unit's
StateDirectory= was lost at every reboot and a run stopped by one pushed everything again.
tools/image installs a drop-in (tools/image.d/sluice-fill-state.conf) that keeps it on the
cache partition. Checked here: the drop-in's command line is the unit's with --state-dir
added (so the two cannot drift apart), that directory is the drop-in's CacheDirectory= on the
partition fstab mounts at /var/cache, the image installs the drop-in, and sluice-fill's
--help lists --state-dir.
"""
import os
import re
import sys


def directives(path):
    """key -> values, in order, of a systemd unit file (comments and sections left out)."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";", "[")):
                continue
            k, _, v = line.partition("=")
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def main():
    src = sys.argv[1]
    failed = []
    unit = directives(os.path.join(src, "dist", "systemd", "sluice-fill.service.in"))
    dropin = directives(os.path.join(src, "tools", "image.d", "sluice-fill-state.conf"))
    base = unit["ExecStart"][-1].replace("@bindir@", "/usr/bin")
    want_dir = "/var/cache/sluice-fill"
    if dropin.get("ExecStart") != ["", f"{base} --state-dir {want_dir}"]:
        failed.append(f"drop-in ExecStart {dropin.get('ExecStart')}, want the unit's reset and "
                      f"{base!r} with --state-dir {want_dir}")
    if dropin.get("CacheDirectory") != ["sluice-fill"]:
        failed.append(f"drop-in CacheDirectory {dropin.get('CacheDirectory')}, want sluice-fill")
    with open(os.path.join(src, "tools", "image.d", "fstab")) as f:
        mounts = [l.split() for l in f if l.strip() and not l.startswith("#")]
    cache = [m for m in mounts if m[1] == "/var/cache"]
    if not cache or cache[0][0] != "LABEL=sluice-cache" or "tmpfs" in cache[0][2]:
        failed.append(f"/var/cache is not the cache partition in fstab: {cache}")
    with open(os.path.join(src, "tools", "image")) as f:
        image = f.read()
    if not re.search(r'install -m 0644 "\$here/sluice-fill-state\.conf" \\\n\s+'
                     r'"\$root/usr/lib/systemd/system/sluice-fill\.service\.d/[^"]+\.conf"', image):
        failed.append("tools/image does not install the drop-in under sluice-fill.service.d")
    with open(os.path.join(src, "fill-agent", "cli.c")) as f:
        if '"  --state-dir DIR' not in f.read():
            failed.append("sluice-fill's --help lists no --state-dir")
    for msg in failed:
        print("not ok -", msg)
    if not failed:
        print("ok - the appliance's fill journal is on the cache partition")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
