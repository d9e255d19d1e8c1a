# SPDX-License-Identifier: MIT
"""sluice-control --check-config (no database needed): the shipped example passes once the
files it names exist, and a file the start would refuse fails the check with exit status 2 and
file:line:col at the key, as the unit's ExecReload= relies on.

    python3 test_check_config.py path/to/sluice-control

Exit status: 0 passed, 1 failed.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLE = os.path.join(ROOT, "control", "sluice-control.example.yaml")


def check_config(binary, path):
    return subprocess.run([binary, "--check-config", "--config", path], capture_output=True,
                          text=True, timeout=30)


def main():
    binary = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="ctl-check-")
    failed = []
    try:
        # The example, with /etc/sluice/ pointing at files made here.
        with open(os.path.join(tmp, "control-admin.token"), "w") as f:
            f.write("admin-token-for-tests-0123456789\n")
        with open(os.path.join(tmp, "keys.yaml"), "w") as f:
            f.write('keys:\n  - {kid: k1, secret: "' + "5a" * 32 + '"}\n')
        with open(EXAMPLE) as f:
            example = f.read().replace("/etc/sluice/", tmp + "/")
        good = os.path.join(tmp, "control.yaml")
        with open(good, "w") as f:
            f.write(example)
        r = check_config(binary, good)
        if r.returncode != 0:
            failed.append(f"the example fails the check ({r.returncode}): {r.stderr.strip()}")

        # Each line of the example replaced by one the start would refuse: refused with exit
        # 2, at that line (when at_line), saying why.
        for pattern, replacement, said, at_line in (
                # log.target empty: the start cannot open it, so the check must refuse it too.
                (r"^  target: .*$", '  target: ""', "'log.target'", True),
                # A CORS origin no browser sends (a path, here) is refused where it is written.
                (r"^cors_origins: .*$", 'cors_origins: ["https://ok.example/app"]',
                 "is not an origin", True),
                # A URL whose authority no URL parser reads (a port past 65535, an unclosed
                # IPv6 bracket) is refused, saying why; so is an origin whose host is no IPv6
                # address. All three were accepted.
                (r"^public_url: .*$", 'public_url: "https://control.example:99999"',
                 "the port is not a number in 1..65535", True),
                (r"^origin_url: .*$", 'origin_url: "http://[::1/objects"',
                 "the host's '[' is not closed", True),
                (r"^cors_origins: .*$", 'cors_origins: ["http://[zz]:8080"]',
                 "is not an origin", True),
                # steering_ttl in whole seconds: 1500ms was answered as TTL 1.
                (r"^steering_ttl: .*$", "steering_ttl: 1500ms",
                 "'steering_ttl' must be whole seconds", True),
                # A prefix listed twice (an IPv4-mapped one is its IPv4 prefix) is refused at
                # the second, saying so: the start said "country_prefixes or trusted_proxies:
                # File exists", with no file, line or entry.
                (r"^  - \{cidr: 198\.51\.100\.0/24.*$",
                 '  - {cidr: "::ffff:192.0.2.0/120", country: GB, region: eu-west}',
                 "'country_prefixes[1].cidr': \"::ffff:192.0.2.0/120\" is a prefix an earlier "
                 "entry names", True),
                (r"^trusted_proxies: .*$", 'trusted_proxies: ["10.0.0.0/8", "10.0.0.0/8"]',
                 "'trusted_proxies[1]': \"10.0.0.0/8\" is a prefix an earlier entry names", True),
                # A directory as the admin token file is said to be one (it was "must hold one
                # token of at least 16 characters").
                (r"^  token_file: .*$", f"  token_file: {tmp}", "Is a directory", False)):
            m = re.search(pattern, example, re.M)
            if not m:
                failed.append(f"the example has no line {pattern!r}")
                continue
            bad = os.path.join(tmp, "refused.yaml")
            with open(bad, "w") as f:
                f.write(example[:m.start()] + replacement + example[m.end():])
            line = example[:m.start()].count("\n") + 1
            r = check_config(binary, bad)
            if r.returncode != 2 or said not in r.stderr or \
                    (at_line and not r.stderr.startswith(f"{bad}:{line}:")):
                failed.append(f"{replacement!r}: exit {r.returncode}, want 2 at line {line} "
                              f"saying {said!r}: {(r.stdout + r.stderr).strip()!r}")

        # An admin token longer than control keeps (255 characters) is refused, saying so: it
        # was cut to fit, and every admin request sending it whole was then refused (401).
        # One of 255 still passes, and so does a file cut at 255 whose rest is a line end.
        for length, want_rc in ((300, 2), (256, 2), (255, 0)):
            with open(os.path.join(tmp, "control-admin.token"), "w") as f:
                f.write("t" * length + "\r\n")
            r = check_config(binary, good)
            said = "holds a token longer than 255 characters"
            if r.returncode != want_rc or (want_rc and said not in r.stderr):
                failed.append(f"an admin token of {length} characters: exit {r.returncode}, "
                              f"want {want_rc}" + (f" saying {said!r}" if want_rc else "") +
                              f": {(r.stdout + r.stderr).strip()!r}")
        # A NUL byte in it is said to be one (it was "must hold one token of at least 16
        # characters", though 16 came before it).
        with open(os.path.join(tmp, "control-admin.token"), "wb") as f:
            f.write(b"t" * 16 + b"\0" + b"t" * 16 + b"\n")
        r = check_config(binary, good)
        said = "admin.token_file " + os.path.join(tmp, "control-admin.token") + \
            ": holds a NUL byte"
        if r.returncode != 2 or said not in r.stderr:
            failed.append(f"an admin token holding a NUL byte: exit {r.returncode}, want 2 "
                          f"saying {said!r}: {(r.stdout + r.stderr).strip()!r}")
        with open(os.path.join(tmp, "control-admin.token"), "w") as f:
            f.write("admin-token-for-tests-0123456789\n")

        # An origin an older release took as written (a "/", upper case, the default port):
        # taken as the one a browser sends, with a warning at its line, not refused (which
        # stopped an upgraded control at start).
        m = re.search(r"^cors_origins: .*$", example, re.M)
        if m:
            old = os.path.join(tmp, "older.yaml")
            with open(old, "w") as f:
                f.write(example[:m.start()] + 'cors_origins: ["HTTPS://Player.example:443/"]'
                        + example[m.end():])
            line = example[:m.start()].count("\n") + 1
            r = check_config(binary, old)
            want = (f"{old}:{line}:16: 'cors_origins[0]': \"HTTPS://Player.example:443/\" taken "
                    f"as \"https://player.example\"")
            if r.returncode != 0 or want not in r.stderr:
                failed.append(f"an origin as an older release took it: exit {r.returncode}, "
                              f"want 0 and a warning {want!r}: {(r.stdout + r.stderr).strip()!r}")

        # A prefix table longer than the 1024 entries a list takes by default: country_prefixes
        # takes up to 65,536, as many as the file's 1 MiB holds.
        many = "".join(f"  - {{cidr: 10.{i // 256}.{i % 256}.0/24, country: GB}}\n"
                       for i in range(20000))
        big = os.path.join(tmp, "prefixes.yaml")
        with open(big, "w") as f:
            f.write(example.replace("country_prefixes:", "country_prefixes:\n" + many.rstrip(), 1))
        r = check_config(binary, big)
        if r.returncode != 0:
            failed.append(f"20,000 country_prefixes refused: exit {r.returncode}, "
                          f"{(r.stdout + r.stderr).strip()!r}")

        # The admin token is in no block control frees (free-scan-shim.c preloaded reports
        # those that hold it): the file was read through stdio, whose buffer fclose freed with
        # the token in it. Skipped without the shim, and under ASan, whose allocator owns free().
        shim = os.environ.get("SLUICE_FREE_SCAN_SHIM", "")
        with open(binary, "rb") as f:
            asan = b"__asan_init" in f.read()
        if shim and os.path.exists(shim) and not asan:
            token = "admin-token-marker-6c5d4e3f2a1b0987"
            report = os.path.join(tmp, "free-scan.txt")
            with open(os.path.join(tmp, "control-admin.token"), "w") as f:
                f.write(token + "\n")
            r = subprocess.run([binary, "--check-config", "--config", good], capture_output=True,
                               text=True, timeout=30,
                               env=dict(os.environ, LD_PRELOAD=shim,
                                        SLUICE_FREE_SCAN_MARKERS=token,
                                        SLUICE_FREE_SCAN_REPORT=report))
            hits = []
            if os.path.exists(report):
                with open(report) as f:
                    hits = [ln for ln in f.read().splitlines() if ln.startswith("hit 0 ")]
            if r.returncode != 0 or not os.path.exists(report) or hits:
                failed.append(f"the admin token in freed blocks: exit {r.returncode}, report "
                              f"{'made' if os.path.exists(report) else 'not made'}, {hits}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for msg in failed:
        print("not ok -", msg)
    if not failed:
        print("ok - --check-config passes the example and refuses what the start would")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
