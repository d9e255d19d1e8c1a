# SPDX-License-Identifier: MIT
"""The appliance's first-boot configuration script, run without an appliance.

    python3 test_firstboot.py tools/image.d/sluice-firstboot [sluice-edge]

Each case builds a fake root (config partition, /etc/hostname, a cache directory) and a fake
kernel command line, runs the script against them through its test-only overrides
(SLUICE_FIRSTBOOT_ROOT, SLUICE_FIRSTBOOT_CMDLINE: nothing is mounted) and reads what it wrote
under <root>/run/sluice. Mostly token signing keys given as sluice.keys= / KEYS: the keys file
written from them, its mode, precedence, and every way a value is refused (each with its log
line, no secret in the output, tokens left required). Then the edge's control secret
(sluice.heartbeat_key= / HEARTBEAT_KEY or heartbeat.key on the config partition): installed
0640 and named by the generated control section, or, without one, no heartbeats at all. With
the edge binary, the edge starts on a generated keys file and accepts a token signed with its
second key; without it, those checks are not made and the file exits 77, saying so.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77

K1 = "ab" * 32                   # 32 bytes
K2 = "0123456789ABCDEF" * 2      # 16 bytes, upper-case hex


class Fail(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}")


class Boot:
    """One run of the script over a fresh fake root."""

    def __init__(self, script, cmdline="", env_file=None, conf_files=None, path=None):
        self.root = tempfile.mkdtemp(prefix="sluice-firstboot-")
        conf = os.path.join(self.root, "run", "sluice-conf")
        os.makedirs(conf)
        os.makedirs(os.path.join(self.root, "etc"))
        os.makedirs(os.path.join(self.root, "var", "cache"))
        with open(os.path.join(self.root, "etc", "hostname"), "w") as f:
            f.write("fake-host\n")
        if env_file is not None:
            with open(os.path.join(conf, "sluice.env"), "w") as f:
                f.write(env_file)
        for name, text in (conf_files or {}).items():
            with open(os.path.join(conf, name), "w") as f:
                f.write(text)
        self.conf = conf
        self.script = script
        self.cmdfile = os.path.join(self.root, "cmdline")
        with open(self.cmdfile, "w") as f:
            f.write("root=PARTUUID=x ro quiet " + cmdline + "\n")
        self.out = os.path.join(self.root, "run", "sluice")
        self.path = path
        self.run()

    def run(self):
        """Run the script over this root (again, for a second boot)."""
        path = os.environ.get("PATH", "/usr/bin:/bin")
        env = {"PATH": self.path + ":" + path if self.path else path,
               "SLUICE_FIRSTBOOT_ROOT": self.root, "SLUICE_FIRSTBOOT_CMDLINE": self.cmdfile}
        # systemd's umask for a unit that sets none, as sluice-firstboot.service does not.
        p = subprocess.run(["sh", "-c", 'umask 022 && exec sh "$0"', self.script], env=env,
                           capture_output=True, text=True, timeout=30)
        self.rc = p.returncode
        self.log = p.stdout + p.stderr

    def read(self, name):
        with open(os.path.join(self.out, name)) as f:
            return f.read()

    def has(self, name):
        return os.path.exists(os.path.join(self.out, name))

    def keys(self):
        """The (kid, secret) pairs of the written keys file, in order."""
        return re.findall(r'^  - \{kid: "([^"]*)", secret: "([^"]*)"\}$', self.read("keys.yaml"),
                          re.M)

    def tokens_line(self):
        m = re.search(r"^tokens: .*$", self.read("edge.yaml"), re.M)
        check(m is not None, "no tokens: line in the generated edge.yaml")
        return m.group(0)

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


TESTS = []
# Checks this run could not make, with why: once nothing failed, main() exits 77 with them.
SKIPPED = []


def test(fn):
    TESTS.append(fn)
    return fn


def booted(script, *a, **kw):
    b = Boot(script, *a, **kw)
    eq(b.rc, 0, f"firstboot exit status\n{b.log}")
    check("test root" in b.log, "the script did not notice its test root")
    return b


REQUIRED = "tokens: {required: true, keys_file: /etc/sluice/keys.yaml}"


@test
def keys_from_the_command_line(script, edge):
    b = booted(script, f"sluice.edge_id=cmd-edge sluice.keys=k1:{K1},k2:{K2}")
    try:
        eq(b.keys(), [("k1", K1), ("k2", K2)], "keys written, in the order given")
        mode = stat.S_IMODE(os.stat(os.path.join(b.out, "keys.yaml")).st_mode)
        eq(oct(mode), oct(0o640), "keys.yaml mode")
        eq(b.tokens_line(), REQUIRED, "tokens in the generated edge.yaml")
        check('edge_id: "cmd-edge"' in b.read("edge.yaml"), "edge id from the command line")
        check("token keys from sluice.keys/KEYS: kids k1, k2" in b.log, f"log:\n{b.log}")
        check(K1 not in b.log and K2 not in b.log, "a secret in the script's output")
        check(not b.has("keys.yaml.new"), "a temporary keys file left behind")
        if edge:
            edge_accepts(edge, os.path.join(b.out, "keys.yaml"))
            print("# the edge loaded the keys file and accepted a token signed with k2")
        else:
            SKIPPED.append("keys_from_the_command_line: no edge binary given, the keys file "
                           "was not loaded by an edge")
    finally:
        b.cleanup()


@test
def keys_from_sluice_env_and_the_command_line_wins(script, edge):
    b = booted(script, env_file=f"EDGE_ID=env-edge\nKEYS=e1:{K2}\n")
    try:
        eq(b.keys(), [("e1", K2)], "keys from sluice.env")
        eq(b.tokens_line(), REQUIRED, "tokens")
    finally:
        b.cleanup()
    b = booted(script, f"sluice.keys=c1:{K1}", env_file=f"KEYS=e1:{K2}\n")
    try:
        eq(b.keys(), [("c1", K1)], "the command line over sluice.env")
    finally:
        b.cleanup()


@test
def keys_given_win_over_the_partitions_keys_file(script, edge):
    b = booted(script, f"sluice.keys=c1:{K1}",
               conf_files={"keys.yaml": f"keys:\n  - {{kid: p1, secret: {K2}}}\n"})
    try:
        eq(b.keys(), [("c1", K1)], "keys")
        check("keys.yaml on the config partition ignored" in b.log, f"log:\n{b.log}")
    finally:
        b.cleanup()
    b = booted(script, conf_files={"keys.yaml": f"keys:\n  - {{kid: p1, secret: {K2}}}\n"})
    try:
        check(f"secret: {K2}" in b.read("keys.yaml"), "the partition's keys.yaml without KEYS")
        eq(b.tokens_line(), REQUIRED, "tokens")
    finally:
        b.cleanup()


@test
def limits_accepted(script, edge):
    many = ",".join(f"k{i}:{K2}" for i in range(16))
    longest = "x" * 63 + ":" + "f" * 128
    for value, n in ((many, 16), (longest, 1), ("a.b_c-D:" + "0" * 32, 1)):
        b = booted(script, "sluice.keys=" + value)
        try:
            eq(len(b.keys()), n, f"keys written for {value[:40]}...")
        finally:
            b.cleanup()


BAD = [
    # (value, what the log says)
    ("k1", "key 1: not kid:hexsecret"),
    (f"k1:{K1},k2", "key 2: not kid:hexsecret"),
    ("k1:" + "ab" * 15, "key 1 (kid k1): the secret has 30 hex digits"),
    ("k1:" + "ab" * 64 + "a", "the secret has 129 hex digits"),
    ("k1:" + "a" * 33, "the secret has 33 hex digits"),
    ("k1:" + "zz" * 16, "key 1 (kid k1): the secret is not hex digits"),
    (f"k1:{K1}:{K1}", "the secret is not hex digits"),
    (f":{K1}", "key 1: a kid is 1 to 63"),
    ("x" * 64 + f":{K1}", "key 1: a kid is 1 to 63"),
    (f'k"1:{K1}', "key 1: a kid is 1 to 63"),
    (f"k/1:{K1}", "key 1: a kid is 1 to 63"),
    (f"k1:{K1},k1:{K2}", "key 2: kid k1 given twice"),
    (f"k1:{K1},", "an empty entry"),
    (f"k1:{K1},,k2:{K2}", "an empty entry"),
    (f",k1:{K1}", "an empty entry"),
    (",".join(f"k{i}:{K2}" for i in range(17)), "more than 16 keys"),
]


@test
def bad_keys_are_refused_and_tokens_stay_required(script, edge):
    for value, said in BAD:
        b = booted(script, "sluice.keys=" + value,
                   conf_files={"keys.yaml": f"keys:\n  - {{kid: p1, secret: {K2}}}\n"})
        try:
            what = f"sluice.keys={value[:50]}"
            check(said in b.log, f"{what}: no {said!r} in the log:\n{b.log}")
            check("ERROR: no token keys written" in b.log, f"{what}: no error line:\n{b.log}")
            check(not b.has("keys.yaml"), f"{what}: a keys file was written anyway")
            check(not b.has("keys.yaml.new"), f"{what}: a temporary keys file left behind")
            eq(b.tokens_line(), REQUIRED, f"{what}: tokens")
            check(K1 not in b.log and K2 not in b.log, f"{what}: a secret in the log")
        finally:
            b.cleanup()


@test
def bad_keys_with_tokens_not_required(script, edge):
    b = booted(script, "sluice.keys=k1:short sluice.tokens_required=false")
    try:
        check("tokens_required is false" in b.log, f"log:\n{b.log}")
        check(not b.has("keys.yaml"), "a keys file was written")
        eq(b.tokens_line(), "tokens: {required: false}", "tokens")
    finally:
        b.cleanup()


@test
def no_keys_tokens_stay_required(script, edge):
    """No keys and no tokens_required: the edge's own default (required) holds, and the log
    says why the edge will not start, rather than the appliance serving unsigned URLs."""
    b = booted(script, "sluice.edge_id=plain")
    try:
        check(not b.has("keys.yaml"), "a keys file without keys")
        eq(b.tokens_line(), REQUIRED, "tokens")
        check("ERROR: tokens are required and no keys were given" in b.log, f"log:\n{b.log}")
        check("serving without signed-URL checks" not in b.log, f"log:\n{b.log}")
    finally:
        b.cleanup()


@test
def unsigned_only_when_asked_explicitly(script, edge):
    b = booted(script, "sluice.edge_id=plain sluice.tokens_required=false")
    try:
        eq(b.tokens_line(), "tokens: {required: false}", "tokens with tokens_required=false")
        check("WARNING: serving without signed-URL checks" in b.log, f"log:\n{b.log}")
    finally:
        b.cleanup()
    b = booted(script, "sluice.edge_id=plain", env_file="TOKENS_REQUIRED=false\n")
    try:
        eq(b.tokens_line(), "tokens: {required: false}", "TOKENS_REQUIRED=false in sluice.env")
    finally:
        b.cleanup()
    for value in ("no", "0", "False", "off"):
        b = booted(script, f"sluice.keys=k1:{K1} sluice.tokens_required={value}")
        try:
            eq(b.tokens_line(), REQUIRED, f"tokens with tokens_required={value}")
            check(f"tokens_required={value} is neither true nor false" in b.log,
                  f"tokens_required={value}: no warning in the log:\n{b.log}")
        finally:
            b.cleanup()


HB = "hb-" + "c3" * 32
HB2 = "hb-partition-" + "7e" * 20


def control_line(b):
    m = re.search(r"^control: .*$", b.read("edge.yaml"), re.M)
    check(m is not None, "no control: line in the generated edge.yaml")
    return m.group(0)


@test
def heartbeat_secret_installed(script, edge):
    """The secret control holds for the edge lands in /etc/sluice/heartbeat.key (0640) and the
    generated control section signs with it: heartbeats and fill plan requests need it."""
    url = "http://ctl.example:7000"
    b = booted(script, f"sluice.edge_id=e1 sluice.control={url} sluice.heartbeat_key={HB}")
    try:
        eq(b.read("heartbeat.key"), HB + "\n", "heartbeat.key from the command line")
        mode = stat.S_IMODE(os.stat(os.path.join(b.out, "heartbeat.key")).st_mode)
        eq(oct(mode), oct(0o640), "heartbeat.key mode")
        eq(control_line(b), f'control: {{edge_id: "e1", url: "{url}", '
                            'secret_file: /etc/sluice/heartbeat.key}', "control section")
        check("heartbeat secret from sluice.heartbeat_key/HEARTBEAT_KEY" in b.log,
              f"log:\n{b.log}")
        check(HB not in b.log, "the secret in the script's output")
    finally:
        b.cleanup()
    b = booted(script, f"sluice.control={url}", conf_files={"heartbeat.key": HB2 + "\n"})
    try:
        eq(b.read("heartbeat.key"), HB2 + "\n", "heartbeat.key from the config partition")
        check("secret_file: /etc/sluice/heartbeat.key" in control_line(b), "control section")
        check("heartbeat secret from the config partition" in b.log, f"log:\n{b.log}")
        check(HB2 not in b.log, "the secret in the script's output")
    finally:
        b.cleanup()
    b = booted(script, f"sluice.control={url} sluice.heartbeat_key={HB}",
               conf_files={"heartbeat.key": HB2 + "\n"})
    try:
        eq(b.read("heartbeat.key"), HB + "\n", "the command line over the partition's file")
    finally:
        b.cleanup()


@test
def secrets_never_readable_by_others(script, edge):
    """Every secret the script writes is its owner's alone until it is given to the group:
    /run/sluice is 0755, and the admin token and heartbeat secret given on the command line
    were 0644 there (the unit's umask, 022) until the chmod at the end."""
    shims = tempfile.mkdtemp(prefix="sluice-firstboot-shims-")
    seen = os.path.join(shims, "modes")
    real = shutil.which("chgrp")
    with open(os.path.join(shims, "chgrp"), "w") as f:
        f.write(f'#!/bin/sh\nshift\nstat -c "%a %n" "$@" >>{seen}\nexec {real} sluice "$@"\n')
    os.chmod(os.path.join(shims, "chgrp"), 0o755)
    # The partition's files are 0644 here (the FAT mount on the appliance shows them 0700).
    b = Boot(script, f"sluice.control=http://ctl.example:7000 sluice.heartbeat_key={HB} "
                     f"sluice.admin_token=adm-{HB2} sluice.keys=k1:{K1}",
             conf_files={"fill.yaml": "edges: []\n", "control.token": "c" * 40 + "\n",
                         "tls.key": "key\n"}, path=shims)
    try:
        eq(b.rc, 0, f"firstboot exit status\n{b.log}")
        with open(seen) as f:
            modes = dict(reversed(line.split(" ", 1)) for line in f.read().splitlines())
        names = sorted(os.path.basename(n) for n in modes)
        eq(names, ["admin.token", "control.token", "fill.yaml", "heartbeat.key", "keys.yaml",
                   "tls.key"], "the secrets handed to the group")
        for name, mode in modes.items():
            check(int(mode, 8) & 0o077 == 0, f"{name} was {mode} before it was 0640")
            eq(oct(stat.S_IMODE(os.stat(name).st_mode)), oct(0o640), f"{name} mode")
    finally:
        b.cleanup()
        shutil.rmtree(shims, ignore_errors=True)


@test
def fill_agent_files_follow_the_partition(script, edge):
    """fill.yaml and control.token (sluice-fill's plan credentials) are installed 0640 from the
    config partition, and a later boot whose partition no longer has them removes them."""
    token = "ctl-admin-token-for-the-fill-agent"
    b = booted(script, "sluice.edge_id=e1",
               conf_files={"fill.yaml": "edges: []\n", "control.token": token + "\n"})
    try:
        eq(b.read("control.token"), token + "\n", "control.token from the config partition")
        eq(b.read("fill.yaml"), "edges: []\n", "fill.yaml from the config partition")
        for name in ("control.token", "fill.yaml"):
            mode = stat.S_IMODE(os.stat(os.path.join(b.out, name)).st_mode)
            eq(oct(mode), oct(0o640), f"{name} mode")
        check(token not in b.log, "the token in the script's output")
        os.unlink(os.path.join(b.conf, "control.token"))
        os.unlink(os.path.join(b.conf, "fill.yaml"))
        b.run()
        eq(b.rc, 0, f"second run's exit status\n{b.log}")
        check(not b.has("control.token"), "a stale control.token after the partition dropped it")
        check(not b.has("fill.yaml"), "a stale fill.yaml after the partition dropped it")
    finally:
        b.cleanup()


@test
def listeners_and_the_rest_from_the_command_line(script, edge):
    """Listeners, admin listener, origins, region and size from the kernel command line win
    over sluice.env's, and the generated edge.yaml is one the edge accepts."""
    b = booted(script, "sluice.edge_id=e7 sluice.listen=0.0.0.0:8080,[::]:8443 "
                       "sluice.admin_listen=127.0.0.1:9001 sluice.origin=http://o1:81,http://o2:82 "
                       "sluice.region=eu-west sluice.max_size=300M sluice.tokens_required=false",
               env_file="EDGE_ID=env-edge\nLISTEN=0.0.0.0:1\nREGION=us-east\n")
    try:
        text = b.read("edge.yaml")
        eq(re.search(r"^listen: .*$", text, re.M).group(0),
           'listen: ["0.0.0.0:8080", "[::]:8443"]', "listeners")
        eq(re.search(r"^admin: .*$", text, re.M).group(0),
           'admin: {listen: "127.0.0.1:9001", token_file: /etc/sluice/admin.token}', "admin")
        eq(re.search(r"^upstreams: .*$", text, re.M).group(0),
           'upstreams: [{url: "http://o1:81"}, {url: "http://o2:82"}]', "origins, in order")
        eq(re.search(r"^cache: .*$", text, re.M).group(0),
           "cache: {dir: /var/cache/sluice, max_size: 300M}", "cache size")
        eq(control_line(b), 'control: {edge_id: "e7", region: "eu-west"}', "edge id and region")
        if edge:
            # --check-config reads the files the configuration names: here /run/sluice is
            # not mounted over /etc/sluice, so the copy checked names them where they are.
            local = os.path.join(b.root, "edge-local.yaml")
            with open(local, "w") as f:
                f.write(text.replace("/etc/sluice/", b.out + "/"))
            p = subprocess.run([edge, "--check-config", "--config", local],
                               capture_output=True, text=True, timeout=30)
            eq(p.returncode, 0, f"sluice-edge --check-config of the generated edge.yaml: "
                                f"{p.stdout}{p.stderr}")
        else:
            SKIPPED.append("listeners_and_the_rest_from_the_command_line: no edge binary "
                           "given, the generated edge.yaml was not checked by sluice-edge "
                           "--check-config")
    finally:
        b.cleanup()
    b = booted(script, "sluice.tokens_required=false", env_file="LISTEN=0.0.0.0:8088\n")
    try:
        check('listen: ["0.0.0.0:8088"]' in b.read("edge.yaml"), "LISTEN from sluice.env")
    finally:
        b.cleanup()


@test
def control_without_a_secret_sends_nothing(script, edge):
    b = booted(script, "sluice.edge_id=e1 sluice.control=http://ctl.example:7000")
    try:
        check(not b.has("heartbeat.key"), "a heartbeat.key without a secret")
        eq(control_line(b), 'control: {edge_id: "e1"}', "control section without a secret")
        check("WARNING: no heartbeat.key" in b.log, f"log:\n{b.log}")
        check("sluice-firstboot" not in b.read("edge.yaml").split("\n", 1)[1],
              "the script's own output in edge.yaml")
    finally:
        b.cleanup()


@test
def other_files_reach_etc_sluice(script, edge):
    """An edge.yaml on the partition may name any file of it as /etc/sluice/<name> (a TLS
    certificate and key, a peer token): each is copied, 0640. Only five named files were, so
    an edge.yaml naming another could not start (exit 2, never retried). The partition's
    README and examples and sluice.env stay out."""
    edge_yaml = ("listen: [\"0.0.0.0:80\"]\ncache: {dir: /var/cache/sluice, max_size: 64M}\n"
                 "admin: {listen: \"127.0.0.1:8081\", token_file: /etc/sluice/admin.token}\n"
                 "tokens: {required: false}\n"
                 "upstreams: [{url: \"http://parent:80\", token_file: /etc/sluice/parent.token}]\n")
    b = booted(script, conf_files={"edge.yaml": edge_yaml, "parent.token": "secret-1\n",
                                   "tls-a.pem": "cert\n", "README.txt": "read me\n",
                                   "edge.yaml.example": "x: 1\n"})
    try:
        for name in ("parent.token", "tls-a.pem"):
            check(b.has(name), f"{name} not in /etc/sluice\n{b.log}")
            mode = stat.S_IMODE(os.stat(os.path.join(b.out, name)).st_mode)
            eq(oct(mode), oct(0o640), f"{name} mode")
        eq(b.read("parent.token"), "secret-1\n", "parent.token's bytes")
        for name in ("README.txt", "edge.yaml.example", "sluice.env"):
            check(not b.has(name), f"{name} copied to /etc/sluice")
        check("other files from the config partition, in /etc/sluice: parent.token tls-a.pem"
              in b.log, f"log:\n{b.log}")
        if edge:
            local = os.path.join(b.root, "edge-local.yaml")
            with open(local, "w") as f:
                f.write(b.read("edge.yaml").replace("/etc/sluice/", b.out + "/"))
            p = subprocess.run([edge, "--check-config", "--config", local],
                               capture_output=True, text=True, timeout=30)
            eq(p.returncode, 0, f"sluice-edge --check-config of an edge.yaml naming a partition "
                                f"file: {p.stdout}{p.stderr}")
        else:
            SKIPPED.append("other_files_reach_etc_sluice: no edge binary given, the edge.yaml "
                           "was not checked by sluice-edge --check-config")
    finally:
        b.cleanup()


STATIC_NETWORK = "[Match]\nName=eth0\n\n[Network]\nAddress=192.0.2.10/24\nGateway=192.0.2.1\n"


def default_network(script):
    """Where tools/image installs the image's DHCP default, read from tools/image itself."""
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(script))),
                           "image")) as f:
        m = re.search(r'^install -m 0644 "\$here/([^"]+\.network)" "\$root(/\S+)/"$', f.read(),
                      re.M)
    check(m is not None, "tools/image installs no .network file")
    return m.group(1), m.group(2)


