# SPDX-License-Identifier: MIT
"""`meson install --destdir` puts the binaries, the hardened units (with this prefix's paths),
the sysusers.d group, the man pages and logrotate.d/sluice (in /etc/logrotate.d, the one
directory logrotate reads, whatever the prefix; and logrotate reads it) where an operator or a
package expects them, and every installed service unit scores "OK" or better under
`systemd-analyze security`.

    python3 test_destdir.py BUILD_DIR PREFIX

Exit status: 0 passed, 1 failed, 77 skipped (no meson on PATH; or, once every other check
passed, no groff to render the man pages with).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def fail(msg):
    print(f"not ok - {msg}")
    sys.exit(1)


def unit_settings(path, want="[Service]"):
    """The settings of one section of a unit file: name -> list of values, in order."""
    out = {}
    section = ""
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
                continue
            if section == want:
                k, _, v = line.partition("=")
                out.setdefault(k.strip(), []).append(v.strip())
    return out


def check_unit(path, caps, notify):
    """What issue 9 asks of every daemon's unit; caps is the one capability set allowed."""
    name = os.path.basename(path)
    s = unit_settings(path)

    def one(key):
        v = s.get(key)
        if not v:
            fail(f"{name} lacks {key}=")
        return v[-1]

    for key, want in (("DynamicUser", "yes"), ("NoNewPrivileges", "yes"),
                      ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                      ("StandardOutput", "journal"), ("StandardError", "journal")):
        if one(key) != want:
            fail(f"{name}: {key}={one(key)}, want {want}")
    if one("User") in ("root", "0"):
        fail(f"{name} runs as root")
    for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
        if one(key) != caps:
            fail(f"{name}: {key}={one(key)!r}, want {caps!r}")
    families = one("RestrictAddressFamilies").split()
    if not families or families[0].startswith("~") or \
            not set(families) <= {"AF_INET", "AF_INET6", "AF_UNIX"}:
        fail(f"{name}: RestrictAddressFamilies={' '.join(families)} is not an allow-list "
             f"of AF_INET, AF_INET6, AF_UNIX")
    if notify:
        if one("Type") != "notify":
            fail(f"{name}: Type={one('Type')}, want notify")
        if not re.fullmatch(r"[1-9]\d*s?", one("WatchdogSec")):
            fail(f"{name}: WatchdogSec={one('WatchdogSec')} is not a watchdog")
        # A reload whose files do not load is kept out by the daemon, which exits 0 from
        # the signal: only the check before it makes `systemctl reload` fail.
        reload = s.get("ExecReload", [])
        if len(reload) < 2 or "--check-config" not in reload[0] or \
                not re.search(r"\bkill\b.*-HUP", reload[-1]):
            fail(f"{name}: ExecReload={reload} does not run --check-config before the HUP")
        # A dependency down for a while at boot (PostgreSQL, an address not yet configured)
        # must not use up the start limit: by default five restarts 100 ms apart leave the
        # unit failed for good.
        if one("Restart") != "on-failure":
            fail(f"{name}: Restart={one('Restart')}, want on-failure")
        # A bad configuration is not retried: RestartPreventExitStatus= reads the main
        # process's status only, so a check that fails in ExecStartPre= would restart without
        # end; the daemon's own exit 2 is the one that stops it.
        if "2" not in one("RestartPreventExitStatus").split():
            fail(f"{name}: RestartPreventExitStatus={one('RestartPreventExitStatus')}, want 2")
        # Nor a control older than its database's schema (exit 3): it stays so.
        if "control" in name and "3" not in one("RestartPreventExitStatus").split():
            fail(f"{name}: RestartPreventExitStatus={one('RestartPreventExitStatus')}, want 3 "
                 "too")
        if s.get("ExecStartPre"):
            fail(f"{name}: ExecStartPre={s['ExecStartPre']}: its failure is restarted without "
                 "end (RestartPreventExitStatus= does not apply to it)")
        m = re.fullmatch(r"(\d+)(ms|s|min)?", s.get("RestartSec", ["0.1s"])[-1])
        delay = int(m.group(1)) * {"ms": 0.001, "s": 1, "min": 60, None: 1}[m.group(2)] \
            if m else 0
        if delay < 1:
            fail(f"{name}: RestartSec={s.get('RestartSec')} retries too fast")
        limit = unit_settings(path, "[Unit]").get("StartLimitIntervalSec", ["10s"])[-1]
        if limit not in ("0", "infinity"):
            fail(f"{name}: StartLimitIntervalSec={limit}: restarts can run out")
    elif not re.fullmatch(r"[1-9]\d*[smh]?", one("RuntimeMaxSec")):
        # A batch job (sluice-fill) pings no watchdog: its run must be bounded instead.
        fail(f"{name}: RuntimeMaxSec={one('RuntimeMaxSec')} does not bound the run")


