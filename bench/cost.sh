# shellcheck shell=bash
# bench/cost.sh — what moving bytes costs each path in CPU time, a figure
# that holds on a loaded machine (issues 4 and 5: "throughput per CPU").
#
# Sourced by bench/lib.sh; used by bench/l2.sh and bench/vxlan.sh when run
# with `-c MB` (cost mode) instead of the throughput figures.
#
# On the 2-core test machine the iperf3 client, the server and the switch
# share the CPUs, so Gbit/s is 1 / (CPU per byte of all three) and drops
# whenever anything else runs.  CPU seconds per GB do not: each run moves a
# fixed amount (`iperf3 -n`) and reads, around it,
#
#   switch   the on-CPU time of every thread of the switch processes
#            (cloudnet vswitchd — both hosts' for VXLAN —, ovs-vswitchd),
#            from /proc/PID/task/*/schedstat (nanoseconds, scheduler
#            accounting, see the kernel's Documentation/scheduler/
#            sched-stats.rst); none for the kernel paths, whose forwarding
#            runs in the senders' softirq context;
#            Of it, user mode alone (utime of the threads, clock ticks):
#            the switch's own code, without the system calls;
#   client / server  iperf3's own CPU use (getrusage, user + system) from
#            its JSON report (end.cpu_utilization_percent × duration);
#   ksoftirqd  the on-CPU time of the ksoftirqd threads: softirq work
#            the kernel deferred instead of running it in the context that
#            raised it (more of it when the machine is busy) — context
#            only, other traffic on the machine lands here too;
#   softirq  the machine-wide softirq ticks of /proc/stat (likewise).
#
# Without CONFIG_IRQ_TIME_ACCOUNTING (the test machine's kernel) softirq
# work is charged to whatever task runs when it is raised: a switch that
# writes a frame to a TAP or a veth pays for the receiving stack's first
# steps (netif_rx → the VM's IP/TCP input) too, exactly as the kernel
# bridge's sender does.  The figures compare paths under that same rule.
#
# Writes $CNB_WORK/cost.tsv rows: path streams gbps switch client server
# ksoftirqd softirq (seconds per GB of TCP payload received by VM b, medians
# of RUNS).

CNB_SWITCH_PIDS=() # processes whose CPU is "the switch" (set by setups)
COST_MB=""         # -c: megabytes per iperf3 -n run (cost mode when set)

