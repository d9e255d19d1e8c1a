# SPDX-License-Identifier: MIT
"""Range requests (RFC 9110 §14) and If-Range (§13.1.5) on the hit path."""

import os
import sys
import time

from edgeharness import (check, eq, expect_body, parse_http_date, run, sha, standard_setup,
                         test)

KEY = "/t1/seg-1.m4s"


def expect_206(e, key, range_value, first, last, headers=()):
    data = e.objects[key]
    size = len(data)
    r = e.get(key, [("Range", range_value)] + list(headers))
    what = f"Range: {range_value} on {size}-byte {key}"
    eq(r.status, 206, what + ": status")
    eq(r.get("Content-Range"), f"bytes {first}-{last}/{size}", what + ": Content-Range")
    eq(r.get("Content-Length"), str(last - first + 1), what + ": Content-Length")
    want = data[first:last + 1]
    check(sha(r.body) == sha(want), f"{what}: body SHA-256 differs from bytes {first}-{last}")
    check(r.get("ETag") is not None, what + ": 206 lacks ETag")
    check(r.get("Content-Type") is not None, what + ": 206 lacks Content-Type")
    return r


def expect_whole(e, key, range_value, headers=()):
    r = e.get(key, [("Range", range_value)] + list(headers))
    what = f"Range: {range_value} ({dict(headers)})"
    expect_body(r, e.objects[key], what)
    check(r.get("Content-Range") is None, f"{what}: 200 carries Content-Range {r.get('Content-Range')}")
    ct = (r.get("Content-Type") or "").lower()
    check("multipart" not in ct, f"{what}: multipart response {ct}")
    return r


@test
def first_100_bytes(e):
    expect_206(e, KEY, "bytes=0-99", 0, 99)


@test
def single_byte_and_middle(e):
    expect_206(e, KEY, "bytes=0-0", 0, 0)
    expect_206(e, KEY, "bytes=1000-1999", 1000, 1999)
    size = len(e.objects[KEY])
    expect_206(e, KEY, f"bytes={size - 1}-{size - 1}", size - 1, size - 1)


@test
def suffix_range(e):
    size = len(e.objects[KEY])
    expect_206(e, KEY, "bytes=-100", size - 100, size - 1)
    # A suffix longer than the object selects all of it (still 206).
    expect_206(e, KEY, f"bytes=-{size * 3}", 0, size - 1)


@test
def open_ended_range(e):
    size = len(e.objects[KEY])
    expect_206(e, KEY, "bytes=100-", 100, size - 1)


@test
def end_clamped_to_size(e):
    size = len(e.objects[KEY])
    expect_206(e, KEY, f"bytes=100-{size + 5000}", 100, size - 1)
    expect_206(e, KEY, "bytes=0-99999999999", 0, size - 1)


@test
def range_unit_is_case_insensitive(e):
    # RFC 9110 §14.1: range unit names are case-insensitive.
    expect_206(e, KEY, "Bytes=0-9", 0, 9)


@test
def range_in_large_object(e):
    expect_206(e, "/t1/big.m4s", "bytes=4000000-4999999", 4000000, 4999999)
    size = len(e.objects["/t1/big.m4s"])
    expect_206(e, "/t1/big.m4s", "bytes=-65536", size - 65536, size - 1)


def expect_416(e, key, range_value):
    size = len(e.objects[key])
    r = e.get(key, [("Range", range_value)])
    what = f"Range: {range_value} on {size}-byte {key}"
    eq(r.status, 416, what + ": status")
    eq(r.get("Content-Range"), f"bytes */{size}", what + ": Content-Range")
    check(sha(r.body) != sha(e.objects[key]) or size == 0, what + ": 416 carries the object")


