# SPDX-License-Identifier: MIT
"""The worker's open-file cache under a descriptor limit (RLIMIT_NOFILE) smaller than
cache.fd_cache: cached descriptors of idle files give way to what needs a descriptor now.

  lookup_at_the_limit: one worker, fd_cache far above what the limit leaves; more objects than
                 free descriptors are asked for, one after another on one connection. Each is
                 answered with its bytes: an open that finds the table full closes the least
                 recently used idle cached file and opens again, instead of a 503.
  accept_at_the_limit: with the table full of cached files, a new client connection is still
                 accepted and answered: an accept that finds the table full closes idle
                 cached files too, instead of retrying for ever while nothing lets go.
  admin_at_the_limit: with the table full of the client worker's cached files, the admin API
                 (/healthz, /metrics) still answers: the admin thread, which caches no files,
                 has the client workers close some of theirs, instead of its accepts failing
                 for as long as they hold the table. The log says so, once (a warning).
  limit_raised:  started with a soft limit under the hard one, the edge raises it to the hard
                 one and says so, and notes that the hard one is under its file caches and
                 connections together (the caches alone fit: no warning).
  counted:       the cache's metrics: files held open (a gauge, at most fd_cache), files
                 opened (a lookup the cache answers opens none), and idle files closed early for
                 a full table (none without a limit; some in lookup_at_the_limit).
  disabled:      fd_cache 0 keeps no file open: every request opens its own.
  miss_at_the_limit: with the table full of cached files, misses are filled from the origin
                 and answered with its bytes, then are hits: the fill's socket, temporary file
                 and its reader make room the same way, instead of a 502 with the origin
                 marked down ("Connection refused").
"""

import os
import resource
import sys

from edgeharness import Edge, RawConn, build_request, check, eq, expect_body, metric, run, test
from origin import Origin

NOFILE = 64  # the edge's soft descriptor limit: about 40 left once it is up
OBJECTS = 2 * NOFILE


def limited_edge(binary, extra=None):
    """A started edge whose descriptor limit is NOFILE, set before it starts (an accept takes
    the limit in force when it was armed), with OBJECTS pushed and one open client
    connection. Only admin_at_the_limit uses the admin port once lookups have filled the
    table."""
    e = Edge(binary, {"workers": 1, "cache": {"fd_cache": 100000, "scrub_rate": 0},
                      "limits": {"idle_timeout": "30s"}, **(extra or {})})
    # The hard limit too: the edge raises its soft limit to the hard one.
    e.preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    e.start()
    eq(resource.prlimit(e.proc.pid, resource.RLIMIT_NOFILE)[0], NOFILE, "the edge's limit")
    objs = {f"/fd/seg-{i}.m4s": os.urandom(1000 + i) for i in range(OBJECTS)}
    e.push(objs)
    c = RawConn(e.port)
    c.send(build_request("GET", "/fd/seg-0.m4s"))
    expect_body(c.read_response(), objs["/fd/seg-0.m4s"], "first object")
    e.wait_connections(1)
    return e, c, objs


def get_all(e, c, objs, what):
    for key, data in objs.items():
        c.send(build_request("GET", key))
        expect_body(c.read_response(), data, f"{what} {key}")


@test
def lookup_at_the_limit(binary):
    e, c, objs = limited_edge(binary)
    try:
        get_all(e, c, objs, "at the descriptor limit:")
        get_all(e, c, objs, "again:")
        check(metric(e, "sluice_edge_fd_cache_opens_total") >= 2 * OBJECTS - NOFILE,
              "files opened again once shed")
        check(metric(e, "sluice_edge_fd_cache_shed_total") > 0, "files shed for a full table")
        check(0 < metric(e, "sluice_edge_fd_cache_files") < NOFILE, "files held open")
        c.close()
    finally:
        e.cleanup()


@test
def limit_raised(binary):
    e = Edge(binary, {"workers": 1, "cache": {"scrub_rate": 0}})
    e.preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, 4096))
    try:
        e.start()
        eq(resource.prlimit(e.proc.pid, resource.RLIMIT_NOFILE), (4096, 4096),
           "the edge's soft limit raised to its hard one")
        log = open(e.log_path, errors="replace").read()
        check(f"descriptor limit raised from {NOFILE} to 4096" in log, "said in the log")
        # 4096 holds 1 x 1024 cached files, not with 100000 connections (the defaults).
        check("the descriptor limit, 4096, is under the file caches and limits.max_conn" in log,
              "the note for a hard limit under the caches and the connections")
        check("under what the workers' file caches may hold" not in log, "a warning")
        e.put("/fc/one.m4s", b"one")
        expect_body(e.get("/fc/one.m4s"), b"one", "served")
    finally:
        e.cleanup()


