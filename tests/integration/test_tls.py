# SPDX-License-Identifier: MIT
"""TLS listeners of the real edge: the handshake matrix (TLS 1.0/1.1 refused, 1.2 and 1.3 with
intermediate suites only, resumption, unknown SNI answered with the default certificate),
HTTP/1.1 and h2 (ALPN) bodies, ALPN, closes and counters, and connections idle at the limit;
certificates across reloads and OCSP stapling are test_tls_reload.py's. Clients verify the
chain against a CA made here and check the name."""

import contextlib
import ctypes
import http.client
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

from edgeharness import (HOST, Closed, Edge, build_request, check, eq, free_port, metric,
                         read_to_eof, run, sha, skip, start_pushed, test)
from h2frames import PREFACE, frame, get_block, split_frames

INTERMEDIATE_12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
}
SUITES_13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}


def make_pki(d):
    sh = f"""set -e; cd {d}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=it-ca \
  -keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=keyCertSign,cRLSign
leaf() {{
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=$1 \
    -keyout $2.key -out $2.csr
  printf "subjectAltName=DNS:$1,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n" > $2.ext
  openssl x509 -req -in $2.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile $2.ext -out $2.pem
}}
leaf a.test a; leaf b.test b; leaf a.test a2
leaf x.w.test xw
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=*.w.test' \
  -keyout w.key -out w.csr
printf 'subjectAltName=DNS:*.w.test\nbasicConstraints=CA:FALSE\n' > w.ext
openssl x509 -req -in w.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile w.ext \
  -out w.pem
openssl req -new -newkey rsa:2048 -nodes -subj /CN=a.test -keyout a-rsa.key -out a-rsa.csr
openssl x509 -req -in a-rsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile a.ext -out a-rsa.pem
openssl req -new -newkey rsa:2048 -nodes -subj '/CN=*.w.test' -keyout w-rsa.key -out w-rsa.csr
openssl x509 -req -in w-rsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile w.ext -out w-rsa.pem
cat b.pem ca.pem > b-chain.pem
"""
    subprocess.run(["sh", "-c", sh], check=True, capture_output=True)


def client_ctx(e, minv=ssl.TLSVersion.TLSv1_2, maxv=ssl.TLSVersion.TLSv1_3, ciphers=None):
    ctx = ssl.create_default_context(cafile=e.pki + "/ca.pem")
    ctx.minimum_version = minv
    ctx.maximum_version = maxv
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def handshake(e, ctx, sni="a.test", session=None):
    raw = socket.create_connection((HOST, e.tls_port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=sni, session=session)
    return s


def read_answers(s, n):
    """The next n answers on s, each with a Content-Length: [(head, body)]."""
    buf, answers = b"", []

    def more():
        got = s.recv(65536)
        if not got:
            raise AssertionError(f"the edge closed the connection: {buf[:200]!r}")
        return got
    while len(answers) < n:
        while b"\r\n\r\n" not in buf:
            buf += more()
        head, _, buf = buf.partition(b"\r\n\r\n")
        clen = int([ln for ln in head.split(b"\r\n")
                    if ln.lower().startswith(b"content-length")][0].split(b":")[1])
        while len(buf) < clen:
            buf += more()
        answers.append((head, buf[:clen]))
        buf = buf[clen:]
    return answers


def get_over(s, path):
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode())
    return read_answers(s, 1)[0]


@test
def old_versions_refused(e):
    for v in ("-tls1", "-tls1_1"):
        out = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{e.tls_port}", v,
                              "-cipher", "DEFAULT:@SECLEVEL=0", "-CAfile", e.pki + "/ca.pem",
                              "-servername", "a.test"],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
        check(out.returncode != 0, f"{v}: handshake succeeded")
        check("protocol version" in out.stderr + out.stdout,
              f"{v}: no protocol_version alert: {out.stderr[-300:]}")


@test
def tls12_intermediate_only(e):
    for suite in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                  "ECDHE-ECDSA-CHACHA20-POLY1305"):
        ctx = client_ctx(e, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, suite)
        with handshake(e, ctx) as s:
            eq(s.cipher()[0], suite, "negotiated suite")
            eq(s.version(), "TLSv1.2", "version")
    for suite in ("ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA"):
        ctx = client_ctx(e, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, suite)
        try:
            with handshake(e, ctx):
                pass
        except ssl.SSLError:
            continue
        raise AssertionError(f"{suite} (outside the profile) was accepted")
    # Whatever a default client offers, the server picks a suite of the profile.
    with handshake(e, client_ctx(e, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)) as s:
        check(s.cipher()[0] in INTERMEDIATE_12, f"TLS 1.2 suite {s.cipher()[0]}")


@test
def tls13(e):
    with handshake(e, client_ctx(e, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3)) as s:
        eq(s.version(), "TLSv1.3", "version")
        check(s.cipher()[0] in SUITES_13, f"TLS 1.3 suite {s.cipher()[0]}")


@test
def resumption(e):
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(e, v, v)
        with handshake(e, ctx) as s:
            get_over(s, "/t1/one.bin")  # TLS 1.3 tickets arrive after the handshake
            sess = s.session
            check(not s.session_reused, f"{v}: first connection resumed")
            s.unwrap()
        with handshake(e, ctx, session=sess) as s:
            check(s.session_reused, f"{v}: session not resumed")
            _, body = get_over(s, "/t1/one.bin")
            eq(body, b"x", "body over the resumed session")


@test
def sessions_stay_with_their_certificate(e):
    # RFC 6066 §3: a session made under one name's certificate is not resumed under another
    # name's (the resumed handshake sends no certificate: the client would take a.test's as
    # b.test's). Under the same certificate it resumes, and so does one the default
    # certificate made for an unknown name, asked for again by its own name.
    def cn(s):
        return dict(x[0] for x in s.getpeercert()["subject"])["commonName"]

    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(e, v, v)
        ctx.check_hostname = False  # the default certificate for unknown.test names a.test
        sessions = {}
        for name in ("a.test", "b.test", "unknown.test"):
            with handshake(e, ctx, sni=name) as s:
                get_over(s, "/t1/one.bin")  # TLS 1.3 tickets arrive after the handshake
                sessions[name] = s.session
                s.unwrap()
        for made, asked, resumes, want_cn in (("a.test", "b.test", False, "b.test"),
                                              ("b.test", "a.test", False, "a.test"),
                                              ("b.test", "b.test", True, "b.test"),
                                              ("a.test", "a.test", True, "a.test"),
                                              ("unknown.test", "a.test", True, "a.test")):
            with handshake(e, ctx, sni=asked, session=sessions[made]) as s:
                check(s.session_reused == resumes,
                      f"{v}: a session made for {made}, asked for {asked}: resumed "
                      f"{s.session_reused}, want {resumes}")
                eq(cn(s), want_cn, f"{v}: {made} session asked for {asked}: certificate")
                _, body = get_over(s, "/t1/one.bin")
                eq(body, b"x", f"{v}: body over a {made} session asked for {asked}")


