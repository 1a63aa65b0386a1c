#!/usr/bin/env bash
# bench/l2.sh — two "VMs" (network namespaces, 10.77.0.1/24 and 10.77.0.2/24)
# joined by one switch, measured through several switches in the same run:
#
#   bridge    Linux bridge, veth pairs
#   ovs-tso   Open vSwitch userspace datapath (datapath_type=netdev), tap
#             ports, other_config:userspace-tso-enable=true
#   ovs       the same without TSO
#   cloudnet  `cloudnet vswitchd`, tap ports (skipped with a reason if the
#             binary or the daemon does not work)
#
# Each switch runs inside its own namespace; the VM-side interface is moved
# into the VM namespaces, so nothing touches the host's interfaces.  See
# bench/README.md for what each number means.
#
# usage: bench/l2.sh [-n RUNS] [-t SECS] [-g GEN] [-s SENDERS] [-p PATHS] [-L PINGS] [-o FILE]
#   -n  runs per TCP/UDP figure, the median is reported (default 5)
#   -t  seconds per iperf3 / generator run (default 5)
#   -g  64-byte UDP generator: trafgen (default) or iperf3
#   -s  generator parallelism: trafgen CPUs (default 1) or iperf3 senders
#       (default 4)
#   -p  comma-separated paths (default bridge,ovs-tso,ovs,cloudnet)
#   -L  latency only: this many pings at 10 ms per path (avg, min, p50,
#       p99), no TCP or UDP runs
#   -o  markdown output (default bench/results/l2-<date>.md)
#   -c  cost mode: instead of the figures above, CPU seconds per GB of the
#       switch, iperf3 and softirq over runs of `iperf3 -n MB` megabytes
#       (bench/cost.sh)
# env:  CLOUDNET=path/to/cloudnet (default: <repo>/target/release/cloudnet)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

cnb_parse_options bridge,ovs-tso,ovs,cloudnet "$HERE/results/l2-$(date +%Y%m%d-%H%M).md" "$@"

IP_A=10.77.0.1
IP_B=10.77.0.2
PORT=5201          # iperf3 servers on PORT .. PORT+SENDERS-1 in VM b
TSV="$CNB_WORK/results.tsv"
: >"$TSV"
SKIP_REASON=""

# ---------------------------------------------------------- topologies --

setup_bridge() {
    local v ns
    cnb_netns SW s
    cnb_netns NS_A a
    cnb_netns NS_B b
    ip -n "$SW" link add br0 type bridge
    ip -n "$SW" link set br0 up
    for v in a b; do
        [ $v = a ] && ns=$NS_A || ns=$NS_B
        ip -n "$SW" link add "${CNB_P}$v" type veth peer name eth0 netns "$ns"
        ip -n "$SW" link set "${CNB_P}$v" master br0 up
    done
    KEEP_NAME=1 vm_up "$NS_A" eth0 $IP_A
    KEEP_NAME=1 vm_up "$NS_B" eth0 $IP_B
}

# setup_ovs TSO(true|false) — private ovsdb-server + ovs-vswitchd (own run,
# db and log directory; never the system service), netdev bridge, tap ports.
setup_ovs() {
    local tso=$1 d v ns tap
    cnb_need ovs-vswitchd openvswitch-switch
    cnb_netns SW s
    cnb_netns NS_A a
    cnb_netns NS_B b
    cnb_tmpdir d ovs
    export OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d OVS_SYSCONFDIR=$d
    ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    cnb_bg "$d/ovsdb.out" ip netns exec "$SW" ovsdb-server "$d/conf.db" \
        --remote="punix:$d/db.sock" --unixctl="$d/ovsdb.ctl" \
        --pidfile="$d/ovsdb.pid" --log-file="$d/ovsdb.log" --no-chdir
    cnb_wait_for 10 "ovsdb-server socket" test -S "$d/db.sock" || return 1
    OVS_VSCTL=(ovs-vsctl "--db=unix:$d/db.sock" --timeout=20)
    "${OVS_VSCTL[@]}" --no-wait init
    # Read once at start-up (ovs-vswitchd.conf.db(5)), so set it first.
    "${OVS_VSCTL[@]}" --no-wait set Open_vSwitch . \
        "other_config:userspace-tso-enable=$tso"
    # --disable-system: no kernel datapath (there is no openvswitch module).
    cnb_bg "$d/vswitchd.out" ip netns exec "$SW" ovs-vswitchd "unix:$d/db.sock" \
        --unixctl="$d/vswitchd.ctl" --pidfile="$d/vswitchd.pid" \
        --log-file="$d/vswitchd.log" --no-chdir --disable-system
    CNB_SWITCH_PIDS+=("$CNB_LAST_PID")
    "${OVS_VSCTL[@]}" add-br br0 -- set bridge br0 datapath_type=netdev
    for v in a b; do
        [ $v = a ] && ns=$NS_A || ns=$NS_B
        tap="${CNB_P}t$v"
        "${OVS_VSCTL[@]}" add-port br0 "$tap" -- set Interface "$tap" type=tap
        cnb_wait_for 10 "OVS tap $tap" ip -n "$SW" link show "$tap" || return 1
        ip -n "$SW" link set "$tap" netns "$ns"
    done
    # OVS keeps addressing its taps by name; leave the names alone.
    KEEP_NAME=1 vm_up "$NS_A" "${CNB_P}ta" $IP_A
    KEEP_NAME=1 vm_up "$NS_B" "${CNB_P}tb" $IP_B
    IF_A="${CNB_P}ta"
    IF_B="${CNB_P}tb"
}

# setup_cloudnet — the cloudnet switch with two tap VMs (bench/lib.sh).
setup_cloudnet() {
    cnb_cloudnet_vms
}

run_path() {
    local name=$1
    SKIP_REASON=""
    IF_A=eth0
    IF_B=eth0
    NOTE=""
    cnb_log "=== $name ==="
    case $name in
    bridge) setup_bridge ;;
    ovs-tso) setup_ovs true ;;
    ovs) setup_ovs false ;;
    cloudnet)
        if ! setup_cloudnet; then
            cnb_skip_path cloudnet
            return 0
        fi
        ;;
    *) cnb_die "unknown path '$name' (bridge, ovs-tso, ovs, cloudnet)" ;;
    esac
    cnb_measure "$name"
    cnb_teardown
}

main() {
    CNB_VERSIONS="$(iperf3 --version | head -n 1); $(ovs-vswitchd --version 2>/dev/null | head -n 1 || echo 'ovs not installed'); $(cnb_cloudnet_version)"
    cnb_bench_main "cloudnet L2 benchmark: two namespaces through one switch" bridge ovs-tso
}

cnb_main main
