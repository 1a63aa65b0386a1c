//! CPU time as the kernel accounts it, which holds on a loaded machine
//! where wall-clock figures mostly measure the share the run got:
//! per thread from `/proc/self/task/TID/schedstat` (proc(5): the first
//! field is the time spent on the CPU, in nanoseconds), for the whole
//! process from `/proc/self/stat` (`utime` + `stime`, in clock ticks).

use std::time::Duration;

/// The calling thread's ID (`/proc/thread-self` links to `PID/task/TID`).
pub fn my_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// CPU time of thread `tid` of this process so far.
pub fn thread_cpu(tid: u32) -> Duration {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).unwrap_or_default();
    let ns = s
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// User plus system CPU time of the whole process so far (10 ms
/// resolution: `CLK_TCK` is 100 on Linux).
pub fn process_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may
    // contain spaces: utime and stime are fields 14 and 15 of the line.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}
