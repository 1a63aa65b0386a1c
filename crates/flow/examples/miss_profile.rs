//! A whole flow-cache miss at N flows (default 1,000) over 10 tables,
//! ITERS times (default 200,000), as the `cache_miss_10_tables` bench runs
//! it: for instruction and cache-miss counts under callgrind, or perf.
//!
//! `ITERS=20001 valgrind --tool=callgrind --cache-sim=yes target/release/examples/miss_profile`

#[path = "../benches/workload/mod.rs"]
mod workload;

use flow::cache::{process, FlowCache};
use flow::{FlowOp, FlowTables};
use std::time::Duration;
use workload::{flows, packets};

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
    let t0 = std::time::Instant::now();
    let mut s = 0;
    for k in 0..iters {
        cache.flush();
        let v = process(&t, &mut cache, &pkts[k & 4095], 64, Duration::ZERO);
        s += v.actions.len();
    }
    eprintln!(
        "{} ns per miss, wall time ({s} actions)",
        t0.elapsed().as_nanos() / iters.max(1) as u128
    );
}
