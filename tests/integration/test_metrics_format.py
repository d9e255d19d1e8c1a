# SPDX-License-Identifier: MIT
"""The admin /metrics of a real edge, read strictly as Prometheus text format 0.0.4: one HELP
and one TYPE per family before its samples, the samples of a family together, counters named
*_total, label values escaped, no series twice, histograms whole; and the families it has are
the ones docs/edge.md lists, no more, no fewer."""

import os
import shutil
import subprocess
import sys
import tempfile

from edgeharness import HOST, Edge, check, eq, free_port, run, start_pushed, test
from promtext import check_exposition, documented_families

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "edge.md")
PKI = []


# Certificate files whose names hold what a label value escapes (and one that an escape
# replaced by '_' would read as): each its own series, named as the file is.
CERT_NAMES = ("c.pem", 'c"x.pem', "c_x.pem", "c\\x.pem")


def setup(binary):
    pki = tempfile.mkdtemp(prefix="sluice-it-metrics-")
    PKI.append(pki)
    certs = []
    for i, name in enumerate(CERT_NAMES):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        f"/CN=n{i}.test", "-addext", f"subjectAltName=DNS:n{i}.test",
                        "-keyout", f"{pki}/k{i}.pem", "-out", f"{pki}/{name}"],
                       check=True, capture_output=True)
        certs.append({"cert": f"{pki}/{name}", "key": f"{pki}/k{i}.pem"})
    e = Edge(binary)
    e.cfg["tls"] = [{"listen": f"{HOST}:{free_port()}", "certs": certs}]
    e.pki = pki
    return start_pushed(e)


def scrape(e):
    for target in ("/t1/init.mp4", "/t1/seg-1.m4s", "/nothing/here.m4s"):
        e.get(target)
    return e.metrics().body.decode()


@test
def exposition_is_strict(e):
    problems, samples = check_exposition(scrape(e))
    check(not problems, f"{len(problems)} problem(s) in /metrics:\n  " + "\n  ".join(problems))
    check(samples, "no samples in /metrics")


@test
def certificate_labels_name_their_files(e):
    """The expiry gauge's cert label is the file's name, escaped: names holding '"' or '\\'
    were changed to '_', one series each for c"x.pem, c_x.pem and c\\x.pem all reading
    c_x.pem (a scrape Prometheus refuses whole)."""
    problems, samples = check_exposition(scrape(e))
    check(not problems, "problems in /metrics:\n  " + "\n  ".join(problems))
    got = sorted(dict(labels)["cert"] for _, labels, _ in
                 samples["sluice_tls_certificate_expiry_timestamp_seconds"])
    eq(got, sorted(f"{e.pki}/{n}" for n in CERT_NAMES), "the cert label values")


@test
def families_match_docs(e):
    _, samples = check_exposition(scrape(e))
    with open(DOCS) as f:
        documented = documented_families(f.read(), "Metrics", "sluice_")
    check(documented, "no metric table found under '## Metrics' in docs/edge.md")
    have = set(samples)
    eq(sorted(have - documented), [], "families in /metrics that docs/edge.md does not list")
    eq(sorted(documented - have), [], "families docs/edge.md lists that /metrics lacks")


if __name__ == "__main__":
    try:
        rc = run(setup)
    finally:
        for d in PKI:
            shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)
