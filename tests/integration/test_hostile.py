# SPDX-License-Identifier: MIT
"""Hostile and malformed requests (RFC 9112 and request smuggling): each gets its status and
then the server closes the connection.

The timeouts here are long (30 s) so that a close seen within 3 s is the server's deliberate
close after the error, never a timer, and an answer awaited for 5 s comes from the request's
own bytes, never from the header timeout."""

import socket
import sys

from edgeharness import Closed, build_request, check, eq, expect_body, run, standard_setup, test

SETUP = standard_setup({"limits": {"header_timeout": "30s", "idle_timeout": "30s"}},
                       {"/t1/one.bin": b"x", "/t1/seg-1.m4s": bytes(range(256)) * 40})

OK_HEAD = b"GET /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n"


def refuse(e, raw, statuses, what, method="GET"):
    """Send raw bytes; expect one response (to method) with a status in statuses, then EOF."""
    if isinstance(statuses, int):
        statuses = (statuses,)
    with e.conn(timeout=5) as c:
        c.send(raw)
        try:
            r = c.read_response(method)
        except Closed:
            raise AssertionError(f"{what}: connection closed without a response "
                                 f"(want {statuses})")
        except socket.timeout:
            raise AssertionError(f"{what}: no response within 5 s, the header timeout being "
                                 f"30 s: the request was left waiting for more (want {statuses})")
        check(r.status in statuses, f"{what}: status {r.status}, want {statuses}")
        if 400 <= r.status < 500:
            # RFC 9110 §6.6.1: an origin server with a clock sends Date in every 4xx.
            check(r.get("Date") is not None, f"{what}: {r.status} lacks Date")
        c.expect_eof(3.0, what)
    # The server is still healthy for others.
    expect_body(e.get("/t1/one.bin"), b"x", f"GET after {what}")


@test
def conflicting_content_length(e):
    refuse(e, OK_HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400,
           "conflicting Content-Length")


@test
def duplicate_content_length(e):
    refuse(e, OK_HEAD + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400,
           "duplicate Content-Length")


@test
def bad_content_length_values(e):
    for v in (b"-1", b"+5", b"1e3", b"0x10", b"5 5", b"99999999999999999999999"):
        refuse(e, OK_HEAD + b"Content-Length: " + v + b"\r\n\r\n", 400,
               f"Content-Length: {v.decode()}")


@test
def content_length_with_transfer_encoding(e):
    refuse(e, OK_HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
           "Content-Length + Transfer-Encoding")
    refuse(e, OK_HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400,
           "Transfer-Encoding + Content-Length")


@test
def chunked_get(e):
    refuse(e, OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
           "Transfer-Encoding: chunked on GET")


@test
def unknown_transfer_encoding(e):
    refuse(e, OK_HEAD + b"Transfer-Encoding: foo\r\n\r\n", (400, 501), "Transfer-Encoding: foo")
    refuse(e, OK_HEAD + b"Transfer-Encoding: chunked, foo\r\n\r\n", (400, 501),
           "Transfer-Encoding: chunked, foo")


@test
def obs_fold(e):
    refuse(e, OK_HEAD + b"X-Long: a\r\n  b\r\n\r\n", 400, "obs-fold (space)")
    refuse(e, OK_HEAD + b"X-Long: a\r\n\tb\r\n\r\n", 400, "obs-fold (tab)")


@test
def bare_lf(e):
    refuse(e, b"GET /t1/one.bin HTTP/1.1\nHost: edge.test\n\n", 400, "bare LF everywhere")
    refuse(e, OK_HEAD + b"X-A: b\nX-C: d\r\n\r\n", 400, "bare LF in one header")
    refuse(e, OK_HEAD + b"X-A: b\r\r\n\r\n", 400, "bare CR in a header")


@test
def bare_cr_refused_at_once(e):
    # A CR not followed by LF is refused as soon as the byte after it arrives, wherever it is,
    # with the client waiting for its answer: where the blank line belongs, "\r\r\n" ends no
    # head, and the connection was closed unanswered at the header timeout.
    refuse(e, OK_HEAD + b"\r\r\n", 400, "bare CR in the blank line")
    refuse(e, OK_HEAD + b"\r\r", 400, "bare CR then CR in the blank line")
    refuse(e, OK_HEAD + b"X-A: b\rc", 400, "bare CR in a field line still arriving")


@test
def space_before_colon(e):
    refuse(e, OK_HEAD + b"X-Foo : bar\r\n\r\n", 400, "space before colon")
    refuse(e, b"GET /t1/one.bin HTTP/1.1\r\nHost : edge.test\r\n\r\n", 400, "Host with space before colon")


@test
def missing_host(e):
    refuse(e, b"GET /t1/one.bin HTTP/1.1\r\nX-A: b\r\n\r\n", 400, "HTTP/1.1 without Host")


