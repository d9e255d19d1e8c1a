# SPDX-License-Identifier: MIT
"""TLS listeners of the real edge across reloads: certificates and keys re-read on SIGHUP
without dropping an open connection, a key under a passphrase or a moved listener refused
with the old ones kept, what a reload keeps of sessions and ticket keys, what reloads free,
and OCSP stapling (only a response checked against its certificate, whatever digest its
CertID names, re-read on SIGHUP). The set-up, certificates and clients are test_tls.py's."""

import os
import shutil
import signal
import ssl
import subprocess
import time

import edgeharness
import test_tls
from edgeharness import HOST, Edge, check, eq, free_port, standard_objects, test
from test_tls import (client_ctx, get_over, handshake, log_says, reload_and_wait,
                      ticket_rotation, tls_counters)
from test_tokens import SECRET, mint

edgeharness._tests.clear()  # test_tls's own cases run in their own file


@test
def sighup_reloads_certificates(e):
    ctx = client_ctx(e)
    with handshake(e, ctx) as old:
        serial0 = old.getpeercert()["serialNumber"]
        shutil.copy(e.pki + "/a2.pem", e.pki + "/a.pem")
        shutil.copy(e.pki + "/a2.key", e.pki + "/a.key")
        e.signal(signal.SIGHUP)
        serial1 = serial0
        for _ in range(100):  # the reload is asynchronous; poll new handshakes for the change
            with handshake(e, ctx) as s:
                serial1 = s.getpeercert()["serialNumber"]
            if serial1 != serial0:
                break
            time.sleep(0.05)
        check(serial1 != serial0, "SIGHUP did not load the new certificate")
        # Workers may serve the new certificate a moment before the main thread logs the
        # reload: wait for the line (missing_tls_module_is_said_at_start counts it).
        check(log_says(e, "configuration reloaded from"), "the reload is not logged")
        # The connection opened before the reload still works.
        _, body = get_over(old, "/t1/one.bin")
        eq(body, b"x", "old connection after reload")


@test
def key_under_a_passphrase_refused(e):
    # A key under a passphrase is refused with a reason (never prompted for: on a terminal
    # OpenSSL would ask there, through system calls the sandbox does not allow), and the
    # running certificates stay.
    d = e.pki
    subprocess.run(["sh", "-c", f"""set -e; cd {d}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256 -pass pass:secret \
  -out enc.key
openssl req -new -key enc.key -passin pass:secret -subj /CN=a.test -out enc.csr
openssl x509 -req -in enc.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile a.ext \
  -out enc.pem"""], check=True, capture_output=True)
    was = [dict(c) for c in e.cfg["tls"][0]["certs"]]
    e.cfg["tls"][0]["certs"][0] = {"cert": f"{d}/enc.pem", "key": f"{d}/enc.key"}
    try:
        e.write_config()
        e.signal(signal.SIGHUP)
        check(log_says(e, "enc.key: cannot load the private key (one under a passphrase is "
                          "not taken"), "the refusal names the passphrase")
        check(log_says(e, "keeping the running configuration"), "the reload refused")
        with handshake(e, client_ctx(e)) as s:
            _, body = get_over(s, "/t1/one.bin")
        eq(body, b"x", "served with the running certificates")
    finally:
        e.cfg["tls"][0]["certs"] = was
        e.write_config()
        reload_and_wait(e)


@test
def token_scope_names_https(e):
    """RFC 9246: cdniuc is matched against the URI the client asked for, so on a TLS listener
    its scheme is https: a token scoped to https:// serves there and not over plain HTTP, and
    one scoped to http:// the other way round."""
    keys = os.path.join(e.dir, "keys.yaml")
    with open(keys, "w") as f:
        f.write(f"keys:\n  - {{kid: k1, secret: {SECRET.hex()}}}\n")
    now = int(time.time())
    tok = {scheme: mint({"exp": now + 600, "cdniuc": f"regex:^{scheme}://[^/]+/t1/"})
           for scheme in ("http", "https")}
    was = e.cfg["tokens"]
    e.cfg["tokens"] = {"required": True, "keys_file": keys}
    try:
        e.write_config()
        reload_and_wait(e)
        for scheme, want in (("https", b"200"), ("http", b"403")):
            with handshake(e, client_ctx(e)) as s:
                s.sendall(f"GET /s/{tok[scheme]}/t1/one.bin HTTP/1.1\r\nHost: a.test\r\n"
                          "Connection: close\r\n\r\n".encode())
                head = s.recv(4096)
            eq(head.split(b" ")[1], want, f"over TLS, a token scoped to {scheme}://")
        eq(e.get(f"/s/{tok['http']}/t1/one.bin").status, 200, "plain HTTP, scoped to http://")
        eq(e.get(f"/s/{tok['https']}/t1/one.bin").status, 403, "plain HTTP, scoped to https://")
    finally:
        e.cfg["tokens"] = was
        e.write_config()
        reload_and_wait(e)


