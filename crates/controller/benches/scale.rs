//! Scale benchmark (issue 9): 1,000 networks, 10,000 ports, 50,000
//! security-group rules (remote groups included) on one host
//! ([`common::scale`] builds the intent). Reports full compile time (wall
//! and the compiling thread's CPU time, which a loaded machine inflates
//! less), the time of one port added / removed to its delta (p50, p99,
//! wall and CPU), flow count at several sizes (linearity), and the
//! resident memory the compiler adds.
//!
//! `cargo bench -p controller --bench scale` (pass `-- --quick` for a
//! tenth of the size).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::scale::{build, Size};
use controller::{Changed, Compiler, Keys};
use model::Kind;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time of this thread, `CLOCK_THREAD_CPUTIME_ID` (exact to the
/// nanosecond, unlike schedstat's tick-grained sum): the machine is
/// shared, so wall time overstates what the compiler costs.
fn cpu() -> Duration {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32))
        .unwrap_or_default()
}

/// The 1-minute load average: the figures are only comparable with it.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let full = Size {
        networks: 1000 / scale,
        ports_per_net: 10,
        rules_per_group: 50,
    };

    println!("load average (1 min) at start: {}", load());
    // Linearity: flows per (ports + rules) at 1/4, 1/2 and full size.
    println!("networks  ports  rules  flows  flows/(ports+rules)  compile(wall)  compile(cpu)");
    let mut main = None;
    for div in [4, 2, 1] {
        let sz = Size {
            networks: full.networks / div,
            ..full
        };
        let (x, b, nets) = build(&sz);
        let rss0 = rss_kib();
        let mut c = Compiler::new(Keys::default());
        let (t, c0) = (Instant::now(), cpu());
        c.full(&x.st, &b);
        let (dt, dc) = (t.elapsed(), cpu() - c0);
        let rss = rss_kib().saturating_sub(rss0);
        let (ports, rules) = (x.st.ports.len(), x.st.rules.len());
        println!(
            "{:8}  {:5}  {:5}  {:6}  {:.2}  {:?}  {:?}",
            sz.networks,
            ports,
            rules,
            c.flow_count(),
            c.flow_count() as f64 / (ports + rules) as f64,
            dt,
            dc
        );
        assert_eq!(c.conflicts(), 0);
        if div == 1 {
            println!(
                "controller RSS growth during full compile: {} MiB",
                rss / 1024
            );
            main = Some((x, b, nets, c));
        }
    }
    let Some((mut x, mut b, nets, mut c)) = main else {
        return;
    };

    // One port added, then removed, on a different network each time:
    // wall time and the thread's CPU time of `update` (the compile and
    // the delta; applying it to a switch is the agent's part).
    let (mut add, mut del) = (Vec::new(), Vec::new());
    let (mut add_cpu, mut del_cpu) = (Vec::new(), Vec::new());
    let mut delta_flows = 0;
    const ROUNDS: usize = 200;
    for i in 0..ROUNDS {
        let (n, s, g) = &nets[(i * 37) % nets.len()];
        let subnet = x.st.subnets[s].cidr.clone();
        let base = subnet.trim_end_matches(".0/24");
        let p = x.port(n, s, &format!("{base}.{}", 200 + i % 50), &[g]);
        b.ports.insert(p.clone(), 100_000 + i as u32);
        let changes = [
            Changed::Resource(Kind::Port, p.clone()),
            Changed::Binding(p.clone()),
        ];
        let (t, c0) = (Instant::now(), cpu());
        let d = c.update(&x.st, &b, &changes);
        add_cpu.push(cpu() - c0);
        add.push(t.elapsed());
        delta_flows += d.add.len() + d.delete.len();
        x.st.apply(&[model::Change::Delete(Kind::Port, p.clone())]);
        b.ports.remove(&p);
        let (t, c0) = (Instant::now(), cpu());
        let d = c.update(&x.st, &b, &changes);
        del_cpu.push(cpu() - c0);
        del.push(t.elapsed());
        delta_flows += d.add.len() + d.delete.len();
    }
    println!(
        "port add:    wall p50 {:?} p99 {:?}; cpu p50 {:?} p99 {:?}",
        pct(&mut add, 0.5),
        pct(&mut add, 0.99),
        pct(&mut add_cpu, 0.5),
        pct(&mut add_cpu, 0.99),
    );
    println!(
        "port delete: wall p50 {:?} p99 {:?}; cpu p50 {:?} p99 {:?}",
        pct(&mut del, 0.5),
        pct(&mut del, 0.99),
        pct(&mut del_cpu, 0.5),
        pct(&mut del_cpu, 0.99),
    );
    println!(
        "mean delta per add or delete: {} flows; load average (1 min) at end: {}",
        delta_flows / (2 * ROUNDS),
        load()
    );
}
