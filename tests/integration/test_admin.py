# SPDX-License-Identifier: MIT
"""Admin API: authentication, streamed PUT with length and SHA-256 checks, replace, DELETE,
listing, holdings, health and Prometheus metrics."""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

from edgeharness import (Edge, build_request, check, eq, expect_body, read_to_eof, run, sha,
                         standard_setup, test)

SETUP = standard_setup(objects={})


def put_raw(e, key, data, token, extra=()):
    hdrs = [("Content-Length", str(len(data)))] + list(extra)
    if token is not None:
        hdrs.append(("Authorization", f"Bearer {token}"))
    return e.request("PUT", "/admin/objects" + key, hdrs, data, admin=True)


@test
def put_requires_token(e):
    data = os.urandom(1000)
    r = put_raw(e, "/auth/a.m4s", data, None)
    eq(r.status, 401, "PUT without a token")
    check(r.get("WWW-Authenticate") is not None and
          r.get("WWW-Authenticate").lower().startswith("bearer"),
          f"401 lacks WWW-Authenticate: Bearer (RFC 9110 §15.5.2, RFC 6750); "
          f"got {r.get('WWW-Authenticate')!r}")
    r = put_raw(e, "/auth/a.m4s", data, "wrong-" + e.token)
    eq(r.status, 401, "PUT with a wrong token")
    r = put_raw(e, "/auth/a.m4s", data, e.token[:-1])
    eq(r.status, 401, "PUT with a token prefix")
    r = e.request("PUT", "/admin/objects/auth/a.m4s",
                  [("Content-Length", str(len(data))), ("Authorization", f"Basic {e.token}")],
                  data, admin=True)
    eq(r.status, 401, "PUT with the token under the Basic scheme")
    eq(e.get("/auth/a.m4s").status, 404, "object after refused PUTs")
    for method, target in (("DELETE", "/admin/objects/t1/x"), ("GET", "/admin/objects?prefix=/"),
                           ("GET", "/admin/holdings")):
        r = e.admin(method, target, token=False)
        eq(r.status, 401, f"{method} {target} without a token")


@test
def put_with_matching_sha_201(e):
    data = os.urandom(123_457)
    r = e.put("/t2/seg-1.m4s", data, sha256=True, expect=None)
    eq(r.status, 201, "PUT of a new object")
    expect_body(e.get("/t2/seg-1.m4s"), data, "GET after PUT")
    # Uppercase hex is the same digest.
    data2 = os.urandom(5000)
    r = e.put("/t2/seg-2.m4s", data2, sha256=sha(data2).upper(), expect=None)
    eq(r.status, 201, "PUT with an uppercase-hex X-Sluice-SHA256")
    expect_body(e.get("/t2/seg-2.m4s"), data2, "GET after PUT (uppercase sha)")


@test
def put_without_sha_201(e):
    data = os.urandom(777)
    r = e.put("/t2/nosha.m4s", data, sha256=None, expect=None)
    eq(r.status, 201, "PUT without X-Sluice-SHA256")
    expect_body(e.get("/t2/nosha.m4s"), data, "GET after PUT without sha")


@test
def put_with_wrong_sha_400(e):
    data = os.urandom(64_000)
    wrong = hashlib.sha256(data + b"!").hexdigest()
    r = e.put("/t2/badsha.m4s", data, sha256=wrong, expect=None)
    eq(r.status, 400, "PUT with a mismatching X-Sluice-SHA256")
    eq(e.get("/t2/badsha.m4s").status, 404, "object after a bad-SHA PUT")
    r = e.put("/t2/badsha2.m4s", data, sha256="zz" * 32, expect=None)
    eq(r.status, 400, "PUT with a malformed X-Sluice-SHA256")
    eq(e.get("/t2/badsha2.m4s").status, 404, "object after a malformed-SHA PUT")


@test
def put_short_body_not_committed(e):
    key = "/t2/short.m4s"
    data = os.urandom(200_000)
    with e.conn(admin=True) as c:
        c.send(build_request("PUT", "/admin/objects" + key,
                             e.auth() + [("Content-Length", str(len(data))),
                                         ("X-Sluice-SHA256", sha(data))])
               + data[:120_000])
        # Half-close: the server sees EOF mid-body; its closing our connection (with or
        # without an error response) is the event that says it has dealt with the PUT.
        c.sock.shutdown(socket.SHUT_WR)
        closed, waited, extra = c.wait_eof(5.0)
        check(closed, "server did not close a PUT connection whose body ended early")
        # At the EOF, not at the progress deadline (the harness's send_timeout, 2 s).
        check(waited < 1.0, f"the PUT whose body ended early was closed after {waited:.2f} s")
        check(not extra.startswith(b"HTTP/1.1 20"), f"short PUT answered {extra[:40]!r}")
    # The object must never appear: check now, after another admin round trip, and in the
    # listing.
    eq(e.get(key).status, 404, "short PUT: GET right after the close")
    e.put("/t2/after-short.bin", b"sync")
    eq(e.get(key).status, 404, "short PUT: GET after another PUT")
    keys = list_keys(e, "/t2/")
    check(key not in keys, f"short PUT listed: {keys}")


@test
def put_empty_object(e):
    r = e.put("/t2/empty.bin", b"", expect=None)
    eq(r.status, 201, "PUT of a 0-byte object")
    expect_body(e.get("/t2/empty.bin"), b"", "GET 0-byte object")


@test
def replace_and_delete(e):
    key = "/t3/seg-9.m4s"
    v1, v2 = os.urandom(40_000), os.urandom(41_000)
    eq(e.put(key, v1, expect=None).status, 201, "first PUT")
    r1 = e.get(key)
    expect_body(r1, v1, "v1")
    eq(e.put(key, v2, expect=None).status, 204, "PUT replacing an existing object")
    r2 = e.get(key)
    expect_body(r2, v2, "v2 after replace")
    check(r2.get("ETag") != r1.get("ETag"), f"ETag unchanged after replace ({r1.get('ETag')})")
    r = e.admin("DELETE", "/admin/objects" + key)
    eq(r.status, 204, "DELETE")
    eq(e.get(key).status, 404, "GET after DELETE")
    r = e.admin("DELETE", "/admin/objects" + key)
    eq(r.status, 404, "DELETE of an absent object")


@test
def failed_replace_keeps_old(e):
    key = "/t3/keep.m4s"
    v1 = os.urandom(30_000)
    e.put(key, v1)
    r = e.put(key, os.urandom(30_000), sha256="00" * 32, expect=None)
    eq(r.status, 400, "replacing PUT with a wrong SHA")
    expect_body(e.get(key), v1, "old content after a failed replace")