@test
def counters_survive_a_new_ticket_schedule(e):
    """A reload with another ticket_rotation starts a new ticket schedule; the listener's
    counters go on from where they were (a Prometheus counter never goes back)."""
    with handshake(e, client_ctx(e)):
        pass
    before = tls_counters(e)
    key = ("sluice_tls_handshakes_total", 'result="ok"')
    check(before.get(key, 0) >= 1, f"handshakes counted: {before}")
    with ticket_rotation(e, "7h"):
        after = tls_counters(e)
        for k, v in before.items():
            check(after.get(k, 0) >= v, f"{k} went back from {v} to {after.get(k)}")


def made_session(e, ctx):
    """A session from a fresh connection of the client ctx (TLS 1.3 sends its ticket after the
    handshake: one request takes it in)."""
    with handshake(e, ctx) as s:
        get_over(s, "/t1/one.bin")
        sess = s.session
        s.unwrap()
    return sess


def resumes(e, ctx, sess):
    with handshake(e, ctx, session=sess) as s:
        _, body = get_over(s, "/t1/one.bin")
        eq(body, b"x", "body over the handshake after the reload")
        return s.session_reused


@test
def what_a_reload_keeps_of_sessions(e):
    """docs/tls.md and docs/edge-config.md: a reload keeps the ticket ring, so tickets made
    before it resume; one that changes ticket_rotation starts a new ring, and tickets made
    under the old one get a full handshake. With tickets: false sessions are cached by ID in
    the listener's context, which each reload builds anew: none resumes after it."""
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(e, v, v)
        sess = made_session(e, ctx)
        reload_and_wait(e)
        check(resumes(e, ctx, sess), f"{v}: a ticket made before a reload did not resume")
        sess = made_session(e, ctx)
        with ticket_rotation(e, "7h"):
            check(not resumes(e, ctx, sess),
                  f"{v}: a ticket made before ticket_rotation changed resumed")
    e.cfg["tls"][0]["tickets"] = False
    try:
        e.write_config()
        reload_and_wait(e)
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = client_ctx(e, v, v)
            sess = made_session(e, ctx)
            check(resumes(e, ctx, sess), f"{v}, tickets: false: the session did not resume")
            reload_and_wait(e)
            check(not resumes(e, ctx, sess), f"{v}, tickets: false: resumed after a reload")
    finally:
        del e.cfg["tls"][0]["tickets"]
        e.write_config()
        reload_and_wait(e)


@test
def reload_refuses_a_moved_tls_listener(e):
    """A reload naming another address for a TLS listener is refused as a whole (the socket
    cannot move without a restart), saying so; the listener goes on where it was."""
    was = e.cfg["tls"][0]["listen"]
    e.cfg["tls"][0]["listen"] = f"{HOST}:{free_port()}"
    # With a start-only key changed too, the log says only that the whole reload was refused:
    # it used to say first that the rest would apply and the start-only key would wait.
    workers = e.cfg.get("workers")
    e.cfg["workers"] = 1 if workers != 1 else 2
    with open(e.log_path, errors="replace") as f:
        start = len(f.read())
    try:
        e.write_config()
        e.signal(signal.SIGHUP)
        check(log_says(e, "moved to"), "the refused reload is not logged")
        with open(e.log_path, errors="replace") as f:
            said = f.read()[start:]
        check("read at start only" not in said,
              f"a refused reload says nothing of keys it would keep: {said[-600:]}")
    finally:
        e.cfg["tls"][0]["listen"] = was
        if workers is None:
            del e.cfg["workers"]
        else:
            e.cfg["workers"] = workers
        e.write_config()
    with handshake(e, client_ctx(e)) as s:
        _, body = get_over(s, "/t1/one.bin")
        eq(body, b"x", "the listener where it was")


