#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tools/bench/control-bench.sh BUILD_DIR [SECONDS] [CONNECTIONS]
#
# With CONTROL_BENCH_PERF=FILE set, control's profile during the warm POST /v1/playback run
# is recorded there (perf record -g), for perf report -i FILE.
#
# sluice-control side by side with nginx serving the same MPD as a static file, on this
# machine, with warm data: a private PostgreSQL (tools/pg-temp), one control instance (one
# loop thread), nginx with one worker (the same CPU budget), and wrk with one thread.
# Measures: GET manifest (session lookup + steering rank + token signing + MPD build),
# POST /v1/playback (licence check, signed id, start counted), the two as a player makes them
# (a start, then its manifest), POST heartbeat (signed, as edges send
# them: HMAC-SHA256 made here beforehand, round robin over more edges than connections so each
# edge's heartbeats arrive in order), and nginx's static MPD.
# Prints requests/s, p99, and the CPU per request of the server, PostgreSQL and wrk for each,
# and the ratios to the static file by requests/s and by the servers' CPU per request. wrk's
# column shows when a run measures the load generator: at one core's worth (its µs per request
# times requests/s near 1,000,000), the run is wrk-bound.
set -eu
build=${1:?usage: control-bench.sh BUILD_DIR [SECONDS] [CONNECTIONS]}
secs=${2:-10}
conns=${3:-32}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$build/control/sluice-control
command -v wrk >/dev/null || { echo "control-bench: wrk not installed" >&2; exit 77; }
command -v nginx >/dev/null || { echo "control-bench: nginx not installed" >&2; exit 77; }
tmp=$(mktemp -d /tmp/ctl-bench.XXXXXX)
chmod 755 "$tmp"
cpid=""
npid=""
cleanup() {
        [ -n "$cpid" ] && kill "$cpid" 2>/dev/null || true
        [ -n "$npid" ] && kill "$npid" 2>/dev/null || true
        "$root/tools/pg-temp" stop "$tmp/pg" >/dev/null 2>&1 || true
        rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ci=$("$root/tools/pg-temp" start "$tmp/pg")
# Heartbeat signing (common/req-sign.h), for the setup and for the signed requests wrk sends.
cat >"$tmp/hbsign.py" <<'PY'
import hashlib, hmac, time
SECRET = "bench-heartbeat-secret-0123456789abcdef"
def sign(edge, body, t):
    msg = b"POST\n/v1/edges/%s/heartbeat\n%d\n" % (edge.encode(), t) + body
    return hmac.new(SECRET.encode(), msg, hashlib.sha256).hexdigest()
def headers(edge, body, t=None):
    t = t or int(time.time() * 1000)
    return {"Content-Type": "application/json", "X-Sluice-Time": str(t),
            "X-Sluice-Signature": sign(edge, body, t)}
PY
echo "admin-token-for-the-benchmark-0001" >"$tmp/admin.token"
printf 'keys:\n  - {kid: k1, secret: "%s"}\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$tmp/keys.yaml"
cat >"$tmp/control.yaml" <<CFG
listen: ["127.0.0.1:0"]
database: "$ci"
database_pool: {pool: 4, timeout: 3s}
admin: {token_file: $tmp/admin.token}
tokens: {keys_file: $tmp/keys.yaml}
country_prefixes: [{cidr: 127.0.0.0/8, country: GB, region: eu-west}]
public_url: "http://127.0.0.1:7000"
heartbeat_period: 60s
log: {level: warn}
CFG
"$bin" --config "$tmp/control.yaml" >"$tmp/control.log" 2>&1 &
cpid=$!
# The port is in the first log lines; log level warn hides them, so ask the kernel.
port=""
for _ in $(seq 1 100); do
        port=$(ss -Htlnp 2>/dev/null | awk -v p="pid=$cpid," '$0 ~ p {split($4,a,":"); print a[2]; exit}')
        [ -n "$port" ] && break
        # wait for the listener by asking the kernel again; no fixed delay needed beyond
        # the scheduler's
        kill -0 "$cpid" || { cat "$tmp/control.log"; exit 1; }
done
[ -n "$port" ] || { echo "control did not listen" >&2; exit 1; }
url=http://127.0.0.1:$port
auth="Authorization: Bearer admin-token-for-the-benchmark-0001"

python3 - "$url" "$tmp" <<'PY'
import json, sys, urllib.request
url, tmp = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.path[0])
def req(m, p, body=None, admin=False):
    h = {"Content-Type": "application/json"}
    if admin:
        h["Authorization"] = "Bearer admin-token-for-the-benchmark-0001"
    r = urllib.request.Request(url + p, data=json.dumps(body).encode() if body is not None else None,
                               headers=h, method=m)
    return json.loads(urllib.request.urlopen(r).read() or b"null") if m != "GET" or p.startswith("/v1/p") else urllib.request.urlopen(r).read()
