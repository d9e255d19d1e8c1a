#!/usr/bin/env bash
# tests/e2e/run-netns.sh BUILD_DIR
#
# The whole stack across hosts: origin, two edges, control (with its PostgreSQL) and two
# clients, each in its own network namespace with its own address and subnet, routed through a
# hub namespace over veth pairs whose links are shaped (netns-net.sh: netem delay and loss where
# the kernel has sch_netem, tbf rate limits where it does not — the output says which ran).
#
#   origin 10.77.1.2 (nginx)      control 10.77.2.2 (sluice-control, PostgreSQL, player page)
#   edge-a 10.77.3.2 (eu-west)    edge-b 10.77.4.2 (us-east)
#   client-eu 10.77.5.2 → NL      client-us 10.77.6.2 → US   (control's country_prefixes)
#
# Checks: each client's session, steering answer and MPD rank its own region's edge first;
# dash.js in headless Chromium in client-us plays a title through edge-b (misses filled from
# the origin across namespaces), and in client-eu through edge-a, then edge-a is killed
# mid-playback and playback goes on from edge-b through content steering with a bounded stall
# (stack.mjs play,failover with --prefer); the edges' access logs show the segments by client
# address; the origin's log shows the edges' fills; the client links' qdiscs carried the
# traffic; with netem, the TCP connect time between client and edge shows the added delay.
# Figures ("figure:" lines): first frame under shaping, failover stall, connect RTTs.
#
# Exit 0 pass, 1 fail, 77 skip (not root, no ip or tc, namespaces, ip netns exec or veth pairs
# refused, tc can add neither netem nor tbf, or what the stack tests need: Chromium, node,
# nginx, PostgreSQL, node_modules). Everything made here — namespaces, veth pairs, processes,
# PostgreSQL — is removed on exit, failure included, and
# also when meson kills the script (timeout, Ctrl-C) before its trap is done (e2e_guard).
# SLUICE_E2E_KEEP=1 keeps the state directory (configs, logs) after a failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)

. "$here/lib.sh"
. "$here/netns-net.sh"

[ "$(id -u)" = 0 ] || e2e_skip "network namespaces need root (run as root)"
command -v ip >/dev/null || e2e_skip "no ip command (apt-get install iproute2)"
command -v tc >/dev/null || e2e_skip "no tc command (apt-get install iproute2)"
e2e_need_browser dashjs playwright-core
e2e_need_tools nginx ffmpeg curl python3
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null ||
  e2e_skip "no PostgreSQL server binaries"
for b in edge/sluice-edge control/sluice-control tools/ingest/sluice-ingest; do
  [ -x "$build/$b" ] || e2e_fail "no $build/$b"
done
why=$(netns_probe) || e2e_skip "$why"

var=$build/tests/e2e/netns
origin=$build/tests/e2e/stack-origin # shared with run-stack.sh: the same titles, made once
# What an earlier run left (it would have stopped it on exit, unless it was killed outright).
"$top/tools/pg-temp" stop "$var/pg" >/dev/null 2>&1 || true
rm -rf "$var"
mkdir -p "$var/logs" "$var/keys" "$origin"
# As root, PostgreSQL runs as the postgres user (tools/pg-temp): it must reach var/pg.
chmod o+x "$var"

stack_pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  e2e_stop_pids
  "$top/tools/pg-temp" stop "$var/pg" >/dev/null 2>&1 || true
  netns_teardown
  e2e_guard_off
  exec 3<&- 2>/dev/null || true
  # Nothing may outlive the test: no namespace of this run, no process naming its state.
  local left
  left=$(ip netns list | grep -F "$NETNS_PREFIX-" || true)$(e2e_leftovers "$var")
  if [ -n "$left" ]; then
    echo "FAIL: left behind after the test: $left" >&2
    [ "$rc" -eq 0 ] && rc=1
  fi
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    e2e_show_logs "$var/logs" control.log edge-a.log edge-b.log origin.error.log player.err
  fi
  if [ "${SLUICE_E2E_KEEP:-0}" != 1 ]; then rm -rf "$var"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# When meson kills this script (timeout, Ctrl-C) before the trap is done, the guard stops
