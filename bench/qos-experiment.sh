#!/usr/bin/env bash
# bench/qos-experiment.sh — the first seed's QoS experiment (chapter 3),
# rerun on cloudnet and plotted like the figure of Devera's "HTB Linux
# queuing discipline manual": three sender VMs (s0, s1, s2) and a receiver
# VM (r) on one `cloudnet vswitchd` bridge; r's port carries the seed's
# QoS verbatim (linux-htb, max-rate 10 Mbit/s, queues 0/1/2 with min-rate
# 3/1/6 Mbit/s and max-rate 10 Mbit/s) and flows
# `in_port=sN,actions=enqueue:r:N` put each sender in its queue.
#
# The senders (iperf3 -u at 15 Mbit/s each, more than the port) start and
# stop at staggered times, so the plot shows every combination: one class
# alone takes the whole 10 Mbit/s, and backlogged classes share it 3:1:6
# (pairs 3:1, 1:2, 1:6). The rate of each class is read once a second from
# `cloudnet tc -s class show dev r` (bytes the scheduler sent per class).
#
# usage: bench/qos-experiment.sh [-t SECS_PER_STEP] [-o DIR]
#   -t  seconds between two start/stop events (default 4; 6 events)
#   -o  output directory (default bench/results/qos-<date>): rates.tsv
#       (per-second table), rates.png (the plot), tc-classes.txt
# env:  CLOUDNET=path/to/cloudnet (default: <repo>/target/release/cloudnet)
# Needs root; installs iperf3 and gnuplot-nox with apt-get when missing.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

STEP=4
OUTDIR="$HERE/results/qos-$(date +%Y%m%d-%H%M)"
while getopts "t:o:h" opt; do
    case $opt in
    t) STEP=$OPTARG ;;
    o) OUTDIR=$OPTARG ;;
    *) sed -n '2,22p' "$0"; exit 0 ;;
    esac
done
CLOUDNET=${CLOUDNET:-$REPO/target/release/cloudnet}

# Start/stop schedule in steps: sender index, start step, stop step.
# Gives: s0 alone, s0+s1, all three, s1+s2, s0+s2, s0 alone.
SCHEDULE=("0 0 3" "1 1 4" "2 2 6" "0 5 7")
STEPS=7

