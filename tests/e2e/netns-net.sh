# tests/e2e/netns-net.sh — network namespaces, links and link shaping for the multi-host e2e
# test (sourced by run-netns.sh, not run).
#
# Topology: one router namespace ("hub", IPv4 forwarding on) and one namespace per host. Host
# number N gets a veth pair: eth0 = 10.77.N.2/24 in the host, v-ROLE = 10.77.N.1/24 in the hub,
# default route via the hub. So every host is on its own subnet, and traffic between two hosts
# crosses two shaped links (the sender's, then the receiver's).
#
# Shaping per link, both directions: netem (delay, loss and a rate) where the kernel has
# sch_netem; otherwise tbf (rate only), and NETNS_NETEM says which ran (1 netem, 0 tbf) with
# the reason in NETNS_NETEM_WHY.
#
# Everything is named "<NETNS_PREFIX>-<role>" (per run) and removed by netns_teardown, which
# finds the namespaces by that name: the processes still inside each namespace (all started by
# this test) are terminated, then the namespace goes, taking its veth ends with it.

NETNS_PREFIX=${NETNS_PREFIX:-sluice-e2e-$$}
NETNS_NETEM=0
NETNS_NETEM_WHY=""
netns_made=()

netns_name() { echo "$NETNS_PREFIX-$1"; }
netns_addr() { echo "10.77.$1.2"; }

# netns_probe: 0 when this shell can do what netns_host_add does: make a namespace, run a
# command in it (ip netns exec) and give it a veth pair; otherwise prints why. The probe's
# namespace is removed again either way.
netns_probe() {
  local ns out why=""
  ns=$(netns_name probe)
  if ! out=$(ip netns add "$ns" 2>&1); then
    echo "cannot create a network namespace: $out"
    return 1
  fi
  if ! out=$(ip netns exec "$ns" true 2>&1); then
    why="cannot run a command in a network namespace (ip netns exec): $(echo "$out" | head -n 1)"
  elif ! out=$(ip -n "$ns" link add probe0 type veth peer name probe1 2>&1); then
    why="cannot make a veth pair (no veth in this kernel?): $(echo "$out" | head -n 1)"
  fi
  ip netns del "$ns" 2>/dev/null || true
  [ -z "$why" ] || { echo "$why"; return 1; }
}

netns_new() { # role
  local ns
  ns=$(netns_name "$1")
  ip netns add "$ns" || return 1
  netns_made+=("$ns")
  ip -n "$ns" link set lo up
}

netns_hub_make() {
  netns_new hub || return 1
  ip netns exec "$(netns_name hub)" sysctl -qw net.ipv4.ip_forward=1
}

netns_host_add() { # role number
  local role=$1 n=$2 ns hub
  ns=$(netns_name "$role")
  hub=$(netns_name hub)
  netns_new "$role" || return 1
  ip -n "$hub" link add "v-$role" type veth peer name eth0 netns "$ns" || return 1
  ip -n "$hub" addr add "10.77.$n.1/24" dev "v-$role"
  ip -n "$hub" link set "v-$role" up
  ip -n "$ns" addr add "10.77.$n.2/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "10.77.$n.1"
}

# netns_netem_probe: sets NETNS_NETEM and NETNS_NETEM_WHY by trying a netem qdisc, then the
# tbf fallback, on the hub's loopback (removed again at once); 1 (with the reason in
# NETNS_NETEM_WHY) when tc can add neither, so the links cannot be shaped at all.
netns_netem_probe() {
  local hub out tbf
  hub=$(netns_name hub)
  if out=$(tc -n "$hub" qdisc add dev lo root netem delay 1ms 2>&1); then
    tc -n "$hub" qdisc del dev lo root 2>/dev/null || true
    NETNS_NETEM=1
    NETNS_NETEM_WHY="sch_netem available"
  elif tbf=$(tc -n "$hub" qdisc add dev lo root tbf rate 1mbit burst 32kb latency 100ms 2>&1); then
    tc -n "$hub" qdisc del dev lo root 2>/dev/null || true
    NETNS_NETEM=0
    NETNS_NETEM_WHY="tc cannot add a netem qdisc here ($(echo "$out" | head -n 1)): the kernel has no sch_netem"
  else
    NETNS_NETEM=0
    NETNS_NETEM_WHY="tc can shape no link here: netem ($(echo "$out" | head -n 1)) nor tbf ($(echo "$tbf" | head -n 1))"
    return 1
  fi
}

# netns_shape role delay-ms loss-percent rate burst: shape both ends of the role's link.
# With netem: delay (each way, per link end) and loss, and the rate; with tbf: the rate only.
netns_shape() {
  local role=$1 delay=$2 loss=$3 rate=$4 burst=$5 dev ns
  for dev in "$(netns_name hub):v-$role" "$(netns_name "$role"):eth0"; do
    ns=${dev%%:*}
    if [ "$NETNS_NETEM" = 1 ]; then
      tc -n "$ns" qdisc add dev "${dev#*:}" root netem delay "${delay}ms" loss "${loss}%" \
        rate "$rate" || return 1
    else
      tc -n "$ns" qdisc add dev "${dev#*:}" root tbf rate "$rate" burst "$burst" latency 100ms ||
        return 1
    fi
  done
}

# netns_sent_bytes role: bytes the hub's qdisc on the role's link has sent (towards the host).
netns_sent_bytes() {
  tc -s -n "$(netns_name hub)" qdisc show dev "v-$1" |
    sed -n 's/^ *Sent \([0-9][0-9]*\) bytes.*/\1/p' | head -n 1
}

# netns_teardown: end what still runs inside this run's namespaces (TERM, then KILL after 5 s),
# then delete them (the hub last). The namespaces are found by name (NETNS_PREFIX), not only
# from netns_made, so that a shell which did not make them (e2e_guard's) can remove them too.
# Safe to call twice.
netns_teardown() {
  local ns pids i hub all=() seen=" "
  hub=$(netns_name hub)
  while read -r ns _; do
    case "$ns" in "$NETNS_PREFIX"-*) ;; *) continue ;; esac
    case "$seen" in *" $ns "*) continue ;; esac
    seen+="$ns "
    [ "$ns" = "$hub" ] || all+=("$ns")
  done < <(ip netns list 2>/dev/null; printf '%s\n' "${netns_made[@]}")
  case "$seen" in *" $hub "*) all+=("$hub") ;; esac
  [ ${#all[@]} -gt 0 ] || return 0
  for ns in "${all[@]}"; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null || true
  done
  for ((i = 0; i < 50; i++)); do
    pids=""
    for ns in "${all[@]}"; do pids+=$(ip netns pids "$ns" 2>/dev/null || true); done
    [ -z "$pids" ] && break
    # Paces the wait: processes in other namespaces are not our children, so no wait(2).
    timeout 0.1 tail -f /dev/null || true
  done
  for ns in "${all[@]}"; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
  done
  for ns in "${all[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  netns_made=()
}