# PostgreSQL (a session of its own) and removes this run's namespaces with all in them.
E2E_GUARD_NET=$here/netns-net.sh E2E_GUARD_PG=$var/pg E2E_GUARD_TOP=$top \
  NETNS_PREFIX=$NETNS_PREFIX e2e_guard '
  [ ! -f "$E2E_GUARD_PG/data/PG_VERSION" ] || "$E2E_GUARD_TOP/tools/pg-temp" stop "$E2E_GUARD_PG"
  . "$E2E_GUARD_NET"
  netns_teardown'

# ---- titles: the demo's, made with the same settings as tools/demo under run-stack.sh ----
for t in demo-series-e1 demo-movie; do
  [ -f "$origin/$t/asset.json" ] && continue
  echo "ingesting $t (first run only)"
  "$build/tools/ingest/sluice-ingest" --title "$t" --origin "$origin" --test-source 40 \
    --ladder 240p,360p,480p,720p --preset ultrafast --no-progress >>"$var/logs/ingest.log" 2>&1 ||
    e2e_fail "sluice-ingest failed for $t: $(tail -n 5 "$var/logs/ingest.log")"
done
chmod -R a+rX "$origin"

# ---- the network ----
a_origin=$(netns_addr 1) a_ctl=$(netns_addr 2) a_ea=$(netns_addr 3) a_eb=$(netns_addr 4)
a_eu=$(netns_addr 5) a_us=$(netns_addr 6)
netns_hub_make || e2e_fail "could not make the hub namespace"
n=1
for role in origin ctl edge-a edge-b cli-eu cli-us; do
  netns_host_add "$role" "$n" || e2e_fail "could not link the $role namespace"
  n=$((n + 1))
done
netns_netem_probe || e2e_skip "$NETNS_NETEM_WHY"
# role, one-way delay per link end (ms), loss (%), rate, tbf burst. A client's request to its
# edge crosses two link ends each way: client 15 ms + edge 2 ms, so about 34 ms of RTT.
shaping=(
  "origin 20 0 50mbit 128kb"
  "ctl 5 0 50mbit 128kb"
  "edge-a 2 0 200mbit 256kb"
  "edge-b 2 0 200mbit 256kb"
  "cli-eu 15 0.2 20mbit 64kb"
  "cli-us 15 0.2 20mbit 64kb"
)
for s in "${shaping[@]}"; do
  read -r role delay loss rate burst <<<"$s"
  netns_shape "$role" "$delay" "$loss" "$rate" "$burst" || e2e_fail "could not shape the $role link"
  if [ "$NETNS_NETEM" = 1 ]; then
    echo "link $role: netem delay ${delay} ms per end, loss ${loss}%, rate $rate"
  else
    echo "link $role: tbf rate $rate (no delay, no loss)"
  fi
done
if [ "$NETNS_NETEM" = 1 ]; then
  echo "netem: ran ($NETNS_NETEM_WHY)"
else
  echo "netem: NOT RUN — $NETNS_NETEM_WHY; delay and loss between the namespaces are not" \
    "exercised, the links are rate-limited with tbf only"
fi
ns_origin=$(netns_name origin) ns_ctl=$(netns_name ctl) ns_ea=$(netns_name edge-a)
ns_eb=$(netns_name edge-b) ns_eu=$(netns_name cli-eu) ns_us=$(netns_name cli-us)

# ---- secrets and configs ----
e2e_secret "$var/control-admin.token" 24
e2e_secret "$var/edge-admin.token" 24
e2e_secret "$var/keys/uri-signing.hex" 32
ctl_token=$(cat "$var/control-admin.token")
edge_token=$(cat "$var/edge-admin.token")
(umask 077; printf 'keys:\n  - {kid: netns1, secret: %s}\n' "$(cat "$var/keys/uri-signing.hex")" \
  >"$var/keys/uri-signing.yaml")

