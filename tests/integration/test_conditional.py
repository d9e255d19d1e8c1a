# SPDX-License-Identifier: MIT
"""Conditional requests (RFC 9110 §13) on the hit path."""

import sys

from edgeharness import (build_request, check, eq, expect_body, parse_http_date, run,
                         standard_setup, test, http_date)

KEY = "/t1/seg-2.m4s"


def validators(e):
    r = e.get(KEY)
    eq(r.status, 200, "GET for validators")
    return r


def expect_304(e, headers, what, method="GET"):
    """304 with no body: checked by pipelining a second request behind it on the same
    connection, which must parse cleanly."""
    base = validators(e)
    with e.conn() as c:
        c.send(build_request(method, KEY, headers) + build_request("GET", "/t1/one.bin"))
        r = c.read_response(method)
        eq(r.status, 304, f"{what}: status")
        eq(r.get("ETag"), base.get("ETag"), f"{what}: 304 ETag")
        check(r.get("Date") is not None, f"{what}: 304 lacks Date")
        if base.get("Cache-Control") is not None:
            eq(r.get("Cache-Control"), base.get("Cache-Control"), f"{what}: 304 Cache-Control")
        check(r.get("Content-Range") is None, f"{what}: 304 carries Content-Range")
        te = r.get("Transfer-Encoding")
        check(te is None, f"{what}: 304 carries Transfer-Encoding {te}")
        nxt = c.read_response()
        expect_body(nxt, b"x", f"{what}: the request after the 304 (a 304 body would break it)")
    return r


def expect_200(e, headers, what):
    r = e.get(KEY, headers)
    expect_body(r, e.objects[KEY], what)
    return r


@test
def last_modified_never_after_date(e):
    """Bytes replaced within the second get the next second as their Last-Modified (so that
    If-Modified-Since tells them apart), but what goes out is never later than the Date beside
    it (RFC 9110 §8.8.2.1): five replaces in a row stored a time five seconds ahead."""
    key = "/t1/lm-now.m3u8"
    for i in range(5):
        e.put(key, b"#EXTM3U\n#v%d\n" % i)
    for method in ("GET", "HEAD"):
        r = e.request(method, key)
        eq(r.status, 200, f"{method} after the replaces")
        lm, date = parse_http_date(r.need("Last-Modified")), parse_http_date(r.need("Date"))
        check(lm <= date, f"{method}: Last-Modified {r.get('Last-Modified')} is after Date "
                          f"{r.get('Date')}")
        ims = e.get(key, [("If-Modified-Since", r.need("Last-Modified"))])
        eq(ims.status, 200, "If-Modified-Since of the time sent: the last bytes are later")


@test
def if_none_match_matching_304(e):
    etag = validators(e).need("ETag")
    expect_304(e, [("If-None-Match", etag)], "If-None-Match: <etag>")
    expect_304(e, [("If-None-Match", f'"a", {etag}, "b"')], "If-None-Match list")
    # If-None-Match uses the weak comparison.
    expect_304(e, [("If-None-Match", "W/" + etag)], "If-None-Match: W/<etag>")
    expect_304(e, [("If-None-Match", etag)], "HEAD If-None-Match", method="HEAD")
    # A list given on several lines is one list (RFC 9110 section 5.3).
    expect_304(e, [("If-None-Match", '"a"'), ("If-None-Match", etag)],
               "If-None-Match on two lines, the match on the second")


@test
def if_none_match_star_304(e):
    expect_304(e, [("If-None-Match", "*")], "If-None-Match: *")


@test
def if_none_match_other_200(e):
    expect_200(e, [("If-None-Match", '"something-else"')], "If-None-Match non-matching")
    other = e.get("/t1/seg-1.m4s").need("ETag")
    expect_200(e, [("If-None-Match", other)], "If-None-Match with another object's ETag")


@test
def if_modified_since(e):
    v = validators(e)
    lm_text = v.need("Last-Modified")
    lm = parse_http_date(lm_text)
    date_text = v.need("Date")  # the server's now: at or after Last-Modified, never future
    expect_304(e, [("If-Modified-Since", lm_text)], "If-Modified-Since == Last-Modified")
    expect_304(e, [("If-Modified-Since", date_text)], "If-Modified-Since == server Date")
    expect_200(e, [("If-Modified-Since", http_date(lm - 1))], "If-Modified-Since 1 s earlier")
    expect_200(e, [("If-Modified-Since", http_date(lm - 86400 * 400))],
               "If-Modified-Since a year earlier")
    # An invalid date is ignored (§13.1.3).
    expect_200(e, [("If-Modified-Since", "not a date")], "If-Modified-Since invalid")


@test
def if_none_match_wins_over_if_modified_since(e):
    v = validators(e)
    lm_text = v.need("Last-Modified")
    lm = parse_http_date(lm_text)
    # A non-matching If-None-Match makes If-Modified-Since irrelevant: 200.
    expect_200(e, [("If-None-Match", '"nope"'), ("If-Modified-Since", lm_text)],
               "If-None-Match non-matching + If-Modified-Since at Last-Modified")
    # A matching one gives 304 even though If-Modified-Since alone would give 200.
    expect_304(e, [("If-None-Match", v.need("ETag")), ("If-Modified-Since", http_date(lm - 3600))],
               "If-None-Match matching + If-Modified-Since earlier")


