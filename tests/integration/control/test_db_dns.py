# SPDX-License-Identifier: MIT
"""PostgreSQL named by a host name: control resolves it on a thread of its own, never on the
loop. A PostgreSQL on TCP 127.0.0.1 reached as host=localhost serves and survives a restart;
then, in a mount namespace whose resolver is a DNS server run by this test, the name is slow
to resolve (the loop still answers at once), stops resolving (503 with Retry-After, the log
names the failure, once) and comes back (service resumes)."""
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Failure, Postgres, check, free_port, register, run, until_ok

NAME = "pg.sluice.test"
DNS_TIMEOUT_S = 3  # resolv.conf timeout: how long a held query keeps the resolver busy


def tcp_postgres(tmp):
    """The harness's PostgreSQL, made to listen on 127.0.0.1 too (on a port of its own; the
    socket follows the port, so pg-temp's own clients are given it through $PGPORT)."""
    pg = Postgres(tmp)
    port = free_port()
    with open(os.path.join(pg.dir, "data", "postgresql.conf"), "a") as f:
        f.write(f"listen_addresses = '127.0.0.1'\nport = {port}\n")
    pg.stop()
    os.environ["PGPORT"] = str(port)
    pg.start()
    pg.conninfo = re.sub(r"port=\d+", f"port={port}", pg.conninfo)
    user = re.search(r"user=(\S+)", pg.conninfo).group(1)
    return pg, port, user


def prompt_healthz(ctl, bound=0.5):
    t0 = time.monotonic()
    st, _, _ = ctl.request("GET", "/healthz")
    took = time.monotonic() - t0
    check(st == 200 and took < bound, f"/healthz {st} in {took:.3f}s: the loop was held up")


def db_503(ctl, bound=1.0):
    t0 = time.monotonic()
    st, h, b = ctl.request("GET", "/v1/titles/m1")
    took = time.monotonic() - t0
    check(st == 503 and h.get("retry-after"), f"database route: {st} {h} {b!r}")
    check(took < bound, f"database route answered in {took:.3f}s")


