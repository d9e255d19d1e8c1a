# SPDX-License-Identifier: MIT
"""Slow test: boot the appliance image in qemu and use it from the host.

    python3 test_boot.py [--required] SOURCE_DIR [IMAGE]

Builds the image with tools/image (or takes IMAGE, or $SLUICE_IMAGE), boots a copy enlarged
by 1 GiB under UEFI (OVMF) with user networking, configured from the kernel command line
(sluice.edge_id=, sluice.origin= pointing at an origin on the host, sluice.control= at a
stand-in control plane on the host), and checks from the host through forwarded ports:
  - the edge's /healthz answers (admin API forwarded);
  - a segment the edge has never seen is filled from the host's origin and served, then hit;
  - an object pushed through the admin API is served;
  - the cache partition was grown at first boot (the first-boot log on the serial console);
  - heartbeats reach the control plane on the host;
  - the edge sandboxed itself under its unit (journal forwarded to the console).
Then it boots the same disk again with an edge.yaml written to the config partition: the edge
serves on that file's port, under its edge id, from the cache kept across the reboot.
Prints the image size and the boot-to-serving time (qemu start to the first segment served).

Needs root, qemu-system-x86_64, OVMF and mtools (`SLUICE_CHECK_SLOW=1 tools/deps install`
installs them). Without one it skips (77), unless slow tests were asked for: --required (meson
passes it, since it registers this test only with -Dslow-tests=true) or SLUICE_CHECK_SLOW=1,
and then a missing prerequisite fails the test, so a slow run cannot pass without booting.
Software emulation (TCG) unless SLUICE_QEMU_ACCEL=kvm.
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


class Control(http.server.ThreadingHTTPServer):
    """Stands in for sluice-control: accepts and records anything the edge sends (signature
    checks are control's, tested in tests/integration/control/test_heartbeat_auth.py)."""

    def __init__(self):
        self.seen = []
        self.signed = []
        super().__init__(("0.0.0.0", 0), ControlHandler)


class ControlHandler(http.server.BaseHTTPRequestHandler):
    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.server.seen.append((self.command, self.path, body))
        self.server.signed.append(bool(self.headers.get("X-Sluice-Signature")))
        out = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = _any

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
    """Append extra to the systemd-boot entry's options, editing the ESP in place (mtools)."""
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    spec = f"{image}@@{esp_offset}"
    entry = subprocess.run(["mtype", "-i", spec, "::/loader/entries/sluice.conf"], env=env,
                           capture_output=True, text=True, check=True).stdout
    lines = [ln + " " + extra if ln.startswith("options ") else ln for ln in entry.splitlines()]
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(["mcopy", "-o", "-i", spec, f.name, "::/loader/entries/sluice.conf"], env=env,
                   check=True)
    os.unlink(f.name)


def missing_prerequisites():
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
    return missing


def main():
    args = sys.argv[1:]
    required = os.environ.get("SLUICE_CHECK_SLOW") == "1"
    if args and args[0] == "--required":
        required = True
        args = args[1:]
    src = os.path.abspath(args[0])
    image = args[1] if len(args) > 1 else os.environ.get("SLUICE_IMAGE", "")
    missing = missing_prerequisites()
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
    work = tempfile.mkdtemp(prefix="sluice-image-test-")
    qproc = None
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

        rng = random.Random(9)
        seg = rng.randbytes(1_500_000)
        origin = serve(Origin({"/t1/v1/seg-1.m4s": seg}))
        control = serve(Control())
        token = "img-" + os.urandom(12).hex()
        hb_key = "hb-" + os.urandom(20).hex()
        set_cmdline(disk, lay["ESP_OFFSET"],
                    f"sluice.edge_id=qemu-edge-1 sluice.region=test "
                    f"sluice.origin=http://10.0.2.2:{origin.server_address[1]} "
                    f"sluice.control=http://10.0.2.2:{control.server_address[1]} "
                    f"sluice.admin_listen=0.0.0.0:8081 sluice.admin_token={token} "
                    f"sluice.heartbeat_key={hb_key} "
                    f"systemd.journald.forward_to_console=1")

        vars_fd = os.path.join(work, "vars.fd")
        shutil.copy(OVMF_VARS, vars_fd)
        port, aport = free_port(), free_port()
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
            st, _, body = http_get(f"http://127.0.0.1:{port}/t1/v1/seg-1.m4s", timeout=5)
            return st == 200 and body
        try:
            body = wait_for(served, "the first segment served through the forwarded port", limit)
        except Fail:
            with open(console, errors="replace") as f:
                print("--- console (last lines) ---\n" + "\n".join(f.read().splitlines()[-60:]))
            raise
        boot_to_serving = time.monotonic() - t_start
        check(hashlib.sha256(body).digest() == hashlib.sha256(seg).digest(),
              "the served segment differs from the origin's")
        print(f"ok - segment filled from the host's origin and served "
              f"(boot to serving {boot_to_serving:.1f}s)")
        check("/t1/v1/seg-1.m4s" in origin.requests, "the origin never saw the fill")
        n = len(origin.requests)
        st, hdrs, body = http_get(f"http://127.0.0.1:{port}/t1/v1/seg-1.m4s")
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

        with open(console, errors="replace") as f:
            text = f.read()
        m = re.search(r"sluice-firstboot: cache file system: (\d+) MiB", text)
        check(m is not None, "no cache size line from sluice-firstboot on the console")
        check(int(m.group(1)) > GROW_MIB, f"cache file system is {m.group(1)} MiB: not grown "
                                         f"into the {GROW_MIB} MiB added to the disk")
        print(f"ok - cache partition grown at first boot ({m.group(1)} MiB)")

        # The journal goes to the console too: the edge's own summary of its sandbox.
        m = re.search(r"io_uring restricted to (\d+) opcodes on (\d+) of (\d+) rings, "
                      r"seccomp (\w+)", text)
        check(m is not None, "no sandbox summary from sluice-edge on the console")
        check(m.group(2) == m.group(3) and m.group(4) == "kill",
              f"sandbox in the appliance: {m.group(0)}")
        uid = re.search(r"sandbox: uid (\d+)", text)
        check(uid is not None and int(uid.group(1)) != 0, "the edge runs as root in the appliance")
        print(f"ok - the edge sandboxed itself under its unit ({m.group(0)}, uid {uid.group(1)})")

        heartbeats = not prebuilt or os.environ.get("SLUICE_IMAGE_HEARTBEATS") == "1"
        if heartbeats:
            wait_for(lambda: any("qemu-edge-1" in (p + b.decode(errors="replace"))
                                 for _, p, b in control.seen),
                     "a heartbeat from qemu-edge-1 at the host's control plane", 60)
            check(all(control.signed), "an unsigned heartbeat from the appliance")
            print("ok - signed heartbeat reached the control plane on the host")
        else:
            print("ok - heartbeat # SKIP prebuilt image (SLUICE_IMAGE_HEARTBEATS=1 to require)")

        # Second boot of the same disk: configured by an edge.yaml on the config partition
        # this time; the cache partition (and what phase one put in it) must have survived.
        qproc.kill()
        qproc.wait()
        edge_yaml = os.path.join(work, "edge.yaml")
        with open(edge_yaml, "w") as f:
            f.write(f'''listen: ["0.0.0.0:8080"]
admin: {{listen: "0.0.0.0:8081", token_file: /etc/sluice/admin.token}}
cache: {{dir: /var/cache/sluice, max_size: 512M}}
upstreams: [{{url: "http://10.0.2.2:{origin.server_address[1]}"}}]
tokens: {{required: false}}
control: {{url: "http://10.0.2.2:{control.server_address[1]}", edge_id: qemu-edge-yaml,
          secret_file: /etc/sluice/heartbeat.key}}
log: {{level: info, target: journal}}
''')
        subprocess.run(["mcopy", "-o", "-i", f"{disk}@@{lay['CONF_OFFSET']}", edge_yaml,
                        "::/edge.yaml"], env=dict(os.environ, MTOOLS_SKIP_CHECK="1"),
                       check=True)
        console2 = os.path.join(work, "console2.log")
        port2, aport2 = free_port(), free_port()
        n_origin = len(origin.requests)
        qproc = subprocess.Popen(qemu_cmd(console2, port2, aport2, 8080),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(work, "qemu2.err"), "wb"))

        def pushed_served():
            alive()
            st, _, body = http_get(f"http://127.0.0.1:{port2}/t2/init.mp4", timeout=5)
            return st == 200 and body == pushed
        try:
            wait_for(pushed_served, "the second boot serving on :8080 (edge.yaml)", limit)
        except Fail:
            with open(console2, errors="replace") as f:
                print("--- console (last lines) ---\n" + "\n".join(f.read().splitlines()[-60:]))
            raise
        st, _, body = http_get(f"http://127.0.0.1:{port2}/t1/v1/seg-1.m4s")
        check(st == 200 and body == seg, f"segment after reboot: {st}")
        check(len(origin.requests) == n_origin, "the reboot lost the cache (origin asked again)")
        with open(console2, errors="replace") as f:
            check("edge.yaml from the config partition" in f.read(),
                  "sluice-firstboot did not take edge.yaml from the config partition")
        print("ok - second boot: edge.yaml from the config partition, cache kept across reboot")
        if heartbeats:
            wait_for(lambda: any("qemu-edge-yaml" in p for _, p, _ in control.seen),
                     "a heartbeat from qemu-edge-yaml", 60)
            print("ok - heartbeat with the edge id from edge.yaml")

        print(json.dumps({"image_mib": round(size.st_size / 1048576),
                          "image_allocated_mib": round(size.st_blocks * 512 / 1048576),
                          "boot_to_serving_s": round(boot_to_serving, 1),
                          "accel": "kvm" if kvm else "tcg"}))
        return 0
    except Fail as e:
        print(f"not ok - {e}")
        return 1
    finally:
        if qproc is not None and qproc.poll() is None:
            qproc.kill()
            qproc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
