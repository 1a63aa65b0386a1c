//! Egress cost per packet in the switch: copy into the shaped port's pool,
//! classify (OpenFlow queue → HTB class), enqueue, dequeue, release — with
//! 3 and with 1,000 classes. Simulated time advances at a line rate a bit
//! above the root rate, so the shaper neither idles nor starves.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use qos::{ClassConfig, Rate};
use vswitch::dp::egress::{Egress, Meta};
use vswitch::dp::port::{Pieces, VlanEdit, HDR};
use vswitch::qos_spec::{ClassSpec, EgressSpec, HtbSpec, LeafSpec};

const LEN: usize = 1514;

fn spec(n: u32, root_bps: u64) -> EgressSpec {
    let r = |b: u64| Rate::from_bps(b).expect("non-zero");
    let mut classes = vec![ClassSpec {
        id: 0xfffe,
        parent: None,
        cfg: ClassConfig::new(r(root_bps)).ceil(r(root_bps)),
        leaf: LeafSpec::Default,
    }];
    let mut queues = Vec::new();
    for i in 0..n {
        classes.push(ClassSpec {
            id: i + 1,
            parent: Some(0xfffe),
            cfg: ClassConfig::new(r(root_bps / u64::from(n))).ceil(r(root_bps)),
            leaf: LeafSpec::Default,
        });
        queues.push((i, i + 1));
    }
    EgressSpec::Htb(HtbSpec {
        classes,
        default: Some(1),
        queues,
        ..HtbSpec::default()
    })
}

fn bench(c: &mut Criterion, name: &str, n: u32) {
    let root = 10_000_000_000u64;
    let mut eg = Egress::new(&spec(n, root), 0).expect("egress");
    let mut frame = vec![0u8; HDR + LEN];
    frame[HDR + 12] = 0x08;
    let p = Pieces::new(&frame, VlanEdit::Keep).expect("pieces");
    let dt = (LEN as u64) * 8 * 1_000_000_000 / (root + root / 20);
    let mut t = 0u64;
    let mut i = 0u32;
    // A standing backlog of about one packet per class.
    for _ in 0..n.min(900) {
        let m = Meta { queue: Some(i % n), ..Meta::default() };
        let _ = eg.enqueue(&p, &m, t);
        i = i.wrapping_add(1);
    }
    let mut g = c.benchmark_group("egress");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            let m = Meta { queue: Some(i % n), ..Meta::default() };
            i = i.wrapping_add(1);
            let _ = black_box(eg.enqueue(&p, &m, t));
            match eg.dequeue(t) {
                Some(f) => {
                    black_box(eg.bytes(&f).len());
                    eg.release(f);
                }
                None => {
                    if let Some(w) = eg.next_ready(t) {
                        t = t.max(w);
                    }
                }
            }
            t += dt;
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench(c, "htb_3_classes", 3);
    bench(c, "htb_1000_classes", 1000);
}

criterion_group! {
    name = egress;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(egress);