def ocsp_response(e, cert, out, digest="-sha1"):
    """A good OCSP response for cert (a file in the PKI dir) signed by the CA, as the operator's
    `openssl ocsp ... -respout` makes it; nextUpdate a day ahead; its certificate ID made with
    digest."""
    d = e.pki
    serial = subprocess.run(["openssl", "x509", "-in", f"{d}/{cert}", "-noout", "-serial"],
                            check=True, capture_output=True, text=True).stdout.strip()
    with open(f"{d}/index.txt", "w") as f:  # ca(1) database: V(alid), expiry, -, serial, -, DN
        f.write(f"V\t301231000000Z\t\t{serial.split('=')[1]}\tunknown\t/CN=x\n")
    subprocess.run(["openssl", "ocsp", "-index", f"{d}/index.txt", "-rsigner", f"{d}/ca.pem",
                    "-rkey", f"{d}/ca.key", "-CA", f"{d}/ca.pem", "-issuer", f"{d}/ca.pem",
                    digest, "-cert", f"{d}/{cert}", "-respout", out, "-ndays", "1"],
                   check=True, capture_output=True)


def status_of(e, sni):
    """openssl s_client -status: what the edge stapled for sni (its text output)."""
    out = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{e.tls_port}", "-status",
                          "-servername", sni, "-CAfile", e.pki + "/ca.pem"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    eq(out.returncode, 0, f"s_client to {sni}: {out.stderr[-300:]}")
    return out.stdout


def rss_kib(e):
    with open(f"/proc/{e.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for the edge")


def reload_growth(e):
    """KiB the edge grows by over 150 reloads, after 20 to let its allocator's pools fill, with
    a connection on the first snapshot's context held and used throughout."""
    with handshake(e, client_ctx(e)) as held:
        def reloads(n):
            for i in range(n):
                reload_and_wait(e)
                if i % 10 == 0:  # within idle_timeout; its context outlives its snapshot
                    _, body = get_over(held, "/t1/one.bin")
                    eq(body, b"x", "a connection from before the reloads")
        reloads(20)
        before = rss_kib(e)
        reloads(150)
        return rss_kib(e) - before


# AddressSanitizer's quarantine keeps what is freed (256 MiB of it by default), so a process
# that frees every snapshot grows alike: the size is checked on an edge without one, and
# without the allocation stacks ASan keeps for its reports (its depot only grows). Its
# allocator still spreads more than glibc's: 150 reloads grew such an edge by 0.9-1.0 MiB
# (0.2 MiB without ASan); keeping every snapshot (some 50 KB a reload) adds 7 MiB or more.
ASAN_NO_QUARANTINE = "quarantine_size_mb=0:thread_local_quarantine_size_kb=0:malloc_context_size=0"
ASAN_GROWTH_MAX_KIB = 4096


@test
def reloads_free_what_they_replace(e):
    """Each reload builds a new snapshot (two certificates' contexts, the parsed
    configuration); the one it replaces is freed once nothing holds it. An operator reloading
    every minute must not see the edge grow (it kept every snapshot until exit: about 50 KB a
    reload here). Under AddressSanitizer, the reloads run on this file's edge under its full
    checks, and the size is measured on a second edge started without the quarantine."""
    if not e.asan():
        grown = reload_growth(e)
        check(grown < 1024, f"150 reloads grew the edge by {grown} KiB")
        return
    reload_growth(e)
    e2 = Edge(e.binary)
    e2.pki, e2.tls_port = e.pki, free_port()
    e2.cfg["tls"] = [dict(e.cfg["tls"][0], listen=f"{HOST}:{e2.tls_port}")]
    had = os.environ.get("ASAN_OPTIONS", "")
    try:
        e2.start(env={"ASAN_OPTIONS": f"{had}:{ASAN_NO_QUARANTINE}" if had else
                      ASAN_NO_QUARANTINE})
        e2.push(standard_objects())
        grown = reload_growth(e2)
        check(grown < ASAN_GROWTH_MAX_KIB,
              f"150 reloads grew the edge (ASan, no quarantine) by {grown} KiB")
        e2.stop()
        eq(e2.sanitizer_reports(), [], "sanitizer reports of the edge without a quarantine")
    finally:
        e2.cleanup()