control_url=http://$a_ctl:7000
origin_url=http://$a_origin:9000
ea_url=http://$a_ea:8080
eb_url=http://$a_eb:8080
admin_url=http://127.0.0.1:8081 # each edge's admin listener, on its own namespace's loopback

conninfo=$(ip netns exec "$ns_ctl" "$top/tools/pg-temp" start "$var/pg") ||
  e2e_fail "PostgreSQL did not start in $ns_ctl; see $var/pg/server.log"

cat >"$var/control.yaml" <<EOF
listen: ["$a_ctl:7000"]
database: "$conninfo"
admin: {token_file: "$var/control-admin.token"}
tokens: {keys_file: "$var/keys/uri-signing.yaml"}
country_prefixes:
  - {cidr: 10.77.5.0/24, country: NL, region: eu-west}
  - {cidr: 10.77.6.0/24, country: US, region: us-east}
public_url: "$control_url"
origin_url: "$origin_url"
heartbeat_period: 2s
steering_ttl: 2s
max_body: 8M
log: {level: info, target: stderr}
EOF
"$build/control/sluice-control" --check-config --config "$var/control.yaml" >"$var/logs/control.log" 2>&1 ||
  e2e_fail "sluice-control rejected its config: $(cat "$var/logs/control.log")"
ip netns exec "$ns_ctl" "$build/control/sluice-control" --config "$var/control.yaml" \
  >>"$var/logs/control.log" 2>&1 &
e2e_pids+=($!)
E2E_NETNS=$ns_ctl e2e_wait_http "$control_url/v1/catalog" sluice-control 30

mkdir -p "$var/nginx/tmp"
cat >"$var/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $var/nginx/nginx.pid;
error_log $var/logs/origin.error.log warn;
events { worker_connections 256; }
http {
  access_log $var/logs/origin.access.log;
  client_body_temp_path $var/nginx/tmp;
  proxy_temp_path $var/nginx/tmp;
  fastcgi_temp_path $var/nginx/tmp;
  uwsgi_temp_path $var/nginx/tmp;
  scgi_temp_path $var/nginx/tmp;
  types { video/mp4 mp4; video/iso.segment m4s; application/json json; }
  default_type application/octet-stream;
  server {
    listen $a_origin:9000;
    root $origin;
    location ~ /\\. { deny all; }
  }
}
EOF
ip netns exec "$ns_origin" nginx -p "$var/nginx" -c "$var/nginx/nginx.conf" \
  -g 'daemon off; user root;' >"$var/logs/origin.log" 2>&1 &
e2e_pids+=($!)
E2E_NETNS=$ns_origin e2e_wait_http "$origin_url/demo-movie/asset.json" "the origin"

edge_cfg() { # id region address [control-extra-yaml]
  mkdir -p "$var/$1/cache"
  cat >"$var/$1.yaml" <<EOF
listen: ["$3:8080"]
workers: 1
admin: {listen: "127.0.0.1:8081", token_file: "$var/edge-admin.token"}
cache: {dir: "$var/$1/cache", max_size: 2G}
upstreams: [{url: "$origin_url"}]
tokens: {required: true, keys_file: "$var/keys/uri-signing.yaml"}
control: {url: "$control_url", edge_id: $1, region: $2, heartbeat: 1s${4:-}}
log: {level: info, target: stderr, access_log: "$var/logs/$1.access.log"}
cors_origins: ["*"]
EOF
}
# Signed heartbeats: where this build's edge has control.secret_file, each edge gets its own
# secret, handed to control at registration; a build from before signing has neither.
signed=0
e2e_secret "$var/keys/probe.heartbeat" 32
edge_cfg probe eu-west 127.0.0.1 ", secret_file: \"$var/keys/probe.heartbeat\""
"$build/edge/sluice-edge" --check-config --config "$var/probe.yaml" >/dev/null 2>&1 && signed=1
rm -rf "$var/probe" "$var/probe.yaml" "$var/keys/probe.heartbeat"
echo "heartbeats: $([ "$signed" = 1 ] && echo "signed (control.secret_file)" || echo "unsigned (this edge has no control.secret_file)")"
for e in "edge-a eu-west $a_ea" "edge-b us-east $a_eb"; do
  read -r id region addr <<<"$e"
  if [ "$signed" = 1 ]; then
    e2e_secret "$var/keys/$id.heartbeat" 32
    edge_cfg "$id" "$region" "$addr" ", secret_file: \"$var/keys/$id.heartbeat\""
  else
    edge_cfg "$id" "$region" "$addr"
  fi
