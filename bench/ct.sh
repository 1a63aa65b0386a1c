#!/usr/bin/env bash
# bench/ct.sh — the cost of connection tracking in cloudnet's datapath: two
# "VMs" (network namespaces, 10.77.0.1/24 and 10.77.0.2/24, tap ports) on
# one `cloudnet vswitchd`, with three flow tables:
#
#   normal   priority=0 actions=NORMAL (the reference)
#   ct       a stateful firewall as in ovs-actions(7): ct(table=1) for IP,
#            +new committed with ct(commit), +est forwarded (every packet
#            goes through the tracker twice: lookup, then recirculation)
#   ct-nat   the same with NAT on every packet: VM a talks to a virtual
#            address 10.77.0.100 that ct(commit,nat(dst=10.77.0.2)) maps to
#            VM b; ct(nat,table=1) translates both directions afterwards
#
# usage: bench/ct.sh [-n RUNS] [-t SECS] [-g GEN] [-s SENDERS] [-p PATHS] [-o FILE]
#   -n  runs per TCP/UDP figure, the median is reported (default 5)
#   -t  seconds per iperf3 / generator run (default 5)
#   -g  64-byte UDP generator: trafgen (default) or iperf3
#   -s  generator parallelism: trafgen CPUs (default 1) or iperf3 senders
#       (default 4)
#   -p  comma-separated paths (default normal,ct,ct-nat)
#   -o  markdown output (default bench/results/ct-<date>.md)
# env:  CLOUDNET=path/to/cloudnet (default: <repo>/target/release/cloudnet)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

cnb_parse_options normal,ct,ct-nat "$HERE/results/ct-$(date +%Y%m%d-%H%M).md" "$@"

IP_A=10.77.0.1
IP_B=10.77.0.2
VIP=10.77.0.100
PORT=5201
TSV="$CNB_WORK/results.tsv"
: >"$TSV"
SKIP_REASON=""

# flows NAME — the flow table of path NAME, one add-flow argument per line.
flows() {
    case $1 in
    normal) echo "priority=0,actions=NORMAL" ;;
    ct | ct-nat)
        local nat="" commit="ct(commit,zone=1)" match=ip
        if [ "$1" = ct-nat ]; then
            nat=",nat"
            commit="ct(commit,zone=1,nat(dst=$IP_B))"
            match="ip,ct_nw_dst=$VIP"
        fi
        cat <<FLOWS
table=0,priority=10,arp,actions=NORMAL
table=0,priority=100,ip,actions=ct(table=1,zone=1$nat)
table=1,priority=100,ct_state=+trk+est,ip,actions=NORMAL
table=1,priority=100,ct_state=+trk+new,$match,actions=$commit,NORMAL
table=1,priority=0,actions=drop
FLOWS
        ;;
    esac
}

run_path() {
    local name=$1 f
    SKIP_REASON=""
    IF_A=eth0
    IF_B=eth0
    NOTE=""
    IP_B=10.77.0.2
    cnb_log "=== $name ==="
    case $name in
    normal | ct | ct-nat) ;;
    *) cnb_die "unknown path '$name' (normal, ct, ct-nat)" ;;
    esac
    if ! cnb_cloudnet_vms; then
        cnb_skip_path "$name"
        return 0
    fi
    f="$CNB_CLOUDNET_DIR/flows.txt"
    flows "$name" >"$f"
    if ! cnb_cloudnet "$CNB_CLOUDNET_DIR" ofctl del-flows br0 >/dev/null ||
        ! cnb_cloudnet "$CNB_CLOUDNET_DIR" ofctl add-flows br0 "$f" >/dev/null; then
        cnb_die "$name: flows: $SKIP_REASON"
    fi
    if [ "$name" = ct-nat ]; then
        # VM a reaches the virtual address at VM b's MAC (a static
        # neighbour: nothing answers ARP for it).
        ip -n "$NS_A" neigh replace "$VIP" dev eth0 nud permanent \
            lladdr "$(ip -n "$NS_B" -j link show eth0 | jq -r '.[0].address')"
        IP_B=$VIP
        NOTE="to $VIP, DNAT to 10.77.0.2"
    fi
    cnb_measure "$name"
    [ "$name" = normal ] ||
        cnb_log "$name: $(CLOUDNET_RUN_DIR="$CNB_CLOUDNET_DIR" "$CLOUDNET" ofctl ct-stats | head -n 1)"
    cnb_teardown
}

main() {
    cnb_bench_main "cloudnet conntrack benchmark: two namespaces through ct() flows" normal
}

cnb_main main
