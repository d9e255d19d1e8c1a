# SPDX-License-Identifier: MIT
"""The defaults and bounds docs/edge-config.md and docs/control.md give for numeric and
boolean keys are the ones the binaries hold to.

Each default is compared with the table's (edge/edge-cfg.c, control/ctl-cfg.c). Each range
("0–62", "500 ms – 5 min", "1m..7d") is tried on the binary with --check-config: both ends
must pass, and one step outside either must be refused with "file:line:col: 'key' must ..."
at the value.

    python3 test_config_bounds_doc.py SOURCE_DIR SLUICE_EDGE SLUICE_CONTROL

Exit status: 0 passed, 1 failed.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

SIZE = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
DURATION = {"": 1000, "ms": 1, "s": 1000, "m": 60000, "min": 60000, "h": 3600000,
            "d": 86400000}
KINDS = {"CFG_INT", "CFG_SIZE", "CFG_DURATION", "CFG_BOOL"}


def value(text, kind):
    """A number (bytes, milliseconds) or a boolean as the loader reads text; None if not one."""
    t = text.strip().strip("`").replace(" ", "").replace(",", "")
    if kind == "CFG_BOOL":
        return {"true": True, "false": False}.get(t.lower())
    if kind == "CFG_INT":
        return int(t) if re.fullmatch(r"-?\d+", t) else None
    if kind == "CFG_SIZE":
        if t == "2^31-1":
            return 2**31 - 1
        m = re.fullmatch(r"(\d+)([KMGT]?)i?B?", t)
        return int(m.group(1)) * SIZE[m.group(2)] if m else None
    m = re.fullmatch(r"(\d+)(ms|s|min|m|h|d)?", t)
    return int(m.group(1)) * DURATION[m.group(2) or ""] if m else None


def tables(code):
    """{table: {key: {type, def, sub}}} from the cfg_field tables of a C file."""
    out = {}
    for name, body in re.findall(r"static const struct cfg_field (\w+)\[\] = \{(.*?)\n\};",
                                 code, re.S):
        rows = {}
        for row in body.split("{.key = ")[1:]:
            f = {"type": re.search(r"\.type = (\w+)", row).group(1)}
            m = re.search(r'\.def = "([^"]*)"', row)
            f["def"] = m.group(1) if m else None
            m = re.search(r"\.sub = (\w+)", row)
            f["sub"] = m.group(1) if m else None
            rows[re.match(r'"(\w+)"', row).group(1)] = f
        out[name] = rows
    return out


def field(tabs, root, dotted):
    """The table row a documented key names ("cache.max_size", "upstreams[].url")."""
    parts = dotted.replace("[]", "").split(".")
    t = tabs[root]
    for p in parts[:-1]:
        if p not in t or not t[p]["sub"]:
            return None
        t = tabs[t[p]["sub"]]
    return t.get(parts[-1])


def ranges(cell, n):
    """The n ranges of a bounds cell, as (low, high) text; None where there is none."""
    cell = re.sub(r"\*\*[^*]*\*\*", "", cell.replace("`", ""))
    found = re.findall(r"(\d+(?:\^\d+-1)?\s?[a-zA-Z]*)\s?(?:–|\.\.)\s?(\d+(?:\^\d+-1)?\s?[a-zA-Z]*)",
                       cell)
    found = [(lo, hi) for lo, hi in found if "entr" not in hi]
    if not found and n == 1:
        found = [(lo, None) for lo in re.findall(r"^at least (\d+[a-zA-Z]*)$", cell.strip())]
    return found if len(found) == n else [None] * n


def step(text, kind, down):
    """The value one step outside the end text, written as the loader reads it."""
    v = value(text, kind)
    if kind == "CFG_DURATION":
        v = v - 1 if down else v + 1
        return None if v < 0 else f"{v}ms"
    v = v - 1 if down else v + 1
    return None if v < 0 else str(v)


class Probe:
    def __init__(self, binary, base, tmp):
        self.binary, self.base, self.tmp = binary, base, tmp

    def run(self, dotted, text, extra=""):
        """Check a file of base with the key at text. Returns whether it was refused with
        the key's name at the value's line and column, whether any message names the key,
        and the output."""
        parts = dotted.replace("[]", "").split(".")
        if dotted.startswith("upstreams[]."):
            line = f"upstreams: [{{url: 'http://127.0.0.1:1', {parts[1]}: {text}}}]"
        elif dotted.startswith("tls[]."):
            line = (f"tls: [{{listen: '127.0.0.1:0', certs: [{{cert: {self.tmp}/none.pem, "
                    f"key: {self.tmp}/none.key}}], {parts[1]}: {text}}}]")
        elif len(parts) == 1:
            line = f"{parts[0]}: {text}"
        else:
            line = f"{parts[0]}: {{{parts[1]}: {text}}}"
        doc = self.base
        # A section the base writes already takes the key inside it.
        m = re.search(r"^%s: \{" % re.escape(parts[0]), doc, re.M) if len(parts) == 2 else None
        if m:
            doc = doc[:m.end()] + f"{parts[1]}: {text}, " + doc[m.end():]
            line = None
        written = (doc + (line + "\n" if line else "") + extra)
        path = os.path.join(self.tmp, "probe.yaml")
        with open(path, "w") as f:
            f.write(written)
        r = subprocess.run([self.binary, "--check-config", "--config", path],
                           capture_output=True, text=True, timeout=30)
        out = (r.stdout + r.stderr).strip()
        # Where the value is: its line and column, 1-based.
        lines = written.split("\n")
        needle = f"{parts[-1]}: {text}"
        at = [(i + 1, ln.index(needle) + len(parts[-1]) + 3) for i, ln in enumerate(lines)
              if needle in ln]
        name = dotted.replace("[]", "[0]")
        want = f"{path}:{at[0][0]}:{at[0][1]}: '{name}' must" if at else None
        return (want is not None and want in out, f"'{name}'" in out, out)


def check_doc(name, doc_rel, src, binary, root, base, rows_re, extra, failed):
    with open(os.path.join(src, doc_rel), encoding="utf-8") as f:
        doc = f.read()
    with open(os.path.join(src, name), encoding="utf-8") as f:
        tabs = tables(f.read())
    tmp = tempfile.mkdtemp(prefix="cfg-bounds-")
    probe = Probe(binary, base(tmp), tmp)
    n_def = n_rng = 0
    try:
        for cell, typ, default, bounds in rows_re(doc):
            keys = re.findall(r"`([a-z0-9_.\[\]]+)`", cell)
            if not keys:
                continue
            # Several keys of one section in one row: the section is the first one's.
            prefix = keys[0].rsplit(".", 1)[0] + "." if "." in keys[0] else ""
            keys = [keys[0]] + [k if "." in k or not prefix else prefix + k for k in keys[1:]]
            defaults = [d.strip() for d in default.split(";" if ";" in default else ",")] \
                if len(keys) > 1 else [default]
            for key, d, rng in zip(keys, defaults + [None] * len(keys), ranges(bounds, len(keys))):
                f = field(tabs, root, key)
                if f is None or f["type"] not in KINDS:
                    continue
                kind = f["type"]
                if d is not None and value(d, kind) is not None:
                    n_def += 1
                    if f["def"] is None or value(f["def"], kind) != value(d, kind):
                        failed.append(f"{doc_rel}: `{key}` default {d.strip()} but "
                                      f"{name} has {f['def']!r}")
                if rng is None or kind == "CFG_BOOL":
                    continue
                lo, hi = (x and x.replace(" ", "").replace("min", "m") for x in rng)
                if value(lo, kind) is None or (hi is not None and value(hi, kind) is None):
                    failed.append(f"{doc_rel}: `{key}` bounds {rng} not read")
                    continue
                n_rng += 1
                # The ends as the page writes them, but for 2^31-1, which the loader does not
                # read.
                lo, hi = (x if not x or "^" not in x else str(value(x, kind)) for x in (lo, hi))
                for text, inside in ((lo, True), (hi, True), (step(lo, kind, True), False),
                                     (hi and step(hi, kind, False), False)):
                    if text is None:
                        continue
                    at_value, named, out = probe.run(key, text, extra.get(key, ""))
                    if inside and named:
                        failed.append(f"{doc_rel}: `{key}` {text} is within the documented "
                                      f"{lo}–{hi or ''}, refused: {out[-300:]}")
                    if not inside and not at_value:
                        failed.append(f"{doc_rel}: `{key}` {text} is outside the documented "
                                      f"{lo}–{hi or ''}, not refused at the value: {out[-300:]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return n_def, n_rng


def secrets(tmp):
    """The admin token and token keys both binaries' files name, made in tmp."""
    with open(os.path.join(tmp, "admin.token"), "w") as f:
        f.write("admin-token-for-tests-0123456789\n")
    with open(os.path.join(tmp, "keys.yaml"), "w") as f:
        f.write("keys:\n  - {kid: k1, secret: " + "5a" * 32 + "}\n")
    return f"admin: {{token_file: {tmp}/admin.token}}\ntokens: {{keys_file: {tmp}/keys.yaml}}\n"


