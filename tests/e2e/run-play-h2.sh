#!/usr/bin/env bash
# tests/e2e/run-play-h2.sh BUILD_DIR
#
# dash.js in headless Chromium plays a 16 s clip from sluice-edge over HTTP/2 with TLS: the edge
# gets a TLS listener whose certificate is issued by a CA made here, and Chromium trusts that CA
# through an NSS database in a private HOME (the store Chromium reads on Linux), never with its
# certificate checks switched off: a second TLS listener with a certificate from another,
# untrusted CA must fail in the same browser. play-h2.mjs lists the checks (h2 on every edge
# response, SHA-256 of every body against the files on disk). Then the edge's access log must
# show the segments as HTTP/2 streams sent by userspace TLS (or kTLS where the kernel has it).
#
# Exit 0 pass, 1 fail, 77 skip (no Chromium, node, ffmpeg, curl, openssl, certutil or
# tests/e2e/node_modules). SLUICE_CHROMIUM (default /usr/bin/chromium); SLUICE_E2E_KEEP=1 keeps
# the temp dir.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
title=e2e-clip

. "$here/lib.sh"
e2e_need_browser dashjs playwright-core
e2e_need_tools ffmpeg curl openssl
command -v certutil >/dev/null || e2e_skip "certutil is not installed (apt-get install libnss3-tools)"
chromium=$E2E_CHROMIUM
edge_bin=$build/edge/sluice-edge
[ -x "$edge_bin" ] || e2e_fail "no edge binary at $edge_bin"

media=$build/tests/e2e/media/$title
mkdir -p "$build/tests/e2e"
"$here/make-clip.sh" "$media" 16 || e2e_fail "could not encode the clip"

e2e_scratch sluice-e2e-h2 edge.log player.err
tmp=$E2E_TMP

# A CA and a leaf for 127.0.0.1/localhost issued by it; a second, unrelated CA and its leaf for
# the listener that must be refused.
pki=$tmp/pki
mkdir -p "$pki"
issue() { # issue CA_NAME LEAF_NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=sluice e2e $1" -keyout "$pki/$1.key" -out "$pki/$1.pem" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$pki/$2.key" -out "$pki/$2.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$pki/$2.ext"
  openssl x509 -req -in "$pki/$2.csr" -CA "$pki/$1.pem" -CAkey "$pki/$1.key" -CAcreateserial \
    -days 2 -extfile "$pki/$2.ext" -out "$pki/$2.pem" 2>/dev/null
}
issue ca edge || e2e_fail "could not make the test CA"
issue rogue-ca rogue || e2e_fail "could not make the untrusted CA"

# Chromium's trust store on Linux, in a private HOME, trusting the test CA.
home=$tmp/home
e2e_trust_ca "$home" "$pki/ca.pem" "sluice e2e ca"

read -r port tls_port rogue_port admin_port dead_port < <(e2e_free_ports 5)
[ -n "$dead_port" ] || e2e_fail "could not find free ports"
edge_url=https://127.0.0.1:$tls_port
admin_url=http://127.0.0.1:$admin_port

e2e_player_start "$tmp" --listen 127.0.0.1:0 --edge "$edge_url" --edge-id e2e-edge --title "$title"
player_url=$E2E_PLAYER_URL
player_origin=${player_url%/}

e2e_secret "$tmp/admin.token" 32
token=$(cat "$tmp/admin.token")
{
  e2e_edge_yaml "$tmp" "$port" "$admin_port" "$dead_port" "$player_origin"
  cat <<EOF
tls:
  - {listen: "127.0.0.1:$tls_port", certs: [{cert: "$pki/edge.pem", key: "$pki/edge.key"}]}
  - {listen: "127.0.0.1:$rogue_port", certs: [{cert: "$pki/rogue.pem", key: "$pki/rogue.key"}]}
EOF
} >"$tmp/edge.yaml"

e2e_edge_start "$edge_bin" "$tmp/edge.yaml" "$tmp/edge.log" "$admin_url"
edge_pid=$E2E_EDGE_PID
e2e_push_dir "$admin_url" "$token" "$media" "$title"
[ "$E2E_PUSHED" -ge 10 ] || e2e_fail "only $E2E_PUSHED files pushed"

# curl, verifying against the CA, agrees that the edge speaks h2 there.
proto=$(curl -sS --cacert "$pki/ca.pem" --http2 -o /dev/null -w '%{http_version}' \
  "$edge_url/$title/manifest.mpd") || e2e_fail "curl over TLS with the test CA failed"
[ "$proto" = 2 ] || e2e_fail "curl negotiated HTTP/$proto, not h2"

e2e_run_checks "h2 playback" env HOME="$home" node "$here/play-h2.mjs" \
  --page "${player_url}?title=$title" --edge "$edge_url" \
  --untrusted "https://127.0.0.1:$rogue_port/$title/manifest.mpd" \
  --title "$title" --media "$media" --chromium "$chromium"

e2e_edge_stop "$edge_pid"

# The access log (edge/access-log.h) has the segments as h2 streams with the TLS send path.
h2_lines=$(grep -cE "\"GET /$title/[^\"]+\.m4s[^\"]*\" 20[06] .* proto=h2 tls=(user|ktls)( |$)" \
  "$tmp/access.log" || true)
[ "$h2_lines" -ge 2 ] || e2e_fail "access log shows $h2_lines segment requests over h2 with TLS"
echo "edge logged $h2_lines segment requests as h2 streams over TLS"
echo "PASS: dash.js playback over h2 with TLS"
