# SPDX-License-Identifier: MIT
"""Slow test: boot the appliance image in qemu and use it from the host.

    python3 test_boot.py [--required] [--control SLUICE_CONTROL] SOURCE_DIR [IMAGE]

Builds the image with tools/image (or takes IMAGE, or $SLUICE_IMAGE), boots a copy enlarged
by 1 GiB under UEFI (OVMF) with user networking, configured from the kernel command line
(sluice.edge_id=, sluice.origin= pointing at an origin on the host, sluice.control= at the
real sluice-control on the host over a private PostgreSQL (tools/pg-temp), and
sluice.heartbeat_key= the secret control made when the test registered the edge through its
admin API), and checks from the host through forwarded ports:
  - the edge's /healthz answers (admin API forwarded);
  - a segment the edge has never seen is filled from the host's origin and served, then hit;
  - an object pushed through the admin API is served;
  - the cache partition was grown at first boot (the first-boot log on the serial console);
  - the first boot installed the heartbeat secret (its log line on the console);
  - control recorded the edge's signed heartbeats (edge_health: signed time, its cache size),
    refused none, and names the edge in a player's MPD (only a live edge is named);
  - the edge fetched its fill plan from control, signed with that secret (control answers
    it only to the edge's signature or the admin token): the edge holds the plan's SHA-256s
    and a segment played through the MPD's BaseURL is filled and checked against one;
  - the edge sandboxed itself under its unit (journal forwarded to the console).
Then it boots the same disk again with an edge.yaml and the second edge's heartbeat.key
written to the config partition (no sluice.* on the command line): the edge serves on that
file's port, under its edge id, from the cache kept across the reboot, and control records
its signed heartbeats too. Last, an upgrade as docs/appliance.md gives it: partitions 1 and 2
of a new image (this one, its kernel command line marked) written over the disk at the offsets
of its .layout; the third boot runs the new ESP, with the config partition and cache kept.
Prints the image size and the boot-to-serving time (qemu start to the first segment served).

SLUICE_CONTROL (default: SOURCE_DIR/build/control/sluice-control; meson passes its own) is
the control plane binary. A prebuilt image's heartbeats and plan are checked only with
SLUICE_IMAGE_HEARTBEATS=1 (it may predate them).

Needs root, qemu-system-x86_64, OVMF, mtools and a PostgreSQL server (`SLUICE_CHECK_SLOW=1
tools/deps install` installs them). Without one it skips (77), unless slow tests were asked
for: --required (meson passes it, since it registers this test only with -Dslow-tests=true)
or SLUICE_CHECK_SLOW=1, and then a missing prerequisite fails the test, so a slow run cannot
pass without booting. Software emulation (TCG) unless SLUICE_QEMU_ACCEL=kvm.
"""

import hashlib
import http.server
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration", "control"))
import ctlharness as ctlh  # noqa: E402 (the control tests' PostgreSQL and control harness)