reps = []
for name, (w, h, bw) in {"240p": (426, 240, 300000), "360p": (640, 360, 700000), "480p": (854, 480, 1500000),
                         "720p": (1280, 720, 3000000), "1080p": (1920, 1080, 5000000)}.items():
    reps.append({"id": f"video-{name}", "type": "video", "mime_type": "video/mp4", "codec": "avc1.64001f",
                 "bandwidth": bw, "width": w, "height": h, "frame_rate": "25/1", "timescale": 12800,
                 "init": f"video-{name}/init.mp4", "media": f"video-{name}/seg-$Number$.m4s",
                 "start_number": 1, "segment_count": 900, "segment_duration": 4})
reps.append({"id": "audio-en", "type": "audio", "mime_type": "audio/mp4", "codec": "mp4a.40.2", "lang": "en",
             "bandwidth": 128000, "sample_rate": 48000, "channels": 2, "timescale": 48000,
             "init": "audio-en/init.mp4", "media": "audio-en/seg-$Number$.m4s", "start_number": 1,
             "segment_count": 900, "segment_duration": 4})
asset = {"version": 1, "title": "bench1", "duration": 3600.0, "segment_duration": 4, "segment_count": 900,
         "encryption": {"scheme": "cenc", "kid": "00112233445566778899aabbccddeeff", "iv_size": 8},
         "representations": reps,
         "subtitles": [{"id": "text-en", "lang": "en", "path": "text-en/subtitles.vtt", "mime_type": "text/vtt"}],
         "files": []}
req("POST", "/v1/admin/titles", {"title": "bench1", "asset": asset,
    "key": {"kid": "00112233445566778899aabbccddeeff", "key": "ff" * 16}}, admin=True)
req("PUT", "/v1/admin/titles/bench1/licences", {"licences": [{"country": "GB"}]}, admin=True)
sys.path.insert(0, tmp)
from hbsign import SECRET, headers
# The heartbeat run's edges are disabled: they never join the edge set manifests rank.
edges = [("edge-a", "eu-west", True), ("edge-b", "eu-west", True), ("edge-c", "us-east", True)]
edges += [(f"hb-{i:03d}", "ap-south", False) for i in range(256)]
for e, reg, on in edges:
    req("POST", "/v1/admin/edges", {"id": e, "region": reg, "base_url": f"http://{e}.example:8080",
                                    "enabled": on, "secret": SECRET}, admin=True)
for e, _, _ in edges[:3]:
    body = json.dumps({"load": 0.2, "titles": ["bench1"]}).encode()
    urllib.request.urlopen(urllib.request.Request(url + f"/v1/edges/{e}/heartbeat", data=body,
                                                  headers=headers(e, body), method="POST")).read()
s = req("POST", "/v1/playback", {"title": "bench1"})
mpd = urllib.request.urlopen(url + f"/v1/manifest/{s['session']}.mpd").read()
open(f"{tmp}/sid", "w").write(s["session"])
open(f"{tmp}/static.mpd", "wb").write(mpd)
PY
sid=$(cat "$tmp/sid")

mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    types { application/dash+xml mpd; }
    server {
        listen 127.0.0.1:0;
        root $tmp;
        location / { add_header Cache-Control no-store; }
    }
}
NGX
# nginx cannot listen on port 0 portably: pick a free port from the kernel first.
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s/listen 127.0.0.1:0;/listen 127.0.0.1:$nport;/" "$tmp/nginx.conf"
nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" &
npid=$!
curl -sf --retry 50 --retry-connrefused --retry-delay 0 -o /dev/null "http://127.0.0.1:$nport/static.mpd"

cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")
LUA

# Session + manifest as a player does them: POST /v1/playback, then GET the manifest of the
# session it returned (served from the session this instance just cached). wrk hands every
# response to the script, so the script must stay cheap: searching each 4.7 KB MPD with a Lua
# pattern cost wrk 57 µs a request and bound the run (before 2026-11-30 11:10 UTC).
cat >"$tmp/pair.lua" <<'LUA'
local queue = {}
request = function()
        local sid = table.remove(queue)
        if sid then
                return wrk.format("GET", "/v1/manifest/" .. sid .. ".mpd")
        end
        return wrk.format("POST", "/v1/playback", {["Content-Type"] = "application/json"},
                          '{"title":"bench1"}')
end
-- Only a start's JSON answer carries the id: a manifest (XML) is not searched.
response = function(status, headers, body)
        if body:byte(1) ~= 123 then
                return
        end
        local at = body:find('"session":"', 1, true)
        if at then
                local sid = body:match('^[%w%._-]+', at + 11)
                if sid then
                        table.insert(queue, sid)
                end
        end
end
LUA

# CPU time (user + system, clock ticks) of the processes named, from /proc.
ticks() {
        for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0; done |
                awk '{s += $1} END {print s + 0}'
}
hz=$(getconf CLK_TCK)

# PostgreSQL's processes (the postmaster's children: control's pooled backends among them).
pg_pids() {
        pm=$(head -1 "$tmp/pg/data/postmaster.pid")
        echo "$pm $(ps -o pid= --ppid "$pm" | tr -d ' ' | tr '\n' ' ')"
}