@test
def wrong_methods_405(e):
    # Allow names what the path takes, and the body is the admin API's JSON error.
    auth = [("Authorization", f"Bearer {e.token}")]
    for method, path, allow in (("GET", "/admin/objects/t1/seg-1.m4s", "PUT, DELETE"),
                                ("POST", "/admin/objects/t1/seg-1.m4s", "PUT, DELETE"),
                                ("POST", "/admin/objects", "GET, HEAD"),
                                ("POST", "/admin/holdings", "GET, HEAD"),
                                ("PUT", "/admin/objects", "GET, HEAD"),
                                ("DELETE", "/admin/objects", "GET, HEAD"),
                                ("PUT", "/admin/holdings", "GET, HEAD"),
                                ("DELETE", "/admin/holdings", "GET, HEAD"),
                                ("POST", "/healthz", "GET, HEAD"),
                                ("DELETE", "/metrics", "GET, HEAD")):
        r = e.request(method, path, auth, admin=True)
        eq(r.status, 405, f"{method} {path}")
        eq(r.get("Allow"), allow, f"{method} {path}: Allow")
        body = json.loads(r.body)
        eq(body.get("error"), "Method Not Allowed", f"{method} {path}: error")
    # PUT and DELETE name objects only under /admin/objects/: elsewhere no such endpoint (they
    # were taken for object paths, and refused as bad ones, 400).
    for method in ("PUT", "DELETE"):
        for path in ("/admin/nothing", "/admin/objectsX/a.m4s"):
            r = e.request(method, path, auth, admin=True)
            eq(r.status, 404, f"{method} {path}")
    # An empty key under the prefix is still a bad object path.
    eq(e.request("DELETE", "/admin/objects/", auth, admin=True).status, 400,
       "DELETE /admin/objects/")


def parse_listing(body):
    """Keys from a listing: a JSON array of strings or of objects with key/path/name, or an
    object holding such an array; else one key per line."""
    try:
        doc = json.loads(body)
    except ValueError:
        return [ln.split()[0] for ln in body.decode().splitlines() if ln.strip()]
    if isinstance(doc, dict):
        arrays = [v for v in doc.values() if isinstance(v, list)]
        check(len(arrays) == 1, f"cannot find the listing array in {str(doc)[:200]}")
        doc = arrays[0]
    keys = []
    for it in doc:
        if isinstance(it, str):
            keys.append(it)
        else:
            k = it.get("key") or it.get("path") or it.get("name")
            check(k is not None, f"listing entry without key: {it}")
            keys.append(k)
    return keys


def list_keys(e, prefix):
    r = e.admin("GET", "/admin/objects?prefix=" + prefix)
    eq(r.status, 200, f"GET /admin/objects?prefix={prefix}")
    return parse_listing(r.body)


@test
def listing_by_prefix(e):
    want = {f"/L1/seg-{i}.m4s" for i in range(5)} | {"/L1/init.mp4", "/L1/sub/deeper.m4s"}
    for k in want:
        e.put(k, os.urandom(100))
    for k in ("/L10/seg-1.m4s", "/L2/init.mp4", "/L1x.m4s"):
        e.put(k, os.urandom(100))
    keys = list_keys(e, "/L1/")
    eq(sorted(keys), sorted(want), "listing of /L1/")
    eq(len(keys), len(set(keys)), "duplicates in listing")
    eq(list_keys(e, "/L2/"), ["/L2/init.mp4"], "listing of /L2/")
    eq(list_keys(e, "/nothing-here/"), [], "empty listing")
    every = list_keys(e, "/")
    check(want <= set(every), "listing of / lacks /L1/ keys")


@test
def put_content_type_by_extension(e):
    """The extension's type wins for the extensions the edge knows (a pusher's generic or form
    Content-Type, as curl --data-binary sends, must not change what players get); other keys
    keep the PUT's type unless it is empty or a form type."""
    cases = [
        ("/CT/manifest.mpd", "application/x-www-form-urlencoded", "application/dash+xml"),
        ("/CT/v/seg-1.m4s", "application/octet-stream", "video/iso.segment"),
        ("/CT/v/init.mp4", "text/plain", "video/mp4"),
        ("/CT/index.m3u8", "", "application/vnd.apple.mpegurl"),
        ("/CT/subs.vtt", "multipart/form-data; boundary=x", "text/vtt"),
        ("/CT/asset.json", "application/x-www-form-urlencoded", "application/json"),
        ("/CT/blob.bin", "application/x-www-form-urlencoded", "application/octet-stream"),
        ("/CT/blob-empty.bin", "", "application/octet-stream"),
        ("/CT/poster.png", "image/png", "image/png"),
    ]
    for key, sent, want in cases:
        data = os.urandom(300)
        extra = [("Content-Type", sent)]
        eq(put_raw(e, key, data, e.token, extra).status, 201, f"PUT {key} as {sent!r}")
        r = e.get(key)
        expect_body(r, data, f"GET {key}")
        eq(r.get("Content-Type"), want, f"Content-Type of {key} PUT as {sent!r}")


@test
def listing_prefix_too_long_400(e):
    """A prefix longer than any key could be is refused, not read as "no prefix" (which would
    list the whole store)."""
    e.put("/LL/a.m4s", os.urandom(100))
    eq(list_keys(e, "/" + "p" * 510), [], "a prefix of the longest key's length")
    for prefix in ("/" + "p" * 511, "/" + "%41" * 600):  # 601 bytes once decoded
        r = e.admin("GET", "/admin/objects?prefix=" + prefix)
        eq(r.status, 400, f"listing with the {len(prefix)}-byte prefix {prefix[:12]}...")
        doc = json.loads(r.body)
        check("prefix" in doc.get("detail", ""), f"400 says what is wrong: {r.body[:200]!r}")
        check(b"/LL/a.m4s" not in r.body, "no key listed")


def page_objects(e):
    """25 objects under /pg/a/ and /pg/b/ (a "+", a "&", a quote and UTF-8 among the keys, so
    the cursor's encoding is exercised), pushed once; {stored key: bytes}."""
    if getattr(e, "_pg", None) is None:
        objs = {}
        for i in range(13):
            objs[(f"/pg/a/seg-{i:02d}.m4s", f"/pg/a/seg-{i:02d}.m4s")] = os.urandom(100 + i)
        for i in range(9):
            objs[(f"/pg/b/seg-{i}.m4s", f"/pg/b/seg-{i}.m4s")] = os.urandom(200 + i * 7)
        objs[("/pg/b/x%2By&z.m4s", "/pg/b/x+y&z.m4s")] = os.urandom(50)
        objs[("/pg/b/%C3%A9.m4s", "/pg/b/\u00e9.m4s")] = os.urandom(51)
        objs[("/pg/b/q%22.m4s", '/pg/b/q".m4s')] = os.urandom(52)
        for (sent, _), data in objs.items():
            e.put(sent, data)
        e._pg = {stored: data for (_, stored), data in objs.items()}
    return e._pg


