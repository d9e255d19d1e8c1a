# SPDX-License-Identifier: MIT
"""Request-target normalisation, traversal attempts, token/CMCD stripping from the cache key and
CMCD in the access log."""

import os
import re
import sys
import time

from edgeharness import Edge, check, eq, expect_body, run, standard_objects, test

SECRET = b"SLUICE-SECRET-OUTSIDE-CACHE"
KEY = "/t1/seg-1.m4s"


def setup(binary):
    e = Edge(binary)
    # Files outside the cache dir that a traversal would reach.
    with open(os.path.join(e.dir, "secret.txt"), "wb") as f:
        f.write(SECRET + b"\n")
    try:
        e.start()
        objs = standard_objects()
        del objs["/t1/big.m4s"]
        objs["/pn/b"] = b"normalised-b"
        objs["/pn/x/y"] = b"normalised-x-y"
        e.push(objs)
    except Exception:
        print(e.log_tail())
        e.cleanup()
        raise
    return e


@test
def dot_segments_normalised(e):
    expect_body(e.get("/pn/a/../b"), b"normalised-b", "/pn/a/../b")
    expect_body(e.get("/pn/./b"), b"normalised-b", "/pn/./b")
    expect_body(e.get("/pn/x/./../b"), b"normalised-b", "/pn/x/./../b")
    expect_body(e.get("/t1/../t1/seg-1.m4s"), e.objects[KEY], "/t1/../t1/seg-1.m4s")


@test
def key_longer_than_the_store_takes_414(e):
    """The longest key the index takes is 511 bytes: one longer is 414 at once (never fetched
    upstream to be refused at the commit), and 400 at the admin API."""
    longest = "/" + "k" * 510
    e.put(longest, b"longest key")
    expect_body(e.get(longest), b"longest key", "a 511-byte key")
    eq(e.get("/" + "k" * 511).status, 414, "a 512-byte key")
    eq(e.get("/" + "%6b" * 600).status, 414, "600 bytes once decoded")
    r = e.admin("PUT", "/admin/objects/" + "k" * 511, body=b"x")
    eq(r.status, 400, "an admin PUT of a 512-byte key")
    check(b"511" in r.body, f"says why: {r.body[:200]!r}")
    # Dot segments are removed before the key's length is judged (RFC 3986 §5.2.4): these
    # were 414 for a 6-byte key.
    expect_body(e.get("/" + "a" * 600 + "/../pn/b"), b"normalised-b", "600 bytes, then ..")
    expect_body(e.get("/" + "a" * 400 + "/" + "b" * 200 + "/../../pn/b"), b"normalised-b",
                "400 + 200 bytes, then ../..")
    eq(e.get("/" + "a" * 400 + "/" + "b" * 200 + "/../c").status, 404, "the 400 bytes kept")
    eq(e.get("/" + "a" * 400 + "/" + "b" * 200 + "/./c").status, 414, "none taken back")


@test
def question_mark_in_a_key_types_by_its_extension(e):
    """A key may hold '?' (sent as %3F): its type is its own extension's, as its
    Cache-Control is; it was application/octet-stream, and video/iso.segment for
    v.m4s%3Fx.mpd, with a manifest's max-age."""
    for key in ("/qm/a%3Fb.mpd", "/qm/v.m4s%3Fx.mpd"):
        e.put(key, b"<MPD/>")
        r = e.get(key)
        eq(r.status, 200, f"GET {key}")
        eq(r.get("Content-Type"), "application/dash+xml", f"{key}: Content-Type")


@test
def duplicate_slashes_collapse(e):
    expect_body(e.get("//pn///x///y"), b"normalised-x-y", "//pn///x///y")
    expect_body(e.get("/pn//b"), b"normalised-b", "/pn//b")


@test
def percent_encoded_unreserved_decoded(e):
    # RFC 3986 §6.2.2.2: %2D is "-", %73 is "s"; same resource.
    expect_body(e.get("/t1/seg%2D1.m4s"), e.objects[KEY], "/t1/seg%2D1.m4s")
    expect_body(e.get("/t1/%73eg-1.m4s"), e.objects[KEY], "/t1/%73eg-1.m4s")


TRAVERSALS = [
    "/%2e%2e/etc/passwd",
    "/..%2fetc/passwd",
    "/%2e%2e%2f",
    "/%2e%2e%2fetc%2fpasswd",
    "/a/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/..\\..\\",
    "/..\\..\\etc\\passwd",
    "/../../../../etc/passwd",
    "/t1/../../../../../../etc/passwd",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/.%2e/.%2e/etc/passwd",
    "/%252e%252e/etc/passwd",
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/../../secret.txt",
    "/t1/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/../cache/index/data.mdb",
    "/index/data.mdb",
    "/objects/",
    "/%00/etc/passwd",
    "/t1/seg-1.m4s%00.txt",
]


@test
def traversal_never_escapes(e):
    bad = []
    for t in TRAVERSALS:
        r = e.get(t)
        if r.status not in (400, 404) or b"root:" in r.body or SECRET in r.body \
                or b"MDB" in r.body[:64]:
            bad.append(f"{t} -> {r.status} {r.body[:60]!r}")
    check(not bad, "traversal targets not refused with 400/404:\n  " + "\n  ".join(bad))


