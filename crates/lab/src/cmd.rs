//! Running commands with a time limit, and polling for conditions.
//!
//! Everything the lab does to the kernel's configuration goes through
//! iproute2 (`ip`), which is simple, robust and prints readable errors. Every
//! command has a deadline: a hung command is killed and reported, never
//! waited on forever.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};

/// Limit for configuration commands (`ip ...`).
pub const IP_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit for commands run with [`crate::Netns::exec`].
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl Output {
    /// True if the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

pub(crate) fn cmdline(argv: &[&str]) -> String {
    argv.join(" ")
}

/// Run `argv` with stdin closed, capture its output, kill it after
/// `timeout`. A non-zero exit is *not* an error here (see [`run_ok`]).
pub fn run(argv: &[&str], timeout: Duration) -> Result<Output> {
    let Some((prog, args)) = argv.split_first() else {
        return Err(LabError::BadName {
            name: String::new(),
            why: "empty command line".into(),
        });
    };
    let mut cmd = Command::new(prog);
    cmd.args(args);
    run_command(cmd, &cmdline(argv), timeout)
}

/// Run `argv` like [`run`] and fail unless it exits with status 0; returns
/// its standard output.
pub fn run_ok(argv: &[&str], timeout: Duration) -> Result<String> {
    let out = run(argv, timeout)?;
    if out.success() {
        Ok(out.stdout)
    } else {
        Err(LabError::Command {
            cmd: cmdline(argv),
            status: out.status.to_string(),
            stderr: out.stderr.trim().to_owned(),
        })
    }
}

/// Run an `ip` command (`ip` + `args`) with [`IP_TIMEOUT`].
pub fn ip(args: &[&str]) -> Result<String> {
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push("ip");
    argv.extend_from_slice(args);
    run_ok(&argv, IP_TIMEOUT)
}

/// Run a prepared [`Command`] with a time limit, capturing its output.
pub fn run_command(mut cmd: Command, label: &str, timeout: Duration) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| LabError::Spawn {
        cmd: label.to_owned(),
        source,
    })?;
    let deadline = Instant::now() + timeout;
    // Drain both pipes on their own threads so a chatty child never blocks
    // on a full pipe; results come back through channels so that a
    // grandchild keeping a pipe open cannot make us wait past the deadline.
    let out_rx = drain(child.stdout.take());
    let err_rx = drain(child.stderr.take());
    let status = match wait_deadline(&mut child, deadline) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LabError::Timeout {
                what: format!("`{label}`"),
                after: timeout,
            });
        }
        Err(e) => return Err(LabError::io(format!("waiting for `{label}`"), e)),
    };
    let grace = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(200));
    let stdout = out_rx.recv_timeout(grace).unwrap_or_default();
    let stderr = err_rx.recv_timeout(grace).unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut p) = pipe {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
    } else {
        let _ = tx.send(String::new());
    }
    rx
}

/// Wait for `child` to exit until `deadline`; `None` if it is still running.
pub(crate) fn wait_deadline(
    child: &mut Child,
    deadline: Instant,
) -> std::io::Result<Option<ExitStatus>> {
    let mut backoff = Backoff::new();
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        backoff.pause(deadline);
    }
}

/// Growing pause between polls: 1 ms doubling up to 50 ms, never past a
/// deadline. Polling a condition with this is how the lab waits: there are
/// no fixed sleeps.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff(Duration::from_millis(1))
    }

    pub(crate) fn pause(&mut self, deadline: Instant) {
        let left = deadline.saturating_duration_since(Instant::now());
        std::thread::sleep(self.0.min(left));
        self.0 = (self.0 * 2).min(Duration::from_millis(50));
    }
}

/// Poll `cond` until it returns true or `timeout` passes. `what` names the
/// condition in the timeout error.
///
/// ```
/// # use std::time::Duration;
/// let start = std::time::Instant::now();
/// lab::wait_until("20 ms passed", Duration::from_secs(1), || {
///     start.elapsed() >= Duration::from_millis(20)
/// })
/// .unwrap();
/// ```
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) -> Result<()> {
    wait_for(what, timeout, || cond().then_some(()))
}

/// Poll `probe` until it yields a value or `timeout` passes.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut backoff = Backoff::new();
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(LabError::Timeout {
                what: what.to_owned(),
                after: timeout,
            });
        }
        backoff.pause(deadline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let out = run(&["sh", "-c", "echo out; echo err >&2; exit 3"], IP_TIMEOUT).unwrap();
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.status.code(), Some(3));
        let err = run_ok(&["sh", "-c", "echo nope >&2; exit 1"], IP_TIMEOUT).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn kills_on_timeout() {
        let t0 = Instant::now();
        let err = run(&["sleep", "10"], Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, LabError::Timeout { .. }), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = run(&["/nonexistent/prog"], IP_TIMEOUT).unwrap_err();
        assert!(matches!(err, LabError::Spawn { .. }), "{err}");
    }

    #[test]
    fn wait_until_times_out() {
        let err = wait_until("never", Duration::from_millis(30), || false).unwrap_err();
        assert!(err.to_string().contains("never"), "{err}");
        let mut n = 0;
        let v = wait_for("third try", Duration::from_secs(1), || {
            n += 1;
            (n == 3).then_some(n)
        })
        .unwrap();
        assert_eq!(v, 3);
    }
}
