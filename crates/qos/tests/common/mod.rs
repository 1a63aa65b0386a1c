//! A discrete-event harness: sources keep their queue backlogged while
//! "on", a link of `line_bps` drains the qdisc as fast as it allows, and
//! every departure is logged. Time is simulated; nothing sleeps.
#![allow(dead_code)]

use qos::sim::SimPacket;
use qos::{Nanos, Qdisc};

pub const MS: Nanos = 1_000_000;
pub const SEC: Nanos = 1_000_000_000;

/// One sender: packets of `len` bytes to OpenFlow queue `queue`, kept
/// `depth` packets deep in the qdisc during each `[on, off)` interval.
#[derive(Clone, Debug)]
pub struct Source {
    pub queue: Option<u32>,
    pub len: u32,
    pub depth: usize,
    pub on: Vec<(Nanos, Nanos)>,
    pub tos: u8,
}

impl Source {
    pub fn backlogged(queue: u32, len: u32, from: Nanos, to: Nanos) -> Self {
        Self {
            queue: Some(queue),
            len,
            depth: 4,
            on: vec![(from, to)],
            tos: 0,
        }
    }

    fn is_on(&self, t: Nanos) -> bool {
        self.on.iter().any(|&(a, b)| a <= t && t < b)
    }
}

/// A departure: time, source index, bytes.
#[derive(Clone, Copy, Debug)]
pub struct Departure {
    pub t: Nanos,
    pub src: usize,
    pub len: u32,
}

/// Runs the sources against `q` from 0 to `end` behind a `line_bps` link.
pub fn simulate<Q: Qdisc<SimPacket>>(
    q: &mut Q,
    sources: &[Source],
    end: Nanos,
    line_bps: u64,
) -> Vec<Departure> {
    simulate_span(q, sources, 0, end, line_bps)
}

/// [`simulate`] from `start` (the qdisc may hold packets from an earlier span).
pub fn simulate_span<Q: Qdisc<SimPacket>>(
    q: &mut Q,
    sources: &[Source],
    start: Nanos,
    end: Nanos,
    line_bps: u64,
) -> Vec<Departure> {
    let mut out = Vec::new();
    let mut outstanding = vec![0usize; sources.len()];
    let mut seq = 0u64;
    let mut t: Nanos = start;
    // Every on/off edge is an event the loop must not sleep through.
    let mut edges: Vec<Nanos> = sources
        .iter()
        .flat_map(|s| s.on.iter().flat_map(|&(a, b)| [a, b]))
        .collect();
    edges.sort_unstable();
    while t < end {
        for (i, s) in sources.iter().enumerate() {
            if s.is_on(t) {
                while outstanding[i] < s.depth {
                    let mut p = SimPacket::new(s.len, i as u32)
                        .with_seq(seq)
                        .with_tos(s.tos);
                    p.queue = s.queue;
                    seq += 1;
                    match q.enqueue(p, t) {
                        Ok(()) => outstanding[i] += 1,
                        Err(d) => {
                            // Evicted: someone else's packet made room.
                            if d.reason == qos::DropReason::Evicted {
                                outstanding[i] += 1;
                                let o = &mut outstanding[d.packet.flow as usize];
                                *o = o.saturating_sub(1);
                            }
                            break;
                        }
                    }
                }
            }
        }
        if let Some(p) = q.dequeue(t) {
            let src = p.flow as usize;
            outstanding[src] = outstanding[src].saturating_sub(1);
            out.push(Departure { t, src, len: p.len });
            t += (u64::from(p.len) * 8 * SEC) / line_bps;
            continue;
        }
        let next_edge = edges.iter().copied().find(|&e| e > t).unwrap_or(end);
        let wake = match q.next_ready(t) {
            Some(w) if w > t => w.min(next_edge),
            Some(_) => t + 1_000, // spurious: ready "now" yet nothing came out
            None => next_edge,
        };
        t = wake.max(t + 1);
    }
    out
}

/// Bytes per source in `[from, to)`.
pub fn bytes_in(deps: &[Departure], n: usize, from: Nanos, to: Nanos) -> Vec<u64> {
    let mut v = vec![0u64; n];
    for d in deps.iter().filter(|d| d.t >= from && d.t < to) {
        v[d.src] += u64::from(d.len);
    }
    v
}

/// Bits per second per source in `[from, to)`.
pub fn rates_in(deps: &[Departure], n: usize, from: Nanos, to: Nanos) -> Vec<f64> {
    let secs = (to - from) as f64 / SEC as f64;
    bytes_in(deps, n, from, to)
        .into_iter()
        .map(|b| b as f64 * 8.0 / secs)
        .collect()
}

/// Asserts `got[i] / sum(got)` is within `tol` (relative) of `want[i] / sum(want)`.
pub fn assert_shares(got: &[f64], want: &[f64], tol: f64, what: &str) {
    let g: f64 = got.iter().sum();
    let w: f64 = want.iter().sum();
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let (sa, sb) = (a / g, b / w);
        assert!(
            (sa - sb).abs() <= tol * sb,
            "{what}: source {i} share {sa:.4}, want {sb:.4} ±{:.0}% (rates {got:?})",
            tol * 100.0
        );
    }
}

/// Jain's fairness index of `xs`.
pub fn jain(xs: &[f64]) -> f64 {
    let s: f64 = xs.iter().sum();
    let s2: f64 = xs.iter().map(|x| x * x).sum();
    s * s / (xs.len() as f64 * s2)
}

/// Largest excess over a (rate, 0) envelope: the smallest `sigma` such that
/// bytes in every window `[t_i, t_j]` (inclusive) ≤ sigma + rate·(t_j − t_i).
pub fn envelope_excess<'a>(deps: impl Iterator<Item = &'a Departure>, rate_bps: f64) -> f64 {
    // Leaky-bucket form: backlog of a fluid server at `rate` fed by the departures.
    let mut backlog = 0.0f64;
    let mut worst = 0.0f64;
    let mut last: Option<Nanos> = None;
    for d in deps {
        if let Some(l) = last {
            backlog = (backlog - (d.t - l) as f64 * rate_bps / 8.0 / SEC as f64).max(0.0);
        }
        backlog += f64::from(d.len);
        worst = worst.max(backlog);
        last = Some(d.t);
    }
    worst
}