@test
def sni_default_certificate(e):
    # Two certificates: b.test by name, an unknown name gets the default (a.test), whose
    # chain and name (a.test) still verify.
    with handshake(e, client_ctx(e), sni="b.test") as s:
        eq(dict(x[0] for x in s.getpeercert()["subject"])["commonName"], "b.test", "b.test cert")
    out = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{e.tls_port}",
                          "-servername", "unknown.test", "-verify_hostname", "a.test",
                          "-verify_return_error", "-CAfile", e.pki + "/ca.pem"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    check("Verify return code: 0 (ok)" in out.stdout, f"unknown SNI: {out.stdout[-400:]}")
    check("CN = a.test" in out.stdout, "unknown SNI did not get the default certificate")
    # A client whose key share the edge does not take gets a HelloRetryRequest and sends a
    # second ClientHello: still one handshake with an unknown name.
    before = tls_counters(e)
    out = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{e.tls_port}",
                          "-servername", "unknown.test", "-tls1_3", "-groups",
                          "secp521r1:X25519", "-CAfile", e.pki + "/ca.pem"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    check("Server Temp Key: X25519" in out.stdout, f"after a retry: {out.stdout[-400:]}")
    n = tls_counters(e).get(("sluice_tls_sni_unknown_total", ""), 0) - \
        before.get(("sluice_tls_sni_unknown_total", ""), 0)
    eq(n, 1, "unknown names counted for one handshake with a HelloRetryRequest")


def s_client(e, *args):
    out = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{e.tls_port}",
                          "-CAfile", e.pki + "/ca.pem", *args],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    return out.stdout + out.stderr


@contextlib.contextmanager
def ticket_rotation(e, value):
    """The first listener reloaded with ticket_rotation: value inside the block, then as it
    was (reloaded again)."""
    was = e.cfg["tls"][0].get("ticket_rotation")
    e.cfg["tls"][0]["ticket_rotation"] = value
    try:
        e.write_config()
        reload_and_wait(e)
        yield
    finally:
        if was is None:
            del e.cfg["tls"][0]["ticket_rotation"]
        else:
            e.cfg["tls"][0]["ticket_rotation"] = was
        e.write_config()
        reload_and_wait(e)


@test
def ecdsa_and_rsa_for_one_name(e):
    # a.test has an ECDSA certificate (first) and an RSA one (a-rsa): a client that cannot
    # take ECDSA gets the RSA one, where the first match alone failed its handshake.
    for suite in ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305"):
        ctx = client_ctx(e, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, suite)
        with handshake(e, ctx) as s:
            eq(s.cipher()[0], suite, "TLS 1.2 suite for a client without ECDSA suites")
            _, body = get_over(s, "/t1/one.bin")
            eq(body, b"x", "body under the RSA certificate")
    out = s_client(e, "-servername", "a.test", "-tls1_3", "-sigalgs",
                   "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384", "-verify_return_error")
    check("Peer signature type: RSA-PSS" in out and "Verify return code: 0 (ok)" in out,
          f"TLS 1.3 client with RSA signature schemes only: {out[-500:]}")
    # Whoever can take ECDSA still gets the first certificate.
    for v in ("-tls1_2", "-tls1_3"):
        out = s_client(e, "-servername", "a.test", v)
        check("Peer signature type: ECDSA" in out, f"{v} default client: {out[-500:]}")
    # x.w.test has an ECDSA certificate of its own, and an RSA one only by the wildcard
    # *.w.test (w-rsa, listed after the ECDSA *.w.test): such a client gets the wildcard,
    # where it used to get the ECDSA certificate and fail its handshake.
    for v, args in (("-tls1_2", ("-cipher", "ECDHE-RSA-AES128-GCM-SHA256")),
                    ("-tls1_3", ("-sigalgs", "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"))):
        out = s_client(e, "-servername", "x.w.test", v, *args, "-verify_return_error")
        check("CN = *.w.test" in out and "Peer signature type: RSA" in out
              and "Verify return code: 0 (ok)" in out, f"x.w.test, {v} RSA-only: {out[-500:]}")
        out = s_client(e, "-servername", "x.w.test", v)
        check("CN = x.w.test" in out, f"x.w.test, {v} default client: {out[-500:]}")


@test
def rsa_only_client_without_a_known_name(e):
    # The default certificate (a.test) is ECDSA, with its RSA twin (a-rsa) listed too: a
    # client that cannot take ECDSA and sends no name, or one the edge does not know, gets the
    # twin, as it would asking for a.test, where its handshake used to fail.
    key = ("sluice_tls_sni_unknown_total", "")
    before = tls_counters(e)
    for name in (("-noservername",), ("-servername", "unknown.test")):
        for v, args in (("-tls1_2", ("-cipher", "ECDHE-RSA-AES128-GCM-SHA256")),
                        ("-tls1_3", ("-sigalgs", "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"))):
            out = s_client(e, *name, v, *args, "-verify_hostname", "a.test",
                           "-verify_return_error")
            check("CN = a.test" in out and "Peer signature type: RSA" in out
                  and "Verify return code: 0 (ok)" in out, f"{name} {v} RSA-only: {out[-500:]}")
        out = s_client(e, *name)
        check("Peer signature type: ECDSA" in out, f"{name} default client: {out[-500:]}")
    eq(tls_counters(e).get(key, 0) - before.get(key, 0), 3, "unknown names counted")


@test
def sni_absolute_names_and_empty_labels(e):
    # "b.test." is b.test (an absolute name); ".test" and "a..test" name no host: the
    # default certificate, counted as unknown (".test" matched every certificate's names).
    before = tls_counters(e)
    out = s_client(e, "-servername", "b.test.")
    check("CN = b.test" in out, f"b.test. got another certificate: {out[-400:]}")
    mid = tls_counters(e)
    key = ("sluice_tls_sni_unknown_total", "")
    eq(mid.get(key, 0) - before.get(key, 0), 0, "b.test. counted unknown")
    for name in (".test", "a..test"):
        out = s_client(e, "-servername", name)
        check("CN = a.test" in out, f"{name}: {out[-400:]}")
    eq(tls_counters(e).get(key, 0) - mid.get(key, 0), 2, "empty-label names counted unknown")
    # A certificate naming the host itself wins over a wildcard listed before it.
    check("CN = x.w.test" in s_client(e, "-servername", "x.w.test"), "x.w.test: the wildcard's")
    check("CN = *.w.test" in s_client(e, "-servername", "y.w.test"), "y.w.test: not the wildcard's")


@test
def tickets_live_two_rotation_periods(e):
    # ticket_rotation 3h: tickets are accepted for two periods, so their lifetime (and the
    # hint sent with them) is 6 h, not OpenSSL's default of 2 h.
    with ticket_rotation(e, "3h"):
        out = s_client(e, "-servername", "a.test", "-tls1_2")
        check("TLS session ticket lifetime hint: 21600 (seconds)" in out,
              f"ticket lifetime: {[ln for ln in out.splitlines() if 'lifetime' in ln]}")