def utf8_order(keys):
    return sorted(keys, key=lambda k: k.encode())


def walk(e, path, query, limit, entries):
    """Follow X-Sluice-Next from the first page of path?query&limit=; checks each page's Link
    against the cursor and returns (every page's entries, the page lengths)."""
    got, sizes, after = [], [], None
    for _ in range(1000):
        target = f"{path}?{query}{'&' if query else ''}limit={limit}"
        if after is not None:
            target += "&after=" + after
        r = e.admin("GET", target)
        eq(r.status, 200, f"GET {target}")
        page = entries(json.loads(r.body))
        check(0 < len(page) <= limit or (not page and after is None),
              f"{target}: {len(page)} entries for limit={limit}")
        got += page
        sizes.append(len(page))
        nxt, link = r.get("X-Sluice-Next"), r.get("Link")
        if nxt is None:
            eq(link, None, f"{target}: a Link without a cursor")
            return got, sizes
        after = nxt
        if link is None:  # left out only when too long for the head (a cursor of escapes)
            check(len(nxt) > 1000, f"{target}: no Link for the cursor {nxt!r}")
            continue
        m = re.fullmatch(r'<([^>]*)>; rel="next"', link)
        check(m is not None, f"{target}: Link {link!r}")
        url = urllib.parse.urlsplit(m.group(1))
        eq(url.path, path, f"{target}: Link path")
        want = urllib.parse.parse_qs(query)
        want.update(limit=[str(limit)], after=[urllib.parse.unquote(nxt)])
        eq(urllib.parse.parse_qs(url.query, keep_blank_values=True), want,
           f"{target}: Link query")
    raise AssertionError(f"{path}?{query}: no last page after 1000")


@test
def listing_pages(e):
    """limit= and after= walk a prefix in key order, each key exactly once with its size and
    SHA-256; the cursor is the last key listed, and the last page carries none."""
    objs = page_objects(e)
    want = utf8_order(objs)
    got, sizes = walk(e, "/admin/objects", "prefix=/pg/", 7, lambda doc: doc)
    eq([o["key"] for o in got], want, "keys of the paged walk of /pg/, in order")
    eq(sizes, [7, 7, 7, 4], "page sizes for 25 entries by 7")
    for o in got:
        eq(o["size"], len(objs[o["key"]]), f"size of {o['key']}")
        eq(o["sha256"], sha(objs[o["key"]]), f"sha256 of {o['key']}")
    # Each prefix alone; a page that ends exactly at the last key says nothing remains.
    got, sizes = walk(e, "/admin/objects", "prefix=%2Fpg%2Fa%2F", 13, lambda doc: doc)
    eq([o["key"] for o in got], want[:13], "/pg/a/ in one full page")
    eq(sizes, [13], "a full last page has no cursor")
    got, sizes = walk(e, "/admin/objects", "prefix=/pg/b/", 7, lambda doc: doc)
    eq([o["key"] for o in got], want[13:], "/pg/b/ paged")
    eq(sizes, [7, 5], "page sizes for /pg/b/")
    # The unpaged listing is what it always was: every entry, no cursor.
    r = e.admin("GET", "/admin/objects?prefix=/pg/")
    eq(r.status, 200, "unpaged listing")
    eq(r.get("X-Sluice-Next"), None, "unpaged listing: no cursor")
    eq(r.get("Link"), None, "unpaged listing: no Link")
    doc = json.loads(r.body)
    check(isinstance(doc, list), f"unpaged listing is still an array: {r.body[:100]!r}")
    eq([o["key"] for o in doc], want, "unpaged listing of /pg/")
    # Pages over the whole store add up to the whole unpaged listing.
    def ident(doc):
        return [(o["key"], o["size"], o["sha256"]) for o in doc]

    whole = ident(json.loads(e.admin("GET", "/admin/objects").body))
    got, _ = walk(e, "/admin/objects", "", 10000, ident)
    eq(got, whole, "one 10000-entry page equals the unpaged listing")
    got, _ = walk(e, "/admin/objects", "", 7, ident)
    eq(got, whole, "pages of 7 over the whole store")


@test
def listing_after_cursor(e):
    """after= is exclusive and need not name a key; with a prefix it only narrows."""
    want = utf8_order(page_objects(e))

    def keys(q):
        r = e.admin("GET", "/admin/objects?" + q)
        eq(r.status, 200, q)
        return [o["key"] for o in json.loads(r.body)]

    eq(keys("prefix=/pg/&after=/pg/a/seg-05.m4s"), want[6:], "after an existing key")
    eq(keys("prefix=/pg/&after=/pg/a/seg-05"), want[5:], "after a key's own prefix")
    eq(keys("prefix=/pg/&limit=3&after=/pg/a/seg-05.m4s"), want[6:9], "after and limit")
    eq(keys("prefix=/pg/b/&after=/pg/a/zzz"), want[13:], "after, before the prefix")
    eq(keys("prefix=/pg/a/&after=/pg/b/"), [], "after, past the prefix")
    eq(keys("prefix=/pg/&after=" + urllib.parse.quote(want[-1])), [], "after the last key")
    eq(keys("prefix=/pg/&after="), want, "an empty after= starts at the beginning")
    eq(keys("prefix=/pg/&after=/pg/b/x%2By%26z.m4s"),
       want[want.index("/pg/b/x+y&z.m4s") + 1:], "a percent-encoded cursor")
    eq(keys("prefix=/pg/&after=/" + "z" * 510), [], "a cursor of the longest key's length")