# cnb_task_ns PID... — total on-CPU nanoseconds of every thread of PIDs.
cnb_task_ns() {
    local p total=0 t ns
    for p in "$@"; do
        for t in /proc/"$p"/task/*/schedstat; do
            [ -r "$t" ] || continue
            read -r ns _ <"$t" || continue
            total=$((total + ns))
        done
    done
    echo "$total"
}

# cnb_task_user PID... — user-mode clock ticks of every thread of PIDs
# (utime, /proc/PID/task/*/stat field 14): the switch's own code, apart
# from the system calls and the softirq work charged to it.
cnb_task_user() {
    local p t total=0 u
    for p in "$@"; do
        for t in /proc/"$p"/task/*/stat; do
            [ -r "$t" ] || continue
            u=$(awk '{ print $14 }' "$t" 2>/dev/null) || continue
            total=$((total + ${u:-0}))
        done
    done
    echo "$total"
}

# cnb_softirq_ticks — machine-wide softirq clock ticks (/proc/stat, cpu line).
cnb_softirq_ticks() { awk '/^cpu / { print $8; exit }' /proc/stat; }

# cnb_ksoftirqd_pids — the per-CPU ksoftirqd kernel threads.
cnb_ksoftirqd_pids() { pgrep -x 'ksoftirqd/[0-9]+' || true; }

# cnb_cost_run NS DST PORT STREAMS BYTES — one `iperf3 -n BYTES` run; prints
# "gbps switch_s switch_user_s client_s server_s ksoftirqd_s softirq_s
# payload_bytes".
cnb_cost_run() {
    local ns=$1 dst=$2 port=$3 streams=$4 bytes=$5 s0 s1 q0 q1 k0 k1 u0 u1 out
    local -a kpids
    mapfile -t kpids < <(cnb_ksoftirqd_pids)
    s0=$(cnb_task_ns "${CNB_SWITCH_PIDS[@]}")
    u0=$(cnb_task_user "${CNB_SWITCH_PIDS[@]}")
    k0=$(cnb_task_ns "${kpids[@]}")
    q0=$(cnb_softirq_ticks)
    out=$(timeout 300 ip netns exec "$ns" \
        iperf3 -c "$dst" -p "$port" -P "$streams" -n "$bytes" -J 2>&1) || {
        cnb_log "iperf3 -n failed: $(printf '%s' "$out" | jq -r '.error? // empty' 2>/dev/null || true)"
        echo "nan nan nan nan nan nan nan 0"
        return 0
    }
    s1=$(cnb_task_ns "${CNB_SWITCH_PIDS[@]}")
    u1=$(cnb_task_user "${CNB_SWITCH_PIDS[@]}")
    k1=$(cnb_task_ns "${kpids[@]}")
    q1=$(cnb_softirq_ticks)
    printf '%s' "$out" | jq -r --arg s "$((s1 - s0))" --arg q "$((q1 - q0))" \
        --arg k "$((k1 - k0))" --arg u "$((u1 - u0))" \
        --arg tick "$(getconf CLK_TCK)" --arg sw "${#CNB_SWITCH_PIDS[@]}" '
        .end as $e | ($e.sum_received.seconds) as $d |
        [ $e.sum_received.bits_per_second / 1e9,
          (if ($sw | tonumber) > 0 then ($s | tonumber) / 1e9 else "nan" end),
          (if ($sw | tonumber) > 0 then ($u | tonumber) / ($tick | tonumber) else "nan" end),
          $e.cpu_utilization_percent.host_total / 100 * $d,
          $e.cpu_utilization_percent.remote_total / 100 * $d,
          ($k | tonumber) / 1e9,
          ($q | tonumber) / ($tick | tonumber),
          $e.sum_received.bytes ] | map(tostring) | join(" ")'
}

# cnb_cost NAME — RUNS runs of 1 and of 4 streams moving COST_MB each;
# appends the medians (per GB of payload) to $CNB_WORK/cost.tsv.
# shellcheck disable=SC2153 # NS_A NS_B IP_B PORT RUNS come from the script
cnb_cost() {
    local name=$1 streams i v bytes=$((COST_MB * 1000000)) all=()
    if ! cnb_wait_for 10 "$name: ping a -> b" cnb_ping_ok "$NS_A" "$IP_B"; then
        cnb_log "$name: no connectivity"
        return 0
    fi
    cnb_iperf_servers "$NS_B" "$PORT" 1
    for streams in 1 4; do
        all=()
        for ((i = 0; i < RUNS; i++)); do
            v=$(cnb_cost_run "$NS_A" "$IP_B" "$PORT" "$streams" "$bytes")
            cnb_log "  $name x$streams: Gbit/s switch (user) client server ksoftirqd softirq (s) bytes = $v"
            all+=("$v")
        done
        printf '%s\n' "${all[@]}" | python3 -c '
import math, sys, statistics
name, streams = sys.argv[1], sys.argv[2]
rows = []
for line in sys.stdin:
    f = [float(x) for x in line.split()]
    if len(f) == 8 and f[7] > 0 and not math.isnan(f[0]):
        gb = f[7] / 1e9
        rows.append([f[0]] + [x / gb for x in f[1:7]])
def med(i):
    v = [r[i] for r in rows if not math.isnan(r[i])]
    return f"{statistics.median(v):.3f}" if v else "nan"
print("\t".join([name, streams] + [med(i) for i in range(7)]))
' "$name" "$streams" >>"$CNB_WORK/cost.tsv"
    done
}

# cnb_cost_report MD TITLE — the cost table (console and markdown).
cnb_cost_report() {
    local md=$1 title=$2
    python3 - "$CNB_WORK/cost.tsv" "$md" "$title" <<'PYEOF'
import os, sys, time
tsv, md, title = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]
head = ["path", "streams", "Gbit/s", "switch CPU s/GB", "of which user s/GB", "iperf3 client s/GB",
        "iperf3 server s/GB", "ksoftirqd s/GB", "machine softirq s/GB"]
table = [r for r in rows if len(r) == len(head)]
w = [max(len(c[i]) for c in [head] + table) for i in range(len(head))]
print()
print(title)
for r in [head] + table:
    print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
with open("/proc/loadavg") as f:
    load = " ".join(f.read().split()[:3])
out = [f"# {title}", "",
       f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
       f"- load average at report time: {load} (at start: {os.environ.get('CNB_LOAD_START', '?')})",
       f"- parameters: {os.environ.get('CNB_PARAMS', '?')}",
       f"- versions: {os.environ.get('CNB_VERSIONS', '?')}",
       "- CPU seconds per GB of TCP payload received (medians); switch = on-CPU",
       "  time of the switch processes' threads (schedstat), client/server =",
       "  iperf3's getrusage; softirq work is charged to the task it interrupts,",
       "  or to ksoftirqd when deferred; ksoftirqd and softirq include other load",
       "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
out += ["| " + " | ".join(r) + " |" for r in table]
os.makedirs(os.path.dirname(md) or ".", exist_ok=True)
open(md, "w").write("\n".join(out) + "\n")
print(f"\nwritten: {md}")
PYEOF
}