def main():
    build, prefix = sys.argv[1], sys.argv[2]
    logrotate_conf = os.path.join("/etc", "logrotate.d", "sluice")
    meson = shutil.which("meson")
    if not meson:
        print("SKIP: meson not on PATH")
        return SKIP
    dest = tempfile.mkdtemp(prefix="sluice-destdir-")
    try:
        p = subprocess.run([meson, "install", "-C", build, "--destdir", dest, "--no-rebuild",
                            "--quiet"], capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            fail(f"meson install exited {p.returncode}: {p.stderr[-2000:]}")
        root = dest + prefix
        bindir = os.path.join(root, "bin")
        unitdir = os.path.join(root, "lib", "systemd", "system")
        want = [
            os.path.join(bindir, "sluice-edge"),
            os.path.join(unitdir, "sluice-edge.service"),
            os.path.join(unitdir, "sluice-control.service"),
            os.path.join(unitdir, "sluice-fill.service"),
            os.path.join(unitdir, "sluice-fill.timer"),
            os.path.join(root, "lib", "sysusers.d", "sluice.conf"),
            os.path.join(root, "lib", "modules-load.d", "sluice-tls.conf"),
            dest + logrotate_conf,
        ]
        # Every page docs/appliance.md promises, in its section's directory.
        for page in ("sluice-edge.8", "sluice-control.8", "sluice-fill.1", "sluice-edge.yaml.5",
                     "sluice-control.yaml.5", "sluice-fill.yaml.5", "sluice-ingest.1",
                     "sluice-cachesim.1", "sluice-store-dump.8"):
            want.append(os.path.join(root, "share", "man", "man" + page[-1], page))
        for f in want:
            if not os.path.isfile(f):
                fail(f"not installed: {f[len(dest):]}")
        print("ok - files installed")
        logrotate = shutil.which("logrotate") or shutil.which("/usr/sbin/logrotate")
        if not logrotate:
            # tools/deps installs it: without it logrotate.d/sluice goes unread, which is a
            # failure here, not a pass.
            fail("logrotate missing (tools/deps installs it)")
        conf = dest + logrotate_conf
        p = subprocess.run([logrotate, "--debug", "--state", os.path.join(dest, "state"),
                            conf], capture_output=True, text=True, timeout=60)
        if p.returncode != 0 or re.search(r"^error:", p.stderr, re.M):
            fail(f"logrotate refuses {conf[len(dest):]}: {p.stderr[-1000:]}")
        print("ok - logrotate reads the installed logrotate.d/sluice")
        not_checked = None
        groff = shutil.which("groff")
        if groff:
            for page in (f for f in want if "/share/man/" in f):
                p = subprocess.run([groff, "-man", "-ww", "-z", "-Tutf8", page],
                                   capture_output=True, text=True, timeout=60,
                                   env=dict(os.environ, LC_ALL="C.UTF-8"))
                if p.returncode != 0 or p.stderr:
                    fail(f"groff -man -ww warns on {page[len(dest):]}: {p.stderr[-1000:]}")
            print("ok - every man page renders without a groff warning")
        else:
            not_checked = "no groff: the man pages were not rendered"
        if not os.access(os.path.join(bindir, "sluice-edge"), os.X_OK):
            fail("sluice-edge is not executable")
        for unit_name, caps, notify in (("sluice-edge.service", "CAP_NET_BIND_SERVICE", True),
                                        ("sluice-control.service", "", True),
                                        ("sluice-fill.service", "", False)):
            check_unit(os.path.join(unitdir, unit_name), caps, notify)
        print("ok - every service: its own dynamic user, no capability but the edge's "
              "CAP_NET_BIND_SERVICE, NoNewPrivileges, ProtectSystem=strict, PrivateTmp, "
              "address families, journald; edge and control Type=notify with a watchdog")

        with open(os.path.join(unitdir, "sluice-edge.service")) as f:
            unit = f.read()
        m = re.search(r"^ExecStart=(\S+)", unit, re.M)
        if not m or m.group(1) != os.path.join(prefix, "bin", "sluice-edge"):
            fail(f"ExecStart of sluice-edge.service is {m.group(1) if m else None!r}, "
                 f"want {os.path.join(prefix, 'bin', 'sluice-edge')}")
        for key in ("Type=notify", "WatchdogSec=", "DynamicUser=yes", "NoNewPrivileges=yes",
                    "ProtectSystem=strict", "io_uring_setup"):
            if key not in unit:
                fail(f"sluice-edge.service lacks {key}")
        print("ok - sluice-edge.service runs this prefix's binary, notify + watchdog + hardening")

        with open(os.path.join(unitdir, "sluice-control.service")) as f:
            unit = f.read()
        for key in ("Type=notify", "WatchdogSec=", "DynamicUser=yes"):
            if key not in unit:
                fail(f"sluice-control.service lacks {key}")
        print("ok - sluice-control.service: notify + watchdog")

        # The timer is enabled on every appliance, the configuration present only where the
        # operator gave one: the run must be skipped without it, not fail every night.
        with open(os.path.join(unitdir, "sluice-fill.service")) as f:
            unit = f.read()
        m = re.search(r"^ExecStart=.*--config (\S+)", unit, re.M)
        if not m:
            fail("sluice-fill.service has no ExecStart with --config")
        cond = re.findall(r"^ConditionPathExists=(\S+)", unit, re.M)
        if m.group(1) not in cond:
            fail(f"sluice-fill.service lacks ConditionPathExists={m.group(1)} (has {cond})")
        print(f"ok - sluice-fill.service runs only when {m.group(1)} exists")

        sa = shutil.which("systemd-analyze")
        if not sa:
            # tools/deps installs systemd: without it the units' exposure goes unchecked,
            # which is a failure here, not a pass.
            fail("systemd-analyze missing (tools/deps installs systemd)")
        for unit_name in ("sluice-edge.service", "sluice-control.service", "sluice-fill.service"):
            p = subprocess.run([sa, "security", "--offline=true",
                                os.path.join(unitdir, unit_name)],
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", p.stdout)
            if not m:
                fail(f"no score for {unit_name}: {p.stdout[-500:]} {p.stderr[-500:]}")
            score, word = float(m.group(1)), m.group(2)
            if word not in ("PERFECT", "SAFE", "OK"):
                fail(f"{unit_name} scores {score} {word}, want OK or better")
            print(f"ok - systemd-analyze security {unit_name}: {score} {word}")
        if not_checked:
            print(f"SKIP: {not_checked}")
            return SKIP
        return 0
    finally:
        shutil.rmtree(dest, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