@test
def duplicate_host(e):
    refuse(e, OK_HEAD + b"Host: other.test\r\n\r\n", 400, "duplicate Host")
    refuse(e, OK_HEAD + b"Host: edge.test\r\n\r\n", 400, "duplicate identical Host")


@test
def malformed_host(e):
    # An empty host before a port (":80", ":") names an http(s) authority without a host
    # (RFC 9110 §4.2.1), refused as in an absolute-form target and over HTTP/2; it was 200.
    for h in (b"a b", b"exa mple", b"@x", b"x/y", b"a\\b", b"x:port", b":80", b":"):
        refuse(e, b"GET /t1/one.bin HTTP/1.1\r\nHost: " + h + b"\r\n\r\n", 400,
               f"Host: {h.decode()}")


@test
def nul_byte(e):
    refuse(e, OK_HEAD + b"X-A: a\x00b\r\n\r\n", 400, "NUL in a header value")
    refuse(e, OK_HEAD + b"X-\x00A: b\r\n\r\n", 400, "NUL in a header name")
    refuse(e, b"GET /t1/one.bin\x00 HTTP/1.1\r\nHost: edge.test\r\n\r\n", 400,
           "NUL in the request target")


@test
def control_byte(e):
    refuse(e, OK_HEAD + b"X-A: a\x01b\r\n\r\n", 400, "0x01 in a header value")
    refuse(e, OK_HEAD + b"X-A: a\x7fb\r\n\r\n", 400, "DEL in a header value")
    for b in (0x01, 0x09, 0x1b, 0x1f, 0x7f):
        refuse(e, OK_HEAD + b"X-" + bytes([b]) + b"A: v\r\n\r\n", 400,
               f"0x{b:02x} in a header name")
        refuse(e, b"GET /t1/one" + bytes([b]) + b".bin HTTP/1.1\r\nHost: edge.test\r\n\r\n", 400,
               f"0x{b:02x} in the request target")


@test
def bodies_refused_on_keep_alive(e):
    # Requests the edge takes no body for, each on a keep-alive connection: the refusal
    # closes it, so the body's bytes are never read as a next request.
    refuse(e, b"HEAD /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 1\r\n\r\nX", 400,
           "HEAD with a body", method="HEAD")
    refuse(e, b"OPTIONS /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 4\r\n\r\nbody",
           400, "OPTIONS with a body")
    smuggled = build_request("GET", "/t1/seg-1.m4s")
    refuse(e, b"POST /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\nContent-Length: "
           + str(len(smuggled)).encode() + b"\r\n\r\n" + smuggled, (405, 400), "POST with a body")


@test
def bad_request_lines(e):
    refuse(e, b"GET  /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n\r\n", 400, "double space")
    refuse(e, b"GET /t1/one.bin\r\nHost: edge.test\r\n\r\n", 400, "no version (HTTP/0.9 style)")
    refuse(e, b"GET /t1/one.bin HTTP/1.1 extra\r\nHost: edge.test\r\n\r\n", 400,
           "extra token in the request line")
    refuse(e, b"G(T /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n\r\n", 400, "bad method token")


@test
def long_target_414(e):
    target = b"/t1/" + b"a" * 10240
    refuse(e, b"GET " + target + b" HTTP/1.1\r\nHost: edge.test\r\n\r\n", 414,
           "10 KB request-target")


@test
def too_many_headers_431(e):
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    refuse(e, OK_HEAD + hdrs + b"\r\n", 431, "200 header fields")


@test
def head_refused_without_body(e):
    # A HEAD the parser refuses still gets an answer without a body (RFC 9110 §9.3.2): nothing
    # but the head before the close.
    target = b"/t1/" + b"a" * 10240
    refuse(e, b"HEAD " + target + b" HTTP/1.1\r\nHost: edge.test\r\n\r\n", 414,
           "HEAD with a 10 KB request-target", method="HEAD")
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    refuse(e, b"HEAD /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n" + hdrs + b"\r\n", 431,
           "HEAD with 200 header fields", method="HEAD")
    # RFC 9112 §2.2: empty lines before the request line are skipped; the HEAD is still one.
    refuse(e, b"\r\n\r\nHEAD " + target + b" HTTP/1.1\r\nHost: edge.test\r\n\r\n", 414,
           "HEAD after two empty lines, with a 10 KB request-target", method="HEAD")
    refuse(e, b"\nHEAD " + target + b" HTTP/1.1\r\nHost: edge.test\r\n\r\n", 400,
           "HEAD after a bare LF", method="HEAD")


@test
def huge_header_431(e):
    refuse(e, OK_HEAD + b"X-Big: " + b"b" * 20480 + b"\r\n\r\n", 431, "20 KB header field")