@test
def network_files_replace_the_default(script, edge):
    """The partition's *.network files reach networkd readable (FAT gives them 0700) and the
    image's DHCP default no longer matches first: networkd takes the first file by name, and
    an operator's eth0.network or static.network must not lose to it."""
    name, where = default_network(script)
    eq(where, "/usr/lib/systemd/network", "where the default is installed (not /etc: not masked "
       "from /run)")
    # "99-" sorts after numbered files only (eth0.network comes later still): the mask below
    # is what keeps it from matching first.
    check(name > "90-static.network", f"the default {name} sorts before numbered files")
    b = booted(script, conf_files={"static.network": STATIC_NETWORK})
    try:
        net = os.path.join(b.root, "run", "systemd", "network")
        # What the FAT mount (umask=0077) shows; the fake partition is a plain directory. /run
        # is empty at each boot: the first run's copy goes.
        os.chmod(os.path.join(b.conf, "static.network"), 0o700)
        shutil.rmtree(net)
        b.run()
        eq(b.rc, 0, f"second run's exit status\n{b.log}")
        with open(os.path.join(net, "static.network")) as f:
            eq(f.read(), STATIC_NETWORK, "static.network copied")
        mode = stat.S_IMODE(os.stat(os.path.join(net, "static.network")).st_mode)
        eq(oct(mode), oct(0o644), "static.network mode (systemd-network reads it)")
        mode = stat.S_IMODE(os.stat(net).st_mode)
        eq(oct(mode), oct(0o755), "/run/systemd/network mode (systemd-network reads it)")
        mask = os.path.join(net, name)
        check(os.path.islink(mask) and os.readlink(mask) == "/dev/null",
              f"{name} not masked in /run/systemd/network: {os.listdir(net)}")
    finally:
        b.cleanup()
    b = booted(script)
    try:
        check(not os.path.lexists(os.path.join(b.root, "run", "systemd", "network", name)),
              "the default masked with no .network file on the partition")
    finally:
        b.cleanup()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(kid, secret, path_prefix):
    now = int(time.time())
    head = b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    body = b64(json.dumps({"cdniv": 1, "exp": now + 600, "nbf": now - 10,
                           "cdniuc": f"regex:^https?://[^/]+{path_prefix}"}).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def edge_accepts(binary, keys_file):
    """The real edge loads the written file: a token signed with k2 opens, a forged one not."""
    sys.path.insert(0, os.path.join(HERE, "..", "integration"))
    from edgeharness import Edge, expect_body  # noqa: E402 (only with an edge binary)
    e = Edge(binary, {"tokens": {"required": True, "keys_file": keys_file}})
    try:
        e.start()
        data = os.urandom(10_000)
        e.put("/t1/seg-1.m4s", data)
        good = mint("k2", bytes.fromhex(K2), "/t1/")
        expect_body(e.get(f"/s/{good}/t1/seg-1.m4s"), data, "token signed with k2")
        forged = mint("k2", bytes.fromhex(K1), "/t1/")
        eq(e.get(f"/s/{forged}/t1/seg-1.m4s").status, 403, "token of kid k2 signed with k1's")
        eq(e.get("/t1/seg-1.m4s").status, 403, "no token")
        e.stop()
    finally:
        e.cleanup()


def main():
    if len(sys.argv) < 2 or not os.path.exists(sys.argv[1]):
        print("usage: test_firstboot.py SLUICE_FIRSTBOOT [SLUICE_EDGE]")
        return 2
    if not shutil.which("sh") or not shutil.which("df"):
        print("SKIP: needs sh and df")
        return SKIP
    script = sys.argv[1]
    edge = sys.argv[2] if len(sys.argv) > 2 else None
    failed = []
    for fn in TESTS:
        try:
            fn(script, edge)
            print(f"ok - {fn.__name__}")
        except Exception as exc:
            failed.append(fn.__name__)
            print(f"not ok - {fn.__name__}: {exc}")
            if not isinstance(exc, Fail):
                traceback.print_exc()
    print(f"# test_firstboot.py: {len(failed)} failed" + (": " + ", ".join(failed) if failed else ""))
    if failed:
        return 1
    for why in SKIPPED:
        print(f"SKIP: {why}")
    return SKIP if SKIPPED else 0


if __name__ == "__main__":
    sys.exit(main())
