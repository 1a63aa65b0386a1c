//! Clocks and summaries of the apply benchmark. Wall time on a shared
//! two-core machine mostly measures the share the run got, so every span
//! also reads the calling thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`,
//! exact to the nanosecond) and the process's (`CLOCK_PROCESS_CPUTIME_ID`:
//! the switch's control thread, which parses and commits the flows, runs
//! in this process but not on the calling thread).

use std::time::{Duration, Instant};

use nix::time::{clock_gettime, ClockId};

fn clock(id: ClockId) -> Duration {
    clock_gettime(id)
        .map(|t| Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32))
        .unwrap_or_default()
}

/// One span's wall, thread CPU and process CPU time.
#[derive(Clone, Copy, Default)]
pub struct Span {
    pub wall: Duration,
    pub cpu: Duration,
    pub proc: Duration,
}

impl std::ops::Add for Span {
    type Output = Span;
    fn add(self, o: Span) -> Span {
        Span {
            wall: self.wall + o.wall,
            cpu: self.cpu + o.cpu,
            proc: self.proc + o.proc,
        }
    }
}

/// Runs `f`, timing it on the three clocks.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Span) {
    let (p0, c0, t) = (
        clock(ClockId::CLOCK_PROCESS_CPUTIME_ID),
        clock(ClockId::CLOCK_THREAD_CPUTIME_ID),
        Instant::now(),
    );
    let v = f();
    let wall = t.elapsed();
    let cpu = clock(ClockId::CLOCK_THREAD_CPUTIME_ID) - c0;
    let proc = clock(ClockId::CLOCK_PROCESS_CPUTIME_ID) - p0;
    (v, Span { wall, cpu, proc })
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wall {:.3?}, thread cpu {:.3?}, process cpu {:.3?}",
            self.wall, self.cpu, self.proc
        )
    }
}

/// The spans of one kind of step (compile, apply, both) over the rounds.
#[derive(Default)]
pub struct Samples(Vec<Span>);

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

impl Samples {
    pub fn push(&mut self, s: Span) {
        self.0.push(s);
    }

    /// `name: wall p50/p99/max; cpu …; process cpu …`.
    pub fn report(&self, name: &str) -> String {
        if self.0.is_empty() {
            return format!("{name}: no samples");
        }
        let line = |what: &str, get: fn(&Span) -> Duration| {
            let v: Vec<Duration> = self.0.iter().map(get).collect();
            format!(
                "{what} p50 {:.3?} p99 {:.3?} max {:.3?}",
                pct(v.clone(), 0.5),
                pct(v.clone(), 0.99),
                pct(v, 1.0)
            )
        };
        format!(
            "{name:<16} {}; {}; {}",
            line("wall", |s| s.wall),
            line("thread cpu", |s| s.cpu),
            line("process cpu", |s| s.proc)
        )
    }
}

/// Resident memory of the process (switch and compiler both), MiB.
pub fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

/// The load averages (1, 5, 15 min): the figures are only comparable
/// with them.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}