@test
def http2_version_line(e):
    refuse(e, b"GET /t1/one.bin HTTP/2.0\r\nHost: edge.test\r\n\r\n", (505, 501),
           "HTTP/2.0 request line on HTTP/1")
    refuse(e, b"GET /t1/one.bin HTTP/3.0\r\nHost: edge.test\r\n\r\n", (505, 501),
           "HTTP/3.0 request line")


@test
def pipelined_bad_second_request(e):
    good = build_request("GET", "/t1/seg-1.m4s")
    bad = b"GET /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    third = build_request("GET", "/t1/one.bin")
    with e.conn(timeout=5) as c:
        c.send(good + bad + third)
        r1 = c.read_response()
        expect_body(r1, e.objects["/t1/seg-1.m4s"], "1st pipelined (good) request")
        try:
            r2 = c.read_response()
        except Closed:
            raise AssertionError("2nd pipelined (bad) request: closed without a 400")
        eq(r2.status, 400, "2nd pipelined (bad) request")
        c.expect_eof(3.0, "after the bad pipelined request (the 3rd must never be answered)")


@test
def smuggling_attempt_not_answered_twice(e):
    # CL.TE: if the server honoured Content-Length it would see a 2nd request in the body.
    smuggled = b"GET /t1/seg-1.m4s HTTP/1.1\r\nHost: edge.test\r\n\r\n"
    body = b"0\r\n\r\n" + smuggled
    raw = (b"GET /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\nContent-Length: "
           + str(len(body)).encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    with e.conn(timeout=5) as c:
        c.send(raw)
        r = c.read_response()
        eq(r.status, 400, "CL.TE smuggling attempt")
        c.expect_eof(3.0, "after the CL.TE attempt (the smuggled request must not be answered)")


def accept(e, raw, what):
    """Positive control: a valid if unusual request is served, so the refusals above are not
    a parser that refuses everything."""
    with e.conn(timeout=5) as c:
        c.send(raw)
        expect_body(c.read_response(), b"x", what)


@test
def valid_unusual_requests_accepted(e):
    accept(e, b"GET /t1/one.bin HTTP/1.1\r\nHost: edge.test:8080\r\n\r\n", "Host with port")
    accept(e, b"GET /t1/one.bin HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "IPv6 literal Host")
    accept(e, b"GET /t1/one.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "IPv4 Host")
    accept(e, OK_HEAD + b"X-A:\tb \t\r\nX-B:c\r\n\r\n", "tabs and no space as OWS")
    accept(e, OK_HEAD + b"User-Agent: caf\xe9 \xff\r\n\r\n", "obs-text in a field value")
    accept(e, OK_HEAD + b"X-Empty:\r\n\r\n", "empty field value")
    accept(e, b"GET /t1/one.bin HTTP/1.1\r\nhOsT: edge.test\r\n\r\n", "mixed-case Host name")
    accept(e, b"GET /t1/one.bin HTTP/1.1\r\nHost:\r\n\r\n", "empty Host (RFC 9112 §3.2)")
    accept(e, OK_HEAD + b"Content-Length: 0\r\n\r\n", "GET with Content-Length: 0")
    long_q = "?URISigningPackage=" + "A" * 1800
    accept(e, b"GET /t1/one.bin" + long_q.encode() + b" HTTP/1.1\r\nHost: edge.test\r\n\r\n",
           "1.8 KB query (signed URL)")


@test
def absolute_form_target(e):
    # RFC 9112 §3.2.2: a server MUST accept the absolute-form; the Host header is then ignored.
    accept(e, b"GET http://edge.test/t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n\r\n",
           "absolute-form request-target")
    accept(e, b"GET http://other.test:8080/t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n\r\n",
           "absolute-form with an authority different from Host")
    accept(e, b"GET HTTPS://[::1]:80/t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n\r\n",
           "absolute-form, upper-case scheme and an IPv6 literal")


@test
def absolute_form_authority_checked(e):
    # The authority stands for Host (RFC 9112 §3.2.2) and gets Host's checks; an http URI's
    # host is never empty (RFC 9110 §4.2.1) and userinfo is refused (§4.2.4). All were 200.
    for target in (b"http:///t1/one.bin", b"http://:80/t1/one.bin", b"http://[/t1/one.bin",
                   b"http://a@b/t1/one.bin", b"http://a@b@c/t1/one.bin", b"https://a b/t1/one.bin",
                   b"http://a:port/t1/one.bin", b"http:/t1/one.bin", b"http:t1/one.bin"):
        refuse(e, b"GET " + target + b" HTTP/1.1\r\nHost: edge.test\r\n\r\n", 400,
               f"absolute-form target {target!r}")


@test
def bad_header_names(e):
    for line in (b"X(A): b", b"X A: b", b": b", b"X-A", b"X-A;: b", b"X-\xe9: b"):
        refuse(e, OK_HEAD + line + b"\r\n\r\n", 400, f"header line {line!r}")


if __name__ == "__main__":
    sys.exit(run(SETUP))
