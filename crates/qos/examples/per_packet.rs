//! Runs N enqueue+dequeue pairs through one scheduler, for instruction
//! counting under `perf stat -e instructions:u` (stable on a loaded
//! machine, unlike wall time):
//!
//! `cargo run --release -p qos --example per_packet -- htb1000 1000000`

use qos::sim::SimPacket;
use qos::tbf::TbfLimit;
use qos::{ClassConfig, HtbBuilder, Qdisc, Rate, Sfq, SfqConfig, Tbf, TbfConfig};
use std::time::Instant;

fn rate(bps: u64) -> Rate {
    Rate::from_bps(bps).unwrap_or_else(|| panic!("zero rate"))
}

fn htb(n: u32) -> qos::Htb<SimPacket> {
    let mut b = HtbBuilder::new();
    let root_bps = 10_000_000_000;
    let root = b
        .add_class(None, ClassConfig::new(rate(root_bps)))
        .expect("root");
    for i in 0..n {
        let cfg = ClassConfig::new(rate(root_bps / u64::from(n)))
            .ceil(rate(root_bps))
            .prio((i % 3) as u8);
        let c = b.add_class(Some(root), cfg).expect("leaf");
        b.map_queue(i, c).expect("map");
    }
    b.build(0).expect("tree")
}

fn run<Q: Qdisc<SimPacket>>(mut q: Q, flows: u32, n: u64) -> (u64, f64) {
    let dt = 1500 * 8 * 1_000_000_000 / 10_500_000_000u64;
    let (mut t, mut sent) = (0u64, 0u64);
    for i in 0..u64::from(flows) * 3 {
        let f = (i % u64::from(flows)) as u32;
        let _ = q.enqueue(SimPacket::new(1500, f).with_queue(f), 0);
    }
    let start = Instant::now();
    for i in 0..n {
        let f = (i % u64::from(flows)) as u32;
        let _ = q.enqueue(SimPacket::new(1500, f).with_queue(f), t);
        match q.dequeue(t) {
            Some(_) => sent += 1,
            None => {
                if let Some(w) = q.next_ready(t) {
                    t = t.max(w);
                }
            }
        }
        t += dt;
    }
    (sent, start.elapsed().as_nanos() as f64 / n as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("htb3", String::as_str);
    let n: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let (sent, ns) = match which {
        "htb3" => run(htb(3), 3, n),
        "htb1000" => run(htb(1000), 1000, n),
        "sfq" => {
            let cfg = SfqConfig {
                limit: 10_000,
                flows: 1024,
                perturb: 10_000_000_000,
                ..SfqConfig::default()
            };
            run(Sfq::new(cfg, 0).expect("sfq"), 1000, n)
        }
        "tbf" => {
            let cfg = TbfConfig {
                rate_bps: 10_000_000_000,
                burst: 64_000,
                limit: TbfLimit::Bytes(1 << 20),
            };
            run(Tbf::new(cfg, 0).expect("tbf"), 1, n)
        }
        other => {
            eprintln!("unknown scheduler `{other}`: htb3 | htb1000 | sfq | tbf");
            std::process::exit(2);
        }
    };
    println!("{which}: {n} pairs, {sent} dequeued, {ns:.1} ns/pair (wall)");
}