class Dns:
    """A DNS server on UDP 127.53.x.y:53 for one name: answers A 127.0.0.1 (AAAA: no data),
    answers NXDOMAIN, or holds every query unanswered."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(20):
            self.addr = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
            try:
                self.sock.bind((self.addr, 53))
                break
            except OSError:
                continue
        else:
            raise Failure("no free 127.53.x.y:53 for the DNS server")
        self.mode = "answer"
        self.queries = 0
        self.held = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                q, peer = self.sock.recvfrom(512)
            except OSError:
                return
            if len(q) < 17:
                continue
            i = 12
            labels = []
            while i < len(q) and q[i]:
                labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace"))
                i += 1 + q[i]
            qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
            question = q[12:i + 5]
            name = ".".join(labels).lower()
            self.queries += 1
            if self.mode == "hold" and name == NAME:
                self.held.set()
                continue
            found = self.mode == "answer" and name == NAME
            rcode = 0 if found else 3
            answers = b""
            if found and qtype == 1:
                answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton("127.0.0.1")
            hdr = struct.pack("!HHHHHH", struct.unpack("!H", q[:2])[0], 0x8180 | rcode, 1,
                              1 if answers else 0, 0, 0)
            self.sock.sendto(hdr + question + answers, peer)


def ns_wrapper(tmp, binary, dns):
    """A command running control in a mount namespace of its own whose resolv.conf points at
    dns and whose nsswitch.conf asks files then DNS: the host is left alone."""
    d = os.path.join(tmp, "ns")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "resolv.conf"), "w") as f:
        f.write(f"nameserver {dns.addr}\noptions timeout:{DNS_TIMEOUT_S} attempts:1\n")
    with open("/etc/nsswitch.conf") as f:
        nss = re.sub(r"(?m)^hosts:.*$", "hosts: files dns", f.read())
    with open(os.path.join(d, "nsswitch.conf"), "w") as f:
        f.write(nss)
    inner = os.path.join(d, "inner.sh")
    with open(inner, "w") as f:
        f.write("#!/bin/sh\nset -e\n"
                f"mount --bind {d}/resolv.conf /etc/resolv.conf\n"
                f"mount --bind {d}/nsswitch.conf /etc/nsswitch.conf\n"
                f"exec {binary} \"$@\"\n")
    outer = os.path.join(d, "control.sh")
    with open(outer, "w") as f:
        f.write(f"#!/bin/sh\nexec unshare -m --propagation private {inner} \"$@\"\n")
    os.chmod(inner, 0o755)
    os.chmod(outer, 0o755)
    r = subprocess.run([outer, "--version"], capture_output=True, text=True)
    return outer if r.returncode == 0 else None


def main(binary, tmp):
    pg, port, user = tcp_postgres(tmp)

    # ---- host=localhost: resolved off the loop, reconnects after a restart ----
    db = types.SimpleNamespace(
        conninfo=f"host=localhost port={port} dbname=sluice user={user} connect_timeout=5")
    ctl = Control(binary, tmp, db).start()
    ctl.wait_log(r" info .*database: the host is a name, resolved off the loop")
    check(not any("blocking" in l for l in ctl.log), "the old start-up warning is still there")
    register(ctl, "m1")
    st, _, b = ctl.request("GET", "/v1/titles/m1")
    check(st == 200 and b'"m1"' in b, f"title by a name-addressed database: {st} {b!r}")
    n = int(pg.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'sluice' AND "
                    "client_addr = '127.0.0.1'"))
    check(n >= 1, "no connection from control over TCP 127.0.0.1")
    log_mark = len(ctl.log)
    pg.stop()
    prompt_healthz(ctl)
    db_503(ctl, bound=3.5)
    prompt_healthz(ctl)
    pg.start()
    st, _, b = until_ok(ctl, "GET", "/v1/titles/m1")
    check(st == 200, f"after a PostgreSQL restart: {st} {b!r}")
    ctl.wait_log(r"database: reachable again", start=log_mark)
    check(not any("cannot resolve" in l for l in ctl.log), "localhost reported unresolvable")
    check(ctl.stop() == 0, "SIGTERM exit 0")

    # ---- a name served by the test's DNS server: slow, gone, back ----
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("SKIP: the DNS part needs root and unshare (a mount namespace, port 53)")
        sys.exit(77)
    dns = Dns()
    wrapped = ns_wrapper(tmp, binary, dns)
    if wrapped is None:
        print("SKIP: no mount namespace here for the DNS part")
        sys.exit(77)
    named = types.SimpleNamespace(
        conninfo=f"host={NAME} port={port} dbname=sluice user={user} connect_timeout=5")

    # Migrations need the database before the loop runs: a name that resolves to nothing
    # stops the start with a clear message, as an unreachable database does.
    dns.mode = "nxdomain"
    c0 = Control(wrapped, tmp, named, name="ctl-nx")
    c0.start(expect_ready=False)
    rc = c0.proc.wait(30)
    check(rc == 1, f"start with an unresolvable name: exit {rc}")
    c0.wait_log(r"cannot connect to the database: .*" + re.escape(NAME))

    dns.mode = "answer"
    dns.queries = 0
    ctl = Control(wrapped, tmp, named, name="ctl-dns").start()
    ctl.wait_log(r" info .*database: the host is a name, resolved off the loop")
    st, _, b = until_ok(ctl, "GET", "/v1/titles/m1")
    check(st == 200, f"title through the test's DNS: {st} {b!r}")
    check(dns.queries > 0, "the name was not resolved through the test's DNS server")

    # Slow: the server holds the query a failed connection asks for. The resolver thread
    # waits on it (DNS_TIMEOUT_S); the loop does not.
    log_mark = len(ctl.log)
    dns.mode = "hold"
    pg.stop()
    db_503(ctl, bound=3.5)
    check(dns.held.wait(10), "a failed connection did not have the name resolved again")
    t_held = time.monotonic()
    for _ in range(5):
        prompt_healthz(ctl)
        db_503(ctl)
    check(time.monotonic() - t_held < DNS_TIMEOUT_S, "the checks outlasted the held query")

    # Gone: NXDOMAIN. The addresses are dropped, the log names the failure once, and with
    # PostgreSQL back the name still keeps the database out of reach, answered at once.
    dns.mode = "nxdomain"
    pat = r" warn .*database: cannot resolve \"" + re.escape(NAME) + r"\": (?!.*last addresses)"
    for _ in range(30):
        db_503(ctl)
        try:
            ctl.wait_log(pat, timeout=1, start=log_mark)
            break
        except Failure:
            continue
    ctl.wait_log(pat, timeout=1, start=log_mark)
    pg.start()
    for _ in range(5):
        db_503(ctl, bound=0.5)
        prompt_healthz(ctl)
    gone = [l for l in ctl.log[log_mark:] if re.search(pat, l)]
    check(len(gone) == 1, f"{len(gone)} lines for one resolution failure: {gone}")

    # Back: the next failed attempt has it looked up again, and service resumes.
    dns.mode = "answer"
    st, _, b = until_ok(ctl, "GET", "/v1/titles/m1")
    check(st == 200, f"after the name came back: {st} {b!r}")
    ctl.wait_log(r" info .*database: every host name resolves again", start=log_mark)

    # Stopping never waits on a lookup: hold one, then SIGTERM.
    dns.held.clear()
    dns.mode = "hold"
    pg.stop()
    db_503(ctl, bound=3.5)
    check(dns.held.wait(10), "no lookup to hold")
    t0 = time.monotonic()
    check(ctl.stop() == 0, "SIGTERM exit 0 with a lookup in flight")
    check(time.monotonic() - t0 < DNS_TIMEOUT_S - 1, "exit waited for the lookup")


run(main)
