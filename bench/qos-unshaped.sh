#!/usr/bin/env bash
# bench/qos-unshaped.sh — does shaping one port slow the others down?
# Four VMs on one `cloudnet vswitchd` bridge: a → b is the measured TCP
# flow (iperf3, unshaped ports); c → d is a 15 Mbit/s UDP flow into d's
# port, which is shaped by the seed's linux-htb QoS (10 Mbit/s), so the
# scheduler, its timer and its buffer pool are busy the whole time. The
# a → b throughput is measured with the QoS on and off, alternating, and
# the medians are compared (issue 7: unchanged within ±5%).
#
# usage: bench/qos-unshaped.sh [-n RUNS] [-t SECS] [-o FILE]
#   -n  runs per setting (default 5), -t seconds per run (default 5)
#   -o  markdown output (default bench/results/qos-unshaped-<date>.md)
# env:  CLOUDNET=path/to/cloudnet (default: <repo>/target/release/cloudnet)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

RUNS=5
SECS=5
OUT="$HERE/results/qos-unshaped-$(date +%Y%m%d-%H%M).md"
while getopts "n:t:o:h" opt; do
    case $opt in
    n) RUNS=$OPTARG ;;
    t) SECS=$OPTARG ;;
    o) OUT=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 0 ;;
    esac
done
CLOUDNET=${CLOUDNET:-$REPO/target/release/cloudnet}
QOS="type=linux-htb other-config:max-rate=10000000"

tcp_gbit() {
    ip netns exec "$NS_a" iperf3 -J -c 10.79.0.2 -p 5201 -t "$SECS" |
        jq '.end.sum_received.bits_per_second / 1e9' | awk '{ printf "%.3f", $1 }'
}

main() {
    local d sw v ns p i d_port on off r
    cnb_require_root
    cnb_need iperf3 iperf3
    cnb_need jq jq
    cnb_netns sw s
    cnb_tmpdir d qosu
    cnb_cloudnet_start "$sw" "$d" || cnb_die "$SKIP_REASON"
    cnb_cloudnet "$d" vsctl add-br br0 >/dev/null || cnb_die "$SKIP_REASON"
    cnb_cloudnet_normal "$d" br0
    i=0
    for v in a b c d; do
        i=$((i + 1))
        cnb_netns ns "$v"
        p="${CNB_P}$v"
        cnb_cloudnet "$d" vsctl add-port br0 "$p" -- set Interface "$p" type=tap \
            "options:netns=$ns" options:ifname=eth0 >/dev/null || cnb_die "$SKIP_REASON"
        cnb_wait_for 10 "tap of $v" ip -n "$ns" link show eth0 || cnb_die "no eth0 in $ns"
        KEEP_NAME=1 vm_up "$ns" eth0 "10.79.0.$i"
        eval "NS_$v=\$ns"
    done
    d_port="${CNB_P}d"
    cnb_bg "$CNB_WORK/iperf-b.out" ip netns exec "$NS_b" iperf3 -s -p 5201
    cnb_bg "$CNB_WORK/iperf-d.out" ip netns exec "$NS_d" iperf3 -s -p 5202
    cnb_wait_for 5 "iperf3 servers" cnb_listening "$NS_b" 5201
    cnb_wait_for 5 "iperf3 servers" cnb_listening "$NS_d" 5202
    cnb_wait_for 5 "ping a→b" ip netns exec "$NS_a" ping -c 1 -W 1 10.79.0.2 >/dev/null
    cnb_wait_for 5 "ping c→d" ip netns exec "$NS_c" ping -c 1 -W 1 10.79.0.4 >/dev/null
    # Background load into the shaped port for the whole run.
    cnb_bg "$CNB_WORK/iperf-c.out" ip netns exec "$NS_c" iperf3 -u -b 15M -l 1400 \
        -c 10.79.0.4 -p 5202 -t $((RUNS * SECS * 2 + 30))

    on=()
    off=()
    for ((r = 0; r < RUNS; r++)); do
        cnb_cloudnet "$d" vsctl set port "$d_port" qos=@q -- --id=@q create qos $QOS >/dev/null ||
            cnb_die "$SKIP_REASON"
        on+=("$(tcp_gbit)")
        cnb_cloudnet "$d" vsctl clear port "$d_port" qos -- --all destroy qos >/dev/null ||
            cnb_die "$SKIP_REASON"
        off+=("$(tcp_gbit)")
        cnb_log "run $r: shaped ${on[-1]} Gbit/s, unshaped ${off[-1]} Gbit/s"
    done
    local mon moff
    mon=$(printf '%s\n' "${on[@]}" | cnb_median)
    moff=$(printf '%s\n' "${off[@]}" | cnb_median)
    mkdir -p "$(dirname "$OUT")"
    {
        echo "# Unshaped TCP throughput while another port is shaped"
        echo
        echo "a → b TCP (iperf3, $SECS s, median of $RUNS), while c → d sends 15 Mbit/s UDP"
        echo "into d's port; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
        echo
        echo "| d's port | a → b Gbit/s (median) | runs |"
        echo "|---|---|---|"
        echo "| linux-htb 10 Mbit/s | $mon | ${on[*]} |"
        echo "| no QoS | $moff | ${off[*]} |"
        echo
        echo "Change with shaping: $(awk -v a="$mon" -v b="$moff" 'BEGIN { printf "%+.1f%%", (a - b) / b * 100 }')"
    } >"$OUT"
    cat "$OUT"
}

cnb_main main