done
E2E_NETNS=$ns_ea e2e_edge_start "$build/edge/sluice-edge" "$var/edge-a.yaml" "$var/logs/edge-a.log" "$admin_url"
ea_pid=$E2E_EDGE_PID
E2E_NETNS=$ns_eb e2e_edge_start "$build/edge/sluice-edge" "$var/edge-b.yaml" "$var/logs/edge-b.log" "$admin_url"
eb_pid=$E2E_EDGE_PID

# The player page, served from control's host (a site of its own, port 8090).
E2E_NETNS=$ns_ctl e2e_player_start "$var/logs" --listen "$a_ctl:8090" --edge "$ea_url" \
  --edge-id edge-a --control "$control_url" --edge-name "edge-a=$ea_url" --edge-name "edge-b=$eb_url"
player_url=$E2E_PLAYER_URL

# ---- registration (control's admin API, from control's host) ----
api() { # method path json-body
  local code
  code=$(ip netns exec "$ns_ctl" curl -sS -o "$var/api.out" -w '%{http_code}' -X "$1" \
    -H "Authorization: Bearer $ctl_token" -H 'Content-Type: application/json' \
    --data-binary "$3" "$control_url$2") || code=000
  [ "${code:0:1}" = 2 ] || e2e_fail "$1 $2 answered $code: $(head -c 300 "$var/api.out")"
}
for e in "edge-a eu-west $ea_url" "edge-b us-east $eb_url"; do
  read -r id region url <<<"$e"
  sec=""
  [ "$signed" = 1 ] && sec=",\"secret\":\"$(cat "$var/keys/$id.heartbeat")\""
  api POST /v1/admin/edges \
    "{\"id\":\"$id\",\"region\":\"$region\",\"base_url\":\"$url\",\"capacity_mbps\":1000$sec}"
done
# Titles are registered as operators do it: sluice-ingest --register-only, with the catalog
# fields in a --metadata file (YAML), from control's host.
mkdir -p "$var/metadata"
register() { # asset-id; its metadata on stdin
  local meta=$var/metadata/$1.yaml
  cat >"$meta"
  ip netns exec "$ns_ctl" "$build/tools/ingest/sluice-ingest" --register-only \
    --register "$control_url" --token-file "$var/control-admin.token" --title "$1" \
    --origin "$origin" --metadata "$meta" >>"$var/logs/ingest.log" 2>&1 ||
    e2e_fail "registration of $1 failed: $(tail -n 3 "$var/logs/ingest.log")"
}
register demo-series-e1 <<'EOF'
series: {id: demo-series, name: Pattern Recognition, season: 1, episode: 1,
         episode_name: Colour Bars}
EOF
register demo-movie <<'EOF'
metadata: {name: The Long Beep, year: 2025}
EOF
lic='{"licences": [{"country": "NL", "from": "2020-01-01T00:00:00Z"},
  {"country": "US", "from": "2020-01-01T00:00:00Z"}]}'