def edge_base(tmp):
    os.makedirs(os.path.join(tmp, "cache"))
    return f"cache: {{dir: {tmp}/cache}}\n" + secrets(tmp)


def control_base(tmp):
    return 'database: "dbname=none"\n' + secrets(tmp)


def edge_rows(doc):
    # | key | type | default | bounds | meaning |
    return [tuple(c.strip() for c in row) for row in
            re.findall(r"^\| (`[^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|", doc, re.M)]


def control_rows(doc):
    # | key | type or bounds | default | notes (which may open with the bounds) |
    out = []
    for cell, typ, default, notes in re.findall(r"^\| (`[^|]*)\|([^|]*)\|([^|]*)\|(.*)$",
                                                doc, re.M):
        m = re.match(r"\s*(\w+\.\.\w+)", notes)
        out.append((cell.strip(), typ.strip(), default.strip(),
                    typ if ".." in typ else m.group(1) if m else ""))
    return out


def main():
    src, edge, control = sys.argv[1:4]
    failed = []
    d1, r1 = check_doc("edge/edge-cfg.c", "docs/edge-config.md", src, edge, "edge_fields",
                       edge_base, edge_rows, {}, failed)
    # cache_ttl must stay under twice heartbeat_period (5s by default): give it room.
    d2, r2 = check_doc("control/ctl-cfg.c", "docs/control.md", src, control, "root_fields",
                       control_base, control_rows, {"cache_ttl": "heartbeat_period: 1h\n"},
                       failed)
    # A change of the tables' or the pages' form that reads nothing must not pass.
    for what, n, least in (("edge defaults", d1, 35), ("edge ranges", r1, 30),
                           ("control defaults", d2, 22), ("control ranges", r2, 22)):
        if n < least:
            failed.append(f"only {n} {what} read (at least {least} expected)")
    for msg in failed:
        print(f"not ok - {msg}")
    if not failed:
        print(f"ok - {d1 + d2} documented defaults match the tables, and {r1 + r2} documented "
              "ranges are the binaries'")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
