# SPDX-License-Identifier: MIT
"""For the tests that preload free-scan-shim.c (SLUICE_FREE_SCAN_SHIM, which meson sets) into
a binary and read its report of the freed blocks that still held a marker."""

import os


def unusable(binary):
    """Why the shim cannot search binary's freed blocks here (a reason to skip), or None."""
    shim = os.environ.get("SLUICE_FREE_SCAN_SHIM", "")
    if not shim or not os.path.exists(shim):
        return ("the free-scan shim is needed (meson builds it and names it in "
                "SLUICE_FREE_SCAN_SHIM): freed blocks not searched")
    with open(binary, "rb") as f:
        if b"__asan_init" in f.read():
            # Its runtime must come first, and keeps freed blocks in its quarantine.
            return "built with AddressSanitizer, whose allocator owns free()"
    return None


def env(report, markers, min_size=0):
    """The variables that preload the shim, searching for markers (each under 64 characters)
    and reporting to the file report; with min_size, every freed block of at least that many
    bytes is reported too ("size <block size>"), whatever it held."""
    e = {"LD_PRELOAD": os.environ["SLUICE_FREE_SCAN_SHIM"],
         "SLUICE_FREE_SCAN_MARKERS": ",".join(markers), "SLUICE_FREE_SCAN_REPORT": report}
    if min_size:
        e["SLUICE_FREE_SCAN_MIN_SIZE"] = str(min_size)
    return e


def lines(report):
    """The report's lines ("hit <marker index> <block size>"), none when it is not made."""
    try:
        with open(report) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def sizes(report):
    """The sizes of the freed blocks reported as at least min_size (see env)."""
    return [int(ln.split()[1]) for ln in lines(report) if ln.startswith("size ")]


def hits(report, marker):
    """The lines saying a freed block held the marker of index marker."""
    return [ln for ln in lines(report) if ln.startswith(f"hit {marker} ")]


def as_sent(report):
    """For markers 0, what only a request as libcurl wrote it holds (a token with its line
    end, "Bearer <token>\\r\\n", or the request line), and 1, the secret alone: (the lines
    of the blocks holding the secret in such a request, those of the blocks holding it
    otherwise). A block holding both is reported as two lines in a row, 0 then 1, of one
    size; one holding it otherwise, by a line of marker 1 alone."""
    sent, kept = [], []
    ls = lines(report)
    for i, ln in enumerate(ls):
        if ln.startswith("hit 1 "):
            with_end = i > 0 and ls[i - 1] == "hit 0 " + ln.split()[2]
            (sent if with_end else kept).append(ln)
    return sent, kept
