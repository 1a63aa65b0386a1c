//! Property tests: whatever the tree and the traffic, no class sends more
//! than `ceil` over any window (beyond its `cburst` plus one packet), the
//! whole tree no more than the root's rate, and TBF no more than its rate
//! beyond its burst.

mod common;
use common::*;
use proptest::prelude::*;
use qos::sim::SimPacket;
use qos::tbf::TbfLimit;
use qos::{ClassConfig, HtbBuilder, Qdisc, Rate, Tbf, TbfConfig};

const MTU: f64 = 1500.0;

#[derive(Debug, Clone)]
struct Leaf {
    rate_frac: u32,
    ceil_pct: u32,
    cburst: u64,
    prio: u8,
    len: u32,
    on: Vec<(u64, u64)>,
}

fn leaf() -> impl Strategy<Value = Leaf> {
    (
        1u32..10,
        100u32..200,
        1_600u64..20_000,
        0u8..3,
        64u32..1500,
        prop::collection::vec((0u64..1_500, 1u64..800), 1..3),
    )
        .prop_map(|(rate_frac, ceil_pct, cburst, prio, len, on)| Leaf {
            rate_frac,
            ceil_pct,
            cburst,
            prio,
            len,
            on: on
                .into_iter()
                .map(|(a, d)| (a * MS, (a + d) * MS))
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Two levels under one root (groups of leaves), random rates, ceils,
    /// bursts, priorities, packet sizes and on/off patterns.
    #[test]
    fn htb_never_exceeds_ceil_or_root_rate(
        root_mbit in 2u64..20,
        groups in prop::collection::vec(prop::collection::vec(leaf(), 1..4), 1..4),
    ) {
        let root_rate = root_mbit * 1_000_000;
        let mut b = HtbBuilder::new();
        let root = b.add_class(None, ClassConfig::new(Rate::from_bps(root_rate).unwrap())).unwrap();
        let ng = groups.len() as u64;
        let mut sources = Vec::new();
        let mut bounds = Vec::new(); // (ceil bps, sigma bytes) per source
        let mut sigma_total = 2.0 * (root_rate as f64 / 8000.0 + 1600.0);
        for (gi, g) in groups.iter().enumerate() {
            // Children's rates never sum above the parent's (tc-htb(8)).
            let g_rate = root_rate / ng;
            let gc = b.add_class(Some(root), ClassConfig::new(Rate::from_bps(g_rate).unwrap())
                .ceil(Rate::from_bps(root_rate).unwrap())).unwrap();
            sigma_total += 2.0 * (root_rate as f64 / 8000.0 + 1600.0) + MTU;
            let fr: u32 = g.iter().map(|l| l.rate_frac).sum();
            for (li, l) in g.iter().enumerate() {
                let rate = (g_rate * u64::from(l.rate_frac) / u64::from(fr)).max(8_000);
                let ceil = (rate * u64::from(l.ceil_pct) / 100).min(root_rate * 2);
                let burst = rate / 8000 + 1600;
                let c = b.add_class(Some(gc), ClassConfig::new(Rate::from_bps(rate).unwrap())
                    .ceil(Rate::from_bps(ceil).unwrap()).bursts(burst, l.cburst).prio(l.prio)).unwrap();
                let q = (gi * 10 + li) as u32;
                b.map_queue(q, c).unwrap();
                sources.push(Source { queue: Some(q), len: l.len, depth: 3, on: l.on.clone(), tos: 0 });
                bounds.push((ceil as f64, l.cburst as f64 + MTU));
                sigma_total += burst as f64 + l.cburst as f64 + 2.0 * MTU;
            }
        }
        let mut q = b.build(0).unwrap();
        let deps = simulate(&mut q, &sources, 2 * SEC, 1_000_000_000);
        for (i, &(ceil, sigma)) in bounds.iter().enumerate() {
            let ex = envelope_excess(deps.iter().filter(|d| d.src == i), ceil);
            prop_assert!(ex <= sigma + 1.0, "leaf {} exceeded ceil {} by {} bytes (allowed {})", i, ceil, ex, sigma);
        }
        // Nothing gets stuck: once the sources stop, the tree drains.
        let mut t = 2 * SEC;
        while let Some(w) = q.next_ready(t) {
            t = t.max(w);
            prop_assert!(t < 60 * SEC, "{} packets stuck", q.len());
            if q.dequeue(t).is_none() {
                t += 1_000;
            }
        }
        prop_assert_eq!(q.len(), 0);
        let ex = envelope_excess(deps.iter(), root_rate as f64);
        prop_assert!(ex <= sigma_total, "tree exceeded root rate by {} bytes (allowed {})", ex, sigma_total);
        let total: u64 = deps.iter().map(|d| u64::from(d.len)).sum();
        prop_assert!(total as f64 <= root_rate as f64 / 8.0 * 2.0 + sigma_total);
    }

    #[test]
    fn tbf_never_exceeds_rate_beyond_burst(
        rate_kbit in 100u64..50_000,
        burst in 1_500u64..30_000,
        len in 64u32..1500,
        on in prop::collection::vec((0u64..1_500, 1u64..800), 1..4),
    ) {
        let rate = rate_kbit * 1000;
        let mut q: Tbf<SimPacket> = Tbf::new(TbfConfig { rate_bps: rate, burst, limit: TbfLimit::Bytes(burst * 4) }, 0).unwrap();
        let src = Source { queue: None, len, depth: 3, on: on.into_iter().map(|(a, d)| (a * MS, (a + d) * MS)).collect(), tos: 0 };
        let deps = simulate(&mut q, &[src], 2 * SEC, 1_000_000_000);
        let ex = envelope_excess(deps.iter(), rate as f64);
        prop_assert!(ex <= burst as f64 + 1.0, "excess {} over burst {}", ex, burst);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever arrives, what the policer passes fits (rate, burst).
    #[test]
    fn policer_passes_at_most_rate_plus_burst(
        rate_kbps in 100u32..100_000,
        burst_kb in 12u32..10_000,
        arrivals in prop::collection::vec((0u64..2_000_000, 64usize..1500), 1..2000),
    ) {
        use qos::{Policer, PolicerConfig, Verdict};
        let mut p = Policer::new(PolicerConfig { rate_kbps, burst_kb }, 0);
        let mut t = 0u64;
        let mut passed = Vec::new();
        for (gap, len) in arrivals {
            t += gap;
            if p.police(len, t) == Verdict::Pass {
                passed.push(Departure { t, src: 0, len: len as u32 });
            }
        }
        let burst = f64::from(burst_kb) * 1000.0 / 8.0;
        let ex = envelope_excess(passed.iter(), f64::from(rate_kbps) * 1000.0);
        prop_assert!(ex <= burst + 1.0, "excess {} over burst {}", ex, burst);
    }
}
