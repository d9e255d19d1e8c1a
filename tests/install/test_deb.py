# SPDX-License-Identifier: MIT
"""The Debian package that `tools/deb` makes installs, works and removes cleanly.

The build (or, when it was not configured with --prefix=/usr, a release build of the same
tree made for the package) is installed into a DESTDIR, packaged by `tools/deb --destdir`,
checked for stripped binaries (their symbols in sluice-dbgsym), and the package is
installed with dpkg into a throwaway copy of this machine's root: an overlay mounted over `/` in
a private mount namespace, so the host's dpkg database and /etc are never touched. Inside it:
the package's dependencies are satisfied, its postinst creates the `sluice` group and
/etc/sluice, the installed binaries run, and `dpkg --purge` removes every file it installed and
the links of the units an operator enabled.

    python3 test_deb.py SOURCE_DIR BUILD_DIR PREFIX

Exit status: 0 passed, 1 failed, 77 skipped (not root, or no dpkg-deb / unshare / overlayfs;
or, once every other check passed, no dpkg-shlibdeps for the library versions).
"""

import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def fail(msg, detail=""):
    print(f"not ok - {msg}")
    if detail:
        print(detail[-3000:])
    sys.exit(1)


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def run(cmd, what, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    if p.returncode != 0:
        fail(f"{what} exited {p.returncode}", p.stdout + p.stderr)
    return p.stdout


# Runs inside `unshare --mount`: a tmpfs holds the overlay's upper layer, so every write the
# package makes lands there and vanishes with the namespace. $1: the .deb, $2: the prefix.
IN_NAMESPACE = r"""
set -eu
deb=$1; prefix=$2; t=$3
mount -t tmpfs tmpfs "$t"
mkdir -p "$t/upper" "$t/work" "$t/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$t/upper,workdir=$t/work" "$t/root"
for d in proc dev sys; do mount --bind "/$d" "$t/root/$d"; done
mkdir -p "$t/root/tmp/pkg"
cp "$deb" "$t/root/tmp/pkg/sluice.deb"
in_root() { chroot "$t/root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
# A stand-in for systemd, which does not run in the namespace: the maintainer scripts ask it
# what runs (a unit runs while /tmp/units/UNIT.pid names its main process) and each call is
# logged. The edge's "main process" is a script started with the --config it was given, in
# the throwaway root as a unit's process is in its own (postinst checks as that process would).
mkdir -p "$t/root/run/systemd/system" "$t/root/tmp/units"
cat >"$t/root/usr/bin/systemctl" <<'STUB'
#!/bin/sh
echo "$*" >>/tmp/systemctl.log
for last in "$@"; do :; done
case " $* " in
  *" show "*) cat "/tmp/units/$last.pid" 2>/dev/null || echo 0 ;;
  *" is-active "*) [ -e "/tmp/units/$last.pid" ] ;;
  *" is-enabled "*) echo enabled ;;
esac
STUB
chmod 0755 "$t/root/usr/bin/systemctl"
printf '#!/bin/sh\nwhile :; do sleep 1; done\n' >"$t/root/tmp/edge-standin"
chmod 0755 "$t/root/tmp/edge-standin"
standin() { # [chroot options]: the edge's main process, as root or as a unit's user
  chroot "$@" "$t/root" /tmp/edge-standin --config /etc/sluice/edge-alt.yaml \
    </dev/null >/dev/null 2>&1 &
  edge_pid=$!
  echo "$edge_pid" >"$t/root/tmp/units/sluice-edge.service.pid"
}
standin
trap 'kill $edge_pid 2>/dev/null || true' EXIT
log() { echo "== systemctl $1"; cat "$t/root/tmp/systemctl.log" 2>/dev/null || true; : >"$t/root/tmp/systemctl.log"; }
echo "== install"
in_root dpkg -i /tmp/pkg/sluice.deb
log install
echo "== status"
in_root dpkg-query -W -f='${Status} ${Version}\n' sluice
echo "== group"
in_root getent group sluice
echo "== etc"
in_root test -d /etc/sluice && echo /etc/sluice
echo "== run"
in_root "$prefix/bin/sluice-edge" --help >/dev/null && echo sluice-edge
in_root "$prefix/bin/sluice-control" --help >/dev/null && echo sluice-control
in_root "$prefix/bin/sluice-fill" --help >/dev/null && echo sluice-fill
echo "== config check"
# --check-config reads the files the example names too: an operator's, made up here.
e=$t/root/etc/sluice
printf '%s\n' 3f1c8e2a9b7d4c6e5a0f1b2c3d4e5f60 >"$e/admin.token"
printf 'keys:\n  - {kid: k1, secret: "%s"}\n' \
  7a9c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d1f3a5c7e9b2d4f6a8c0e1b3d5f7a9c >"$e/keys.yaml"
printf '%s\n' 5e7a9c1b3d5f7e9a2c4b6d8f0a1c3e5b >"$e/heartbeat.key"
in_root "$prefix/bin/sluice-edge" --check-config --config \
  "$prefix/share/doc/sluice/examples/sluice-edge.example.yaml" && echo example-config-ok
printf '%s\n' 9b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a >"$e/control-admin.token"
in_root "$prefix/bin/sluice-control" --check-config --config \
  "$prefix/share/doc/sluice/examples/sluice-control.example.yaml" && echo control-example-ok
# Upgrades (a reinstall gives postinst the version replaced, as an upgrade does).
cp "$t/root$prefix/share/doc/sluice/examples/sluice-edge.example.yaml" "$e/edge-alt.yaml"
# A container's policy-rc.d (exit 101) would hold every restart back.
rm -f "$t/root/usr/sbin/policy-rc.d"
# The operator keeps the names of the secrets from other users.
in_root chgrp sluice /etc/sluice
chmod 0750 "$e"
echo "== reinstall"
in_root dpkg -i /tmp/pkg/sluice.deb 2>&1
log reinstall
echo "== etc after upgrade"
in_root stat -c '%a %U:%G' /etc/sluice
echo "== refused"
echo "no_such_key: 1" >>"$e/edge-alt.yaml"
in_root dpkg -i /tmp/pkg/sluice.deb 2>&1
log refused
echo "== held"
cp "$t/root$prefix/share/doc/sluice/examples/sluice-edge.example.yaml" "$e/edge-alt.yaml"
printf '#!/bin/sh\nexit 101\n' >"$t/root/usr/sbin/policy-rc.d"
chmod 0755 "$t/root/usr/sbin/policy-rc.d"
in_root dpkg -i /tmp/pkg/sluice.deb 2>&1
rm -f "$t/root/usr/sbin/policy-rc.d"
log held
# The edge as its unit runs it: a user of its own with the group sluice, which owns the cache
# and log directories and reads the secrets through the group.
kill "$edge_pid"
sgid=$(in_root getent group sluice | cut -d: -f3)
standin --userspec=65534:65534 --groups="$sgid"
mkdir -p "$t/root/var/cache/sluice" "$t/root/var/log/sluice"
chown 65534:65534 "$t/root/var/cache/sluice" "$t/root/var/log/sluice"
chgrp "$sgid" "$e/admin.token" "$e/keys.yaml" "$e/heartbeat.key"
chmod 0640 "$e/admin.token" "$e/keys.yaml" "$e/heartbeat.key"
echo "== unit user"
in_root dpkg -i /tmp/pkg/sluice.deb 2>&1
log "unit user"
# A secret replaced by a file only root reads: the edge restarted on it could not start.
echo "== unreadable"
chmod 0600 "$e/admin.token"
in_root dpkg -i /tmp/pkg/sluice.deb 2>&1
log unreadable
rm -f "$e/admin.token" "$e/keys.yaml" "$e/heartbeat.key" "$e/edge-alt.yaml" \
  "$e/control-admin.token"
# The operator enables the edge and the fill timer, as `systemctl enable` does (the stand-in
# does not): the links their [Install] sections name.
w=$t/root/etc/systemd/system
mkdir -p "$w/multi-user.target.wants" "$w/timers.target.wants"
ln -s /lib/systemd/system/sluice-edge.service "$w/multi-user.target.wants/"
ln -s /lib/systemd/system/sluice-fill.timer "$w/timers.target.wants/"
echo "== files"
in_root dpkg -L sluice > "$t/files.txt"
cat "$t/files.txt"
# The units' DynamicUser= directories as systemd lays them out: each under private/, a link
# to it in its place. A removal keeps them; a purge takes them.
state="/var/cache/private/sluice /var/cache/sluice /var/lib/private/sluice-fill
  /var/lib/sluice-fill /var/log/private/sluice /var/log/sluice"
rm -rf "$t/root/var/cache/sluice" "$t/root/var/log/sluice"
for d in cache/sluice lib/sluice-fill log/sluice; do
  mkdir -p "$t/root/var/${d%%/*}/private/${d#*/}/sub"
  echo x >"$t/root/var/${d%%/*}/private/${d#*/}/sub/file"
  ln -s "private/${d#*/}" "$t/root/var/$d"
done
there() {
  for s in $state; do if [ -e "$t/root$s" ] || [ -L "$t/root$s" ]; then echo "$s"; fi; done
}
echo "== remove"
in_root dpkg --remove sluice
echo "== kept"
there
echo "== purge"
in_root dpkg --purge sluice
log purge
echo "== left"
while read -r f; do
  # directories (and merged-/usr symlinks such as /lib) are shared with other packages
  [ -d "$t/root$f" ] && continue
  if [ -e "$t/root$f" ] || [ -L "$t/root$f" ]; then echo "$f"; fi
done < "$t/files.txt"
there
# The links the units were enabled with, dangling now, and any state kept about them.
(cd "$t/root" && find etc/systemd var/lib/systemd -name '*sluice*' 2>/dev/null | sed 's|^|/|')
# postinst made it; the operator's files are gone (above), so the purge takes it too.
if [ -e "$t/root/etc/sluice" ]; then echo /etc/sluice; fi
echo "== end"
"""


def section(out, name):
    lines = out.split("\n== ")
    for part in lines:
        head, _, body = part.partition("\n")
        if head.strip("= \n") == name:
            return body.strip()
    return None


def check_restarts(out):
    """postinst restarts a running edge on an upgrade once the new binary has checked the file
    that edge was started with: not on a first install, not past a refused file or a
    policy-rc.d that holds it back; prerm stops the services on removal."""
    calls = {k: (section(out, f"systemctl {k}") or "").splitlines()
             for k in ("install", "reinstall", "refused", "held", "unit user", "unreadable",
                       "purge")}
    restarts = {k: [c for c in v if "restart" in c] for k, v in calls.items()}
    if "daemon-reload" not in calls["install"] or restarts["install"]:
        fail(f"first install: systemctl calls {calls['install']}, want daemon-reload and no restart",
             out)
    if restarts["reinstall"] != ["try-restart sluice-edge.service"]:
        fail(f"upgrade with a running edge: restarts {restarts['reinstall']}, want only "
             "try-restart sluice-edge.service (control does not run)", out)
    said = section(out, "reinstall") or ""
    if not re.search(r"sluice: sluice-edge\.service: /etc/sluice/edge-alt\.yaml checked by "
                     r"sluice-edge \S+; restarting it", said):
        fail("the upgrade does not say it restarts the edge, which file it checked (the one "
             "the running edge was started with) and with which version", said)
    print("ok - upgrade: the running edge restarted after its own config file checked")
    said = section(out, "refused") or ""
    if restarts["refused"] or not re.search(
            r"WARNING: sluice-edge\.service not restarted: the new sluice-edge refuses "
            r"/etc/sluice/edge-alt\.yaml", said) or "no_such_key" not in said:
        fail(f"upgrade with a config the new binary refuses: restarts {restarts['refused']}, "
             "want none, the check's error and a warning naming the file", said)
    print("ok - upgrade: a refused config keeps the running edge, with a warning naming it")
    if restarts["held"] or "policy-rc.d returned 101" not in (section(out, "held") or ""):
        fail(f"upgrade under a policy-rc.d exiting 101: restarts {restarts['held']}, want none",
             section(out, "held") or out)
    print("ok - upgrade: policy-rc.d holds the restart back")
    if restarts["unit user"] != ["try-restart sluice-edge.service"]:
        fail(f"upgrade with the edge running as its unit's user: restarts {restarts['unit user']},"
             " want try-restart sluice-edge.service", section(out, "unit user") or out)
    said = section(out, "unreadable") or ""
    if restarts["unreadable"] or "WARNING: sluice-edge.service not restarted" not in said \
            or "Permission denied" not in said:
        fail(f"upgrade with a secret the edge's user cannot read: restarts "
             f"{restarts['unreadable']}, want none, the check's error and a warning: the file "
             "was checked as root, not as the running edge's user", said)
    print("ok - upgrade: the file is checked as the running edge's user and groups")
    stops = [c.split()[1:] for c in calls["purge"] if c.startswith("stop ")]
    want = ["sluice-fill.timer", "sluice-fill.service", "sluice-edge.service",
            "sluice-control.service"]
    if want not in stops:
        fail(f"removal: systemctl calls {calls['purge']}, want stop {' '.join(want)}", out)
    print("ok - removal stops the services")


def parse_depends(text):
    """{package: minimum version or None} of a Depends value without alternatives."""
    deps = {}
    for clause in text.split(","):
        m = re.match(r"\s*([a-z0-9][a-z0-9+.-]*)\s*(?:\(>=\s*([^)\s]+)\s*\))?\s*$", clause)
        if not m:
            fail(f"unexpected clause in Depends: {clause!r}")
        deps[m.group(1)] = m.group(2)
    return deps


def check_shlibs(deb, work):
    """Every library the packaged binaries link is in Depends at a version that has every
    symbol they use, as this system's symbols files (dpkg-shlibdeps) say: a version without
    one of them satisfies the Depends, then fails to run the binary. Returns why when this
    machine cannot check it (the file then exits 77 once the rest passed), else None."""
    if not shutil.which("dpkg-shlibdeps"):
        return "library versions not checked: no dpkg-shlibdeps (Debian's dpkg-dev)"
    root = os.path.join(work, "x")
    run(["dpkg-deb", "-x", deb, root], "dpkg-deb -x")
    os.makedirs(os.path.join(root, "DEBIAN"))  # marks the tree dpkg-shlibdeps reads
    os.makedirs(os.path.join(work, "shl", "debian"))
    with open(os.path.join(work, "shl", "debian", "control"), "w") as f:
        f.write("Source: sluice\n\nPackage: sluice\nArchitecture: any\n")
    bins = sorted(glob.glob(os.path.join(root, "usr", "bin", "*")))
    out = run(["dpkg-shlibdeps", "-O"] + bins, "dpkg-shlibdeps", cwd=os.path.join(work, "shl"))
    need = parse_depends(out.strip().partition("=")[2])
    info = run(["dpkg-deb", "--field", deb, "Depends"], "dpkg-deb --field Depends")
    have = parse_depends(info.strip())
    for lib, version in sorted(need.items()):
        if lib not in have:
            fail(f"Depends lacks {lib}, which the binaries link", info)
        if version and (not have[lib] or subprocess.run(
                ["dpkg", "--compare-versions", have[lib], "ge", version]).returncode != 0):
            fail(f"Depends has {lib} ({have[lib] or 'any version'}): the binaries use symbols "
                 f"from {lib} (>= {version})", info)
    print(f"ok - Depends holds the {len(need)} libraries at the versions the binaries need")
    return None


def elf_sections(path):
    """The section names of an ELF file (readelf), or None for a file that is not ELF."""
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return None
    out = run(["readelf", "-S", "-W", path], f"readelf -S {path}")
    return set(re.findall(r"^\s*\[\s*\d+\]\s+(\S+)", out, re.M))


def check_stripped(deb, work):
    """Every ELF file the package ships is stripped (Debian policy 10.1): no symbol table, no
    debug sections, its build id kept. Returns {file: build id}."""
    root = os.path.join(work, "strip")
    run(["dpkg-deb", "-x", deb, root], "dpkg-deb -x")
    ids = {}
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            sections = elf_sections(path)
            if sections is None:
                continue
            rel = os.path.relpath(path, root)
            left = sorted(x for x in sections
                          if x == ".symtab" or x.startswith((".debug", ".zdebug")))
            if left:
                fail(f"{rel} is not stripped: it has {' '.join(left)}")
            if ".note.gnu.build-id" not in sections:
                fail(f"{rel} lost its build id (.note.gnu.build-id) in the stripping")
            note = run(["readelf", "-n", path], f"readelf -n {rel}")
            ids[rel] = re.search(r"Build ID: ([0-9a-f]+)", note).group(1)
    if "usr/bin/sluice-edge" not in ids:
        fail(f"no ELF usr/bin/sluice-edge among {sorted(ids)}")
    print(f"ok - the {len(ids)} binaries are stripped and keep their build ids")
    return ids


def build_options(build):
    """The build's meson options: name -> value."""
    out = run(["meson", "introspect", "--buildoptions", build], "meson introspect")
    return {o["name"]: o["value"] for o in json.loads(out)}


def check_hardened(deb, build, work):
    """Every ELF file the package ships is built as Debian hardens its own packages
    (dpkg-buildflags): the GOT read-only once loaded (GNU_RELRO, and BIND_NOW or FLAGS_1 NOW),
    the stack protector (__stack_chk_fail imported), and fortified libc calls (__*_chk
    imported) where the build compiles with _FORTIFY_SOURCE=2, as meson.build gives it: not
    without optimisation, nor under AddressSanitizer or MemorySanitizer."""
    opts = build_options(build)
    san = opts.get("b_sanitize", "none")
    san = ",".join(san) if isinstance(san, list) else san
    fortify = (opts.get("optimization") not in ("plain", "0") and "address" not in san
               and "memory" not in san)
    root = os.path.join(work, "hardened")
    run(["dpkg-deb", "-x", deb, root], "dpkg-deb -x")
    n = 0
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            if elf_sections(path) is None:
                continue
            rel = os.path.relpath(path, root)
            dyn = run(["readelf", "-d", "-W", path], f"readelf -d {rel}")
            if not re.search(r"\(BIND_NOW\)|\(FLAGS_1\)\s+Flags:.*\bNOW\b", dyn):
                fail(f"{rel} is not linked with -z now (no BIND_NOW, no FLAGS_1 NOW)", dyn)
            if "GNU_RELRO" not in run(["readelf", "-l", "-W", path], f"readelf -l {rel}"):
                fail(f"{rel} is not linked with -z relro (no GNU_RELRO segment)")
            syms = run(["readelf", "--dyn-syms", "-W", path], f"readelf --dyn-syms {rel}")
            imported = {f[7].split("@")[0] for f in (line.split() for line in syms.splitlines())
                        if len(f) >= 8 and f[6] == "UND"}
            if "__stack_chk_fail" not in imported:
                fail(f"{rel} is not built with the stack protector (no __stack_chk_fail)")
            chk = sorted(x for x in imported if re.fullmatch(r"__\w+_chk", x)
                         and x != "__stack_chk_fail")
            if fortify and not chk:
                fail(f"{rel} imports no fortified call (__*_chk): not built with "
                     "_FORTIFY_SOURCE", " ".join(sorted(imported)))
            n += 1
    print(f"ok - the {n} binaries are hardened: relro, bind now, stack protector"
          + (", fortified calls" if fortify else " (no _FORTIFY_SOURCE in this build)"))


def check_dbgsym(deb, dbgsym, ids, work):
    """sluice-dbgsym holds what was stripped, one file per build id, and depends on the
    package of the same version."""
    root = os.path.join(work, "dbgsym")
    run(["dpkg-deb", "-x", dbgsym, root], "dpkg-deb -x (dbgsym)")
    for rel, bid in sorted(ids.items()):
        dbg = os.path.join(root, "usr/lib/debug/.build-id", bid[:2], bid[2:] + ".debug")
        if not os.path.isfile(dbg) or ".symtab" not in (elf_sections(dbg) or ()):
            fail(f"sluice-dbgsym has no symbols for {rel} (build id {bid})")
    info = run(["dpkg-deb", "--field", dbgsym, "Package", "Depends", "Section"], "dpkg-deb")
    version = run(["dpkg-deb", "--field", deb, "Version"], "dpkg-deb --field Version").strip()
    want = f"Package: sluice-dbgsym\nDepends: sluice (= {version})\nSection: debug"
    if info.strip() != want:
        fail(f"sluice-dbgsym's control fields: {info!r}, want {want!r}")
    print("ok - sluice-dbgsym holds each binary's symbols under its build id")


def check_changelog(deb, work):
    """The package has the changelog Debian's policy (12.7) asks for: a native package's (no
    Debian revision in its version), /usr/share/doc/sluice/changelog.gz, whose entry is for the
    package's version and parses as a Debian changelog."""
    version = run(["dpkg-deb", "--field", deb, "Version"], "dpkg-deb --field Version").strip()
    if "-" in version:
        fail(f"version {version} has a Debian revision: not a native package, whose changelog "
             "this checks")
    root = os.path.join(work, "changelog")
    run(["dpkg-deb", "-x", deb, root], "dpkg-deb -x")
    path = os.path.join(root, "usr/share/doc/sluice/changelog.gz")
    if not os.path.isfile(path):
        fail("the package has no /usr/share/doc/sluice/changelog.gz")
    with gzip.open(path, "rt") as f:
        text = f.read()
    head = re.match(r"sluice \(([^)]+)\) \S+; urgency=\S+\n\n  \* \S.*\n", text)
    trailer = re.search(r"\n -- [^<\n]+<[^>\n]+>  \w{3}, \d{2} \w{3} \d{4} "
                        r"\d{2}:\d{2}:\d{2} [+-]\d{4}\n$", text)
    if not head or not trailer or head.group(1) != version:
        fail(f"changelog.gz is not a Debian changelog entry for {version}", text)
    if shutil.which("dpkg-parsechangelog"):
        plain = os.path.join(work, "changelog.txt")
        with open(plain, "w") as f:
            f.write(text)
        got = run(["dpkg-parsechangelog", "-l", plain, "-S", "Version"], "dpkg-parsechangelog")
        if got.strip() != version:
            fail(f"dpkg-parsechangelog reads version {got.strip()!r}, want {version}", text)
    print(f"ok - changelog.gz: an entry for {version}")


def host_status():
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}", "sluice"],
                       capture_output=True, text=True)
    return p.stdout.strip()


