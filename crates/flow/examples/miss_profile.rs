//! A whole flow-cache miss at N flows (default 1,000) over 10 tables,
//! ITERS times (default 200,000), as the `cache_miss_10_tables` bench runs
//! it: for instruction and cache-miss counts under callgrind, or perf.
//!
//! `ITERS=20001 valgrind --tool=callgrind --cache-sim=yes target/release/examples/miss_profile`
//!
//! It also prints this thread's CPU time per miss over chunks of 2,000
//! misses (about 2.5 ms each): the median, and the minimum, which is what
//! a chunk costs when no other process got the core (or its caches) in
//! between — the figure that holds on a shared, loaded machine.

#[path = "../benches/workload/mod.rs"]
mod workload;

use flow::cache::{process, FlowCache};
use flow::{FlowOp, FlowTables};
use std::time::Duration;
use workload::{flows, packets};

/// CPU time of this thread (ns).
fn cpu_ns() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

const CHUNK: usize = 2000;

fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let iters: usize = std::env::var("ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200000);
    let t = FlowTables::new();
    t.transaction(
        flows(n, 10).into_iter().map(FlowOp::Add).collect(),
        Duration::ZERO,
    )
    .unwrap();
    let pkts = packets(4096, n / 10);
    let mut cache = FlowCache::new(0, 1024);
    let mut s = 0;
    let mut chunks = Vec::with_capacity(iters / CHUNK + 1);
    let mut c0 = cpu_ns();
    for k in 0..iters {
        cache.flush();
        let v = process(&t, &mut cache, &pkts[k & 4095], 64, Duration::ZERO);
        s += v.actions.len();
        if (k + 1) % CHUNK == 0 {
            let c1 = cpu_ns();
            chunks.push(c1.saturating_sub(c0) as f64 / CHUNK as f64);
            c0 = c1;
        }
    }
    chunks.sort_by(f64::total_cmp);
    if let (Some(min), Some(med)) = (chunks.first(), chunks.get(chunks.len() / 2)) {
        eprintln!(
            "CPU ns per miss over {} chunks of {CHUNK}: median {med:.0}, min {min:.0} ({s} actions)",
            chunks.len()
        );
    }
}