# On a shared machine requests/s swing with what else runs; the server's CPU time per request
# does not (much): both are printed, and the ratios are given both ways. PostgreSQL's CPU per
# request is printed beside control's.
run() { # name, server pids (quoted), wrk args...
        name=$1
        pids=$2
        shift 2
        pgp=$(pg_pids)
        t0=$(ticks $pids)
        g0=$(ticks $pgp)
        perfpid=""
        if [ -n "${CONTROL_BENCH_PERF:-}" ] && [ "$name" = "control playback" ]; then
                perf record -q -g -o "$CONTROL_BENCH_PERF" -p "$cpid" -- sleep "$secs" \
                        >/dev/null 2>&1 &
                perfpid=$!
        fi
        # wrk's own CPU time (user + system, from its rusage), printed after its report.
        out=$(python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("load generator CPU seconds %.3f" % (r.ru_utime + r.ru_stime))' \
                wrk -t1 -c"$conns" -d"${secs}s" --latency "$@")
        [ -z "$perfpid" ] || wait "$perfpid" || true
        t1=$(ticks $pids)
        g1=$(ticks $pgp)
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        n=$(echo "$out" | awk '/requests in/ {print $1}')
        p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
        non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
        us=$(awk -v t="$((t1 - t0))" -v hz="$hz" -v n="$n" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
        wrkus=$(echo "$out" | awk -v n="$n" '/load generator CPU seconds/ {printf "%.1f", $NF * 1e6 / n}')
        pgus=$(awk -v t="$((g1 - g0))" -v hz="$hz" -v n="$n" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
        printf '%-28s %10s req/s   p99 %8s   non-2xx %-5s  server CPU %6s us/req   PostgreSQL %6s us/req   wrk %6s us/req\n' \
                "$name" "$rps" "$p99" "${non2xx:-0}" "$us" "$pgus" "$wrkus"
        key=$(echo "$name" | tr 'A-Z +' 'a-z__')
        eval "rps_$key=$rps; us_$key=$us; pg_$key=$pgus"
}

echo "sluice-control vs nginx, ${secs}s, $conns connections, wrk -t1, MPD $(wc -c <"$tmp/static.mpd") bytes"
npids="$npid $(ps -o pid= --ppid "$npid" | tr -d ' ' | tr '\n' ' ')"
run "nginx static MPD" "$npids" "http://127.0.0.1:$nport/static.mpd"
run "control healthz" "$cpid" "$url/healthz"
run "control manifest" "$cpid" "$url/v1/manifest/$sid.mpd"
BODY='{"title":"bench1"}' run "control playback" "$cpid" -s "$tmp/post.lua" "$url/v1/playback"
# The pair run must really alternate: every start's manifest fetched (a script that found no
# id would send starts only). Control's own counters say so.
counter() { curl -sf "$url/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
s0=$(counter sluice_control_sessions_total)
m0=$(counter sluice_control_manifests_total)
run "control session+manifest" "$cpid" -s "$tmp/pair.lua" "$url"
s1=$(counter sluice_control_sessions_total)
m1=$(counter sluice_control_manifests_total)
python3 -c "print('session+manifest run: %d starts, %d manifests' % ($s1 - $s0, $m1 - $m0))"
python3 -c "import sys; sys.exit(0 if abs(($m1 - $m0) - ($s1 - $s0)) <= 2 * $conns else 1)" || {
        echo "control-bench: the pair run did not fetch a manifest per start" >&2
        exit 1
}
BODY='{"title":"bench1","inline_manifest":true}' run "control session MPD inline" "$cpid" \
        -s "$tmp/post.lua" "$url/v1/playback"
# Signed heartbeats, made just before the run (their times must be within heartbeat_skew):
# more than wrk can send in the run, edges round robin, each edge's times increasing. Control
# refuses a time not newer than the edge's last accepted one, and wrk now and then sends a
# later round's heartbeat of an edge before an earlier one: a few 401s per run are expected.
python3 - "$tmp" "$secs" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
from hbsign import sign
body = b'{"load":0.2,"titles":["bench1"]}'
edges = [f"hb-{i:03d}" for i in range(256)]
t0 = int(time.time() * 1000)
with open(sys.argv[1] + "/hb.txt", "w") as f:
    for r in range(int(sys.argv[2]) * 25000 // len(edges) + 1):
        for e in edges:
            f.write(f"{e} {t0 + r} {sign(e, body, t0 + r)}\n")
PY
cat >"$tmp/hb.lua" <<'LUA'
local reqs, i = {}, 0
init = function(args)
        local body = '{"load":0.2,"titles":["bench1"]}'
        for line in io.lines(os.getenv("HB_FILE")) do
                local e, t, sig = line:match("(%S+) (%S+) (%S+)")
                reqs[#reqs + 1] = wrk.format("POST", "/v1/edges/" .. e .. "/heartbeat",
                        {["Content-Type"] = "application/json", ["X-Sluice-Time"] = t,
                         ["X-Sluice-Signature"] = sig}, body)
        end
end
request = function()
        i = i % #reqs + 1
        return reqs[i]
end
LUA
HB_FILE="$tmp/hb.txt" run "control heartbeat" "$cpid" -s "$tmp/hb.lua" "$url"
python3 -c "print('manifest / static ratio: %.2f' % ($rps_control_manifest / $rps_nginx_static_mpd))"
python3 -c "print('healthz / static ratio (server alone): %.2f' % ($rps_control_healthz / $rps_nginx_static_mpd))"
python3 -c "print('session+manifest pairs/s: %.0f' % ($rps_control_session_manifest / 2))"
python3 -c "print('session+manifest requests / static requests: %.2f' % ($rps_control_session_manifest / $rps_nginx_static_mpd))"
python3 -c "print('session with its MPD inline / static ratio: %.2f' % ($rps_control_session_mpd_inline / $rps_nginx_static_mpd))"
python3 -c "print('manifest / static by CPU per request (nginx us / control us): %.2f' % ($us_nginx_static_mpd / $us_control_manifest))"
python3 -c "print('healthz / static by CPU per request: %.2f' % ($us_nginx_static_mpd / $us_control_healthz))"
# The session + manifest requests by the servers' CPU: control's and PostgreSQL's per request
# against nginx's (wrk runs a Lua script for the pairs and none for the static file, so its
# share of the two cores differs between the runs; the CPU each server spends does not).
python3 -c "print('session+manifest requests / static by CPU per request (control + PostgreSQL): %.2f' % ($us_nginx_static_mpd / ($us_control_session_manifest + $pg_control_session_manifest)))"
