#!/usr/bin/env bash
# bench/capture.sh — what `cloudnet capture` costs the datapath: iperf3 TCP
# between two tap VMs through `cloudnet vswitchd` (bench/lib.sh's
# topology), without a capture, with a capture writing every frame of the
# port to a pcap (-w), and with a capture whose filter (evaluated in the
# switch) matches nothing. For the captures it also reports how many frames
# reached the file and how many the bounded capture queue dropped (the
# datapath never waits for a slow reader).
#
# usage: bench/capture.sh [-n RUNS] [-t SECS] [-o FILE]
#   -n  iperf3 runs per figure, the median is reported (default 3)
#   -t  seconds per run (default 5)
#   -o  markdown output (default bench/results/capture-<date>.md)
# env:  CLOUDNET=path/to/cloudnet (default: <repo>/target/release/cloudnet)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

cnb_parse_options cloudnet "$HERE/results/capture-$(date +%Y%m%d-%H%M).md" -g iperf3 -n 3 "$@"

IP_A=10.77.0.1
IP_B=10.77.0.2
PORT=5201

# tcp_with_capture LABEL [CAPTURE ARGS...] — median TCP Gbit/s with a
# capture of VM a's port running (none when no args), and its frame counts.
tcp_with_capture() {
    local label=$1 log gbps cap_pid="" frames dropped
    shift
    log="$CNB_WORK/capture-$label.log"
    if [ $# -gt 0 ]; then
        cnb_bg "$log" env CLOUDNET_RUN_DIR="$CNB_CLOUDNET_DIR" "$CLOUDNET" capture \
            "${CNB_P}ta" "$@" --duration $(((SECS + 5) * RUNS + 30))
        cap_pid=$CNB_LAST_PID
        cnb_wait_for 10 "capture on ${CNB_P}ta" grep -q "capturing on" "$log"
    fi
    gbps=$(cnb_tcp_median "$NS_A" "$IP_B" "$PORT" 1 "$SECS" "$RUNS")
    frames=-
    dropped=-
    if [ -n "$cap_pid" ]; then
        # Ctrl-C (SIGINT) ends a capture with its counts printed.
        kill -INT "$cap_pid" 2>/dev/null || true
        wait "$cap_pid" 2>/dev/null || true
        frames=$(sed -n 's/^\([0-9]*\) frames captured$/\1/p' "$log")
        dropped=$(sed -n 's/^\([0-9]*\) frames dropped by capture$/\1/p' "$log")
        dropped=${dropped:-0}
    fi
    printf '| %s | %.2f | %s | %s |\n' "$label" "$gbps" "$frames" "$dropped"
}

body() {
    cnb_need tcpdump tcpdump
    cnb_cloudnet_vms || cnb_die "cloudnet setup: $SKIP_REASON"
    cnb_iperf_servers "$NS_B" "$PORT" 1 || cnb_die "iperf3 server"
    cnb_wait_for 10 "ping $IP_B" cnb_ping_ok "$NS_A" "$IP_B" || cnb_die "no ping"
    {
        echo "# cloudnet capture cost: TCP through cloudnet vswitchd"
        echo
        echo "$(cnb_cloudnet_version); $(iperf3 --version | head -n 1)"
        echo "runs=$RUNS secs=$SECS, one TCP stream, median Gbit/s"
        echo
        echo "| capture | TCP Gbit/s | frames in pcap | dropped by capture queue |"
        echo "|---|---|---|---|"
        tcp_with_capture none
        tcp_with_capture all-to-pcap -w "$CNB_WORK/all-to-pcap.pcap"
        tcp_with_capture filter-no-match -w "$CNB_WORK/filter-no-match.pcap" "udp,tp_dst=9"
        tcp_with_capture none-again
    } | tee "$OUT"
}

cnb_main body