api PUT /v1/admin/titles/demo-series/licences "$lic"
api PUT /v1/admin/titles/demo-movie/licences "$lic"

# The failover title is pushed into both edges; the movie is left to fill from the origin.
for e in "$ns_ea edge-a" "$ns_eb edge-b"; do
  read -r ns id <<<"$e"
  E2E_NETNS=$ns e2e_push_dir "$admin_url" "$edge_token" "$origin/demo-series-e1" demo-series-e1 \
    '(^|/)asset\.json$'
  [ "$E2E_PUSHED" -ge 10 ] || e2e_fail "only $E2E_PUSHED objects pushed into $id"
  echo "pushed $E2E_PUSHED objects of demo-series-e1 into $id"
done

# ---- each client is steered to its own region's edge ----
session() { # namespace title → prints "session first-pathway first-baseurl"
  ip netns exec "$1" python3 - "$control_url" "$2" <<'PY'
import json, re, sys, urllib.request
ctl, title = sys.argv[1:3]
req = urllib.request.Request(ctl + "/v1/playback", data=json.dumps({"title": title}).encode(),
                             headers={"Content-Type": "application/json"})
s = json.load(urllib.request.urlopen(req, timeout=10))
steer = json.load(urllib.request.urlopen(f"{ctl}/v1/steering/{s['session']}", timeout=10))
mpd = urllib.request.urlopen(s["manifest_url"], timeout=10).read().decode()
base = re.search(r"<BaseURL[^>]*>([^<]*)</BaseURL>", mpd)
prio = steer.get("PATHWAY-PRIORITY") or ["-"]
print(s["session"], ",".join(prio), base.group(1) if base else "-")
PY
}
# Control names an edge only once its heartbeats arrive: wait (bounded) until both are live.
deadline=$((SECONDS + 30))
while :; do
  read -r _ prio _ < <(session "$ns_eu" demo-movie 2>/dev/null || echo "- - -")
  case ",$prio," in *,edge-a,*edge-b,*|*,edge-b,*edge-a,*) break ;; esac
  [ $SECONDS -lt $deadline ] || e2e_fail "control does not see both edges live (steering: $prio)"
  # Paces the poll: the heartbeats land in another process, there is no event to wait on.
  timeout 1 tail -f /dev/null || true