@test
def listing_bad_page_args_400(e):
    """A bad limit or an over-long cursor is refused, not read as "list everything"."""
    page_objects(e)
    for path in ("/admin/objects?prefix=/pg/&", "/admin/holdings?"):
        for bad in ("0", "10001", "-1", "+7", "abc", "7x", "", "99999999999999999999", "7.0"):
            r = e.admin("GET", f"{path}limit={bad}")
            eq(r.status, 400, f"{path}limit={bad!r}")
            check("limit" in json.loads(r.body).get("detail", ""),
                  f"400 says what is wrong: {r.body[:200]!r}")
            check(b"/pg/" not in r.body, "no key listed")
        for after in ("/" + "k" * 511, "%2F" + "%6B" * 600):
            r = e.admin("GET", f"{path}limit=5&after={after}")
            eq(r.status, 400, f"{path} with a {len(after)}-character after")
            check("after" in json.loads(r.body).get("detail", ""),
                  f"400 says what is wrong: {r.body[:200]!r}")
        eq(e.admin("GET", f"{path}limit=10000").status, 200, f"{path}limit=10000")
        eq(e.admin("GET", f"{path}limit=1").status, 200, f"{path}limit=1")


@test
def listing_pages_longest_keys(e):
    """Keys of the longest length, every byte escaped in the cursor: the cursor still comes in
    X-Sluice-Next, and a Link too long for the head is left out rather than failing the page."""
    stem = "/lq/" + "%22" * 505
    keys = [stem + f"{i}" for i in range(3)]  # 4 + 505 + 1 = 510 bytes once decoded
    for k in keys:
        e.put(k, os.urandom(10))
    want = ["/lq/" + '"' * 505 + f"{i}" for i in range(3)]
    got, after = [], None
    for _ in range(3):
        target = f"/admin/objects?prefix={stem}&limit=1" + (f"&after={after}" if after else "")
        r = e.admin("GET", target)
        eq(r.status, 200, f"page {len(got) + 1} of the longest keys")
        got += [o["key"] for o in json.loads(r.body)]
        after = r.get("X-Sluice-Next")
        if after is None:
            break
        eq(urllib.parse.unquote(after), got[-1], "the cursor is the last key, percent-encoded")
        check(len(after) == 4 + 3 * 505 + 1, f"the cursor escapes every quote: {len(after)}")
        eq(r.get("Link"), None, "a Link longer than the head can carry is left out")
    eq(got, want, "the longest keys, one per page")
    eq(after, None, "the last page has no cursor")


@test
def holdings_pages(e):
    """Holdings page like the listing: the totals on every page, the keys in pages, and "next"
    (also X-Sluice-Next and Link) while more remain."""
    page_objects(e)
    whole = json.loads(e.admin("GET", "/admin/holdings").body)
    check("next" not in whole, f"unpaged holdings carries a cursor: {str(whole)[:200]}")
    pages = []

    def keys(doc):
        pages.append(doc)
        return doc["keys"]

    got, _ = walk(e, "/admin/holdings", "", 7, keys)
    eq(got, whole["keys"], "holdings keys in pages of 7")
    check(len(pages) >= 4, f"{len(whole['keys'])} keys in {len(pages)} pages of 7")
    for doc in pages[:-1]:
        eq(doc.get("next"), doc["keys"][-1], "next is the page's last key")
    check("next" not in pages[-1], "the last page has no next")
    for doc in pages:
        eq((doc["objects"], doc["bytes"], doc["max_bytes"]),
           (whole["objects"], whole["bytes"], whole["max_bytes"]), "totals on every page")
    eq(whole["objects"], len(whole["keys"]), "holdings count every key")


@test
def holdings_json(e):
    e.put("/H/a.m4s", os.urandom(1000))
    r = e.admin("GET", "/admin/holdings")
    eq(r.status, 200, "/admin/holdings")
    ct = (r.get("Content-Type") or "").split(";")[0].strip().lower()
    eq(ct, "application/json", "/admin/holdings Content-Type")
    doc = json.loads(r.body)
    check(isinstance(doc, (dict, list)) and doc, f"holdings is empty: {r.body[:200]!r}")


@test
def healthz(e):
    r = e.admin("GET", "/healthz", token=False)
    eq(r.status, 200, "/healthz without a token")


def counters(text):
    """{family: total} for every counter family in a Prometheus text exposition."""
    types, totals = {}, {}
    line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+-?\d+)?$")
    for ln in text.splitlines():
        if ln.startswith("# TYPE "):
            _, _, name, kind = ln.split(None, 3)
            types[name] = kind.strip()
            continue
        if not ln or ln.startswith("#"):
            continue
        m = line_re.match(ln)
        check(m is not None, f"bad exposition line {ln!r}")
        name = m.group(1)
        fam = name[:-6] if name.endswith("_total") and name[:-6] in types else name
        if types.get(fam) == "counter" or types.get(name) == "counter":
            totals[name] = totals.get(name, 0.0) + float(m.group(3))
    return totals


@test
def metrics_counters_increase(e):
    r = e.metrics()
    ct = (r.get("Content-Type") or "").lower()
    check(ct.startswith("text/plain"), f"/metrics Content-Type {ct!r}")
    before = counters(r.body.decode())
    req_names = [n for n in before if "request" in n]
    check(req_names, f"no request counter in /metrics: {sorted(before)}")
    e.put("/M/m.m4s", b"m" * 100)
    for _ in range(7):
        eq(e.get("/M/m.m4s").status, 200, "GET for metrics")
    deadline = time.monotonic() + 5
    while True:
        after = counters(e.metrics().body.decode())
        grown = [n for n in req_names if after.get(n, 0) - before.get(n, 0) >= 7]
        if grown or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # poll interval for counters aggregated from the workers
    check(grown, "no request counter grew by >= 7 after 7 GETs: "
          + ", ".join(f"{n} {before.get(n)} -> {after.get(n)}" for n in req_names))