def main():
    src, build, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    if os.geteuid() != 0:
        skip("needs root (mount namespace, overlay over /, chroot)")
    for tool in ("dpkg-deb", "dpkg", "unshare", "chroot", "meson"):
        if not shutil.which(tool):
            skip(f"{tool} not on PATH")
    with open("/proc/filesystems") as f:
        if "overlay" not in f.read():
            skip("the kernel has no overlay filesystem")
    host_before = host_status()
    work = tempfile.mkdtemp(prefix="sluice-deb-test-")
    try:
        if prefix != "/usr":
            # A Debian package installs under /usr: build this tree once more for it.
            build = os.path.join(work, "build")
            run(["meson", "setup", build, src, "--prefix=/usr", "--buildtype=release",
                 "-Db_ndebug=true", "-Dhot-checks=false", "-Dtests=false", "-Dhardening=true"],
                "meson setup")
            run(["meson", "compile", "-C", build], "meson compile")
            prefix = "/usr"
        dest = os.path.join(work, "dest")
        run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild", "--quiet"],
            "meson install")
        out = run([os.path.join(src, "tools", "deb"), "--destdir", dest, "--out",
                   os.path.join(work, "out")], "tools/deb")
        deb = out.strip().splitlines()[-1]
        if not deb.endswith(".deb") or not os.path.isfile(deb):
            fail(f"tools/deb printed no package path: {out!r}")
        print(f"ok - built {os.path.basename(deb)} ({os.path.getsize(deb)} bytes)")
        ids = check_stripped(deb, work)
        check_hardened(deb, build, work)
        dbgsym = ([p for p in out.split() if "/sluice-dbgsym_" in p] or [""])[0]
        if not os.path.isfile(dbgsym):
            fail(f"tools/deb printed no debug symbols package path: {out!r}")
        check_dbgsym(deb, dbgsym, ids, work)

        info = run(["dpkg-deb", "--field", deb, "Package", "Depends", "Recommends"],
                   "dpkg-deb --field")
        if "Package: sluice" not in info or "libpq5" not in info:
            fail("control fields missing", info)
        # The units' ExecReload= runs /bin/kill.
        if not re.search(r"^Depends: .*\bprocps\b", info, re.M):
            fail("Depends lacks procps (/bin/kill, run by ExecReload=)", info)
        # PostgreSQL's peer authentication names control's dynamic user through nss-systemd;
        # a minimal Debian system lacks it.
        if not re.search(r"^Recommends: .*\blibnss-systemd\b", info, re.M):
            fail("Recommends lacks libnss-systemd (dynamic users' names, for peer auth)", info)
        listing = run(["dpkg-deb", "--contents", deb], "dpkg-deb --contents")
        for want in (f".{prefix}/bin/sluice-edge", "./lib/systemd/system/sluice-edge.service",
                     "./lib/systemd/system/sluice-fill.timer", "/sysusers.d/sluice.conf",
                     "/man8/sluice-edge.8.gz", "/doc/sluice/examples/sluice-alerts.yml",
                     f".{prefix}/share/doc/sluice/copyright",
                     "/doc/sluice/examples/sluice-control.example.yaml"):
            if want not in listing:
                fail(f"the package lacks {want}", listing)
        if "/include/" in listing or ".a\n" in listing:
            fail("the package carries headers or static libraries", listing)
        if "./etc/logrotate.d/sluice" not in listing:
            fail("the package lacks ./etc/logrotate.d/sluice", listing)
        check_changelog(deb, work)
        conffiles = run(["dpkg-deb", "--info", deb, "conffiles"], "dpkg-deb --info conffiles")
        if conffiles.split() != ["/etc/logrotate.d/sluice"]:
            fail(f"conffiles: {conffiles!r}, want /etc/logrotate.d/sluice")
        print("ok - contents and control fields")
        not_checked = check_shlibs(deb, work)

        mnt = os.path.join(work, "ns")
        os.makedirs(mnt)
        p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            IN_NAMESPACE, "sh", deb, prefix, mnt],
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            fail(f"install in a throwaway root exited {p.returncode}", p.stdout + p.stderr)
        out = p.stdout
        status = section(out, "status") or ""
        if not status.startswith("install ok installed"):
            fail("dpkg does not report the package installed", out)
        print(f"ok - dpkg -i: {status}")
        # The package's version is the binaries' (the commit built), so a later build's
        # package upgrades an earlier one's; every package was 0.1.0.
        edge = run([os.path.join(dest, "usr", "bin", "sluice-edge"), "--version"],
                   "sluice-edge --version").split()
        if len(edge) < 2 or status.split()[-1] != edge[1]:
            fail(f"package version {status.split()[-1]!r}, the binaries' {edge[1:2]}", out)
        if not (section(out, "group") or "").startswith("sluice:"):
            fail("postinst did not create the sluice group", out)
        if section(out, "etc") != "/etc/sluice":
            fail("postinst did not create /etc/sluice", out)
        print("ok - postinst: group sluice, /etc/sluice")
        kept = section(out, "etc after upgrade")
        if kept != "750 root:sluice":
            fail(f"an upgrade left /etc/sluice {kept}, where the operator had made it "
                 "750 root:sluice", out)
        print("ok - an upgrade keeps the operator's mode and group of /etc/sluice")
        if (section(out, "run") or "").split() != ["sluice-edge", "sluice-control", "sluice-fill"]:
            fail("an installed binary does not run", out + p.stderr)
        checked = (section(out, "config check") or "").splitlines()
        for ok in ("example-config-ok", "control-example-ok"):
            if ok not in checked:
                fail("an installed example config does not pass --check-config", out + p.stderr)
        print("ok - installed binaries run; the example configs of edge and control check")
        check_restarts(out)
        kept = (section(out, "kept") or "").split()
        want = ["/var/cache/private/sluice", "/var/cache/sluice", "/var/lib/private/sluice-fill",
                "/var/lib/sluice-fill", "/var/log/private/sluice", "/var/log/sluice"]
        if kept != want:
            fail(f"dpkg --remove kept {kept} of the units' cache, state and logs, want {want}",
                 out)
        left = section(out, "left")
        if left is None or left:
            fail(f"dpkg --purge left files behind: {left}", out)
        print("ok - dpkg --remove keeps the cache, state and logs; dpkg --purge removes every "
              "file, those, and the links of the units enabled")
        if host_status() != host_before:
            fail("the host's dpkg database changed: the install was not confined")
        print("ok - the host's dpkg database is untouched")
        if not_checked:
            print(f"SKIP: {not_checked}")
            return SKIP
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
