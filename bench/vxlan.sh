#!/usr/bin/env bash
# bench/vxlan.sh — one VM on each of two "hosts", the hosts joined by an
# underlay, the VMs' L2 network carried in VXLAN (VNI 100, UDP 4789,
# RFC 7348) between them.  Measured in the same run:
#
#   kernel    per host: the kernel's VXLAN device on a Linux bridge, the VM
#             behind it on a veth pair
#   cloudnet  per host: `cloudnet vswitchd` with a tap port for the VM and a
#             `type=vxlan` port (skipped, with the reason, when the binary
#             is missing or the switch does not come up)
#
# Namespaces: underlay (a Linux bridge, 10.78.0.0/24 on the hosts' eth0),
# host 1 / host 2, VM a / VM b (10.77.0.1/24, 10.77.0.2/24, MTU 1450 so that
# 1450 + 50 bytes of VXLAN overhead fit the 1500-byte underlay).
#
# usage: bench/vxlan.sh [-n RUNS] [-t SECS] [-g GEN] [-s SENDERS] [-p PATHS] [-L PINGS] [-o FILE]
#   -n  runs per TCP/UDP figure, the median is reported (default 5)
#   -t  seconds per iperf3 / generator run (default 5)
#   -g  64-byte UDP generator: trafgen (default) or iperf3
#   -s  generator parallelism: trafgen CPUs (default 1) or iperf3 senders
#       (default 4)
#   -p  comma-separated paths (default kernel,cloudnet)
#   -L  latency only: this many pings at 10 ms per path (avg, min, p50,
#       p99), no TCP or UDP runs
#   -o  markdown output (default bench/results/vxlan-<date>.md)
#   -c  cost mode: instead of the figures above, CPU seconds per GB of the
#       switch, iperf3 and softirq over runs of `iperf3 -n MB` megabytes
#       (bench/cost.sh)
# env:  CLOUDNET=path/to/cloudnet (default: <repo>/target/release/cloudnet)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

cnb_parse_options kernel,cloudnet "$HERE/results/vxlan-$(date +%Y%m%d-%H%M).md" "$@"

IP_A=10.77.0.1
IP_B=10.77.0.2
UL_1=10.78.0.1
UL_2=10.78.0.2
VNI=100
VM_MTU=1450
PORT=5201
TSV="$CNB_WORK/results.tsv"
: >"$TSV"

# underlay — namespaces U (bridge ubr), H1, H2 (eth0 on the underlay bridge,
# 10.78.0.1 / 10.78.0.2), VM namespaces NS_A, NS_B (not yet connected).
underlay() {
    local h ns ip
    cnb_netns U u
    cnb_netns H1 h1
    cnb_netns H2 h2
    cnb_netns NS_A a
    cnb_netns NS_B b
    ip -n "$U" link add ubr type bridge
    ip -n "$U" link set ubr up
    for h in 1 2; do
        [ $h = 1 ] && ns=$H1 ip=$UL_1 || ns=$H2 ip=$UL_2
        ip -n "$U" link add "${CNB_P}u$h" type veth peer name eth0 netns "$ns"
        ip -n "$U" link set "${CNB_P}u$h" master ubr up
        ip -n "$ns" addr add "$ip/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
}

setup_kernel() {
    local h hns vns local_ip remote_ip vm_ip
    underlay
    for h in 1 2; do
        if [ $h = 1 ]; then
            hns=$H1 vns=$NS_A local_ip=$UL_1 remote_ip=$UL_2 vm_ip=$IP_A
        else
            hns=$H2 vns=$NS_B local_ip=$UL_2 remote_ip=$UL_1 vm_ip=$IP_B
        fi
        ip -n "$hns" link add br0 type bridge
        ip -n "$hns" link set br0 up
        # Point-to-point VXLAN: unknown/broadcast frames go to the one remote
        # VTEP (head-end replication with a single peer).
        ip -n "$hns" link add vx0 type vxlan id $VNI dstport 4789 \
            local "$local_ip" remote "$remote_ip" dev eth0
        ip -n "$hns" link set vx0 master br0 up
        ip -n "$hns" link add "${CNB_P}v$h" type veth peer name eth0 netns "$vns"
        ip -n "$hns" link set "${CNB_P}v$h" master br0 up
        ip -n "$vns" link set eth0 mtu $VM_MTU
        vm_up "$vns" eth0 "$vm_ip"
    done
}

