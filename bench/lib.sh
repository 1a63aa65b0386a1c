# shellcheck shell=bash
# bench/lib.sh — helpers shared by the cloudnet traffic benchmarks.
#
# Sourced by bench/l2.sh and bench/vxlan.sh; not meant to be run directly.
#
# Everything a benchmark creates (network namespaces, processes, temporary
# directories) carries the per-run prefix $CNB_P ("cnb" + a pid-based
# suffix), so parallel runs never collide; it is registered here and also
# found by name, and cnb_cleanup removes it from an EXIT trap — after normal
# completion, an error, Ctrl-C or SIGTERM (see cnb_main for why the body runs
# in a child).  Nothing outside the run's own namespaces is touched: every
# link lives in a namespace this script created, and the host's interfaces
# are never used.

set -euo pipefail

# Per-run name prefix: "cnb" + up to 5 digits of the pid (8 chars), so that
# "<prefix><4 chars>" still fits the kernel's 15-character IFNAMSIZ limit.
CNB_P="cnb$(($$ % 100000))"
export CNB_P

CNB_NS=()      # namespaces to delete
CNB_PIDS=()    # processes to stop (started by us)
CNB_DIRS=()    # temporary directories to remove
CNB_CLEANED=0
SKIP_REASON=""  # why a path was skipped (set by the cnb_cloudnet* helpers)
export SKIP_REASON
# One work directory per run, created here in the top-level shell so that
# functions running in $(...) subshells can put files under it and still have
# them removed by the cleanup.
CNB_WORK=$(mktemp -d "/tmp/${CNB_P}-work.XXXXXX")
CNB_DIRS+=("$CNB_WORK")
# CPU cost per GB (the -c option): cnb_cost, cnb_cost_report.
# shellcheck source-path=SCRIPTDIR source=cost.sh
. "$(dirname "${BASH_SOURCE[0]}")/cost.sh"

cnb_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cnb_die() { cnb_log "error: $*"; exit 1; }

# cnb_alive PID — the process exists and is not a zombie (an orphan's zombie
# may linger when pid 1 does not reap; it holds nothing any more).
cnb_alive() {
    local st
    kill -0 "$1" 2>/dev/null || return 1
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ]
}