def pushed_edge(binary, fd_cache, n):
    """A started edge with one worker caching fd_cache files, and n objects pushed to it."""
    e = Edge(binary, {"workers": 1, "cache": {"fd_cache": fd_cache, "scrub_rate": 0}})
    try:
        e.start()
        objs = {f"/fc/seg-{i}.m4s": os.urandom(2000 + i) for i in range(n)}
        e.push(objs)
    except BaseException:
        e.cleanup()
        raise
    return e, objs


@test
def counted(binary):
    e, objs = pushed_edge(binary, 4, 6)
    try:
        eq(metric(e, "sluice_edge_fd_cache_files"), 0.0, "files open before any request")
        with RawConn(e.port) as c:
            get_all(e, c, objs, "first round:")
            eq(metric(e, "sluice_edge_fd_cache_opens_total"), 6.0, "files opened")
            eq(metric(e, "sluice_edge_fd_cache_files"), 4.0, "files held (fd_cache 4)")
            for _ in range(3):  # the last one asked for is cached: no open
                c.send(build_request("GET", "/fc/seg-5.m4s"))
                expect_body(c.read_response(), objs["/fc/seg-5.m4s"], "a cached file")
            eq(metric(e, "sluice_edge_fd_cache_opens_total"), 6.0, "files opened after hits")
        eq(metric(e, "sluice_edge_fd_cache_shed_total"), 0.0, "files shed without a limit")
    finally:
        e.cleanup()


@test
def disabled(binary):
    e, objs = pushed_edge(binary, 0, 3)
    try:
        with RawConn(e.port) as c:
            get_all(e, c, objs, "first round:")
            get_all(e, c, objs, "second round:")
        eq(metric(e, "sluice_edge_fd_cache_opens_total"), 6.0, "every request opens its file")
        eq(metric(e, "sluice_edge_fd_cache_files"), 0.0, "files held with fd_cache 0")
    finally:
        e.cleanup()


@test
def accept_at_the_limit(binary):
    e, c, objs = limited_edge(binary)
    try:
        # Fill the table with cached files: the lookups shed idle ones only as they need to.
        get_all(e, c, objs, "filling the table:")
        for i in range(3):
            with RawConn(e.port, timeout=5.0) as c2:
                c2.send(build_request("GET", "/fd/seg-1.m4s"))
                expect_body(c2.read_response(), objs["/fd/seg-1.m4s"], f"new connection {i}")
        c.close()
    finally:
        e.cleanup()


@test
def admin_at_the_limit(binary):
    e, c, objs = limited_edge(binary)
    try:
        get_all(e, c, objs, "filling the table:")
        for i in range(3):
            r = e.admin("GET", "/healthz", timeout=5.0)
            eq(r.status, 200, f"/healthz {i}")
        eq(e.metrics().status, 200, "/metrics")
        log = open(e.log_path, errors="replace").read()
        check("admin worker 1: accept failed: Too many open files" in log, "said in the log")
        check(log.count("accept failed") <= 2, "said once per listener, not per try")
        get_all(e, c, objs, "and the clients:")
        c.close()
    finally:
        e.cleanup()


@test
def miss_at_the_limit(binary):
    origin = Origin()
    e, c, objs = limited_edge(binary, {"upstreams": [{"url": origin.url}]})
    try:
        get_all(e, c, objs, "filling the table:")
        for what in ("miss", "hit"):
            for i in range(3):
                key = f"/ok/miss/seg-{i}.m4s"
                if what == "miss":
                    origin.add(key, os.urandom(5000 + i))
                c.send(build_request("GET", key))
                r = c.read_response()
                expect_body(r, origin.objects[key], f"{what} {key}")
                cs = r.need("Cache-Status")
                check(("fwd=miss" in cs) == (what == "miss"), f"{key}: a {what} ({cs!r})")
                eq(origin.count(key), 1, f"{key}: origin fetches")
        check("is down" not in open(e.log_path, errors="replace").read(),
              "the origin was not marked down")
        c.close()
    finally:
        e.cleanup()
        origin.srv.shutdown()


if __name__ == "__main__":
    sys.exit(run())