done
for c in "$ns_eu client-eu edge-a $ea_url" "$ns_us client-us edge-b $eb_url"; do
  read -r ns who want want_url <<<"$c"
  read -r sid prio base < <(session "$ns" demo-movie) || e2e_fail "$who: no session from control"
  [ "${prio%%,*}" = "$want" ] || e2e_fail "$who: steering ranks ${prio%%,*} first, not $want ($prio)"
  case "$base" in "$want_url"/*) ;; *) e2e_fail "$who: the MPD's first BaseURL is $base, not on $want" ;; esac
  echo "ok - $who: session $sid, steering $prio, first BaseURL on $want"
done

# ---- round-trip time across the shaped links (TCP connect from client to edge) ----
rtt_ms() { # namespace url → the median of 5 TCP connect times, in ms; fails on no connection
  local i t all=()
  for i in 1 2 3 4 5; do
    t=$(ip netns exec "$1" curl -s -o /dev/null --max-time 10 -w '%{time_connect}' "$2/") ||
      e2e_fail "no connection from $1 to $2 (curl exit $?)"
    all+=("$t")
  done
  printf '%s\n' "${all[@]}" | sort -n | sed -n 3p | awk '{ printf "%.2f", $1 * 1000 }'
}
rtt_eu=$(rtt_ms "$ns_eu" "$ea_url") || exit 1
rtt_us=$(rtt_ms "$ns_us" "$eb_url") || exit 1
echo "figure: TCP connect (median of 5) client-eu → edge-a ${rtt_eu} ms, client-us → edge-b ${rtt_us} ms"
if [ "$NETNS_NETEM" = 1 ]; then
  # 15 + 2 ms per link end each way: at least 30 ms of RTT.
  awk -v a="$rtt_eu" -v b="$rtt_us" 'BEGIN { exit !(a >= 30 && b >= 30) }' ||
    e2e_fail "netem ran but the client → edge connect took ${rtt_eu}/${rtt_us} ms (expected ≥ 30)"
  echo "ok - netem delay is on the client → edge path"
else
  echo "not run - netem delay/loss check (no sch_netem): the RTTs above are unshaped"
fi

# ---- the players ----
cat >"$var/env" <<EOF
EDGE_URL=$ea_url
EDGE_ID=edge-a
EDGE_PID=$ea_pid
EDGE2_URL=$eb_url
EDGE2_ID=edge-b
EDGE2_PID=$eb_pid
CONTROL_URL=$control_url
ORIGIN_DIR=$origin
PLAYER_URL=$player_url
EOF
play() { # namespace prefer scenarios
  local rc
  set +e
  ip netns exec "$1" node "$here/stack.mjs" --env "$var/env" --only "$3" --prefer "$2" \
    --chromium "$E2E_CHROMIUM" &
  local pid=$!
  e2e_pids+=("$pid")
  wait "$pid"
  rc=$?
  set -e
  [ "$rc" -eq 0 ] || e2e_fail "client in $1 ($3, preferring $2) failed (exit $rc)"
}
echo "client-us plays through edge-b"
play "$ns_us" edge-b play
echo "client-eu plays through edge-a, which is then killed"
play "$ns_eu" edge-a play,failover

# ---- what the servers saw, by address ----
segs() { # log client-address
  grep -cE "^[^ ]+ conn=[0-9]+ $2(:[0-9]+)? \"GET [^\"]*\.m4s[^\"]*\" 20[06] " "$var/logs/$1" || true
}
n_ea_eu=$(segs edge-a.access.log "$a_eu")
n_eb_us=$(segs edge-b.access.log "$a_us")
n_eb_eu=$(segs edge-b.access.log "$a_eu")
n_ea_us=$(segs edge-a.access.log "$a_us")
echo "segments served: edge-a → client-eu $n_ea_eu, client-us $n_ea_us; edge-b → client-us $n_eb_us, client-eu $n_eb_eu"
[ "$n_ea_eu" -ge 2 ] || e2e_fail "edge-a's access log has $n_ea_eu segments for client-eu ($a_eu)"
[ "$n_eb_us" -ge 2 ] || e2e_fail "edge-b's access log has $n_eb_us segments for client-us ($a_us)"
[ "$n_ea_us" -eq 0 ] || e2e_fail "edge-a served client-us $n_ea_us segments: not its region's edge"
[ "$n_eb_eu" -ge 1 ] || e2e_fail "edge-b's access log has no segment for client-eu after the failover"
fills=$(grep -cE "^$a_eb .*\"GET /demo-movie/[^\"]*\.m4s" "$var/logs/origin.access.log" || true)
[ "$fills" -ge 1 ] || e2e_fail "the origin's log shows no segment fill from edge-b ($a_eb)"
echo "ok - the origin filled $fills demo-movie segments for edge-b from $a_eb"
for role in cli-eu cli-us; do
  sent=$(netns_sent_bytes "$role")
  [ "${sent:-0}" -gt 1000000 ] || e2e_fail "the $role link's qdisc sent ${sent:-0} bytes: traffic bypassed the shaping"
  echo "ok - the $role link's qdisc carried $sent bytes"
done

# SIGTERM drains the surviving edge and it exits 0 (DESIGN.md).
e2e_edge_stop "$eb_pid"
if [ "$NETNS_NETEM" = 1 ]; then
  echo "PASS: multi-host stack with netem delay and loss, region steering and failover"
else
  echo "PASS: multi-host stack with tbf rate limits, region steering and failover" \
    "(delay and loss NOT exercised: no sch_netem)"
fi