@test
def if_match(e):
    v = validators(e)
    r = e.get(KEY, [("If-Match", '"nope"')])
    eq(r.status, 412, "If-Match non-matching")
    expect_200(e, [("If-Match", v.need("ETag"))], "If-Match matching")
    expect_200(e, [("If-Match", "*")], "If-Match: *")
    # If-Match uses the strong comparison: a weak tag never matches.
    r = e.get(KEY, [("If-Match", "W/" + v.need("ETag"))])
    eq(r.status, 412, "If-Match: W/<etag>")
    expect_200(e, [("If-Match", '"nope"'), ("If-Match", v.need("ETag"))],
               "If-Match on two lines, the match on the second")


@test
def lists_on_several_lines_past_2k(e):
    """If-Match and If-None-Match on several lines are one list (RFC 9110 §5.3) whatever its
    length: once the lines passed 2 KB together the first was judged alone, so a failing first
    If-Match line was a 412 though the second held the tag, and a matching first
    If-None-Match line a 304 though the second was malformed (a malformed list matches
    nothing)."""
    etag = validators(e).need("ETag")
    tags = ", ".join('"%016x"' % i for i in range(120))  # 2398 bytes
    expect_200(e, [("If-Match", '"x"'), ("If-Match", f"{tags}, {etag}")],
               "If-Match on two lines, the tag at the end of a long second")
    expect_200(e, [("If-Match", '"x"'), ("If-Match", f"{tags}, {etag}"), ("If-Match", '"y"')],
               "If-Match on three lines, the tag on the long second")
    r = e.get(KEY, [("If-Match", '"x"'), ("If-Match", tags)])
    eq(r.status, 412, "If-Match on two lines, long, without the tag")
    expect_200(e, [("If-None-Match", etag), ("If-None-Match", f"{tags}, garbage")],
               "If-None-Match on two lines, the second long and malformed")
    expect_200(e, [("If-None-Match", etag), ("If-None-Match", "garbage")],
               "If-None-Match on two lines, the second short and malformed")
    expect_304(e, [("If-None-Match", '"x"'), ("If-None-Match", f"{tags}, {etag}")],
               "If-None-Match on two lines, the tag at the end of a long second")


@test
def if_unmodified_since(e):
    v = validators(e)
    lm = parse_http_date(v.need("Last-Modified"))
    r = e.get(KEY, [("If-Unmodified-Since", http_date(lm - 86400))])
    eq(r.status, 412, "If-Unmodified-Since before Last-Modified")
    expect_200(e, [("If-Unmodified-Since", v.need("Last-Modified"))],
               "If-Unmodified-Since == Last-Modified")


@test
def one_value_fields_sent_twice(e):
    # A date field on two lines is a list, which RFC 9110 §13.1.3 and §13.1.4 have a
    # recipient ignore; as an If-Range it matches nothing (§13.1.5), so the Range is ignored.
    # The first line was taken alone: 304, 412 and 206.
    v = validators(e)
    lm_text = v.need("Last-Modified")
    lm = parse_http_date(lm_text)
    expect_200(e, [("If-Modified-Since", lm_text), ("If-Modified-Since", http_date(lm - 1))],
               "If-Modified-Since on two lines")
    expect_200(e, [("If-Unmodified-Since", http_date(lm - 86400)),
                   ("If-Unmodified-Since", lm_text)], "If-Unmodified-Since on two lines")
    etag = v.need("ETag")
    r = e.get(KEY, [("Range", "bytes=0-9"), ("If-Range", etag), ("If-Range", etag)])
    eq(r.status, 200, "If-Range on two lines")
    eq(r.body, e.objects[KEY], "If-Range on two lines: the whole object")


@test
def conditional_on_absent_object(e):
    r = e.get("/t1/absent.m4s", [("If-None-Match", "*")])
    eq(r.status, 404, "If-None-Match: * on an absent object")


@test
def preconditions_before_range(e):
    # RFC 9110 §13.2.2: preconditions are evaluated before Range.
    v = validators(e)
    etag = v.need("ETag")
    expect_304(e, [("If-None-Match", etag), ("Range", "bytes=0-9")], "If-None-Match + Range")
    expect_304(e, [("If-Modified-Since", v.need("Last-Modified")), ("Range", "bytes=0-9")],
               "If-Modified-Since + Range")
    r = e.get(KEY, [("If-Match", '"nope"'), ("Range", "bytes=0-9")])
    eq(r.status, 412, "If-Match failing + Range")
    r = e.get(KEY, [("If-Match", etag), ("Range", "bytes=0-9")])
    eq(r.status, 206, "If-Match passing + Range")
    eq(r.body, e.objects[KEY][:10], "If-Match passing + Range body")


@test
def if_match_wins_over_if_unmodified_since(e):
    # §13.2.2 step 1/2: If-Unmodified-Since is ignored when If-Match is present.
    v = validators(e)
    lm = parse_http_date(v.need("Last-Modified"))
    expect_200(e, [("If-Match", v.need("ETag")), ("If-Unmodified-Since", http_date(lm - 86400))],
               "If-Match matching + If-Unmodified-Since earlier")


if __name__ == "__main__":
    sys.exit(run(standard_setup()))