@test
def dotdot_above_root_is_400(e):
    # The normaliser refuses ".." above the root in any encoding (400, not a lookup).
    bad = []
    for t in ("/../x", "/%2e%2e/x", "/a/%2e%2e/%2e%2e/x", "/..%2fx", "/..\\x"):
        r = e.get(t)
        if r.status != 400:
            bad.append(f"{t} -> {r.status}")
    check(not bad, "want 400: " + ", ".join(bad))


@test
def token_prefix_stripped(e):
    tok = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.eyJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl"
    expect_body(e.get(f"/s/{tok}{KEY}"), e.objects[KEY], "/s/<token> prefix")
    base = e.get(KEY)
    r = e.get(f"/s/{tok}{KEY}")
    eq(r.get("ETag"), base.get("ETag"), "ETag through the token prefix")


@test
def token_and_cmcd_query_stripped(e):
    for q in ("?URISigningPackage=eyJhbGciOiJIUzI1NiJ9.e30.c2ln&CMCD=br%3D3000%2Csid%3D%22abc%22",
              "?CMCD=bl%3D5000",
              "?URISigningPackage=abc",
              "?x=1&CMCD=ot%3Dv"):
        expect_body(e.get(KEY + q), e.objects[KEY], f"{KEY}{q}")


def read_access_log(e):
    try:
        with open(e.access_log, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


@test
def cmcd_in_access_log(e):
    marker = "/t1/seg-2.m4s"
    r = e.get(marker + "?CMCD=br%3D3000%2Csid%3D%22abc%22")
    eq(r.status, 200, "GET with CMCD")
    deadline = time.monotonic() + 5
    line = None
    while time.monotonic() < deadline and line is None:
        for ln in read_access_log(e).splitlines():
            if marker in ln and "3000" in ln:
                line = ln
        if line is None:
            time.sleep(0.05)  # poll interval for the log writer
    check(line is not None, f"no access-log line for {marker} with CMCD within 5 s "
          f"(log: {read_access_log(e)[-500:]!r})")
    check(re.search(r"br=3000\b", line), f"access log line lacks br=3000: {line!r}")
    # As docs/edge.md shows it: the value's quotes escaped once, by the CMCD field alone
    # (it was sid=\"abc\").
    check(' cmcd=br=3000,sid="abc" ' in line, f"access log line lacks sid=\"abc\": {line!r}")
    check(" 200 " in f" {line} ", f"access log line lacks the status 200: {line!r}")
    marker = "?quoted=1&CMCD=sid%3D%22a%5C%22b%22"
    eq(e.get(KEY + marker).status, 200, "GET with a quote in sid")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        line = next((ln for ln in read_access_log(e).splitlines() if marker in ln), None)
        if line:
            break
        time.sleep(0.05)  # poll interval for the log writer
    check(line and ' cmcd=sid="a\\"b" ' in line, f"a quote inside sid: {line!r}")


@test
def cmcd_of_an_absolute_form_without_a_path(e):
    # "http://h?q" names "/" with the query q (RFC 3986 §6.2.3); the query was dropped with the
    # authority, so its CMCD never reached the log.
    r = e.get("http://edge.test?CMCD=sid%3D%22pathless%22")
    eq(r.status, 404, "GET http://edge.test?CMCD=... (nothing is served at /)")
    deadline = time.monotonic() + 5
    line = None
    while time.monotonic() < deadline and line is None:
        line = next((ln for ln in read_access_log(e).splitlines() if "pathless" in ln), None)
        if line is None:
            time.sleep(0.05)  # poll interval for the log writer
    check(line and ' cmcd=sid="pathless" ' in line,
          f"the access log line of http://edge.test?CMCD=...: {line!r}")


@test
def cmcd_headers_in_access_log(e):
    marker = "/t1/init.mp4"
    r = e.get(marker, [("CMCD-Request", "bl=21300"), ("CMCD-Session", 'sid="hdr-sess"')])
    eq(r.status, 200, "GET with CMCD headers")
    deadline = time.monotonic() + 5
    line = None
    while time.monotonic() < deadline and line is None:
        for ln in read_access_log(e).splitlines():
            if marker in ln and "hdr-sess" in ln:
                line = ln
        if line is None:
            time.sleep(0.05)
    check(line is not None, "no access-log line with CMCD from headers "
          f"(log tail: {read_access_log(e)[-500:]!r})")
    check(re.search(r"bl=21300\b", line), f"access log line lacks bl=21300: {line!r}")


@test
def query_variants_same_object(e):
    for t in (KEY + "?", KEY + "?a=1&b=2", KEY + "?CMCD=", KEY + "?&&"):
        expect_body(e.get(t), e.objects[KEY], t)


@test
def key_is_case_sensitive(e):
    eq(e.get("/T1/seg-1.m4s").status, 404, "/T1/seg-1.m4s (paths are case-sensitive)")


if __name__ == "__main__":
    sys.exit(run(setup))