@test
def ocsp_staples_only_a_checked_response(e):
    resp = e.pki + "/b.ocsp"  # b's configured response; absent at start
    before = tls_counters(e)
    out = status_of(e, "b.test")
    check("OCSP response: no response sent" in out, f"a staple with no file: {out[:400]}")
    # Garbage, then a good response for another certificate: each warned about, not stapled.
    ocsp_response(e, "a.pem", e.pki + "/a-for-b.ocsp")
    for content, why in ((b"\x30\x03garbage", "not a DER OCSP response"),
                         (open(e.pki + "/a-for-b.ocsp", "rb").read(),
                          "no status for this certificate")):
        with open(resp, "wb") as f:
            f.write(content)
        log = reload_and_wait(e)
        said = f"tls-ctx: {resp}: OCSP response for {e.pki}/b-chain.pem not stapled: {why}"
        check(said in log, f"no warning {said!r}")
        out = status_of(e, "b.test")
        check("OCSP response: no response sent" in out, f"{why}: stapled anyway: {out[:400]}")
    # The operator fixes the file and reloads: the staple appears.
    ocsp_response(e, "b-chain.pem", resp)
    reload_and_wait(e)
    out = status_of(e, "b.test")
    check("OCSP Response Status: successful" in out, f"no staple after reload: {out[:600]}")
    check("Cert Status: good" in out, f"staple does not say good: {out[:600]}")
    # a.test has no response configured: still none.
    check("OCSP response: no response sent" in status_of(e, "a.test"), "a.test stapled")
    after = tls_counters(e)
    grew = {k: after.get(k, 0) - before.get(k, 0)
            for k in (("sluice_tls_ocsp_requests_total", 'result="stapled"'),
                      ("sluice_tls_ocsp_requests_total", 'result="none"'))}
    eq(grew[("sluice_tls_ocsp_requests_total", 'result="stapled"')], 1, "staples counted")
    # No file, garbage, another certificate's: b.test only (a.test configures no response, so
    # its status requests are not counted).
    eq(grew[("sluice_tls_ocsp_requests_total", 'result="none"')], 3, "unstapled counted")


@test
def ocsp_certificate_id_of_any_digest(e):
    """A response whose certificate ID is made with SHA-256 (or SHA-384), as responders may
    answer, is stapled like one made with SHA-1; another certificate's is still refused. Only
    SHA-1 IDs were matched: the others were warned about as "no status for this certificate"
    and never stapled."""
    resp = e.pki + "/b.ocsp"

    def reload_said():
        with open(e.log_path, errors="replace") as f:
            was = len(f.read())
        return reload_and_wait(e)[was:]
    for digest in ("-sha256", "-sha384"):
        ocsp_response(e, "b-chain.pem", resp, digest)
        out = subprocess.run(["openssl", "ocsp", "-respin", resp, "-resp_text", "-noverify"],
                             capture_output=True, text=True, check=True).stdout
        check(f"Hash Algorithm: {digest[1:]}" in out, f"the response's ID is not {digest}")
        log = reload_said()
        check("not stapled" not in log,
              f"{digest}: " + "; ".join(ln for ln in log.splitlines() if "not stapled" in ln))
        out = status_of(e, "b.test")
        check("Cert Status: good" in out, f"{digest}: no good staple: {out[:600]}")
    ocsp_response(e, "a.pem", resp, "-sha256")
    log = reload_said()
    said = f"{resp}: OCSP response for {e.pki}/b-chain.pem not stapled: no status for this"
    check(said in log, f"another certificate's SHA-256 response: no warning {said!r}")
    check("OCSP response: no response sent" in status_of(e, "b.test"), "a's response stapled")
    ocsp_response(e, "b-chain.pem", resp)
    reload_and_wait(e)


if __name__ == "__main__":
    test_tls.main()