def not_after(path):
    """The notAfter of the first certificate in path, Unix seconds."""
    import calendar
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-enddate"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return calendar.timegm(time.strptime(out.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z"))


@test
def certificate_expiry_said(e):
    # make_pki's certificates are good for two days: each is said to expire soon (at start,
    # and at every reload), and /metrics gives each one's notAfter.
    import re
    with open(e.log_path, errors="replace") as f:
        text = f.read()
    for name in ("a.pem", "b-chain.pem", "a-rsa.pem"):
        check(re.search(re.escape(f"{e.pki}/{name}") + r": the certificate expires in [012] day",
                        text), f"no expiry warning for {name}")
    body = e.metrics().body.decode()
    for name in ("a.pem", "w.pem"):
        want = not_after(f"{e.pki}/{name}")
        line = (f'sluice_tls_certificate_expiry_timestamp_seconds{{listener="{HOST}:{e.tls_port}",'
                f'cert="{e.pki}/{name}"}} {want}')
        check(line in body.splitlines(), f"no {line!r} in /metrics")


@test
def chain_certificate_expiry_said(e):
    """A leaf good for 30 days under an intermediate with a day left: the intermediate is
    warned about, named, at the reload that loads it, and /metrics gives its notAfter, the
    chain's earliest, for the file. Only the leaf was looked at: nothing was said, and the
    metric showed the leaf's 30 days while clients would refuse the chain the next day."""
    import re
    d = e.pki
    subprocess.run(["sh", "-c", f"""set -e; cd {d}
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=it-int \
  -keyout int.key -out int.csr
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n' > int.ext
openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
  -extfile int.ext -out int.pem
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=i.test \
  -keyout i.key -out i.csr
printf 'subjectAltName=DNS:i.test\nbasicConstraints=CA:FALSE\n' > i.ext
openssl x509 -req -in i.csr -CA int.pem -CAkey int.key -CAcreateserial -days 30 \
  -extfile i.ext -out i.pem
cat i.pem int.pem > i-chain.pem
"""], check=True, capture_output=True)
    chain = f"{d}/i-chain.pem"
    certs = e.cfg["tls"][0]["certs"]
    certs.append({"cert": chain, "key": f"{d}/i.key"})
    e.write_config()
    try:
        with open(e.log_path, errors="replace") as f:
            was = len(f.read())
        said = reload_and_wait(e)[was:]
        check(f"{chain}: the certificate expires" not in said, f"the leaf warned about: {said}")
        check(re.search(re.escape(f"{chain}: certificate 2 in the file (/CN=it-int) expires in ")
                        + r"[01] day", said),
              "no warning naming the intermediate: " +
              "; ".join(ln for ln in said.splitlines() if chain in ln))
        line = (f'sluice_tls_certificate_expiry_timestamp_seconds{{listener="{HOST}:{e.tls_port}",'
                f'cert="{chain}"}} {not_after(d + "/int.pem")}')
        check(line in e.metrics().body.decode().splitlines(), f"no {line!r} in /metrics")
    finally:
        certs.pop()
        e.write_config()
        reload_and_wait(e)


# What a plain HTTP/1.1 request refused 400 on a TLS listener counts in.
COUNTED_400 = (("sluice_edge_parse_refusals_total", 'status="400"'),
               ("sluice_edge_requests_total", 'class="4xx"'),
               ("sluice_edge_worker_requests_total", ""))


@test
def plain_http_on_the_tls_port_told(e):
    # An http:// URL aimed at the TLS port: a plain 400 saying so (it was closed without a
    # byte), and nothing after it; a TLS client on the same port is served as ever. Also when
    # the request line comes a few bytes at a time, the first read shorter than its method
    # and a space (it used to reach the TLS session, which closed it without a word).
    # Each 400 is a request answered: counted in the status classes, whose sum counts every
    # request, as in the parser's refusals (it was in the latter only).
    get = b"GET /t1/one.bin HTTP/1.1\r\nHost: a.test\r\n\r\n"
    tries = ((get,), (b"HEAD / HTTP/1.0\r\n\r\n",), (b"GE", get[2:]),
             (b"OPTI", b"ONS", b" * HTTP/1.1\r\nHost: a\r\n\r\n"))
    before = {(n, lb): metric(e, n, lb) for n, lb in COUNTED_400}
    for parts in tries:
        req = b"".join(parts)
        with socket.create_connection((HOST, e.tls_port), timeout=5) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for part in parts:
                s.sendall(part)
                time.sleep(0.1)  # each part its own read
            got = b""
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
        head, _, body = got.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 400 "), f"answer to {req[:20]!r}: {got[:200]!r}")
        eq(body, b"This port speaks HTTPS: ask for an https:// URL.\r\n\r\n", "body, and nothing after")
    for (n, lb), was in before.items():
        eq(metric(e, n, lb) - was, len(tries), f"{n}{{{lb}}} after {len(tries)} plain 400s")
    with handshake(e, client_ctx(e)) as s:
        _, body = get_over(s, "/t1/one.bin")
        eq(body, b"x", "a TLS client after them")


@test
def neither_tls_nor_http_is_a_failed_handshake(e):
    # Bytes on the TLS port that are neither a TLS record nor an HTTP request line (an SSH
    # greeting, zeros): closed, and counted as failed handshakes. They were counted nowhere:
    # the greeting was closed at its capitals, the zeros were fed to the TLS session, which
    # waited for a whole record header and was closed, uncounted, at the client's FIN.
    failed = ("sluice_tls_handshakes_total", 'result="failed"')
    tries = (b"SSH-2.0-OpenSSH_9.2\r\n", b"\x00\x00\x00\x00", b"\x7fELF")
    before = tls_counters(e)
    requests = {(n, lb): metric(e, n, lb) for n, lb in COUNTED_400}
    for junk in tries:
        with socket.create_connection((HOST, e.tls_port), timeout=5) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            eq(read_to_eof(s), b"", f"answer to {junk!r}")
    eq(tls_counters(e).get(failed, 0) - before.get(failed, 0), len(tries),
       f"failed handshakes after {len(tries)} connections of neither")
    for (n, lb), was in requests.items():
        eq(metric(e, n, lb), was, f"{n}{{{lb}}}: no request")
    with handshake(e, client_ctx(e)) as s:
        _, body = get_over(s, "/t1/one.bin")
        eq(body, b"x", "a TLS client after them")


