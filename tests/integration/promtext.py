# SPDX-License-Identifier: MIT
"""A strict reader of the Prometheus text exposition format 0.0.4, for the tests that scrape
the edge's and control's /metrics. It returns the list of problems it finds, so a test says
all of them at once."""

import math
import re

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
SAMPLE_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( -?[0-9]+)?\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def parse_labels(text):
    """'{a="x",b="y\\"z"}' -> [("a", 'x'), ("b", 'y"z')]; raises ValueError when the text is not
    well formed (an escape other than \\\\, \\" and \\n, a raw newline, a missing quote)."""
    out, i = [], 1
    if text == "{}":
        return out
    while True:
        eqs = text.find("=", i)
        if eqs < 0:
            raise ValueError("label without '='")
        name = text[i:eqs]
        if not LABEL_RE.match(name):
            raise ValueError(f"bad label name {name!r}")
        if text[eqs + 1:eqs + 2] != '"':
            raise ValueError(f"label {name} value is not quoted")
        j, val = eqs + 2, []
        while True:
            if j >= len(text):
                raise ValueError(f"label {name} value has no closing quote")
            c = text[j]
            if c == "\\":
                e = text[j + 1:j + 2]
                if e not in ('\\', '"', "n"):
                    raise ValueError(f"label {name} value has the escape \\{e}")
                val.append("\n" if e == "n" else e)
                j += 2
                continue
            if c == "\n":
                raise ValueError(f"label {name} value has a raw newline")
            if c == '"':
                break
            val.append(c)
            j += 1
        out.append((name, "".join(val)))
        j += 1
        if text[j:] == "}":
            return out
        if text[j:j + 1] != ",":
            raise ValueError(f"after label {name}: {text[j:]!r}")
        i = j + 1
        if text[i:] == "}":  # a trailing comma is allowed
            return out


def value_of(s):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    return float(s)


def family_of(name, types):
    for kind in ("histogram", "summary"):
        for suf in SUFFIXES[kind]:
            if name.endswith(suf) and types.get(name[:-len(suf)]) == kind:
                return name[:-len(suf)]
    return name


def check_exposition(text):
    """(problems, samples): problems is a list of strings; samples maps family -> list of
    (name, labels tuple, value)."""
    problems, helps, types, samples, seen, closed = [], {}, {}, {}, set(), set()
    current = None
    if text and not text.endswith("\n"):
        problems.append("the exposition does not end with a newline")
    for n, ln in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        where = f"line {n} {ln!r}"
        if not ln:
            continue
        if ln.startswith("#"):
            parts = ln.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME_RE.match(name):
                    problems.append(f"{where}: bad metric name")
                table = helps if parts[1] == "HELP" else types
                if name in table:
                    problems.append(f"{where}: a second {parts[1]} for {name}")
                if name in samples:
                    problems.append(f"{where}: {parts[1]} after samples of {name}")
                if parts[1] == "TYPE":
                    kind = parts[3] if len(parts) > 3 else ""
                    if kind not in TYPES:
                        problems.append(f"{where}: unknown type {kind!r}")
                    table[name] = kind
                else:
                    help_text = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\[^\\n]", help_text.replace("\\\\", "")):
                        problems.append(f"{where}: HELP has an escape other than \\\\ and \\n")
                    table[name] = help_text
                if current != name:
                    if name in closed:
                        problems.append(f"{where}: {name} comes back after other families")
                    if current is not None:
                        closed.add(current)
                    current = name
            continue
        m = SAMPLE_RE.match(ln)
        if not m:
            problems.append(f"{where}: not a sample line")
            continue
        name, ltext, vtext = m.group(1), m.group(2) or "{}", m.group(3)
        try:
            labels = parse_labels(ltext)
            value = value_of(vtext)
        except ValueError as e:
            problems.append(f"{where}: {e}")
            continue
        fam = family_of(name, types)
        if fam != current:
            if fam in closed:
                problems.append(f"{where}: samples of {fam} are not together")
            if current is not None:
                closed.add(current)
            current = fam
        if fam not in types:
            problems.append(f"{where}: no TYPE before the samples of {fam}")
        if fam not in helps:
            problems.append(f"{where}: no HELP before the samples of {fam}")
        names = [k for k, _ in labels]
        if len(set(names)) != len(names):
            problems.append(f"{where}: a label given twice")
        key = (name, tuple(sorted(labels)))
        if key in seen:
            problems.append(f"{where}: duplicate series")
        seen.add(key)
        if types.get(fam) == "counter" and (math.isnan(value) or value < 0):
            problems.append(f"{where}: counter below zero")
        samples.setdefault(fam, []).append((name, tuple(labels), value))
    for fam, kind in types.items():
        if kind == "counter" and not fam.endswith("_total"):
            problems.append(f"counter {fam} does not end in _total")
        if kind != "counter" and fam.endswith("_total"):
            problems.append(f"{kind} {fam} ends in _total, which names counters")
        if kind == "histogram":
            problems += check_histogram(fam, samples.get(fam, []))
    for fam in helps:
        if fam not in types:
            problems.append(f"HELP for {fam} without a TYPE")
    return problems, samples


def check_histogram(fam, rows):
    problems, series = [], {}
    for name, labels, value in rows:
        rest = tuple(kv for kv in labels if kv[0] != "le")
        s = series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            le = [v for k, v in labels if k == "le"]
            if len(le) != 1:
                problems.append(f"{fam}_bucket{dict(labels)} has no le label")
                continue
            try:
                s["buckets"].append((value_of(le[0]), value))
            except ValueError:
                problems.append(f"{fam}_bucket le={le[0]!r} is not a number")
        elif name == fam + "_sum":
            s["sum"] = value
        elif name == fam + "_count":
            s["count"] = value
        else:
            problems.append(f"histogram {fam} has the sample {name}")
    for rest, s in series.items():
        what = f"{fam}{dict(rest)}"
        b = s["buckets"]
        if not b or b[-1][0] != math.inf:
            problems.append(f"{what}: no +Inf bucket last")
        if [x for x, _ in b] != sorted(x for x, _ in b):
            problems.append(f"{what}: buckets out of order")
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            problems.append(f"{what}: buckets not cumulative: {b}")
        if s["sum"] is None or s["count"] is None:
            problems.append(f"{what}: no _sum or no _count")
        elif b and s["count"] != b[-1][1]:
            problems.append(f"{what}: _count {s['count']} != +Inf bucket {b[-1][1]}")
    return problems


def documented_families(markdown, section, prefix, table=True):
    """The metric names under the heading `section` of a markdown document: backquoted names
    that start with prefix, in the first column of its table (or anywhere, table false)."""
    lines, inside = markdown.split("\n"), False
    out = set()
    for ln in lines:
        if ln.startswith("#"):
            if inside:
                break
            inside = ln.lstrip("#").strip().startswith(section)
            continue
        if inside and (ln.startswith("|") or not table):
            first = ln.split("|")[1] if table else ln
            out.update(n for n in re.findall(r"`([a-z_:][a-z0-9_:]*)(?:\{[^`]*\})?`", first)
                       if n.startswith(prefix))
    return out