# setup_cloudnet — one vswitchd per host namespace (own run dir), br0 with a
# tap port (the VM's NIC, moved into the VM as eth0) and a vxlan port to the
# other host.
setup_cloudnet() {
    local h hns vns local_ip remote_ip vm_ip d tap
    underlay
    for h in 1 2; do
        if [ $h = 1 ]; then
            hns=$H1 vns=$NS_A local_ip=$UL_1 remote_ip=$UL_2 vm_ip=$IP_A
        else
            hns=$H2 vns=$NS_B local_ip=$UL_2 remote_ip=$UL_1 vm_ip=$IP_B
        fi
        cnb_tmpdir d "cloudnet$h"
        cnb_cloudnet_start "$hns" "$d" || return 1
        cnb_cloudnet "$d" vsctl add-br br0 >/dev/null || return 1
        cnb_cloudnet "$d" vsctl add-port br0 vx0 -- set Interface vx0 type=vxlan \
            "options:remote_ip=$remote_ip" "options:local_ip=$local_ip" \
            "options:key=$VNI" options:dst_port=4789 >/dev/null || return 1
        tap="${CNB_P}t$h"
        cnb_cloudnet "$d" vsctl add-port br0 "$tap" -- \
            set Interface "$tap" type=tap >/dev/null || return 1
        if ! cnb_wait_for 10 "cloudnet tap $tap" ip -n "$hns" link show "$tap"; then
            SKIP_REASON="tap $tap did not appear"
            return 1
        fi
        ip -n "$hns" link set "$tap" netns "$vns"
        ip -n "$vns" link set "$tap" mtu $VM_MTU
        vm_up "$vns" "$tap" "$vm_ip"
        cnb_cloudnet_normal "$d" br0 || return 1
    done
}

run_path() {
    local name=$1
    SKIP_REASON=""
    IF_A=eth0
    IF_B=eth0
    NOTE=""
    cnb_log "=== $name ==="
    case $name in
    kernel) setup_kernel ;;
    cloudnet)
        if ! setup_cloudnet; then
            cnb_skip_path cloudnet
            return 0
        fi
        ;;
    *) cnb_die "unknown path '$name' (kernel, cloudnet)" ;;
    esac
    cnb_measure "$name"
    # Evidence that the traffic took the tunnel: UDP 4789 on the underlay.
    cnb_log "$name: host 1 underlay eth0 sent $(cnb_tx "$H1" eth0) packets," \
        "VM a eth0 sent $(cnb_tx "$NS_A" "$IF_A")"
    cnb_teardown
}

main() {
    local p gen path_list
    if [ "$CNB_GEN" = trafgen ]; then
        gen="trafgen -P $SENDERS (64-byte frames, received = VM b NIC rx)"
    else
        gen="$SENDERS x iperf3 -u -l 18 -b 0 (64-byte frames, received = VM b NIC rx)"
    fi
    CNB_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    CNB_PARAMS="VXLAN VNI $VNI, VM MTU $VM_MTU; median of $RUNS runs, iperf3 -t $SECS; UDP: $gen, $SECS s; ping -c 100 -i 0.01"
    [ -z "$CNB_PINGS" ] || CNB_PARAMS="VXLAN VNI $VNI, VM MTU $VM_MTU; latency only: ping -c $CNB_PINGS -i 0.01"
    CNB_VERSIONS="$(iperf3 --version | head -n 1); $(cnb_cloudnet_version)"
    export CNB_LOAD_START CNB_PARAMS CNB_VERSIONS
    cnb_log "load average at start: $CNB_LOAD_START"

    IFS=, read -r -a path_list <<<"$PATHS"
    for p in "${path_list[@]}"; do
        run_path "$p"
    done

    cnb_final_report "cloudnet VXLAN benchmark: VM to VM across two hosts" kernel
}

cnb_main main