# Stop one process we started: SIGTERM, wait up to ~3 s, then SIGKILL.
cnb_stop_pid() {
    local pid=$1 i
    cnb_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do
        cnb_alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Stop our processes and delete our namespaces (idempotent): used between
# two topologies of one run, and by cnb_cleanup at exit.
cnb_teardown() {
    local i ns link
    set +e
    # Processes first (reverse start order: clients before daemons), so that
    # no daemon still holds a TAP when its namespace goes away.
    for ((i = ${#CNB_PIDS[@]} - 1; i >= 0; i--)); do
        cnb_stop_pid "${CNB_PIDS[$i]}"
    done
    CNB_PIDS=()
    CNB_SWITCH_PIDS=()
    # Registered namespaces plus any of this run's by name ($CNB_P + letters
    # + digits, e.g. cnb4711s, cnb4711h1; a different run's prefix never
    # matches, as its next character would be a digit), so that the parent
    # shell can clean up after the benchmark body ran in a child (cnb_main).
    for ns in $( (printf '%s\n' "${CNB_NS[@]}"
        ip netns list | awk '{print $1}' | grep -E "^${CNB_P}[a-z]+[0-9]*\$") | sort -u); do
        ip netns list | awk '{print $1}' | grep -qx "$ns" || continue
        # Every process still inside (daemons, iperf3, trafgen): stop it by
        # pid, then delete the links (TAPs included) and the namespace.
        for i in $(ip netns pids "$ns" 2>/dev/null); do
            cnb_stop_pid "$i"
        done
        for link in $(ip -n "$ns" -o link show 2>/dev/null |
            awk -F': ' '{print $2}' | cut -d@ -f1); do
            [ "$link" = lo ] || ip -n "$ns" link del "$link" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
    CNB_NS=()
    set -e
}

# Remove everything (processes, namespaces, this run's /tmp/$CNB_P-* dirs).
cnb_cleanup() {
    local i
    cnb_teardown
    set +e
    for i in "${CNB_DIRS[@]}" /tmp/"${CNB_P}"-*; do
        case "$i" in
        /tmp/"${CNB_P}"-*) rm -rf -- "$i" ;;
        esac
    done
    CNB_DIRS=()
    set -e
}

cnb_on_exit() {
    local rc=$?
    [ "$CNB_CLEANED" = 1 ] && return
    CNB_CLEANED=1
    if [ -n "${CNB_MAIN_PID:-}" ]; then
        cnb_stop_pid "$CNB_MAIN_PID"
    fi
    cnb_cleanup
    exit "$rc"
}
trap cnb_on_exit EXIT
trap 'cnb_log "interrupted, cleaning up"; exit 130' INT
trap 'cnb_log "terminated, cleaning up"; exit 143' TERM

# cnb_main FUNCTION — run the benchmark body in a child and wait for it.
# bash runs a trap only once the foreground command ends, and a child that
# handles SIGINT itself (iperf3, trafgen) makes bash ignore the Ctrl-C; but
# the `wait` builtin returns at once on a trapped signal.  So the parent
# stays responsive: on Ctrl-C / TERM it stops the child and removes
# everything the run made (cnb_on_exit, by name as well as by registry).
cnb_main() {
    local rc=0
    ( trap - EXIT INT TERM; "$@" ) &
    CNB_MAIN_PID=$!
    wait "$CNB_MAIN_PID" || rc=$?
    CNB_MAIN_PID=""
    return "$rc"
}

cnb_require_root() {
    [ "$(id -u)" = 0 ] || cnb_die "must run as root (network namespaces)"
}

# Install a Debian package through apt-get if COMMAND is missing.
cnb_need() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null 2>&1 && return 0
    cnb_log "installing $pkg (for $cmd) with apt-get"
    # policy-rc.d (if present) keeps apt from starting system services; we
    # never use the distribution's service, only our own private daemons.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >&2 ||
        cnb_die "apt-get install $pkg failed"
    command -v "$cmd" >/dev/null 2>&1 || cnb_die "$cmd still missing after installing $pkg"
}

# cnb_netns VAR SUFFIX — create namespace "$CNB_P$SUFFIX" (lo up), register
# it for cleanup and store its name in the variable VAR.  (Not a $(...)
# function: the registration must happen in this shell, not a subshell.)
cnb_netns() {
    local _cnb_ns="${CNB_P}$2"
    ip netns add "$_cnb_ns"
    CNB_NS+=("$_cnb_ns")
    ip -n "$_cnb_ns" link set lo up
    printf -v "$1" '%s' "$_cnb_ns"
}

# cnb_tmpdir VAR TAG — create and register a temporary directory.
cnb_tmpdir() {
    local _cnb_d
    _cnb_d=$(mktemp -d "/tmp/${CNB_P}-$2.XXXXXX")
    CNB_DIRS+=("$_cnb_d")
    printf -v "$1" '%s' "$_cnb_d"
}

# cnb_bg LOGFILE CMD... — start a background process, register its pid.
# The pid is stored in CNB_LAST_PID (a function called through $(...) would
# register the pid in a subshell, so this one prints nothing).
cnb_bg() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    CNB_LAST_PID=$!
    CNB_PIDS+=("$CNB_LAST_PID")
}

# cnb_wait_for SECONDS DESCRIPTION CMD... — poll CMD every 0.1 s until it
# succeeds or the deadline passes (bounded, no blind sleeps).
cnb_wait_for() {
    local secs=$1 what=$2 i
    shift 2
    for i in $(seq 1 $((secs * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cnb_log "timed out after ${secs}s waiting for $what"
    return 1
}

# cnb_ping_ok NS DST — one quick reachability check (one ping, 1 s wait).
cnb_ping_ok() {
    ip netns exec "$1" ping -c 1 -W 1 -q "$2" >/dev/null 2>&1
}

# ---------------------------------------------------------------- iperf3 --

# cnb_iperf_servers NS PORT COUNT — start COUNT iperf3 servers on
# PORT..PORT+COUNT-1 inside NS (one per concurrent client, as an iperf3
# server runs one test at a time) and wait until they listen.
cnb_iperf_servers() {
    local ns=$1 port=$2 n=$3 i d
    cnb_tmpdir d iperf
    for ((i = 0; i < n; i++)); do
        cnb_bg "$d/server-$((port + i)).log" ip netns exec "$ns" iperf3 -s -p $((port + i))
    done
    for ((i = 0; i < n; i++)); do
        cnb_wait_for 5 "iperf3 server on port $((port + i))" \
            cnb_listening "$ns" $((port + i)) || return 1
    done
}

# cnb_listening NS PORT — true when a TCP socket listens on PORT in NS.
cnb_listening() {
    ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .
}

# Median of numbers given one per line on stdin.
cnb_median() {
    python3 -c '
import sys
v = sorted(float(x) for x in sys.stdin.read().split())
if not v:
    print("nan")
else:
    n = len(v)
    print(v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)
'
}

# cnb_tcp NS DST PORT STREAMS SECS — one iperf3 TCP run; prints Gbit/s
# received (end.sum_received, i.e. what the server got).
cnb_tcp() {
    local ns=$1 dst=$2 port=$3 streams=$4 secs=$5 out
    out=$(timeout $((secs + 20)) ip netns exec "$ns" \
        iperf3 -c "$dst" -p "$port" -P "$streams" -t "$secs" -J 2>&1) || {
        cnb_log "iperf3 TCP failed: $(printf '%s' "$out" | jq -r '.error? // empty' 2>/dev/null || true)"
        echo nan
        return 0
    }
    printf '%s' "$out" | jq -r '.end.sum_received.bits_per_second / 1e9'
}

# cnb_tcp_median NS DST PORT STREAMS SECS RUNS — median Gbit/s of RUNS runs.
cnb_tcp_median() {
    local ns=$1 dst=$2 port=$3 streams=$4 secs=$5 runs=$6 i v all=()
    for ((i = 0; i < runs; i++)); do
        v=$(cnb_tcp "$ns" "$dst" "$port" "$streams" "$secs")
        all+=("$v")
    done
    cnb_log "  TCP x$streams runs (Gbit/s): ${all[*]}"
    printf '%s\n' "${all[@]}" | grep -v nan | cnb_median
}

# cnb_rx NS IF / cnb_tx NS IF — packet counters of an interface.
# (tx counts what the interface accepted plus what it dropped, so that the
# offered load shows even when a TAP's queue to a slow switch overflows.)
cnb_rx() { ip -n "$1" -s -j link show "$2" | jq '.[0].stats64.rx.packets'; }
cnb_tx() { ip -n "$1" -s -j link show "$2" | jq '.[0].stats64.tx | .packets + .dropped'; }

# cnb_now — wall clock in seconds with nanoseconds.
cnb_now() { date +%s.%N; }

# cnb_udp_pps NS_A IF_A NS_B IF_B DST PORT SENDERS SECS — one run of 64-byte
# UDP frames from VM a to VM b (UDP payload 18 + 8 UDP + 20 IP + 14 Ethernet
# + 4 FCS = 64 bytes on the wire), for SECS seconds.  Prints
# "RX_PPS SENT_PPS": packets per second received by VM b's NIC (what the
# switch delivered; counted at the interface, so the receiving application's
# own speed does not matter) and sent by VM a's NIC (the generator's rate).
#
# Generator ($CNB_GEN): "trafgen" (netsniff-ng, a PACKET_MMAP TX ring, SENDERS
# CPUs) or "iperf3" (SENDERS parallel `iperf3 -u -l 18 -b 0` clients, one
# server each on PORT.. in VM b).
cnb_udp_pps() {
    local nsa=$1 ifa=$2 nsb=$3 ifb=$4 dst=$5 port=$6 senders=$7 secs=$8
    local i d pids=() rx0 rx1 tx0 tx1 t0 t1 mac_a mac_b src
    d=$(mktemp -d -p "$CNB_WORK" udp.XXXXXX)
    rx0=$(cnb_rx "$nsb" "$ifb")
    tx0=$(cnb_tx "$nsa" "$ifa")
    t0=$(cnb_now)
    if [ "${CNB_GEN:-trafgen}" = trafgen ]; then
        mac_a=$(ip -n "$nsa" -j link show "$ifa" | jq -r '.[0].address')
        mac_b=$(ip -n "$nsb" -j link show "$ifb" | jq -r '.[0].address')
        src=$(ip -n "$nsa" -j -4 addr show "$ifa" | jq -r '.[0].addr_info[0].local')
        # Source ports vary over 64 values, as several flows would.
        printf '{ eth(da=%s, sa=%s), ipv4(saddr=%s, daddr=%s, ttl=64), udp(sport=dinc(1024, 1087), dport=9), fill(0x00, 18) }\n' \
            "$mac_b" "$mac_a" "$src" "$dst" >"$d/trafgen.cfg"
        timeout -s INT "$secs" ip netns exec "$nsa" \
            trafgen -o "$ifa" -c "$d/trafgen.cfg" -P "$senders" -q \
            >"$d/trafgen.log" 2>&1 || true
    else
        for ((i = 0; i < senders; i++)); do
            timeout $((secs + 20)) ip netns exec "$nsa" \
                iperf3 -c "$dst" -p $((port + i)) -u -l 18 -b 0 -t "$secs" -J \
                >"$d/c$i.json" 2>&1 &
            pids+=($!)
        done
        for i in "${pids[@]}"; do
            wait "$i" || true
        done
    fi
    t1=$(cnb_now)
    rx1=$(cnb_rx "$nsb" "$ifb")
    tx1=$(cnb_tx "$nsa" "$ifa")
    python3 -c 'import sys; r0, r1, s0, s1, t0, t1 = map(float, sys.argv[1:])
dt = t1 - t0
print(f"{(r1 - r0) / dt:.0f} {(s1 - s0) / dt:.0f}" if dt > 0 else "nan nan")' \
        "$rx0" "$rx1" "$tx0" "$tx1" "$t0" "$t1"
}

# cnb_udp_median ... RUNS — as cnb_udp_pps, median of RUNS runs of each
# figure; prints "RX_PPS SENT_PPS".
cnb_udp_median() {
    local runs=${9} i v rx=() tx=()
    for ((i = 0; i < runs; i++)); do
        v=$(cnb_udp_pps "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8")
        rx+=("${v% *}")
        tx+=("${v#* }")
    done
    cnb_log "  UDP 64B runs: received pps ${rx[*]}; sent pps ${tx[*]}"
    printf '%s %s\n' "$(printf '%s\n' "${rx[@]}" | grep -v nan | cnb_median)" \
        "$(printf '%s\n' "${tx[@]}" | grep -v nan | cnb_median)"
}

# cnb_ping_stats NS DST COUNT — COUNT pings at 10 ms; prints "avg min p50
# p99" in microseconds (percentiles of the per-reply times, nearest rank).
cnb_ping_stats() {
    local out
    out=$(timeout $(($3 / 50 + 30)) ip netns exec "$1" ping -c "$3" -i 0.01 "$2" 2>&1) || true
    printf '%s\n' "$out" | python3 -c '
import math, re, sys
t = sorted(float(m) * 1000 for m in re.findall(r"time=([0-9.]+) ms", sys.stdin.read()))
if not t:
    print("nan nan nan nan")
else:
    rank = lambda p: t[min(len(t) - 1, max(0, math.ceil(p * len(t)) - 1))]
    print(f"{sum(t) / len(t):.0f} {t[0]:.0f} {rank(0.5):.0f} {rank(0.99):.0f}")
'
}

# cnb_ping NS DST — 100 pings at 10 ms; prints "avg min" in microseconds.
cnb_ping() {
    local out
    out=$(timeout 30 ip netns exec "$1" ping -c 100 -i 0.01 -q "$2" 2>&1) || true
    printf '%s\n' "$out" | awk -F'[/ =]+' '/^rtt|^round-trip/ {
        printf "%.0f %.0f\n", $7 * 1000, $6 * 1000; found = 1 }
        END { if (!found) print "nan nan" }'
}


# ------------------------------------------------------------ topology --

# vm_up NS IFNAME IP — inside VM namespace NS: rename IFNAME to eth0 (unless
# KEEP_NAME=1), address it, bring it up.
vm_up() {
    local ns=$1 ifname=$2 ip=$3 dev=eth0
    if [ "${KEEP_NAME:-0}" = 1 ]; then
        dev=$ifname
    else
        ip -n "$ns" link set "$ifname" name eth0
    fi
    ip -n "$ns" addr add "$ip/24" dev "$dev"
    ip -n "$ns" link set "$dev" up
}


# cnb_measure NAME — the four figures from VM a to VM b, appended to $TSV.
# Uses the globals NS_A IF_A NS_B IF_B IP_B PORT RUNS SECS SENDERS CNB_GEN
# (set by the calling script and its topology setup).
# shellcheck disable=SC2153 # those globals come from the calling script
cnb_measure() {
    local name=$1 tcp1 tcp4 pps lat avg min p50 p99
    if [ -n "$COST_MB" ]; then
        cnb_cost "$name"
        return 0
    fi
    if ! cnb_wait_for 10 "$name: ping a -> b" cnb_ping_ok "$NS_A" "$IP_B"; then
        cnb_log "$name: no connectivity"
        cnb_record "$TSV" "$name" nan nan nan nan nan nan "no connectivity"
        return 0
    fi
    if [ -n "${CNB_PINGS:-}" ]; then
        # -L: latency only; percentiles in the note column.
        cnb_log "$name: $CNB_PINGS pings"
        read -r avg min p50 p99 <<<"$(cnb_ping_stats "$NS_A" "$IP_B" "$CNB_PINGS")"
        cnb_log "$name: ping avg/min/p50/p99 us = $avg/$min/$p50/$p99"
        cnb_record "$TSV" "$name" nan nan nan nan "$avg" "$min" "p50 $p50 us, p99 $p99 us"
        return 0
    fi
    cnb_iperf_servers "$NS_B" "$PORT" "$([ "$CNB_GEN" = iperf3 ] && echo "$SENDERS" || echo 1)"
    cnb_log "$name: ping"
    lat=$(cnb_ping "$NS_A" "$IP_B")
    cnb_log "$name: TCP 1 stream, $RUNS x ${SECS}s"
    tcp1=$(cnb_tcp_median "$NS_A" "$IP_B" "$PORT" 1 "$SECS" "$RUNS")
    cnb_log "$name: TCP 4 streams, $RUNS x ${SECS}s"
    tcp4=$(cnb_tcp_median "$NS_A" "$IP_B" "$PORT" 4 "$SECS" "$RUNS")
    cnb_log "$name: UDP 64-byte, $CNB_GEN x$SENDERS, $RUNS x ${SECS}s"
    pps=$(cnb_udp_median "$NS_A" "$IF_A" "$NS_B" "$IF_B" "$IP_B" "$PORT" "$SENDERS" "$SECS" "$RUNS")
    cnb_log "$name: tcp1=$tcp1 tcp4=$tcp4 Gbit/s, udp rx/sent=$pps pps, ping avg/min us=$lat"
    # shellcheck disable=SC2086 # $pps is "rx sent", $lat is "avg min"
    cnb_record "$TSV" "$name" "$tcp1" "$tcp4" $pps $lat "${NOTE:-}"
}


# cnb_cloudnet_start NS DIR — run `cloudnet vswitchd --run-dir DIR` inside
# namespace NS (foreground, pid registered) and wait until it answers.  On
# failure sets SKIP_REASON and returns 1.
cnb_cloudnet_start() {
    local ns=$1 d=$2
    if [ ! -x "$CLOUDNET" ]; then
        SKIP_REASON="no binary at $CLOUDNET (build with cargo build --release -p cli or set CLOUDNET)"
        return 1
    fi
    if ! "$CLOUDNET" vswitchd --help >/dev/null 2>&1; then
        SKIP_REASON="$CLOUDNET has no vswitchd subcommand"
        return 1
    fi
    cnb_bg "$d/vswitchd.out" ip netns exec "$ns" "$CLOUDNET" vswitchd \
        --run-dir "$d" --log-file "$d/vswitchd.log"
    # `ip netns exec` execs the daemon: this pid is the vswitchd itself.
    CNB_SWITCH_PIDS+=("$CNB_LAST_PID")
    if ! cnb_wait_for 10 "cloudnet vswitchd in $ns" \
        env CLOUDNET_RUN_DIR="$d" "$CLOUDNET" vsctl --timeout 2 list-br; then
        SKIP_REASON="vswitchd did not answer: $(tail -n 3 "$d"/vswitchd.* 2>/dev/null | tr '\n' ' ')"
        return 1
    fi
}

# cnb_cloudnet_version — which cloudnet binary a report's figures are from
# (path and build time; the repository's HEAD may not match the binary).
cnb_cloudnet_version() {
    if [ -x "$CLOUDNET" ]; then
        printf 'cloudnet %s (built %s), repo HEAD %s' "$CLOUDNET" \
            "$(date -u -r "$CLOUDNET" '+%Y-%m-%d %H:%M UTC')" \
            "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
    else
        printf 'cloudnet: no binary at %s' "$CLOUDNET"
    fi
}

# cnb_cloudnet DIR ARGS... — run a cloudnet vsctl/ofctl command against the
# switch in DIR (through CLOUDNET_RUN_DIR, which both accept wherever their
# subcommands put --run-dir); on failure sets SKIP_REASON to the command and
# its output.
cnb_cloudnet() {
    local d=$1 sub=$2 out
    shift 2
    if ! out=$(CLOUDNET_RUN_DIR="$d" "$CLOUDNET" "$sub" "$@" 2>&1); then
        SKIP_REASON="$sub $* failed: $(printf '%s' "$out" | tr '\n' ' ')"
        return 1
    fi
    printf '%s\n' "$out"
}

# cnb_cloudnet_vms — `cloudnet vswitchd --run-dir DIR` in the switch namespace,
# tap ports moved into the VMs as eth0.  Sets SKIP_REASON and fails when
# cloudnet cannot do it (yet).  Uses SW NS_A NS_B IP_A IP_B; sets CNB_CLOUDNET_DIR.
cnb_cloudnet_vms() {
    local d v ns tap
    cnb_netns SW s
    cnb_netns NS_A a
    cnb_netns NS_B b
    cnb_tmpdir d cloudnet
    cnb_cloudnet_start "$SW" "$d" || return 1
    cnb_cloudnet "$d" vsctl add-br br0 >/dev/null || return 1
    for v in a b; do
        [ $v = a ] && ns=$NS_A || ns=$NS_B
        tap="${CNB_P}t$v"
        cnb_cloudnet "$d" vsctl add-port br0 "$tap" -- \
            set Interface "$tap" type=tap >/dev/null || return 1
        if ! cnb_wait_for 10 "cloudnet tap $tap" ip -n "$SW" link show "$tap"; then
            SKIP_REASON="tap $tap did not appear"
            return 1
        fi
        # The VM's NIC: the TAP netdev moves into the VM namespace as eth0
        # (the daemon keeps its file descriptor, which is what it uses).
        ip -n "$SW" link set "$tap" netns "$ns"
        vm_up "$ns" "$tap" "$([ $v = a ] && echo "$IP_A" || echo "$IP_B")"
    done
    # shellcheck disable=SC2034 # read by the calling script
    CNB_CLOUDNET_DIR=$d
    cnb_cloudnet_normal "$d" br0
}

# cnb_cloudnet_normal DIR BRIDGE — make sure BRIDGE forwards with NORMAL when
# no flow does (ovs-vswitchd(8): with no controller, a bridge acts as a
# learning switch); added only if the daemon did not install it itself.
cnb_cloudnet_normal() {
    local d=$1 br=$2
    if ! CLOUDNET_RUN_DIR="$d" "$CLOUDNET" ofctl dump-flows "$br" 2>/dev/null | grep -qi normal; then
        cnb_cloudnet "$d" ofctl add-flow "$br" "priority=0,actions=NORMAL" >/dev/null
    fi
}

# ---------------------------------------------------------------- report --

# cnb_record TSV NAME TCP1 TCP4 RX_PPS SENT_PPS LAT_AVG LAT_MIN NOTE — append
# one row.
cnb_record() {
    local f=$1
    shift
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$f"
}

# cnb_report TSV MD TITLE REF... — print a table of the rows in TSV and write
# a markdown report to MD with ratios against each reference row (by name).
# The header records date, load average, kernel, cores and the parameters in
# $CNB_PARAMS, because the figures only mean something next to those.
cnb_report() {
    local tsv=$1 md=$2 title=$3
    shift 3
    python3 - "$tsv" "$md" "$title" "$*" <<'PYEOF'
import math, os, subprocess, sys, time

tsv, md, title, refs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
rows = []
with open(tsv) as f:
    for line in f:
        p = line.rstrip("\n").split("\t")
        if len(p) == 8:
            rows.append(p)

def num(x):
    try:
        v = float(x)
        return None if math.isnan(v) else v
    except ValueError:
        return None

def fmt(x, d):
    v = num(x)
    return "-" if v is None else f"{v:.{d}f}"

def kpps(x):
    v = num(x)
    return "-" if v is None else f"{v / 1000:.0f}"

by_name = {r[0]: r for r in rows}
head = ["path", "TCP 1 (Gbit/s)", "TCP 4 (Gbit/s)", "UDP 64B rx (kpps)",
        "UDP sent (kpps)", "ping avg (us)", "ping min (us)", "note"]
table = [[r[0], fmt(r[1], 2), fmt(r[2], 2), kpps(r[3]), kpps(r[4]),
          fmt(r[5], 0), fmt(r[6], 0), r[7]] for r in rows]

def ratio(a, b):
    a, b = num(a), num(b)
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"

ratio_tables = []
for ref in refs:
    if ref not in by_name:
        continue
    rr = by_name[ref]
    ratio_tables.append((ref, [[r[0], ratio(r[1], rr[1]), ratio(r[2], rr[2]),
                                ratio(r[3], rr[3])] for r in rows]))

# Console.
w = [max(len(str(c[i])) for c in [head] + table) for i in range(len(head))]
print()
print(title)
for row in [head] + table:
    print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(row)).rstrip())
for ref, t in ratio_tables:
    print(f"\nratios vs {ref} (TCP 1 / TCP 4 / UDP pps):")
    for r in t:
        print(f"  {r[0]:<14} {r[1]:>7} {r[2]:>7} {r[3]:>7}")

# Markdown.
def mdtable(h, t):
    out = ["| " + " | ".join(h) + " |", "|" + "---|" * len(h)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in t]
    return "\n".join(out)

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except Exception:
        return "?"

with open("/proc/loadavg") as f:
    loadavg = " ".join(f.read().split()[:3])
lines = [f"# {title}", "",
         f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
         f"- load average at report time: {loadavg}"
         f" (at start: {os.environ.get('CNB_LOAD_START', '?')})",
         f"- kernel {sh('uname -r')}, {sh('nproc')} cores, no CPU pinning; "
         "generators, receivers and the switch share the cores",
         f"- parameters: {os.environ.get('CNB_PARAMS', '?')}",
         f"- versions: {os.environ.get('CNB_VERSIONS', '?')}",
         "", mdtable(head, table)]
for ref, t in ratio_tables:
    lines += ["", f"Ratios vs {ref}:", "",
              mdtable(["path", "TCP 1", "TCP 4", "UDP 64B pps"], t)]
lines.append("")
os.makedirs(os.path.dirname(md) or ".", exist_ok=True)
with open(md, "w") as f:
    f.write("\n".join(lines))
print(f"\nwritten: {md}")
PYEOF
}

# cnb_final_report TITLE REF... — the throughput report (ratios against
# the REF paths), or in cost mode (-c) the CPU-per-GB one.
cnb_final_report() {
    local title=$1
    shift
    if [ -n "$COST_MB" ]; then
        CNB_PARAMS="cost mode: median of $RUNS runs of iperf3 -n ${COST_MB}MB, 1 and 4 streams"
        export CNB_PARAMS
        cnb_cost_report "$OUT" "$title: CPU per GB"
    else
        cnb_report "$TSV" "$OUT" "$title" "$@"
    fi
}

# cnb_bench_main TITLE REF... — the run of a two-VM bench script: records
# the load and parameters, calls the script's run_path for each of $PATHS,
# and writes the report with ratios against the REF paths.  CNB_VERSIONS,
# when the caller sets it first, replaces the default (iperf3, cloudnet).
# Uses the globals RUNS SECS SENDERS CNB_GEN PATHS TSV OUT.
cnb_bench_main() {
    local title=$1 p gen path_list
    shift
    CNB_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    if [ "$CNB_GEN" = trafgen ]; then
        gen="trafgen -P $SENDERS (64-byte frames, received = VM b NIC rx)"
    else
        gen="$SENDERS x iperf3 -u -l 18 -b 0 (64-byte frames, received = VM b NIC rx)"
    fi
    CNB_PARAMS="median of $RUNS runs, iperf3 -t $SECS; UDP: $gen, $SECS s; ping -c 100 -i 0.01"
    [ -z "$CNB_PINGS" ] || CNB_PARAMS="latency only: ping -c $CNB_PINGS -i 0.01"
    CNB_VERSIONS=${CNB_VERSIONS:-"$(iperf3 --version | head -n 1); $(cnb_cloudnet_version)"}
    export CNB_LOAD_START CNB_PARAMS CNB_VERSIONS
    cnb_log "load average at start: $CNB_LOAD_START"
    IFS=, read -r -a path_list <<<"$PATHS"
    for p in "${path_list[@]}"; do
        run_path "$p"
    done
    cnb_final_report "$title" "$@"
}

# cnb_parse_options DEFAULT_PATHS DEFAULT_OUT "$@": the options every bench
# script takes (see the usage in each script's header). Sets RUNS, SECS,
# SENDERS, CNB_GEN (exported), PATHS, OUT and CLOUDNET, checks root and the
# tools the measurements need (installing missing ones).
# shellcheck disable=SC2034  # the globals it sets are read by the calling script
cnb_parse_options() {
    PATHS=$1
    OUT=$2
    shift 2
    RUNS=5
    SECS=5
    SENDERS=""
    CNB_GEN=trafgen
    local opt OPTIND=1
    CNB_PINGS=""
    while getopts "n:t:g:s:p:o:c:L:h" opt; do
        case $opt in
        c) COST_MB=$OPTARG ;;
        L) CNB_PINGS=$OPTARG ;;
        n) RUNS=$OPTARG ;;
        t) SECS=$OPTARG ;;
        g) CNB_GEN=$OPTARG ;;
        s) SENDERS=$OPTARG ;;
        p) PATHS=$OPTARG ;;
        o) OUT=$OPTARG ;;
        *)
            sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
            exit 2
            ;;
        esac
    done
    case $CNB_GEN in
    trafgen) SENDERS=${SENDERS:-1} ;;
    iperf3) SENDERS=${SENDERS:-4} ;;
    *) cnb_die "generator must be trafgen or iperf3, got '$CNB_GEN'" ;;
    esac
    export CNB_GEN
    local v
    for v in "$RUNS" "$SECS" "$SENDERS" ${COST_MB:+"$COST_MB"}; do
        [[ $v =~ ^[1-9][0-9]{0,4}$ ]] || cnb_die "numbers must be 1..99999, got '$v'"
    done
    [[ -z $CNB_PINGS || $CNB_PINGS =~ ^[1-9][0-9]{0,3}$ ]] ||
        cnb_die "-L takes a number of pings from 1 to 9999, got '$CNB_PINGS'"
    export CNB_PINGS
    CLOUDNET=${CLOUDNET:-$REPO/target/release/cloudnet}

    cnb_require_root
    cnb_need iperf3 iperf3
    cnb_need jq jq
    cnb_need python3 python3
    cnb_need ping iputils-ping
    cnb_need ss iproute2
    if [ "$CNB_GEN" = trafgen ]; then cnb_need trafgen netsniff-ng; fi
}

# Record path $1 as skipped (reason in SKIP_REASON) and tear down what its
# setup left; the callers then move on to the next path.
cnb_skip_path() {
    echo "$1: skipped ($SKIP_REASON)"
    cnb_record "$TSV" "$1" nan nan nan nan nan nan "skipped: $SKIP_REASON"
    cnb_teardown
}