@test
def unsatisfiable_416(e):
    size = len(e.objects[KEY])
    expect_416(e, KEY, f"bytes={size}-")
    expect_416(e, KEY, f"bytes={size + 10}-{size + 20}")
    # A zero-length suffix is unsatisfiable (RFC 9110 §14.1.1).
    expect_416(e, KEY, "bytes=-0")
    # Nothing in an empty object is satisfiable.
    expect_416(e, "/t1/empty.bin", "bytes=0-")


@test
def multi_range_gets_whole_object(e):
    # Documented policy: several ranges -> 200 with the whole object, never multipart.
    expect_whole(e, KEY, "bytes=0-1,5-6")
    expect_whole(e, KEY, "bytes=0-99,-100")


@test
def invalid_range_syntax_ignored(e):
    for v in ("bytes=abc", "bytes=5-1", "bytes=", "bytes=--5", "items=0-9", "bytes 0-9",
              "bytes=0-9x", "bytes=1-2-3"):
        expect_whole(e, KEY, v)


@test
def if_range_etag(e):
    etag = e.get(KEY).need("ETag")
    expect_206(e, KEY, "bytes=0-99", 0, 99, [("If-Range", etag)])
    expect_whole(e, KEY, "bytes=0-99", [("If-Range", '"not-the-etag"')])
    # If-Range needs a strong match: the weak form of the right tag does not count.
    expect_whole(e, KEY, "bytes=0-99", [("If-Range", "W/" + etag)])


@test
def if_range_other_objects_etag(e):
    other = e.get("/t1/seg-2.m4s").need("ETag")
    expect_whole(e, KEY, "bytes=0-99", [("If-Range", other)])


@test
def if_range_date(e):
    # A fresh object: Last-Modified is "now". A date in If-Range counts only when it is a strong
    # validator (RFC 9110 §13.1.5); Last-Modified in the same second as the response Date can
    # never be one (§8.8.2.2), so that must be 200. Once the second is over the server may
    # deduce strength (it knows the object cannot change twice in it) and must then give 206;
    # we accept either at Date - Last-Modified == 1 s and require 206 within 5 s.
    key = "/t1/ifrange-fresh.bin"
    data = os.urandom(5000)
    e.put(key, data)
    lm_text = e.request("HEAD", key).need("Last-Modified")
    lm = parse_http_date(lm_text)
    deadline = time.monotonic() + 5
    honoured = None
    while time.monotonic() < deadline and honoured is None:
        r = e.get(key, [("Range", "bytes=10-19"), ("If-Range", lm_text)])
        date = parse_http_date(r.need("Date"))
        if r.status == 206:
            honoured = date - lm
            check(honoured >= 1, f"If-Range with a same-second (weak) date honoured: Date "
                  f"{r.get('Date')}, Last-Modified {lm_text}")
            expect_206(e, key, "bytes=10-19", 10, 19, [("If-Range", lm_text)])
        else:
            expect_body(r, data, f"If-Range date, Date - Last-Modified = {date - lm:.0f} s")
            time.sleep(0.1)  # poll interval: waiting for the server clock to move on
    check(honoured is not None, "If-Range with the exact Last-Modified never gave 206 within 5 s")
    # A different date never matches.
    earlier = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(lm - 86400))
    expect_whole(e, key, "bytes=10-19", [("If-Range", earlier)])


@test
def range_with_head(e):
    """Range is defined for GET alone (RFC 9110 §14.2): a HEAD's is ignored, so its answer
    is the whole object's head, never a 206 or a 416."""
    size = len(e.objects[KEY])
    for rv in ("bytes=0-99", f"bytes={size}-"):
        r = e.request("HEAD", KEY, [("Range", rv)])
        eq(r.status, 200, f"HEAD with Range: {rv}: status")
        eq(r.body, b"", "HEAD body")
        eq(r.get("Content-Length"), str(size), f"HEAD with Range: {rv}: Content-Length")
        eq(r.get("Content-Range"), None, f"HEAD with Range: {rv}: Content-Range")


if __name__ == "__main__":
    sys.exit(run(standard_setup()))