@test
def partial_client_hello_is_a_failed_handshake(e):
    """A client that sends part of a ClientHello (a handshake record's header and a few bytes
    of its body) and leaves, by a FIN or a reset, is a failed handshake: it was closed at its
    FIN uncounted, as if it had never begun one."""
    failed = ("sluice_tls_handshakes_total", 'result="failed"')
    part = b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc\x03\x03" + bytes(16)
    before = tls_counters(e).get(failed, 0)
    for reset in (False, True):
        with socket.create_connection((HOST, e.tls_port), timeout=5) as s:
            s.sendall(part)
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                continue
            s.shutdown(socket.SHUT_WR)
            eq(read_to_eof(s, (ConnectionResetError,)), b"", "answer to a partial ClientHello")
    wait_open_connections(e, 0, "after the partial ClientHellos")
    eq(tls_counters(e).get(failed, 0) - before, 2, "failed handshakes")
    with handshake(e, client_ctx(e)) as s:
        _, body = get_over(s, "/t1/one.bin")
        eq(body, b"x", "a TLS client after them")


@test
def bodies_over_tls(e):
    # TLS 1.3 and TLS 1.2 (each sealed by the edge, docs/tls.md), and TLS 1.2 with
    # ChaCha20-Poly1305, whose records carry no explicit nonce.
    tls12_chacha = client_ctx(e, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    tls12_chacha.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
    for ctx in (client_ctx(e), client_ctx(e, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
                tls12_chacha):
        for key in ("/t1/seg-1.m4s", "/t1/big.m4s"):
            c = http.client.HTTPSConnection(HOST, e.tls_port, context=ctx, timeout=20)
            # The certificate names a.test and 127.0.0.1 (an IP SAN), so the address verifies.
            c.request("GET", key)
            r = c.getresponse()
            eq(r.status, 200, f"{key} over HTTPS")
            version, cipher = c.sock.version(), c.sock.cipher()[0]
            check(sha(r.read()) == sha(e.objects[key]),
                  f"{key}: body differs over HTTPS ({version}, {cipher})")
            c.close()
    for versions in ([], ["--tlsv1.2", "--tls-max", "1.2"]):
        out = subprocess.run(["curl", "-sS", "--http2", *versions, "--cacert", e.pki + "/ca.pem",
                              "-o", "-", "-w", "", f"https://{HOST}:{e.tls_port}/t1/big.m4s"],
                             capture_output=True)
        eq(out.returncode, 0, f"curl h2 {versions}: {out.stderr}")
        check(sha(out.stdout) == sha(e.objects["/t1/big.m4s"]), f"body differs over h2 {versions}")
    v = subprocess.run(["curl", "-sS", "--http2", "--cacert", e.pki + "/ca.pem", "-o",
                        "/dev/null", "-w", "%{http_version}",
                        f"https://{HOST}:{e.tls_port}/t1/one.bin"], capture_output=True,
                       text=True)
    eq(v.stdout, "2", "ALPN h2")


def request_then_close_notify(e, version, request, alpn=None):
    """Send request over TLS of version, then close_notify at once, and read what comes back
    until the edge closes: (plaintext, whether the edge's own close_notify came)."""
    ctx = client_ctx(e, version, version)
    if alpn:
        ctx.set_alpn_protocols([alpn])
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inc, out, server_hostname="a.test")
    data, notified = b"", False
    with socket.create_connection((HOST, e.tls_port), timeout=10) as s:
        while True:
            try:
                o.do_handshake()
                break
            except ssl.SSLWantReadError:
                s.sendall(out.read())
                inc.write(s.recv(65536))
        s.sendall(out.read())
        o.write(request)
        try:
            o.unwrap()  # our close_notify; the edge's is read below
        except ssl.SSLWantReadError:
            pass
        s.sendall(out.read())
        while not notified:
            d = s.recv(1 << 20)
            if not d:
                break
            inc.write(d)
            while True:
                try:
                    x = o.read(1 << 20)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    notified = True
                    break
                if not x:
                    notified = True
                    break
                data += x
    return data, notified


@test
def tls13_request_then_close_notify(e):
    """TLS 1.3 closes each direction on its own (RFC 8446 §6.1): a client that sends its
    request and then close_notify gets the whole answer, then the edge's close_notify. The
    edge closed at once: 4,194,650 bytes of an 8 MiB answer. TLS 1.2 discards what is pending
    (RFC 5246 §7.2.1), and the edge closes at once there as before."""
    want = e.objects["/t1/big.m4s"]
    req = b"GET /t1/big.m4s HTTP/1.1\r\nHost: a.test\r\n\r\n"
    data, notified = request_then_close_notify(e, ssl.TLSVersion.TLSv1_3, req)
    head, _, body = data.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200"), f"the answer's head: {head[:80]!r}")
    eq(len(body), len(want), "body bytes after the client's close_notify (TLS 1.3)")
    check(sha(body) == sha(want), "body differs")
    check(notified, "no close_notify from the edge after the answer")
    data, notified = request_then_close_notify(e, ssl.TLSVersion.TLSv1_2, req)
    check(len(data) < len(want), f"TLS 1.2: {len(data)} bytes after close_notify")
    # h2 alike: the stream's DATA to its END_STREAM.
    h2req = (PREFACE + frame(4, 0, 0, struct.pack(">HI", 4, 1 << 24))
             + frame(8, 0, 0, struct.pack(">I", 1 << 30))
             + frame(1, 0x5, 1, get_block("/t1/big.m4s")))
    data, notified = request_then_close_notify(e, ssl.TLSVersion.TLSv1_3, h2req, "h2")
    frames, _ = split_frames(data)
    body = b"".join(p for t, _, sid, p in frames if t == 0 and sid == 1)
    ended = any(t == 0 and sid == 1 and f & 1 for t, f, sid, _ in frames)
    eq(len(body), len(want), "h2: DATA bytes after the client's close_notify")
    check(ended and sha(body) == sha(want), "h2: the stream ended with the object's bytes")


@test
def h2_over_tls_streams_to_a_slow_reader(e):
    """Several streams on one h2 connection, read slowly: the edge's bursts meet a full socket
    (the unsealed rest is kept and goes first), and every body still arrives whole."""
    d = tempfile.mkdtemp(prefix="sluice-it-h2slow-")
    keys = ["/t1/big.m4s", "/t1/seg-1.m4s", "/t1/big.m4s", "/t1/seg-2.m4s"]
    cmd = ["curl", "-sS", "--http2", "--parallel", "--parallel-max", "8", "--limit-rate", "3M",
           "--cacert", e.pki + "/ca.pem", "-w", "%{http_version} %{num_connects}\n"]
    for i, k in enumerate(keys):
        cmd += ["-o", f"{d}/{i}", f"https://{HOST}:{e.tls_port}{k}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    eq(out.returncode, 0, f"curl: {out.stderr}")
    lines = out.stdout.split()
    eq(lines[0::2], ["2"] * len(keys), "every transfer over h2")
    check(sum(int(n) for n in lines[1::2]) == 1, f"one connection for all: {out.stdout!r}")
    for i, k in enumerate(keys):
        with open(f"{d}/{i}", "rb") as f:
            check(sha(f.read()) == sha(e.objects[k]), f"{k} (transfer {i}) differs over h2")
    shutil.rmtree(d, ignore_errors=True)


def h2_tls_socket(e):
    """A TLS connection to the edge that negotiated h2 by ALPN."""
    ctx = client_ctx(e)
    ctx.set_alpn_protocols(["h2"])
    s = handshake(e, ctx)
    eq(s.selected_alpn_protocol(), "h2", "ALPN h2")
    return s


@test
def tls13_close_notify_ends_a_refused_head(e):
    """With cors_origins a list, a head refused before its end is read on for its Origin; a
    TLS 1.3 close_notify ends that as a FIN does, and the answer goes before the edge's own
    close_notify."""
    with tls_edge_with(e, {"cors_origins": ["https://player.example"]}) as (e2, _):
        data, notified = request_then_close_notify(e2, ssl.TLSVersion.TLSv1_3,
                                                   b"GET /" + b"a" * 9000)
        check(data.startswith(b"HTTP/1.1 414 "), f"the answer before the close: {data[:80]!r}")
        check(notified, "no close_notify from the edge after the 414")


@test
def edge_close_says_close_notify(e):
    """A connection the edge closes itself (here at idle_timeout, 2 s) ends with its
    close_notify, not a bare FIN (RFC 8446 §6.1); clients saw an unexpected EOF."""
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(e, version, version)
        raw = socket.create_connection((HOST, e.tls_port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="a.test", suppress_ragged_eofs=False)
        try:
            head, _ = get_over(s, "/t1/one.bin")
            check(head.startswith(b"HTTP/1.1 200"), f"{version}: {head[:60]!r}")
            try:
                eq(s.recv(65536), b"", f"{version}: after idle_timeout")
            except ssl.SSLEOFError as err:
                raise AssertionError(f"{version}: closed without close_notify ({err})")
        finally:
            s.close()


@test
def h2_over_tls_in_steady_use_outlives_idle_timeout(e):
    """Requests one after another on one h2 connection over TLS (each sent 0.3 s after the one
    before was answered) for three times idle_timeout (2 s) are all answered, with no GOAWAY:
    the idle deadline runs from the last answer, not from the session's start."""
    s = h2_tls_socket(e)
    s.settimeout(5)
    s.sendall(PREFACE + frame(4, 0, 0))
    buf, sid, began = b"", 1, time.monotonic()
    try:
        while time.monotonic() < began + 6:
            s.sendall(frame(1, 0x5, sid, get_block("/t1/one.bin")))
            ended = False
            while not ended:
                try:
                    d = s.recv(65536)
                except (ssl.SSLError, ConnectionResetError, socket.timeout) as err:
                    raise AssertionError(f"stream {sid}, {time.monotonic() - began:.1f}s in: "
                                         f"{err!r}") from err
                check(d, f"closed {time.monotonic() - began:.1f}s into steady use (stream {sid})")
                got, buf = split_frames(buf + d)
                for t, f, i, _ in got:
                    check(t != 7, f"GOAWAY {time.monotonic() - began:.1f}s into steady use")
                    if t == 4 and not f & 1:
                        s.sendall(frame(4, 1, 0))
                    ended = ended or (i == sid and t in (0, 1) and f & 1)
            sid += 2
            time.sleep(0.3)
    finally:
        s.close()
    check(sid > 21, f"only {(sid - 1) // 2} requests in 6 s")


@test
def alpn_h2_speaks_only_h2(e):
    """Once ALPN chose h2, an HTTP/1.1 request instead of the preface is a connection error
    (RFC 7301 §3.2, RFC 9113 §3.4): closed, never answered. It was served as HTTP/1.1."""
    s = h2_tls_socket(e)
    try:
        s.settimeout(5)
        s.sendall(b"GET /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n\r\n")
        got = read_to_eof(s, (ssl.SSLError, ConnectionResetError))
        check(not got.startswith(b"HTTP/1.1"), f"answered as HTTP/1.1: {got[:60]!r}")
    finally:
        s.close()


@test
def alpn_with_nothing_in_common_refused(e):
    """A client whose ALPN list has nothing the listener speaks gets a fatal
    no_application_protocol alert (RFC 7301 §3.2), over TLS 1.2 and 1.3, counted as a failed
    handshake; the handshake used to complete with no protocol agreed. One offering no ALPN,
    or one of ours among others, is served as ever."""
    failed = ("sluice_tls_handshakes_total", 'result="failed"')
    before = tls_counters(e).get(failed, 0)
    tries = ((["h3"], ssl.TLSVersion.TLSv1_3), (["spdy/3", "h2c"], ssl.TLSVersion.TLSv1_2))
    for offer, version in tries:
        ctx = client_ctx(e, version, version)
        ctx.set_alpn_protocols(offer)
        try:
            with handshake(e, ctx) as s:
                raise AssertionError(f"{offer} over {version.name}: handshake completed, ALPN "
                                     f"{s.selected_alpn_protocol()!r}")
        except ssl.SSLError as err:
            check("no application protocol" in str(err).lower().replace("_", " "),
                  f"{offer} over {version.name}: {err}")
    eq(tls_counters(e).get(failed, 0) - before, len(tries), "failed handshakes")
    for offer, want in ((None, None), (["spdy/3", "http/1.1"], "http/1.1")):
        ctx = client_ctx(e)
        if offer:
            ctx.set_alpn_protocols(offer)
        with handshake(e, ctx) as s:
            eq(s.selected_alpn_protocol(), want, f"ALPN agreed for {offer}")
            _, body = get_over(s, "/t1/one.bin")
            eq(body, b"x", f"HTTP/1.1 body for {offer}")


@test
def h2_over_tls_many_small_frames_per_burst(e):
    """42 streams with 4 KiB stream windows, all topped up at once in one write once every
    window is spent: the edge's next burst then carries 42 small DATA frames from files,
    more than it reads at its seal in one go (32), so it reads part of the burst early. Every
    body arrives whole."""
    keys = ["/t1/seg-1.m4s", "/t1/seg-2.m4s", "/t1/big.m4s"] * 14
    sids = [2 * i + 1 for i in range(len(keys))]
    want = {sid: e.objects[k][:1 << 20] for sid, k in zip(sids, keys)}  # big.m4s: 1 MiB of it
    s = h2_tls_socket(e)
    s.sendall(PREFACE + frame(4, 0, 0, struct.pack(">HI", 4, 4096))
              + frame(8, 0, 0, struct.pack(">I", 1 << 30))
              + b"".join(frame(1, 0x5, sid, get_block(k)) for sid, k in zip(sids, keys)))
    bodies = {sid: b"" for sid in sids}
    granted = {sid: 4096 for sid in sids}
    done, buf, rounds = set(), b"", 0
    s.settimeout(20)
    while len(done) < len(sids):
        d = s.recv(65536)
        check(d, f"connection ended with {len(done)} of {len(sids)} streams done")
        got, buf = split_frames(buf + d)
        for t, f, sid, p in got:
            check(t not in (3, 7), f"RST_STREAM or GOAWAY on stream {sid}")
            if t == 0 and sid in bodies and sid not in done:  # none after our reset counts
                bodies[sid] += p
                if f & 1:
                    done.add(sid)
            elif t == 1 and f & 1:
                done.add(sid)
            elif t == 6 and not f & 1:
                s.sendall(frame(6, 1, 0, p))
        for sid in sids:
            if sid not in done and len(bodies[sid]) >= len(want[sid]):
                s.sendall(frame(3, 0, sid, struct.pack(">I", 8)))  # RST_STREAM CANCEL
                bodies[sid] = bodies[sid][:len(want[sid])]
                done.add(sid)
        open_ = [sid for sid in sids if sid not in done]
        if open_ and all(len(bodies[sid]) >= granted[sid] for sid in open_):
            rounds += 1
            for sid in open_:
                granted[sid] += 4096
            s.sendall(b"".join(frame(8, 0, sid, struct.pack(">I", 4096)) for sid in open_))
    s.close()
    for sid, k in zip(sids, keys):
        check(sha(bodies[sid]) == sha(want[sid]), f"{k} (stream {sid}) differs over h2/TLS")
    check(rounds > 10, f"only {rounds} rounds of window updates")


@test
def h2_over_tls_same_rules(e):
    """h2 after ALPN answers by the HTTP/1.1 rules: preflight, conditionals, Cache-Status."""
    def curl(*args):
        out = subprocess.run(["curl", "-sS", "--http2", "--cacert", e.pki + "/ca.pem", "-D", "-",
                              "-o", "/dev/null", *args], capture_output=True)
        eq(out.returncode, 0, f"curl {args}: {out.stderr}")
        lines = out.stdout.decode().split("\r\n")
        check(lines[0].startswith("HTTP/2 "), f"not h2: {lines[0]}")
        return int(lines[0].split()[1]), {k.lower(): v.strip() for k, _, v in
                                          (ln.partition(":") for ln in lines[1:] if ln)}
    url = f"https://{HOST}:{e.tls_port}/t1/seg-1.m4s"
    status, hdrs = curl("-X", "OPTIONS", "-H", "Origin: https://player.example",
                        "-H", "Access-Control-Request-Method: GET", url)
    eq(status, 204, "preflight over h2/TLS")
    eq(hdrs.get("access-control-allow-methods"), "GET, HEAD, OPTIONS", "allow-methods")
    status, hdrs = curl(url)
    eq(status, 200, "GET over h2/TLS")
    check(hdrs.get("cache-status", "").endswith("; hit"), f"cache-status {hdrs}")
    status, _ = curl("-H", f"If-None-Match: {hdrs['etag']}", url)
    eq(status, 304, "If-None-Match over h2/TLS")
    status, _ = curl("-H", 'If-Match: "nope"', url)
    eq(status, 412, "If-Match over h2/TLS")


def kernel_offers_ktls():
    """Whether the kernel has its tls module (as test-tls-ktls.c decides). Read after the
    connections: an edge allowed to may have had the kernel load it on first use."""
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            return "tls" in f.read().split()
    except OSError:
        return False


def open_connections(e):
    for line in e.metrics().body.decode().splitlines():
        if line.startswith("sluice_edge_connections_open "):
            return float(line.split()[1])
    raise AssertionError("no sluice_edge_connections_open in /metrics")


def wait_open_connections(e, want, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    got = open_connections(e)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval of a gauge bounded by the deadline
        got = open_connections(e)
    eq(got, want, f"sluice_edge_connections_open {what}")


@test
def every_way_a_tls_connection_ends_is_counted_closed(e):
    """Failed handshakes, clients gone mid-handshake or mid-body, h2 streams reset and
    connections cut under them: each connection leaves the open gauge (and the heartbeat's
    load, its source) as it closes."""
    wait_open_connections(e, 0, "before")
    ends = []

    def raw():
        return socket.create_connection((HOST, e.tls_port), timeout=10)

    ends.append("connected and closed at once")
    raw().close()
    ends.append("garbage instead of a ClientHello")
    c = raw()
    c.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
    c.settimeout(5)
    try:
        while c.recv(4096):
            pass
    except OSError:
        pass
    c.close()
    ends.append("half a ClientHello, then a reset")
    ch = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx(e).wrap_bio(ch[0], ch[1], server_hostname="a.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = ch[1].read()
    c = raw()
    c.sendall(hello[:len(hello) // 2])
    time.sleep(0.1)  # the edge has read the part and waits for the rest
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    ends.append("TLS 1.1 refused")
    try:
        with handshake(e, client_ctx(e, ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1)):
            pass
    except (ssl.SSLError, OSError):
        pass
    ends.append("HTTPS body cut by a reset")
    s = handshake(e, client_ctx(e))
    s.sendall(b"GET /t1/big.m4s HTTP/1.1\r\nHost: a.test\r\n\r\n")
    s.recv(4096)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    ends.append("h2 streams reset, then the connection cut")
    s = h2_tls_socket(e)
    s.sendall(PREFACE + frame(4, 0, 0, b"")
              + b"".join(frame(1, 0x5, sid, get_block("/t1/big.m4s")) for sid in (1, 3, 5)))
    s.recv(4096)
    s.sendall(frame(3, 0, 1, struct.pack(">I", 8)))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    ends.append("h2 GOAWAY from the client with a stream open")
    s = h2_tls_socket(e)
    s.sendall(PREFACE + frame(4, 0, 0, b"") + frame(1, 0x5, 1, get_block("/t1/big.m4s")))
    s.recv(4096)
    s.sendall(frame(7, 0, 0, struct.pack(">II", 1, 0)))
    s.close()
    wait_open_connections(e, 0, "after: " + "; ".join(ends))


def tls_counters(e):
    """{(name, label): value} of the TLS listener's counters in /metrics; label is the one
    besides listener= ("" when none). Every series must carry this listener's address."""
    import re
    out = {}
    for line in e.metrics().body.decode().splitlines():
        m = re.match(r'^(sluice_tls_[a-z0-9_]+)\{listener="([^"]*)"(?:,([^}]*))?\} (\d+)$', line)
        if m:
            eq(m.group(2), f"{HOST}:{e.tls_port}", f"listener label of {m.group(1)}")
            out[(m.group(1), m.group(3) or "")] = int(m.group(4))
    return out


@test
def metrics_say_which_path(e):
    before = tls_counters(e)
    check(before, "/metrics has no sluice_tls_* series for the TLS listener")
    with handshake(e, client_ctx(e)) as s:
        get_over(s, "/t1/one.bin")
    # A resumed session (TLS 1.2: the ticket comes with the handshake).
    ctx = client_ctx(e, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    with handshake(e, ctx) as s:
        get_over(s, "/t1/one.bin")
        sess = s.session
        s.unwrap()
    with handshake(e, ctx, session=sess) as s:
        check(s.session_reused, "session not resumed")
    # A name the edge has no certificate for: the default one (a.test) is served.
    anyname = client_ctx(e)
    anyname.check_hostname = False
    with handshake(e, anyname, sni="unknown.test"):
        pass
    out = subprocess.run(["curl", "-sS", "--http2", "--cacert", e.pki + "/ca.pem", "-o",
                          "/dev/null", f"https://{HOST}:{e.tls_port}/t1/one.bin"],
                         capture_output=True)
    eq(out.returncode, 0, f"curl h2: {out.stderr}")
    after = tls_counters(e)

    def grew(name, label=""):
        return after.get((name, label), 0) - before.get((name, label), 0)
    check(grew("sluice_tls_handshakes_total", 'result="ok"') >= 4, "handshakes counted")
    check(grew("sluice_tls_resumed_total") >= 1, "resumption counted")
    check(grew("sluice_tls_sni_unknown_total") >= 1, "unknown SNI counted")
    check(grew("sluice_tls_alpn_h2_total") >= 1, "ALPN h2 counted")
    # Every completed handshake took exactly one send path.
    ktls = grew("sluice_tls_connections_total", 'send_path="ktls"')
    user = grew("sluice_tls_connections_total", 'send_path="user"')
    eq(ktls + user, grew("sluice_tls_handshakes_total", 'result="ok"'),
       f"connections by send path (ktls {ktls}, user {user}) against handshakes")
    if kernel_offers_ktls():
        # kTLS is on by default (tls[].ktls): the kernel takes the send side over.
        check(ktls >= 1, f"the kernel offers tls, yet no connection moved to kTLS (user {user})")
    else:
        # No tls module: every connection encrypts in userspace.
        check(user >= 4, f"user path count {user}")
        # The clients that were sent data (Python's TLS 1.3 and TLS 1.2, curl's h2) got
        # records the edge sealed itself; the two sent nothing (the resumption, the unknown
        # name) never needed any.
        sealed = grew("sluice_tls_edge_sealed_total")
        eq(sealed, 3, f"edge-sealed connections of {user}")
        eq(after.get(("sluice_tls_connections_total", 'send_path="ktls"')), 0, "ktls path count")
    # old_versions_refused ran first: its TLS 1.0/1.1 attempts are failed handshakes.
    check(after.get(("sluice_tls_handshakes_total", 'result="failed"'), 0) >= 2,
          "refused TLS 1.0/1.1 handshakes counted")


def log_count_grows(e, text, seen, timeout=5.0):
    """Whether text appears in the edge's log more than seen times within timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with open(e.log_path, errors="replace") as f:
            if f.read().count(text) > seen:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)  # poll interval for the worker's log line


def log_says(e, text, timeout=5.0):
    """Whether text appears in the edge's log within timeout seconds (the main thread logs
    a reload's outcome a moment after the workers may already act on it)."""
    return log_count_grows(e, text, 0, timeout)


@test
def debug_line_names_the_alpn_taken(e):
    # At debug, each handshake's line names the protocol ALPN chose, and "none" when the client
    # offered none (it said http/1.1 then, which no ALPN had agreed).
    e.cfg["log"]["level"] = "debug"
    e.write_config()
    reload_and_wait(e)
    try:
        for offer, want in ((None, "none"), (["http/1.1"], "http/1.1"), (["h2"], "h2")):
            ctx = client_ctx(e)
            if offer:
                ctx.set_alpn_protocols(offer)
            with open(e.log_path, errors="replace") as f:
                seen = f.read().count(f" alpn={want} ")
            with handshake(e, ctx) as s:
                eq(s.selected_alpn_protocol(), offer[0] if offer else None, "ALPN agreed")
            check(log_count_grows(e, f" alpn={want} ", seen),
                  f"no debug line saying alpn={want} for {offer}")
    finally:
        e.cfg["log"]["level"] = "info"
        e.write_config()
        reload_and_wait(e)


def reload_and_wait(e):
    """SIGHUP and wait until the main thread logs the reload (the new contexts are in use)."""
    return e.reload()


@test
def missing_tls_module_is_said_at_start(e):
    # kTLS is on by default; on a kernel without its tls module the edge says once per
    # listener, at start, that it encrypts in userspace and why it cannot load the module.
    with open(e.log_path, errors="replace") as f:
        log = f.read()
    said = f"{HOST}:{e.tls_port}: tls.ktls is on, but the kernel has no tls module loaded"
    if not kernel_offers_ktls():
        check(said in log, "no start-up warning about the missing tls module")
        # Once per start or reload (the earlier cases reloaded), not once per connection.
        eq(log.count(said), 1 + log.count("configuration reloaded from"),
           "warnings about the missing tls module")
    else:
        # The module is there now; it may have been loaded only after the edge started (by a
        # process allowed to), so the start-up line proves nothing either way here.
        skip("the kernel offers tls: the warning about a missing tls module not checked")


def hidden_proc_sys():
    """A preexec for the edge: a mount namespace of its own whose /proc shows processes only,
    as the unit's ProcSubset=pid makes it (/proc/sys/net/ipv4/tcp_available_ulp unreadable).
    Root only."""
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x20000, 0x4000, 0x40000
    if (libc.unshare(CLONE_NEWNS) != 0 or
            libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0 or
            libc.mount(b"proc", b"/proc", b"proc", 0, b"subset=pid") != 0):
        err = ctypes.get_errno()
        raise OSError(err, f"/proc with processes only: {os.strerror(err)}")


@test
def tls_module_known_with_proc_sys_hidden(e):
    """Under the unit's ProcSubset=pid the edge cannot read which upper-layer protocols the
    kernel has; it asks a connection instead, so a missing tls module is still said at start
    and TLS 1.3 records are still sealed by the edge (an unreadable file counted as present:
    no warning, and every connection fell back to OpenSSL's record layer after kTLS failed)."""
    if os.geteuid() != 0:
        skip("not root: cannot give the edge a /proc without /proc/sys")
    if kernel_offers_ktls():
        skip("the kernel offers tls: nothing to find missing")
    e2 = Edge(e.binary)
    e2.pki = e.pki
    e2.tls_port = free_port()
    e2.cfg["tls"] = [{"listen": f"{HOST}:{e2.tls_port}",
                      "certs": [{"cert": e.pki + "/a.pem", "key": e.pki + "/a.key"}]}]
    e2.preexec = hidden_proc_sys
    start_pushed(e2)
    try:
        pid = e2.proc.pid
        check(not os.path.exists(f"/proc/{pid}/root/proc/sys/net"),
              "the edge's /proc still shows /proc/sys")
        with handshake(e2, client_ctx(e2, ssl.TLSVersion.TLSv1_3)) as s:
            _, body = get_over(s, "/t1/one.bin")
        eq(body, b"x", "body over TLS 1.3")
        check(log_says(e2, f"{HOST}:{e2.tls_port}: tls.ktls is on, but the kernel has no tls "
                           "module loaded"), "no start-up warning about the missing tls module")
        n = tls_counters(e2)
        eq(n.get(("sluice_tls_edge_sealed_total", ""), 0), 1, "connections the edge sealed")
    finally:
        e2.stop()
        e2.cleanup()


def tls_closed(s, timeout):
    """Whether the edge closes TLS connection s within timeout (False: still open)."""
    s.settimeout(timeout)
    try:
        got = s.recv(1)
    except (socket.timeout, TimeoutError):
        return False
    except (ConnectionResetError, ssl.SSLError):
        return True
    check(not got, f"bytes on a connection that sent no request: {got!r}")
    return True


@contextlib.contextmanager
def tls_edge_with(e, cfg):
    """A started edge configured with cfg and a TLS listener; yields it and a list whose
    connections are closed at the end, before it is stopped and its sanitizer reports
    checked."""
    e2 = Edge(e.binary, cfg)
    e2.pki, e2.tls_port = e.pki, free_port()
    e2.cfg["tls"] = [{"listen": f"{HOST}:{e2.tls_port}",
                      "certs": [{"cert": e.pki + "/a.pem", "key": e.pki + "/a.key"}]}]
    start_pushed(e2)
    held = []
    try:
        yield e2, held
    finally:
        for c in held:
            c.close()
        e2.stop()
        eq(e2.sanitizer_reports(), [], "sanitizer reports of the second edge")
        e2.cleanup()


def limited_tls_edge(e, max_connections):
    """tls_edge_with one worker, max_connections, and deadlines that close nothing while a
    case runs."""
    return tls_edge_with(e, {"workers": 1,
                             "limits": {"max_connections": max_connections,
                                        "idle_timeout": "30s", "header_timeout": "30s"}})


@test
def a_finished_handshake_with_no_request_is_idle(e):
    """At limits.max_connections a TLS connection whose handshake is done and which has sent
    no request since is idle, as a plain one silent since accept is: the newcomer takes its
    place (it was accepted before the kept-alive one went idle), while a TLS connection with
    a request under way is kept."""
    with limited_tls_edge(e, 3) as (e2, held):
        for v in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            wait_open_connections(e2, 0, f"{v.name}: before")
            idle0 = metric(e2, "sluice_edge_connections_idle_closed_total")
            ctx = client_ctx(e2, v, v)
            busy = handshake(e2, ctx)  # accepted first, inside a request: never idle
            held.append(busy)
            busy.sendall(b"GET /t1/one.bin HTTP/1.1\r\n")
            quiet = handshake(e2, ctx)
            held.append(quiet)
            kept = e2.conn()
            held.append(kept)
            kept.send(build_request("GET", "/t1/one.bin"))
            eq(kept.read_response().status, 200, f"{v.name}: the kept-alive connection")
            newcomer = e2.conn()
            held.append(newcomer)
            newcomer.send(build_request("GET", "/t1/one.bin"))
            eq(newcomer.read_response().status, 200, f"{v.name}: the newcomer at the limit")
            check(tls_closed(quiet, 3.0),
                  f"{v.name}: the connection with its handshake done and no request stayed")
            kept.expect_open(what=f"{v.name}: the kept-alive connection")
            check(not tls_closed(busy, 0.3), f"{v.name}: the connection inside a request closed")
            busy.sendall(b"Host: a.test\r\n\r\n")
            head = busy.recv(65536)
            check(head.startswith(b"HTTP/1.1 200 "), f"{v.name}: the held request: {head[:80]!r}")
            eq(metric(e2, "sluice_edge_connections_idle_closed_total") - idle0, 1,
               f"{v.name}: sluice_edge_connections_idle_closed_total increase")
            while held:
                held.pop().close()


@test
def pipelined_answers_leave_the_connection_idle(e):
    """Requests queued behind an answer that waited for room in the socket are answered at
    once over TLS, from the queue; once the last is out the connection is idle (kept for
    idle_timeout, and idle at max_connections), not held for inside a request head, whose
    shorter deadline closed it as a header timeout and which a newcomer at the limit could
    not take the place of."""
    with limited_tls_edge(e, 1) as (e2, held):
        wait_open_connections(e2, 0, "before")
        idle0 = metric(e2, "sluice_edge_connections_idle_closed_total")
        s = handshake(e2, client_ctx(e2))
        held.append(s)
        ask = b"GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n"
        s.sendall(ask % b"/t1/big.m4s" + ask % b"/t1/one.bin" * 2)  # big: past one turn
        answers = read_answers(s, 3)
        eq([a[0].split(b" ")[1] for a in answers], [b"200"] * 3, "the pipelined answers")
        eq(sha(answers[0][1]), sha(e2.objects["/t1/big.m4s"]), "the big answer's body")
        newcomer = e2.conn()
        held.append(newcomer)
        newcomer.send(build_request("GET", "/t1/one.bin"))
        try:
            status = newcomer.read_response().status
        except Closed:
            status = None
        eq(status, 200, "a newcomer at the limit (None: refused, no connection was idle)")
        check(tls_closed(s, 3.0), "the connection idle after its pipelined answers stayed")
        eq(metric(e2, "sluice_edge_connections_idle_closed_total") - idle0, 1,
           "sluice_edge_connections_idle_closed_total increase")


PKI_DIRS = []  # removed once the run is over


def setup(binary):
    # The certificates first: openssl takes seconds, and the ports Edge() picks stay free only
    # until something else (another test's origin or client) binds them.
    pki = tempfile.mkdtemp(prefix="sluice-it-pki-")
    PKI_DIRS.append(pki)
    make_pki(pki)
    e = Edge(binary)
    e.pki = pki
    e.tls_port = free_port()
    e.cfg["tls"] = [{"listen": f"{HOST}:{e.tls_port}",
                     "certs": [{"cert": e.pki + "/a.pem", "key": e.pki + "/a.key"},
                               {"cert": e.pki + "/b-chain.pem", "key": e.pki + "/b.key",
                                "ocsp": e.pki + "/b.ocsp"},
                               {"cert": e.pki + "/w.pem", "key": e.pki + "/w.key"},
                               {"cert": e.pki + "/xw.pem", "key": e.pki + "/xw.key"},
                               {"cert": e.pki + "/a-rsa.pem", "key": e.pki + "/a-rsa.key"},
                               {"cert": e.pki + "/w-rsa.pem", "key": e.pki + "/w-rsa.key"}]}]
    return start_pushed(e)


def main():
    """Run the cases registered (this file's, or test_tls_reload.py's) on setup()'s edge."""
    if not shutil.which("openssl"):
        print("SKIP: the openssl CLI is needed to make test certificates")
        sys.exit(77)
    if not shutil.which("curl"):
        # tools/deps installs curl: its absence is a broken setup, not a reason to pass cases
        # that never ran.
        print("not ok - curl missing (tools/deps installs it)")
        sys.exit(1)
    rc = run(setup)
    for d in PKI_DIRS:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