main() {
    local d sw r p q n i ns ofr t0 now start stop bytes prev
    cnb_require_root
    cnb_need iperf3 iperf3
    cnb_need gnuplot gnuplot-nox
    mkdir -p "$OUTDIR"
    cnb_netns sw s
    cnb_tmpdir d qos
    cnb_cloudnet_start "$sw" "$d" || cnb_die "$SKIP_REASON"
    cnb_cloudnet "$d" vsctl add-br br0 >/dev/null || cnb_die "$SKIP_REASON"
    cnb_cloudnet_normal "$d" br0
    for v in r s0 s1 s2; do
        cnb_netns ns "$v"
        p="${CNB_P}$v"
        cnb_cloudnet "$d" vsctl add-port br0 "$p" -- set Interface "$p" type=tap \
            "options:netns=$ns" options:ifname=eth0 >/dev/null || cnb_die "$SKIP_REASON"
        cnb_wait_for 10 "tap of $v" ip -n "$ns" link show eth0 || cnb_die "no eth0 in $ns"
        case $v in
        r) i=10 ;; s0) i=1 ;; s1) i=2 ;; s2) i=3 ;;
        esac
        KEEP_NAME=1 vm_up "$ns" eth0 "10.78.0.$i"
        eval "NS_$v=\$ns"
    done
    r="${CNB_P}r"
    # The seed's command, verbatim but for `ovs-vsctl` → `cloudnet vsctl`.
    cnb_cloudnet "$d" vsctl set port "$r" qos=@newqos -- --id=@newqos create qos type=linux-htb other-config:max-rate=10000000 queues=0=@q0,1=@q1,2=@q2 -- --id=@q0 create queue other-config:min-rate=3000000 other-config:max-rate=10000000 -- --id=@q1 create queue other-config:min-rate=1000000 other-config:max-rate=10000000 -- --id=@q2 create queue other-config:min-rate=6000000 other-config:max-rate=10000000 >/dev/null ||
        cnb_die "$SKIP_REASON"
    ofr=$(cnb_cloudnet "$d" vsctl get Interface "$r" ofport)
    for q in 0 1 2; do
        n=$(cnb_cloudnet "$d" vsctl get Interface "${CNB_P}s$q" ofport)
        cnb_cloudnet "$d" ofctl add-flow br0 "priority=10,in_port=$n,actions=enqueue:$ofr:$q" >/dev/null ||
            cnb_die "$SKIP_REASON"
        cnb_bg "$CNB_WORK/iperf-s$q.out" ip netns exec "$NS_r" iperf3 -s -p $((5201 + q))
    done
    for ns in "$NS_s0" "$NS_s1" "$NS_s2"; do
        cnb_wait_for 5 "ping from $ns" ip netns exec "$ns" ping -c 1 -W 1 10.78.0.10 >/dev/null
    done
    cnb_wait_for 5 "iperf3 servers" cnb_listening "$NS_r" 5203

    # Launch each sender at its start step for its duration, in background.
    for e in "${SCHEDULE[@]}"; do
        read -r q start stop <<<"$e"
        eval "ns=\$NS_s$q"
        cnb_bg "$CNB_WORK/iperf-c$q-$start.out" bash -c \
            "sleep $((start * STEP)); exec ip netns exec $ns iperf3 -u -b 15M -l 1400 -c 10.78.0.10 -p $((5201 + q)) -t $(((stop - start) * STEP))"
    done

    # Sample the class counters once a second.
    printf 't_s\tq0_mbit\tq1_mbit\tq2_mbit\n' >"$OUTDIR/rates.tsv"
    declare -A prev=()
    t0=$(cnb_now)
    for ((t = 0; t <= STEPS * STEP; t++)); do
        now=$(cnb_now)
        sleep "$(awk -v t0="$t0" -v now="$now" -v t="$t" 'BEGIN { w = t0 + t - now; print (w > 0 ? w : 0) }')"
        CLOUDNET_RUN_DIR="$d" "$CLOUDNET" tc -s class show dev "$r" >"$CNB_WORK/classes.txt"
        line="$t"
        for q in 0 1 2; do
            # Queue q is class 1:(q+1); the line after it is " Sent B bytes P pkt".
            bytes=$(awk -v c="class htb 1:$((q + 1)) " 'index($0, c) == 1 { getline; print $2; exit }' "$CNB_WORK/classes.txt")
            bytes=${bytes:-0}
            if [ -n "${prev[$q]:-}" ]; then
                line="$line\t$(awk -v a="$bytes" -v b="${prev[$q]}" 'BEGIN { printf "%.3f", (a - b) * 8 / 1e6 }')"
            fi
            prev[$q]=$bytes
        done
        [ "$t" -gt 0 ] && printf '%b\n' "$line" >>"$OUTDIR/rates.tsv"
    done
    cp "$CNB_WORK/classes.txt" "$OUTDIR/tc-classes.txt"

    gnuplot <<EOF
set terminal pngcairo size 900,500
set output "$OUTDIR/rates.png"
set title "cloudnet linux-htb: 10 Mbit/s port, queues min 3/1/6 Mbit/s (seed chapter 3)"
set xlabel "time (s)"
set ylabel "rate (Mbit/s)"
set yrange [0:11]
set key outside right
set grid
plot "$OUTDIR/rates.tsv" using 1:2 with linespoints title "queue 0 (min 3)", \
     "" using 1:3 with linespoints title "queue 1 (min 1)", \
     "" using 1:4 with linespoints title "queue 2 (min 6)", \
     "" using 1:(\$2+\$3+\$4) with lines dashtype 2 title "total"
EOF
    cnb_log "per-second rates: $OUTDIR/rates.tsv; plot: $OUTDIR/rates.png"
    column -t "$OUTDIR/rates.tsv"
}

cnb_main main
