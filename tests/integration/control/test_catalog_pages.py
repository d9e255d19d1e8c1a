# SPDX-License-Identifier: MIT
"""Search and trending page as browse does (docs/control.md, Catalog): `offset` skips that
many items of the same order, so pages of one item walk the whole answer without a gap or a
repeat; `offset` is 0..100000, anything else 400 naming it.

    python3 test_catalog_pages.py path/to/sluice-control
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Postgres, check, register, run  # noqa: E402


def ids(o):
    return [t["id"] for t in o["items"]]


def walk(ctl, path, n):
    """Pages of one item of path, from offset 0 until one comes back empty."""
    got = []
    for off in range(n + 1):
        page = ids(ctl.json("GET", f"{path}&limit=1&offset={off}"))
        check(len(page) <= 1, f"{path} offset {off}: a page of one has {page}")
        if not page:
            break
        got += page
    return got


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    titles = [f"harbour{i}" for i in range(4)]
    for t in titles:
        register(ctl, t, metadata={"name": f"Harbour {t[-1]}", "genres": ["drama"]})
        ctl.json("PUT", f"/v1/admin/titles/{t}/licences", {"licences": [{"country": "GB"}]},
                 admin=True)
    # Trending counts distinct sessions reporting: harbour0 most, harbour3 once.
    for i, t in enumerate(titles):
        for _ in range(len(titles) - i):
            s = ctl.json("POST", "/v1/playback", {"title": t})
            ctl.json("POST", "/v1/playback/report", {"session": s["session"], "position": 1.0})

    whole = ids(ctl.json("GET", "/v1/search?q=harbour"))
    check(sorted(whole) == titles, f"search finds the four: {whole}")
    paged = walk(ctl, "/v1/search?q=harbour", len(titles))
    check(paged == whole, f"search pages of one walk its answer: {paged}, whole {whole}")
    check(ids(ctl.json("GET", "/v1/search?q=harbour&offset=2")) == whole[2:],
          "search offset 2 skips the first two")

    whole = ids(ctl.json("GET", "/v1/catalog/trending?"))
    check(whole == titles, f"trending by sessions: {whole}")
    paged = walk(ctl, "/v1/catalog/trending?", len(titles))
    check(paged == whole, f"trending pages of one walk its answer: {paged}")
    check(ids(ctl.json("GET", "/v1/catalog/trending?offset=3")) == whole[3:],
          "trending offset 3 skips the first three")

    for path in ("/v1/search?q=harbour&", "/v1/catalog/trending?"):
        check(ids(ctl.json("GET", path + "offset=100000")) == [], f"{path} at the bound")
        for bad in ("-1", "100001", "x", "", "1.5", "%2B1"):
            o = ctl.error("GET", f"{path}offset={bad}")
            check("'offset'" in o["detail"], f"{path}offset={bad}: {o}")
    check(ctl.stop() == 0, "SIGTERM exits 0")


if __name__ == "__main__":
    run(main)
