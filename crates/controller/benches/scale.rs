//! Scale benchmark (issue 9): 1,000 networks, 10,000 ports, 50,000
//! security-group rules (remote groups included) on one host. Reports full
//! compile time, the delta time of one port added / removed (p50, p99),
//! flow count at several sizes (linearity), and the resident memory the
//! compiler adds.
//!
//! `cargo bench -p controller --bench scale` (pass `-- --quick` for a
//! tenth of the size).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::Builder;
use controller::{Bindings, Changed, Compiler, Keys};
use model::Kind;

struct Size {
    networks: usize,
    ports_per_net: usize,
    rules_per_group: usize,
}

fn build(sz: &Size) -> (Builder, Bindings, Vec<(String, String, String)>) {
    let mut x = Builder::default();
    let mut b = Bindings::default();
    let mut nets = Vec::new();
    let mut groups = Vec::new();
    let mut router = String::new();
    for i in 0..sz.networks {
        let project = format!("p{}", i / 10);
        let n = x.network(&project);
        let s = x.subnet(
            &n,
            &format!("10.{}.{}.0/24", i / 256, i % 256),
            Some(&format!("10.{}.{}.1", i / 256, i % 256)),
        );
        // One router per project (ten networks).
        if i % 10 == 0 {
            router = x.router(&project);
        }
        x.interface(&router, &n, &s, &format!("10.{}.{}.1", i / 256, i % 256));
        let g = x.group(&project);
        // Rules: 1 in 5 names a remote group (its own or the previous
        // network's), 1 in 5 a remote CIDR, the rest port ranges only.
        for r in 0..sz.rules_per_group {
            let port = (1000 + r * 7) as u32;
            match r % 5 {
                0 => {
                    let remote = if i > 0 && r % 10 == 0 {
                        groups.last().cloned().unwrap_or(g.clone())
                    } else {
                        g.clone()
                    };
                    x.rule(
                        &g,
                        "ingress",
                        Some("tcp"),
                        Some((port, port)),
                        None,
                        Some(&remote),
                    );
                }
                1 => {
                    x.rule(
                        &g,
                        "ingress",
                        Some("tcp"),
                        Some((port, port + 9)),
                        Some("203.0.113.0/24"),
                        None,
                    );
                }
                2 => {
                    x.rule(&g, "egress", None, None, None, None);
                }
                _ => {
                    x.rule(&g, "ingress", Some("udp"), Some((port, port)), None, None);
                }
            }
        }
        for j in 0..sz.ports_per_net {
            let p = x.port(
                &n,
                &s,
                &format!("10.{}.{}.{}", i / 256, i % 256, j + 10),
                &[&g],
            );
            b.ports.insert(p, b.ports.len() as u32 + 1);
        }
        groups.push(g.clone());
        nets.push((n, s, g));
    }
    (x, b, nets)
}

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

/// CPU time of this thread (ns resolution, from /proc/thread-self/schedstat):
/// the machine is shared, so wall time overstates what the compiler costs.
fn cpu() -> Duration {
    let ns = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
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

    // One port added, then removed, on a different network each time.
    let (mut add, mut del) = (Vec::new(), Vec::new());
    let mut delta_flows = 0;
    for i in 0..200 {
        let (n, s, g) = &nets[(i * 37) % nets.len()];
        let ip = format!("10.{}.{}.{}", 0, 0, 0);
        let _ = ip;
        let subnet = x.st.subnets[s].cidr.clone();
        let base = subnet.trim_end_matches(".0/24");
        let p = x.port(n, s, &format!("{base}.{}", 200 + i % 50), &[g]);
        b.ports.insert(p.clone(), 100_000 + i as u32);
        let t = Instant::now();
        let d = c.update(
            &x.st,
            &b,
            &[
                Changed::Resource(Kind::Port, p.clone()),
                Changed::Binding(p.clone()),
            ],
        );
        add.push(t.elapsed());
        delta_flows += d.add.len() + d.delete.len();
        x.st.apply(&[model::Change::Delete(Kind::Port, p.clone())]);
        b.ports.remove(&p);
        let t = Instant::now();
        c.update(
            &x.st,
            &b,
            &[
                Changed::Resource(Kind::Port, p.clone()),
                Changed::Binding(p),
            ],
        );
        del.push(t.elapsed());
    }
    println!(
        "port add: p50 {:?} p99 {:?}; port delete: p50 {:?} p99 {:?}; mean delta {} flows",
        pct(&mut add, 0.5),
        pct(&mut add, 0.99),
        pct(&mut del, 0.5),
        pct(&mut del, 0.99),
        delta_flows / 200
    );
}