@test
def metrics_count_answers_cut_short(e):
    """An HTTP/1.1 answer the client leaves before its end counts in the request and byte
    counters, as a reset HTTP/2 stream does; it was left out of both (the access log had
    it)."""
    data = os.urandom(8 << 20)
    e.put("/M/cut.m4s", data)
    req = ("sluice_edge_requests_total", '{class="2xx"}')
    before = samples(e)
    s = socket.create_connection(("127.0.0.1", e.port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(build_request("GET", "/M/cut.m4s"))
    got = 0
    while got < 200_000:
        d = s.recv(65536)
        check(d, "the answer ended early")
        got += len(d)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # a reset, with most of the body unsent
    deadline = time.monotonic() + 5
    while True:
        after = samples(e)
        if after[req] > before[req] or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # poll interval for counters aggregated from the workers
    eq(after[req] - before[req], 1.0, "2xx requests after an answer cut short")
    sent = after[("sluice_edge_sent_bytes_total", "")] - before[("sluice_edge_sent_bytes_total", "")]
    check(got <= sent < len(data), f"bytes counted {sent}: at least the {got} read, less than "
          f"the body")


def samples(e):
    """Every sample of /metrics: {(name, labels): value}."""
    out = {}
    for ln in e.metrics().body.decode().splitlines():
        m = re.match(r"^([a-z0-9_]+)(\{[^}]*\})? (\S+)$", ln)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


@test
def metrics_store_gauges(e):
    """Bytes used, size limit and object count, read from the store when /metrics renders."""
    before = samples(e)
    eq(before.get(("sluice_edge_cache_max_bytes", "")), float(1 << 30), "size limit (1G)")
    data = os.urandom(54_321)
    e.put("/G/g.m4s", data)
    after = samples(e)
    eq(after[("sluice_edge_cache_objects", "")] - before[("sluice_edge_cache_objects", "")], 1.0,
       "object count after a PUT")
    eq(after[("sluice_edge_cache_bytes", "")] - before[("sluice_edge_cache_bytes", "")],
       float(len(data)), "bytes used after a PUT")
    eq(e.admin("DELETE", "/admin/objects/G/g.m4s").status, 204, "DELETE")
    gone = samples(e)
    eq(gone[("sluice_edge_cache_objects", "")], before[("sluice_edge_cache_objects", "")],
       "object count after the DELETE")
    eq(gone[("sluice_edge_cache_bytes", "")], before[("sluice_edge_cache_bytes", "")],
       "bytes used after the DELETE")


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(secret, kid="k1", **claims):
    now = int(time.time())
    c = {"cdniv": 1, "exp": now + 600, "nbf": now - 10, "cdniuc": "regex:^https?://[^/]+/T/"}
    c.update(claims)
    signing = b64u(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode()) + "." + \
        b64u(json.dumps(c).encode())
    return signing + "." + b64u(hmac.new(secret, signing.encode(), hashlib.sha256).digest())


@test
def metrics_token_refusals_by_reason(e):
    """An edge requiring tokens counts each 403 by reason and logs it at info without the
    token."""
    secret = os.urandom(32)
    t = Edge(e.binary, {"tokens": {"required": True, "keys_file": None}})
    try:
        keys = os.path.join(t.dir, "keys.yaml")
        with open(keys, "w") as f:
            f.write(f"keys:\n  - {{kid: k1, secret: {secret.hex()}}}\n")
        t.cfg["tokens"]["keys_file"] = keys
        t.start()
        t.put("/T/a.m4s", os.urandom(100))
        now = int(time.time())
        cases = {
            "missing": ["/T/a.m4s"],
            "expired": [f"/s/{mint(secret, exp=now - 300)}/T/a.m4s"],
            "not_yet_valid": [f"/s/{mint(secret, nbf=now + 600)}/T/a.m4s"],
            "unknown_kid": [f"/s/{mint(secret, kid='k9')}/T/a.m4s"],
            "bad_signature": [f"/s/{mint(os.urandom(32))}/T/a.m4s"],
            "scope": [f"/s/{mint(secret, cdniuc='regex:^https?://[^/]+/U/')}/T/a.m4s"],
            "malformed": ["/s/not.a.jwt/T/a.m4s"],
        }
        eq(t.get(f"/s/{mint(secret)}/T/a.m4s").status, 200, "a good token")
        before = samples(t)
        for why, targets in cases.items():
            for target in targets:
                eq(t.get(target).status, 403, f"{why}: refused")
        after = samples(t)
        for why in cases:
            key = ("sluice_edge_token_refusals_total", f'{{reason="{why}"}}')
            eq(after.get(key, 0) - before.get(key, 0), 1.0, f"refusals counted as {why}")
        deadline = time.monotonic() + 5
        while True:
            log = open(t.log_path, errors="replace").read()
            found = {w for w in cases if f"token refused ({w}): " in log}
            if found == set(cases) or time.monotonic() > deadline:
                break
            time.sleep(0.05)  # the log is written by the worker; poll with a deadline
        eq(found, set(cases), "an info line per refusal reason")
        check(re.search(r"info .*token refused \(expired\): \S+ /T/a\.m4s", log),
              "the refusal names the client and the key")
        check("eyJ" not in log, "no token in the log")
    finally:
        t.stop()
        t.cleanup()


def h2_frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


@test
def metrics_h2_streams_and_goaways(e):
    """h2 streams are counted as they are dispatched; a GOAWAY the edge sends is counted by
    its code, and logged at info with the code's name."""
    before = samples(e)
    # tools/deps installs curl: its absence is a broken setup, not a reason to pass the
    # stream counts unchecked.
    check(shutil.which("curl"), "curl missing (tools/deps installs it): h2 streams not counted")
    e.put("/H2/a.m4s", os.urandom(1000))
    for _ in range(3):
        out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                              "-w", "%{http_code} %{http_version}",
                              f"http://127.0.0.1:{e.port}/H2/a.m4s"],
                             capture_output=True, text=True, timeout=10)
        eq(out.stdout, "200 2", f"h2c GET through curl: {out.stderr}")
    eq(samples(e)[("sluice_edge_h2_streams_total", "")]
       - before[("sluice_edge_h2_streams_total", "")], 3.0, "h2 streams counted")
    deadline = time.monotonic() + 5
    while True:
        lines = [ln for ln in open(e.access_log, errors="replace").read().splitlines()
                 if '"GET /H2/a.m4s"' in ln]
        if len(lines) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # flushed by the worker's loop; poll with a deadline
    eq(len(lines), 3, "an access-log line per h2 stream")
    check(all(ln.endswith(" proto=h2 tls=plain cache=hit upstream=-") for ln in lines),
          f"h2 lines carry the cache outcome: {lines}")
    # A DATA frame on stream 0 is a connection error (RFC 9113 §6.1): PROTOCOL_ERROR.
    with socket.create_connection(("127.0.0.1", e.port), timeout=5) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0) +
                  h2_frame(0, 0, 0, b"x"))
        got = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except (ConnectionResetError, socket.timeout):
            pass
    check(b"\x07\x00\x00\x00\x00\x00" in got, f"no GOAWAY from the edge: {got[:80]!r}")
    key = ("sluice_edge_h2_goaways_total", '{code="PROTOCOL_ERROR"}')
    deadline = time.monotonic() + 5
    while samples(e).get(key, 0) - before.get(key, 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # counted when the connection is freed; poll with a deadline
    eq(samples(e).get(key, 0) - before.get(key, 0), 1.0, "GOAWAY counted by its code")
    check(("sluice_edge_h2_client_resets_total", "") in before, "client resets exported")
    log = open(e.log_path, errors="replace").read()
    check("h2: closed after GOAWAY PROTOCOL_ERROR (0x1)" in log,
          "the GOAWAY's code in the log: " + "".join(
              ln for ln in log.splitlines(True) if "h2" in ln or "GOAWAY" in ln)[-800:])


@test
def put_expect_100_continue(e):
    # libcurl (sluice-fill) sends "Expect: 100-continue" on large uploads: the server answers
    # 100 Continue (or a final status) before the body is sent (RFC 9110 §10.1.1).
    data = os.urandom(300_000)
    with e.conn(admin=True, timeout=5) as c:
        c.send(build_request("PUT", "/admin/objects/E/seg-1.m4s",
                             e.auth() + [("Content-Length", str(len(data))),
                                         ("X-Sluice-SHA256", sha(data)),
                                         ("Expect", "100-continue")]))
        r = c.read_response(timeout=3)
        eq(r.status, 100, "interim response to Expect: 100-continue")
        c.send(data)
        r = c.read_response()
        eq(r.status, 201, "PUT after 100 Continue")
    expect_body(e.get("/E/seg-1.m4s"), data, "object sent after 100 Continue")


def send_while_reading(e, raw, timeout=10):
    """Send raw on a new admin connection from a thread while this one reads; returns what
    arrived before the edge closed (a reset after the answers is not an error here)."""
    s = socket.create_connection(("127.0.0.1", e.admin_port), timeout=timeout)

    def send():
        try:
            s.sendall(raw)
        except OSError:
            pass
    t = threading.Thread(target=send)
    t.start()
    got = read_to_eof(s)
    t.join()
    s.close()
    return got


@test
def parser_refusals_are_json(e):
    """Admin errors are JSON {"error","detail"} (docs/edge.md), those of the request parser
    too: they were text/plain. A refused HEAD gets no body."""
    for raw, status, method in (
            (b'PUT /admin/objects/a/"q".m4s HTTP/1.1\r\nHost: a\r\n\r\n', 400, "PUT"),
            (b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n\tb\r\n\r\n", 400, "GET"),
            (b"HEAD /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431,
             "HEAD")):
        with e.conn(admin=True, timeout=5) as c:
            c.send(raw)
            r = c.read_response(method)
        eq(r.status, status, f"{raw[:40]!r}: status")
        if method == "HEAD":
            eq(r.body, b"", "a refused HEAD's body")
            continue
        eq(r.get("Content-Type"), "application/json", f"{raw[:40]!r}: Content-Type")
        doc = json.loads(r.body)
        check(doc.get("error") and doc.get("detail"), f"{raw[:40]!r}: {doc!r}")


@test
def refusal_answered_while_the_body_comes(e):
    """A refused PUT's answer goes out whole while the client goes on sending the body the
    edge will not read: it was dropped with the connection once that body filled the input
    queue (EOF and no answer)."""
    body = os.urandom(8 << 20)
    for i in range(5):
        head = build_request("PUT", f"/admin/objects/R/r{i}.m4s",
                             [("Authorization", "Bearer nope"),
                              ("Content-Length", str(len(body)))])
        got = send_while_reading(e, head + body)
        check(got.startswith(b"HTTP/1.1 401 "), f"attempt {i}: {got[:60]!r}")


@test
def pipelined_puts_first_answered(e):
    """Two PUTs sent back to back: the first is answered (201), however much of the second
    arrived meanwhile; the second is answered too or left unanswered by a close (a client
    retries it, RFC 9112 §9.3.2). The first's 201 was lost: the second's body filled the
    input queue while the first committed."""
    for i in range(3):
        a, b = os.urandom(1 << 20), os.urandom(1 << 20)
        raw = b""
        for key, data in ((f"/P/a{i}.m4s", a), (f"/P/b{i}.m4s", b)):
            raw += build_request("PUT", "/admin/objects" + key,
                                 e.auth() + [("Content-Length", str(len(data))),
                                             ("X-Sluice-SHA256", sha(data))]) + data
        got = send_while_reading(e, raw)
        check(got.startswith(b"HTTP/1.1 201 "), f"round {i}: the first PUT: {got[:60]!r}")
        expect_body(e.get(f"/P/a{i}.m4s"), a, f"round {i}: the first object")
        if got.count(b"HTTP/1.1 201 ") == 2:
            expect_body(e.get(f"/P/b{i}.m4s"), b, f"round {i}: the second object")


@test
def put_expect_100_refused_without_token(e):
    # A PUT that will be refused gets its final status at once; the body is never needed.
    with e.conn(admin=True, timeout=5) as c:
        c.send(build_request("PUT", "/admin/objects/E/no.m4s",
                             [("Content-Length", "100000"), ("Expect", "100-continue")]))
        r = c.read_response(timeout=3)
        eq(r.status, 401, "unauthenticated PUT with Expect: 100-continue")


@test
def put_chunked(e):
    # Without Content-Length the length cannot be checked up front: 411 is the honest answer;
    # a server that accepts chunked uploads must store the decoded bytes.
    data = os.urandom(50_000)
    body = b""
    for i in range(0, len(data), 16_384):
        part = data[i:i + 16_384]
        body += b"%x\r\n" % len(part) + part + b"\r\n"
    body += b"0\r\n\r\n"
    with e.conn(admin=True) as c:
        c.send(build_request("PUT", "/admin/objects/C/chunked.m4s",
                             e.auth() + [("Transfer-Encoding", "chunked"),
                                         ("X-Sluice-SHA256", sha(data))]) + body)
        r = c.read_response()
    check(r.status in (201, 411), f"chunked PUT: status {r.status}")
    if r.status == 201:
        expect_body(e.get("/C/chunked.m4s"), data, "chunked PUT content")
    else:
        eq(e.get("/C/chunked.m4s").status, 404, "chunked PUT refused but stored")


@test
def put_traversal_key_refused(e):
    bad = []
    for key in ("/../escape.txt", "/%2e%2e/%2e%2e/escape.txt", "/a/../../escape.txt",
                "/..%2fescape.txt", "/..\\escape.txt", "/t1/%00x"):
        r = put_raw(e, key, b"escape", e.token)
        if r.status != 400:
            bad.append(f"{key} -> {r.status}")
    check(not bad, "PUT with a traversal key not refused with 400: " + ", ".join(bad))
    found = [os.path.join(d, f) for d, _, files in os.walk(e.dir) for f in files
             if f == "escape.txt"]
    found += [p for p in (os.path.join(os.path.dirname(e.dir), "escape.txt"),) if os.path.exists(p)]
    check(not found, f"traversal PUT wrote files: {found}")


@test
def put_over_budget_refused_early(e):
    # cache.max_size is 1G: a 2 GiB PUT is refused from its head, before any body is sent.
    with e.conn(admin=True, timeout=5) as c:
        c.send(build_request("PUT", "/admin/objects/B/huge.m4s",
                             e.auth() + [("Content-Length", str(2 << 30))]))
        r = c.read_response(timeout=3)
        check(r.status in (413, 507), f"over-budget PUT: status {r.status}, want 413 or 507")
    eq(e.get("/B/huge.m4s").status, 404, "over-budget object")


@test
def put_body_longer_than_content_length(e):
    # The extra bytes are not part of the object; at best they are the next (bad) request.
    data = os.urandom(1000)
    with e.conn(admin=True) as c:
        c.send(build_request("PUT", "/admin/objects/X/exact.bin",
                             e.auth() + [("Content-Length", str(len(data)))]) + data + b"JUNK\r\n\r\n")
        r = c.read_response()
        eq(r.status, 201, "PUT followed by junk")
        closed, _, extra = c.wait_eof(3.0)
        check(extra.startswith(b"HTTP/1.1 400"), f"junk after the body answered {extra[:40]!r}")
        check(closed, "connection not closed after the junk request")
    expect_body(e.get("/X/exact.bin"), data, "object is exactly Content-Length bytes")


def start_download(e, key, first_bytes=100_000):
    c = e.conn(timeout=15, rcvbuf=65536)
    c.send(build_request("GET", key))
    r = None
    while len(c.buf) < first_bytes:
        c._fill(time.monotonic() + 10)
    return c


@test
def delete_during_download_completes(e):
    key = "/D/big.m4s"
    data = os.urandom(6 * 1024 * 1024)
    e.put(key, data)
    c = start_download(e, key)
    try:
        eq(e.admin("DELETE", "/admin/objects" + key).status, 204, "DELETE during a download")
        eq(e.get(key).status, 404, "GET after DELETE (while the old download runs)")
        expect_body(c.read_response(timeout=20), data, "download that began before DELETE")
    finally:
        c.close()


def deleted_objects_open(e):
    """The edge's open descriptors of object files that are no longer linked."""
    fds = f"/proc/{e.proc.pid}/fd"
    out = []
    for fd in os.listdir(fds):
        try:
            target = os.readlink(os.path.join(fds, fd))
        except OSError:
            continue
        objects = os.path.join(e.cache_dir, "objects")
        if target.startswith(objects) and target.endswith(" (deleted)"):
            out.append(target)
    return out


@test
def idle_workers_let_deleted_files_go(e):
    """Objects served (their files kept open by the workers), then deleted with no client
    request after: within a few seconds no worker holds a deleted file, so its disk space is
    free."""
    keys = [f"/idle/seg-{i}.m4s" for i in range(8)]
    for k in keys:
        e.put(k, os.urandom(200_000))
    for _ in range(3):
        for k in keys:
            eq(e.get(k).status, 200, f"GET {k}")
    for k in keys:
        eq(e.admin("DELETE", "/admin/objects" + k).status, 204, f"DELETE {k}")
    deadline = time.monotonic() + 5
    while deleted_objects_open(e) and time.monotonic() < deadline:
        time.sleep(0.2)
    eq(deleted_objects_open(e), [], "deleted object files still open")


@test
def replace_during_download_completes(e):
    key = "/D/rep.m4s"
    old, new = os.urandom(6 * 1024 * 1024), os.urandom(3 * 1024 * 1024)
    e.put(key, old)
    c = start_download(e, key)
    try:
        eq(e.put(key, new, expect=None).status, 204, "replace during a download")
        expect_body(e.get(key), new, "GET after replace")
        expect_body(c.read_response(timeout=20), old, "download that began before the replace")
    finally:
        c.close()


@test
def keys_with_special_bytes(e):
    # Percent-encoded UTF-8 and a double quote: stored under the decoded key, served by the same
    # encoded URL, and listed as valid JSON with the decoded key.
    data1, data2 = os.urandom(300), os.urandom(301)
    eq(e.put("/q/%C3%A9t%C3%A9.m4s", data1, expect=None).status, 201, "PUT UTF-8 key")
    eq(e.put("/q/a%22b.m4s", data2, expect=None).status, 201, "PUT key with a quote")
    expect_body(e.get("/q/%C3%A9t%C3%A9.m4s"), data1, "GET UTF-8 key")
    expect_body(e.get("/q/%c3%a9t%c3%a9.m4s"), data1, "GET UTF-8 key, lowercase escapes")
    expect_body(e.get("/q/a%22b.m4s"), data2, "GET key with a quote")
    r = e.admin("GET", "/admin/objects?prefix=/q/")
    eq(r.status, 200, "listing")
    try:
        json.loads(r.body)
    except ValueError as ex:
        raise AssertionError(f"listing with a quote in a key is not valid JSON ({ex}): "
                             f"{r.body[:200]!r}")
    keys = parse_listing(r.body)
    eq(sorted(keys), sorted(["/q/\u00e9t\u00e9.m4s", '/q/a"b.m4s']), "listing of /q/")
    r = e.admin("GET", "/admin/objects?prefix=%2Fq%2F")
    eq(r.status, 200, "listing with an encoded prefix")
    eq(len(parse_listing(r.body)), 2, "listing with prefix=%2Fq%2F")


@test
def keys_not_utf8_named_exactly(e):
    """A key that is not UTF-8 is listed by a reading of it ("\\u00ff" for the byte 0xff) that
    may be another key: such an entry also carries "key_pct", its exact bytes percent-encoded,
    which DELETE and after= take. Only such entries carry it."""
    objs = {b"/nu/\xff.m4s": os.urandom(40), b"/nu/\xc3\xbf.m4s": os.urandom(41),
            b"/nu/a\xfe\"b\xc3.m4s": os.urandom(42), b"/nu/plain.m4s": os.urandom(43)}
    for k, data in objs.items():
        e.put(urllib.parse.quote_from_bytes(k, safe="/"), data)
    r = e.admin("GET", "/admin/objects?prefix=/nu/")
    eq(r.status, 200, "listing of /nu/")
    got = {}
    for o in json.loads(r.body):
        if "key_pct" in o:
            check(re.fullmatch(r"[A-Za-z0-9._~/%-]+", o["key_pct"]) is not None,
                  f"key_pct is percent-encoded with unreserved bytes and '/' only: {o}")
            exact = urllib.parse.unquote_to_bytes(o["key_pct"])
            # Every byte above 0x7f in these keys is a stray one, read as U+00XX.
            eq(o["key"], exact.decode("latin-1"), f"the key read from key_pct {o['key_pct']}")
        else:
            exact = o["key"].encode()
        check(exact not in got, f"{exact!r} listed twice")
        got[exact] = o
    eq(sorted(got), sorted(objs), "every key, by its exact bytes")
    for k, o in got.items():
        try:
            k.decode("utf-8")
            check("key_pct" not in o, f"a UTF-8 key carries no key_pct: {o}")
        except UnicodeDecodeError:
            check("key_pct" in o, f"a key that is not UTF-8 carries key_pct: {o}")
        eq(o["size"], len(objs[k]), f"size of {k!r}")
        eq(o["sha256"], sha(objs[k]), f"sha256 of {k!r}")
    # The reading of /nu/\xff.m4s is the other key's text: two entries, one "key".
    eq(got[b"/nu/\xff.m4s"]["key"], got[b"/nu/\xc3\xbf.m4s"]["key"], "the two keys read alike")
    # after= takes key_pct as it is: the walk resumes past exactly that key.
    twin = got[b"/nu/\xc3\xbf.m4s"]
    order = sorted(objs)
    r = e.admin("GET", "/admin/objects?prefix=/nu/&after=" + got[b"/nu/\xff.m4s"]["key_pct"])
    eq(r.status, 200, "after=key_pct")
    eq([o.get("key_pct", o["key"]) for o in json.loads(r.body)], [], "nothing sorts after 0xff")
    r = e.admin("GET", "/admin/objects?prefix=/nu/&after=" + got[b"/nu/a\xfe\"b\xc3.m4s"]["key_pct"])
    eq(len(json.loads(r.body)), len(order) - 1 - order.index(b"/nu/a\xfe\"b\xc3.m4s"),
       "after= the key_pct of a key lists the keys past it")
    # DELETE by key_pct removes that object and no other, the one whose text it reads as
    # included.
    r = e.admin("DELETE", "/admin/objects" + got[b"/nu/\xff.m4s"]["key_pct"])
    eq(r.status, 204, "DELETE by key_pct")
    eq(e.get("/nu/%FF.m4s").status, 404, "the object that is not UTF-8 is gone")
    expect_body(e.get("/nu/%C3%BF.m4s"), objs[b"/nu/\xc3\xbf.m4s"], "the key it reads as is kept")
    check("key_pct" not in twin, f"the UTF-8 twin carries no key_pct: {twin}")
    r = e.admin("DELETE", "/admin/objects" + got[b"/nu/a\xfe\"b\xc3.m4s"]["key_pct"])
    eq(r.status, 204, "DELETE by key_pct of a key with a quote and a cut sequence")
    left = sorted(o.get("key_pct", o["key"])
                  for o in json.loads(e.admin("GET", "/admin/objects?prefix=/nu/").body))
    eq(left, ["/nu/plain.m4s", "/nu/\u00ff.m4s"], "the other two kept")
    # Holdings list keys as before: a reading, without key_pct.
    doc = json.loads(e.admin("GET", "/admin/holdings").body)
    check("/nu/\u00ff.m4s" in doc["keys"] and "key_pct" not in doc, f"holdings: {doc}")


@test
def interleaved_puts_each_logged(e):
    """Several PUTs whose bodies arrive interleaved: each gets its own access-log line."""
    keys = [f"/log/obj-{i}.m4s" for i in range(4)]
    bodies = [os.urandom(3000 + i) for i in range(4)]
    conns = []
    for k, b in zip(keys, bodies):
        c = e.conn(admin=True)
        c.send(f"PUT /admin/objects{k} HTTP/1.1\r\nHost: edge.test\r\nExpect: 100-continue\r\n"
               f"Authorization: Bearer {e.token}\r\nContent-Length: {len(b)}\r\n\r\n".encode())
        # The interim 100 proves the edge has taken this head before the next one arrives.
        interim = c._read_until(b"\r\n\r\n", time.monotonic() + 5)
        check(interim.startswith(b"HTTP/1.1 100"), f"interim response {interim!r}")
        conns.append(c)
    for c, b in zip(conns, bodies):  # every head is in before any body completes
        c.send(b)
    for c in conns:
        eq(c.read_response("PUT").status, 201, "interleaved PUT")
        c.close()
    deadline = time.monotonic() + 5
    while True:
        with open(e.access_log, "rb") as f:
            log = f.read().decode(errors="replace")
        missing = [k for k in keys if f"PUT /admin/objects{k}" not in log]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # the log is flushed by the edge's loop; poll with a deadline
    eq(missing, [], "PUTs without an access-log line")
    for k in keys:
        line = next(ln for ln in log.splitlines() if f"PUT /admin/objects{k}" in ln)
        check(line.endswith(" cache=- upstream=-"), f"an admin line has no cache outcome: {line!r}")



def listening_ports(pid):
    """TCP ports the process pid listens on: its sockets' inodes matched against the listening
    (state 0A) rows of /proc/<pid>/net/tcp and tcp6."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    ports = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for row in f.read().splitlines()[1:]:
                cols = row.split()
                if cols[3] == "0A" and cols[9] in inodes:
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


@test
def admin_listen_null_turns_admin_off(e):
    """admin.listen: ~ turns the admin API off (docs/edge-config.md): the edge serves its
    client listener and listens on nothing else, not on the default 127.0.0.1:8081."""
    t = Edge(e.binary, {"admin": {"token_file": None}})
    try:
        t.write_config()
        with open(t.config_path) as f:
            text = f.read()
        admin = f'listen: "127.0.0.1:{t.admin_port}"'
        check(admin in text, f"the harness's config has {admin!r}")
        with open(t.config_path, "w") as f:
            f.write(text.replace(admin, "listen: ~"))
        logf = open(t.log_path, "ab")
        t.proc = subprocess.Popen([t.binary, "--config", t.config_path], stdout=logf,
                                  stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.monotonic() + 15
        while True:
            check(t.proc.poll() is None,
                  f"the edge exited with {t.proc.returncode} at start\n{t.log_tail()}")
            with open(t.log_path, errors="replace") as f:
                if " ready: " in f.read():
                    break
            check(time.monotonic() < deadline, "the edge was not ready in 15 s\n" + t.log_tail())
            time.sleep(0.02)  # poll interval for the ready line
        eq(t.get("/nothing-here").status in (403, 404), True, "the client listener answers")
        eq(listening_ports(t.proc.pid), {t.port}, "ports the edge listens on")
    finally:
        if t.running():
            t.stop()
        t.cleanup()

if __name__ == "__main__":
    sys.exit(run(SETUP))