SKIP = 77
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS.fd"
GROW_MIB = 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fail(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def wait_for(cond, what, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except (OSError, urllib.error.URLError, ConnectionError) as e:
            last = e
        time.sleep(interval)  # polling a guest we cannot get events from
    raise Fail(f"{what} did not happen within {timeout}s (last error: {last!r})")


class Origin(http.server.ThreadingHTTPServer):
    """The host's origin: serves fixed objects; records what the edge asked for."""

    def __init__(self, objects):
        self.objects = objects
        self.requests = []
        super().__init__(("0.0.0.0", 0), OriginHandler)


class OriginHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.objects.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "video/iso.segment")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def serve(server):
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return server


def http_get(url, headers=None, method="GET", data=None, timeout=10):
    req = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def layout_of(image):
    out = {}
    with open(image + ".layout") as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            out[k] = int(v)
    return out


def set_cmdline(image, esp_offset, extra):
    """Set the systemd-boot entry's options to the image's own plus extra (any sluice.* and
    console forwarding from an earlier call dropped), editing the ESP in place (mtools)."""
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    spec = f"{image}@@{esp_offset}"
    entry = subprocess.run(["mtype", "-i", spec, "::/loader/entries/sluice.conf"], env=env,
                           capture_output=True, text=True, check=True).stdout

    def options(line):
        words = [w for w in line.split()[1:]
                 if not w.startswith(("sluice.", "systemd.journald.forward_to_console="))]
        return " ".join(["options"] + words + extra.split())
    lines = [options(ln) if ln.startswith("options ") else ln for ln in entry.splitlines()]
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(["mcopy", "-o", "-i", spec, f.name, "::/loader/entries/sluice.conf"], env=env,
                   check=True)
    os.unlink(f.name)


def conf_put(image, conf_offset, name, text):
    """Write one file onto the image's config partition (FAT, mtools)."""
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(text)
    subprocess.run(["mcopy", "-o", "-i", f"{image}@@{conf_offset}", f.name, "::/" + name],
                   env=dict(os.environ, MTOOLS_SKIP_CHECK="1"), check=True)
    os.unlink(f.name)


def pg_server():
    """What tools/pg-temp would run: a PostgreSQL server's initdb."""
    for d in ["/usr/lib/postgresql/15/bin"] + sorted(
            os.path.join("/usr/lib/postgresql", v, "bin")
            for v in (os.listdir("/usr/lib/postgresql")
                      if os.path.isdir("/usr/lib/postgresql") else [])):
        if os.access(os.path.join(d, "initdb"), os.X_OK):
            return d
    return shutil.which("initdb")


def missing_prerequisites(control_bin):
    """What this machine lacks to build and boot the image, each with the package giving it."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (tools/image runs debootstrap)")
    if not shutil.which("qemu-system-x86_64"):
        missing.append("qemu-system-x86_64 (package qemu-system-x86)")
    for fd in (OVMF_CODE, OVMF_VARS):
        if not os.path.exists(fd):
            missing.append(f"{fd} (package ovmf)")
    for tool in ("mcopy", "mtype"):
        if not shutil.which(tool):
            missing.append(f"{tool} (package mtools)")
    if not pg_server():
        missing.append("a PostgreSQL server (package postgresql)")
    if not shutil.which("psql"):
        missing.append("psql (package postgresql-client)")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        missing.append("runuser (package util-linux), to run PostgreSQL as its user")
    if not os.access(control_bin, os.X_OK):
        missing.append(f"{control_bin} (build it: meson compile)")
    return missing


def metric(text, name, labels=""):
    """The sum of a Prometheus metric's series whose labels contain labels (0 when absent)."""
    total = 0.0
    for m in re.finditer(rf"^{name}(?:{{([^}}]*)}})? (\S+)$", text, re.M):
        if labels in (m.group(1) or ""):
            total += float(m.group(2))
    return total


def asset_for(title, objects):
    """An asset.json (as sluice-ingest writes it) whose files are the origin's bytes, so the
    fill plan's SHA-256s are those of what the edge fills."""
    asset = ctlh.make_asset(title, segments=2, video_reps=("240p",))
    rng = random.Random(title)
    for f in asset["files"]:
        size = 1_500_000 if "video" in f["path"] and "seg-" in f["path"] else 2_000 + len(f["path"])
        body = rng.randbytes(size)
        objects[f"/{title}/{f['path']}"] = body
        f["size"] = size
        f["sha256"] = hashlib.sha256(body).hexdigest()
    return asset


def edge_health(pg, edge):
    """Control's record of the edge's latest heartbeat: (signed_ms, disk_total, bytes_served),
    or None."""
    row = pg.psql("SELECT signed_ms, disk_total, bytes_served FROM edge_health "
                  f"WHERE edge_id = '{edge}'")
    return tuple(int(v) for v in row.split("|")) if row else None


def main():
    args = sys.argv[1:]
    required = os.environ.get("SLUICE_CHECK_SLOW") == "1"
    control_bin = os.environ.get("SLUICE_CONTROL", "")
    while args and args[0].startswith("--"):
        if args[0] == "--required":
            required = True
            args = args[1:]
        elif args[0] == "--control" and len(args) > 1:
            control_bin = args[1]
            args = args[2:]
        else:
            print("usage: test_boot.py [--required] [--control SLUICE_CONTROL] SOURCE_DIR [IMAGE]")
            return 2
    src = os.path.abspath(args[0])
    control_bin = os.path.abspath(control_bin or os.path.join(src, "build", "control",
                                                              "sluice-control"))
    image = args[1] if len(args) > 1 else os.environ.get("SLUICE_IMAGE", "")
    missing = missing_prerequisites(control_bin)
    if missing:
        why = "needs " + ", ".join(missing)
        if any("package" in m for m in missing):
            why += "; SLUICE_CHECK_SLOW=1 tools/deps install installs the packages"
        if required:
            print(f"not ok - prerequisites: slow tests were asked for, but this machine {why}")
            return 1
        print(f"SKIP: {why}")
        return SKIP
    qemu = shutil.which("qemu-system-x86_64")
    prebuilt = bool(image)
    heartbeats = not prebuilt or os.environ.get("SLUICE_IMAGE_HEARTBEATS") == "1"
    work = tempfile.mkdtemp(prefix="sluice-image-test-")
    # PostgreSQL runs as its own user under here (tools/pg-temp): let it in.
    os.chmod(work, 0o755)
    qproc = None
    pg = None
    try:
        if not image:
            image = os.path.join(src, "var", "image", "sluice-edge.img")
            t0 = time.monotonic()
            p = subprocess.run([os.path.join(src, "tools", "image"), "--out", image],
                               capture_output=True, text=True, timeout=3600)
            if p.returncode != 0:
                print(p.stderr[-3000:])
                raise Fail(f"tools/image exited {p.returncode}")
            print(f"# image built in {time.monotonic() - t0:.0f}s")
        size = os.stat(image)
        print(f"# image size: {size.st_size / 1048576:.0f} MiB raw, "
              f"{size.st_blocks * 512 / 1048576:.0f} MiB allocated")
        lay = layout_of(image)

        disk = os.path.join(work, "disk.img")
        subprocess.run(["cp", "--sparse=always", image, disk], check=True)
        with open(disk, "r+b") as f:
            f.truncate(size.st_size + GROW_MIB * 1048576)

        # The control plane operators run, on its own PostgreSQL; the guest reaches the host's
        # loopback as 10.0.2.2 (qemu user networking), and its requests arrive from 127.0.0.1,
        # which the harness's prefix table places in GB, region eu-west.
        pg = ctlh.Postgres(work)
        ctl = ctlh.Control(control_bin, work, pg).start()
        control_url = f"http://10.0.2.2:{ctl.port}"
        print(f"# sluice-control on port {ctl.port}, PostgreSQL under {pg.dir}")

        rng = random.Random(9)
        objects = {}
        asset = asset_for("t1", objects)
        seg1, seg2 = "/t1/video-240p/seg-1.m4s", "/t1/video-240p/seg-2.m4s"
        seg = objects[seg1]
        origin = serve(Origin(objects))
        ctl.json("POST", "/v1/admin/titles", {"title": "t1", "asset": asset}, admin=True)
        ctl.json("PUT", "/v1/admin/titles/t1/licences", {"licences": [{"country": "GB"}]},
                 admin=True)
        port, aport = free_port(), free_port()
        reg = ctl.register_edge("qemu-edge-1", "eu-west", f"http://127.0.0.1:{port}")
        check(len(reg.get("secret", "")) >= 32, f"registration made no secret: {sorted(reg)}")
        # A view in the edge's region before it boots: its first fill plan lists t1.
        ctl.json("POST", "/v1/playback", {"title": "t1"})
        want_plan = ctl.json("GET", "/v1/fill/plan?edge=qemu-edge-1&limit=100000",
                             admin=True)["objects"]
        check(len(want_plan) == len(asset["files"]),
              f"the plan lists {len(want_plan)} of t1's {len(asset['files'])} files")

        token = "img-" + os.urandom(12).hex()
        set_cmdline(disk, lay["ESP_OFFSET"],
                    f"sluice.edge_id=qemu-edge-1 sluice.region=eu-west "
                    f"sluice.origin=http://10.0.2.2:{origin.server_address[1]} "
                    f"sluice.control={control_url} "
                    f"sluice.admin_listen=0.0.0.0:8081 sluice.admin_token={token} "
                    f"sluice.heartbeat_key={reg['secret']} "
                    # Unsigned player URLs: without keys the appliance requires tokens.
                    f"sluice.tokens_required=false "
                    f"systemd.journald.forward_to_console=1")

        vars_fd = os.path.join(work, "vars.fd")
        shutil.copy(OVMF_VARS, vars_fd)
        # KVM only when asked: nested KVM on some hosts fails (unsupported MSRs, CPUID).
        kvm = os.environ.get("SLUICE_QEMU_ACCEL") == "kvm" and os.access("/dev/kvm", os.W_OK)
        console = os.path.join(work, "console.log")

        def qemu_cmd(console, port, aport, guest_port):
            return [qemu, "-machine", "q35,accel=" + ("kvm" if kvm else "tcg"), "-m", "1024",
                    "-smp", "2", "-nographic", "-serial", f"file:{console}", "-monitor", "none",
                    "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                    "-drive", f"if=pflash,format=raw,file={vars_fd}",
                    "-drive", f"file={disk},format=raw,if=virtio",
                    "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:{guest_port},"
                               f"hostfwd=tcp:127.0.0.1:{aport}-:8081",
                    "-device", "virtio-net-pci,netdev=n0"]
        cmd = qemu_cmd(console, port, aport, 80)
        print(f"# accel: {'kvm' if kvm else 'tcg (software emulation)'}")
        t_start = time.monotonic()
        qproc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(work, "qemu.err"), "wb"))
        limit = 180 if kvm else 900

        def alive():
            check(qproc.poll() is None, f"qemu exited with {qproc.returncode}")

        def served():
            alive()
            st, _, body = http_get(f"http://127.0.0.1:{port}{seg1}", timeout=5)
            return st == 200 and body

        def console_tail(path):
            with open(path, errors="replace") as f:
                print("--- console (last lines) ---\n" + "\n".join(f.read().splitlines()[-60:]))

        def console_text(path):
            with open(path, errors="replace") as f:
                return f.read()
        try:
            body = wait_for(served, "the first segment served through the forwarded port", limit)
        except Fail:
            console_tail(console)
            raise
        boot_to_serving = time.monotonic() - t_start
        check(hashlib.sha256(body).digest() == hashlib.sha256(seg).digest(),
              "the served segment differs from the origin's")
        print(f"ok - segment filled from the host's origin and served "
              f"(boot to serving {boot_to_serving:.1f}s)")
        check(seg1 in origin.requests, "the origin never saw the fill")
        n = len(origin.requests)
        st, hdrs, body = http_get(f"http://127.0.0.1:{port}{seg1}")
        check(st == 200 and body == seg, f"second GET: {st}")
        check(len(origin.requests) == n, "the second GET went to the origin again (no hit)")
        print("ok - second GET is a hit")

        st, _, body = http_get(f"http://127.0.0.1:{aport}/healthz")
        check(st == 200, f"/healthz answered {st}")
        print("ok - /healthz")
        pushed = rng.randbytes(70_001)
        st, _, _ = http_get(f"http://127.0.0.1:{aport}/admin/objects/t2/init.mp4", method="PUT",
                            data=pushed, headers={"Authorization": f"Bearer {token}",
                                                  "Content-Length": str(len(pushed))})
        check(st in (200, 201, 204), f"admin PUT answered {st}")
        st, _, body = http_get(f"http://127.0.0.1:{port}/t2/init.mp4")
        check(st == 200 and body == pushed, f"pushed object: {st}")
        print("ok - admin PUT then GET")

        text = console_text(console)
        m = re.search(r"sluice-firstboot: cache file system: (\d+) MiB", text)
        check(m is not None, "no cache size line from sluice-firstboot on the console")
        cache_mib = int(m.group(1))
        check(cache_mib > GROW_MIB, f"cache file system is {cache_mib} MiB: not grown "
                                    f"into the {GROW_MIB} MiB added to the disk")
        print(f"ok - cache partition grown at first boot ({cache_mib} MiB)")

        m = re.search(r"sluice-firstboot: root file system: (\w+)", text)
        check(m is not None, "no root file system line from sluice-firstboot on the console")
        check(m.group(1) == "ro", f"the root is mounted {m.group(1)}, not read-only")
        print("ok - the root file system is mounted read-only")

        # systemd logs "Started" for a Type=notify unit only once READY=1 arrived, and the
        # timer once it is armed (the journal goes to the console).
        check(re.search(r"Started (sluice-edge\.service|Sluice edge cache)", text),
              "systemd never logged sluice-edge.service as started (no READY=1?)")
        check(re.search(r"Started (sluice-fill\.timer|Nightly sluice-fill run)", text),
              "sluice-fill.timer was not started")
        print("ok - sluice-edge.service ready (Type=notify), sluice-fill.timer armed")

        # The journal goes to the console too: the edge's own summary of its sandbox.
        m = re.search(r"io_uring restricted to (\d+) opcodes on (\d+) of (\d+) rings, "
                      r"seccomp (\w+)", text)
        check(m is not None, "no sandbox summary from sluice-edge on the console")
        check(m.group(2) == m.group(3) and m.group(4) == "kill",
              f"sandbox in the appliance: {m.group(0)}")
        uid = re.search(r"sandbox: uid (\d+)", text)
        check(uid is not None and int(uid.group(1)) != 0, "the edge runs as root in the appliance")
        print(f"ok - the edge sandboxed itself under its unit ({m.group(0)}, uid {uid.group(1)})")

        def admin_metrics():
            st, _, body = http_get(f"http://127.0.0.1:{aport}/metrics",
                                   headers={"Authorization": f"Bearer {token}"})
            check(st == 200, f"edge /metrics answered {st}")
            return body.decode()

        def control_metrics():
            return ctl.json("GET", "/metrics").decode()

        if heartbeats:
            check("sluice-firstboot: heartbeat secret from sluice.heartbeat_key/HEARTBEAT_KEY: "
                  "/etc/sluice/heartbeat.key" in text,
                  "the first boot did not say it installed the heartbeat secret")
            check(reg["secret"] not in text, "the heartbeat secret on the console")
            print("ok - the first boot installed /etc/sluice/heartbeat.key")

            # The edge heartbeats every 5 s: wait for one recorded after it served.
            def recorded():
                alive()
                h = edge_health(pg, "qemu-edge-1")
                return h if h and h[0] > 0 and h[2] > 0 else None
            signed_ms, disk_total, served_bytes = wait_for(
                recorded, "a signed heartbeat from qemu-edge-1 recorded by control", 60)
            want_total = cache_mib * 0.9
            check(abs(disk_total / 1048576 - want_total) <= 0.02 * want_total + 2,
                  f"the heartbeat's disk_total {disk_total} is not 90% of the "
                  f"{cache_mib} MiB cache file system")
            cm = control_metrics()
            check(metric(cm, "sluice_control_heartbeats_total") >= 1, "no heartbeat counted")
            check(metric(cm, "sluice_control_heartbeat_refusals_total") == 0,
                  "control refused a heartbeat from the appliance")
            print(f"ok - control recorded qemu-edge-1's signed heartbeats (disk_total "
                  f"{disk_total // 1048576} MiB, bytes_served {served_bytes}), refused none")

            # The signed plan fetch: the edge says so once, and holds every SHA-256.
            def plan_loaded():
                alive()
                m = re.search(r"fill plan: SHA-256 of (\d+) object", console_text(console))
                return m and int(m.group(1))
            n_sums = wait_for(plan_loaded, "the edge's fill plan from control", 60)
            check(n_sums == len(want_plan),
                  f"the edge holds {n_sums} SHA-256s, the plan has {len(want_plan)}")
            check(metric(admin_metrics(), "sluice_edge_plan_sums") == len(want_plan),
                  "sluice_edge_plan_sums is not the plan's size")
            check(metric(control_metrics(), "sluice_control_plan_refusals_total") == 0,
                  "control refused a plan request")
            print(f"ok - the edge fetched its fill plan, signed ({n_sums} SHA-256s)")

            # A player's session: control names the appliance (a live edge) in the MPD, and a
            # segment through its BaseURL is filled and checked against the plan.
            s = ctl.json("POST", "/v1/playback", {"title": "t1"})
            mpd = ET.fromstring(ctl.json("GET", f"/v1/manifest/{s['session']}.mpd"))
            ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
            bases = [b.text for b in mpd.findall("d:BaseURL", ns)]
            check(bases and re.fullmatch(rf"http://127\.0\.0\.1:{port}/s/[^/]+/t1/", bases[0]),
                  f"the MPD's BaseURLs do not name the appliance first: {bases}")
            checked = metric(admin_metrics(), "sluice_edge_plan_checked_fills_total")
            st, _, body = http_get(bases[0] + seg2.split("/t1/", 1)[1])
            check(st == 200 and body == objects[seg2], f"{seg2} through the MPD's BaseURL: {st}")
            check(metric(admin_metrics(), "sluice_edge_plan_checked_fills_total") > checked,
                  "the fill was not checked against the plan's SHA-256")
            print("ok - the MPD names the appliance; a segment through its BaseURL was filled "
                  "and checked against the plan")
        else:
            print("heartbeat not checked: a prebuilt image (SLUICE_IMAGE_HEARTBEATS=1 to require)")

        # Second boot of the same disk: configured by an edge.yaml and a heartbeat.key on the
        # config partition this time, nothing on the command line; the cache partition (and
        # what phase one put in it) must have survived.
        qproc.kill()
        qproc.wait()
        port2, aport2 = free_port(), free_port()
        reg2 = ctl.register_edge("qemu-edge-yaml", "eu-west", f"http://127.0.0.1:{port2}")
        set_cmdline(disk, lay["ESP_OFFSET"], "systemd.journald.forward_to_console=1")
        conf_put(disk, lay["CONF_OFFSET"], "heartbeat.key", reg2["secret"] + "\n")
        conf_put(disk, lay["CONF_OFFSET"], "edge.yaml", f"""listen: ["0.0.0.0:8080"]
admin: {{listen: "0.0.0.0:8081", token_file: /etc/sluice/admin.token}}
cache: {{dir: /var/cache/sluice, max_size: 512M}}
upstreams: [{{url: "http://10.0.2.2:{origin.server_address[1]}"}}]
tokens: {{required: false}}
control: {{url: "{control_url}", edge_id: qemu-edge-yaml, region: eu-west,
          secret_file: /etc/sluice/heartbeat.key}}
log: {{level: info, target: journal}}
""")
        def boot_from_cache(n, what):
            """Boot the disk again (console n), configured by the edge.yaml above; the pushed
            object and seg1 are served from the cache, the origin not asked. The console."""
            nonlocal qproc
            console_n = os.path.join(work, f"console{n}.log")
            n_origin = len(origin.requests)
            qproc = subprocess.Popen(qemu_cmd(console_n, port2, aport2, 8080),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(work, f"qemu{n}.err"), "wb"))

            def pushed_served():
                alive()
                st, _, body = http_get(f"http://127.0.0.1:{port2}/t2/init.mp4", timeout=5)
                return st == 200 and body == pushed
            try:
                wait_for(pushed_served, f"the {what} serving on :8080 (edge.yaml)", limit)
            except Fail:
                console_tail(console_n)
                raise
            st, _, body = http_get(f"http://127.0.0.1:{port2}{seg1}")
            check(st == 200 and body == seg, f"segment after the {what}: {st}")
            check(len(origin.requests) == n_origin,
                  f"the {what} lost the cache (origin asked again)")
            return console_text(console_n)
        text2 = boot_from_cache(2, "second boot")
        check("edge.yaml from the config partition" in text2,
              "sluice-firstboot did not take edge.yaml from the config partition")
        print("ok - second boot: edge.yaml from the config partition, cache kept across reboot")
        if heartbeats:
            check("sluice-firstboot: heartbeat secret from the config partition" in text2,
                  "the second boot did not install heartbeat.key from the config partition")

            def recorded2():
                alive()
                h = edge_health(pg, "qemu-edge-yaml")
                return h if h and h[0] > 0 else None
            _, disk_total2, _ = wait_for(recorded2, "a signed heartbeat from qemu-edge-yaml", 60)
            check(disk_total2 == 512 * 1048576,
                  f"qemu-edge-yaml's disk_total {disk_total2} is not edge.yaml's 512M")
            check(metric(control_metrics(), "sluice_control_heartbeat_refusals_total") == 0,
                  "control refused a heartbeat from the second boot")
            print("ok - control recorded qemu-edge-yaml's signed heartbeats (heartbeat.key "
                  "from the config partition)")

        # Third boot, after an upgrade as docs/appliance.md gives it: partitions 1 and 2 of a
        # "new release" (this image, its kernel command line marked) written over the disk at
        # the new image's offsets, which the fixed-size root keeps those of the disk. The
        # config partition (edge.yaml, heartbeat.key) and the cache must be kept.
        qproc.kill()
        qproc.wait()
        new = os.path.join(work, "new.img")
        subprocess.run(["cp", "--sparse=always", image, new], check=True)
        set_cmdline(new, lay["ESP_OFFSET"],
                    "systemd.journald.forward_to_console=1 sluice.upgrade_marker=1")
        lay_new = layout_of(image)
        check(lay_new["CONF_OFFSET"] == lay["CONF_OFFSET"],
              "the new image's config partition starts elsewhere")
        mib = 1048576
        subprocess.run(["dd", f"if={new}", f"of={disk}", "bs=1M",
                        f"skip={lay_new['ESP_OFFSET'] // mib}",
                        f"seek={lay_new['ESP_OFFSET'] // mib}",
                        f"count={(lay_new['CONF_OFFSET'] - lay_new['ESP_OFFSET']) // mib}",
                        "conv=notrunc,fsync", "status=none"], check=True)
        os.unlink(new)
        text3 = boot_from_cache(3, "upgraded disk")
        check("unknown key UPGRADE_MARKER" in text3,
              "the upgraded disk did not boot the new image's ESP (no marker on the console)")
        check("edge.yaml from the config partition" in text3,
              "the upgrade lost the config partition's edge.yaml")
        print("ok - upgrade: partitions 1-2 of a new image written at its offsets; the config "
              "partition and the cache kept")

        check(ctl.stop() == 0, "sluice-control did not exit 0 on SIGTERM")
        print(json.dumps({"image_mib": round(size.st_size / 1048576),
                          "image_allocated_mib": round(size.st_blocks * 512 / 1048576),
                          "boot_to_serving_s": round(boot_to_serving, 1),
                          "accel": "kvm" if kvm else "tcg"}))
        if not heartbeats:
            # Every other check passed; one was left out, which is a skip, not a pass.
            print("SKIP: the heartbeat, fill plan and steering checks were not run on a "
                  "prebuilt image (SLUICE_IMAGE_HEARTBEATS=1 to require them)")
            return SKIP
        return 0
    except (Fail, ctlh.Failure) as e:
        print(f"not ok - {e}")
        for c in ctlh.Control.instances:
            print("--- control log (last lines) ---\n" + "".join(c.log[-30:]))
        return 1
    finally:
        if qproc is not None and qproc.poll() is None:
            qproc.kill()
            qproc.wait()
        for c in ctlh.Control.instances:
            if c.proc and c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
