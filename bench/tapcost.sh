#!/usr/bin/env bash
# bench/tapcost.sh — what forwarding costs cloudnet itself, in figures that
# do not depend on how loaded the machine is: the switch's CPU time per
# forwarded packet (64-byte UDP) and per GB (one TCP stream), and system
# calls per forwarded packet, for each TAP I/O method (CLOUDNET_TAP_IO:
# io_uring batches, or one read/write system call per frame).
#
# Topology as bench/l2.sh: VM a — cloudnet vswitchd — VM b, tap ports.
# CPU time is utime+stime of the vswitchd process (/proc/PID/stat) over the
# run; packets are those VM b's NIC received; system calls are counted with
# `perf stat -e raw_syscalls:sys_enter` on the process for SECS seconds.
#
# usage: bench/tapcost.sh [-t SECS] [-s SENDERS] [-o FILE]
#   -t  seconds per measurement (default 5)
#   -s  trafgen CPUs (default 1)
#   -o  markdown output (default bench/results/tapcost-<date>.md)
# env:  CLOUDNET=path/to/cloudnet (default: <repo>/target/release/cloudnet)
#       MODES="io_uring syscalls" (TAP I/O methods measured)
#       PERF_OUT=FILE: also `perf record -g` the switch under the 64-byte
#       load, one FILE.<mode> per mode (read with `perf report -i`)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

cnb_parse_options cloudnet "$HERE/results/tapcost-$(date +%Y%m%d-%H%M).md" "$@"
cnb_need perf linux-perf

IP_A=10.77.0.1
IP_B=10.77.0.2
MODES=${MODES:-io_uring syscalls}
TICK=$(getconf CLK_TCK)

# cpu_ticks PID — utime + stime of PID and its threads, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# syscalls PID SECS — system calls PID made during SECS seconds.
syscalls() {
    perf stat -x, -e raw_syscalls:sys_enter -p "$1" -- sleep "$2" 2>&1 >/dev/null |
        awk -F, '/raw_syscalls/ { print $1 }'
}

# rx_bytes NS IF — bytes received by IF.
rx_bytes() { ip -n "$1" -s -j link show "$2" | jq '.[0].stats64.rx.bytes'; }

measure_mode() {
    local mode=$1 pid c0 c1 r0 r1 b0 b1 sc udp tcp
    cnb_log "cloudnet, CLOUDNET_TAP_IO=$mode"
    export CLOUDNET_TAP_IO=$mode
    if ! cnb_cloudnet_vms; then
        cnb_log "cloudnet setup failed: $SKIP_REASON"
        return 1
    fi
    pid=$(pgrep -f "vswitchd --run-dir $CNB_CLOUDNET_DIR" | head -n 1)
    [ -n "$pid" ] || cnb_die "no vswitchd process for $CNB_CLOUDNET_DIR"
    cnb_wait_for 10 "ping a -> b" cnb_ping_ok "$NS_A" "$IP_B" || return 1

    # 64-byte UDP: CPU per packet, and system calls per packet.
    c0=$(cpu_ticks "$pid")
    r0=$(cnb_rx "$NS_B" eth0)
    udp=$(cnb_udp_pps "$NS_A" eth0 "$NS_B" eth0 "$IP_B" 5201 "$SENDERS" "$SECS")
    c1=$(cpu_ticks "$pid")
    r1=$(cnb_rx "$NS_B" eth0)
    local pkts=$((r1 - r0))
    ( timeout -s INT "$SECS" ip netns exec "$NS_A" trafgen -o eth0 \
        -c "$(find "$CNB_WORK" -name trafgen.cfg -print -quit)" -P "$SENDERS" -q \
        >/dev/null 2>&1 || true ) &
    local gen=$!
    r0=$(cnb_rx "$NS_B" eth0)
    sc=$(syscalls "$pid" $((SECS - 1)))
    r1=$(cnb_rx "$NS_B" eth0)
    wait "$gen" || true
    local sc_pkts=$((r1 - r0))
    if [ -n "${PERF_OUT:-}" ]; then
        # A profile of the switch (kernel and user, call graphs) under the
        # same 64-byte load: where its CPU per packet goes.
        ( timeout -s INT "$SECS" ip netns exec "$NS_A" trafgen -o eth0 \
            -c "$(find "$CNB_WORK" -name trafgen.cfg -print -quit)" -P "$SENDERS" -q \
            >/dev/null 2>&1 || true ) &
        gen=$!
        perf record -q -g -p "$pid" -o "$PERF_OUT.$mode" -- sleep $((SECS - 1)) \
            >/dev/null 2>&1 || cnb_log "perf record failed"
        wait "$gen" || true
    fi

    # One TCP stream: CPU per GB received by VM b.
    cnb_iperf_servers "$NS_B" 5201 1
    local t0 t1
    t0=$(cpu_ticks "$pid")
    b0=$(rx_bytes "$NS_B" eth0)
    tcp=$(cnb_tcp "$NS_A" "$IP_B" 5201 1 "$SECS")
    t1=$(cpu_ticks "$pid")
    b1=$(rx_bytes "$NS_B" eth0)

    python3 - "$mode" "$udp" "$pkts" "$c0" "$c1" "$sc" "$sc_pkts" "$tcp" "$b0" "$b1" "$t0" "$t1" "$TICK" <<'EOF' >>"$OUT.rows"
import sys
mode, udp, pkts, c0, c1, sc, scp, tcp, b0, b1, t0, t1, tick = sys.argv[1:]
rx_pps, sent_pps = udp.split()
pkts, tick = int(pkts), float(tick)
cpu_pkt = (int(c1) - int(c0)) / tick / pkts * 1e6 if pkts else float("nan")
sc_pkt = int(sc) / int(scp) if sc and int(scp) else float("nan")
gb = (int(b1) - int(b0)) / 1e9
cpu_gb = (int(t1) - int(t0)) / tick / gb if gb > 0 else float("nan")
tcp = f"{float(tcp):.2f}" if tcp != "nan" else "nan"
print(f"| {mode} | {rx_pps} | {sent_pps} | {cpu_pkt:.2f} | {sc_pkt:.2f} | {tcp} | {cpu_gb:.2f} |")
EOF
    cnb_teardown
}

body() {
    local m
    : >"$OUT.rows"
    for m in $MODES; do
        measure_mode "$m" || cnb_log "mode $m failed"
    done
    {
        echo "# cloudnet TAP I/O cost ($(date -u '+%Y-%m-%d %H:%M UTC'))"
        echo
        echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); $(cnb_cloudnet_version)"
        echo "bench/tapcost.sh -t $SECS -s $SENDERS; CPU = vswitchd utime+stime"
        echo
        echo "| TAP I/O | UDP 64B rx pps | offered pps | switch CPU µs / packet | syscalls / packet | TCP 1 stream Gbit/s | switch CPU s / GB |"
        echo "|---|---|---|---|---|---|---|"
        cat "$OUT.rows"
    } >"$OUT"
    rm -f "$OUT.rows"
    cat "$OUT"
}

mkdir -p "$(dirname "$OUT")"
cnb_main body
