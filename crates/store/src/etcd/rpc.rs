//! The bridge from the synchronous [`crate::Store`] trait to the async
//! etcd client, and the retry policy.
//!
//! The client runs on a runtime owned by the store (one worker thread):
//! a caller never blocks on a future itself, it hands the future to that
//! runtime and waits on a plain channel. So a call is safe from any thread,
//! including one of the caller's own tokio runtime (the API server calls
//! the store from `spawn_blocking`), and no runtime is ever nested.

use std::future::Future;
use std::time::Duration;

use etcd_client::Error as EtcdError;
use tokio::runtime::Runtime;
use tonic::Code;

use crate::{Result, StoreError};

/// Bound of one attempt of one request; a member that went away mid-call
/// is noticed by then at the latest (gRPC keep-alive notices sooner).
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound of a request with all its retries.
pub(crate) const CALL_DEADLINE: Duration = Duration::from_secs(20);

/// The store's own runtime.
pub(crate) struct Bridge {
    rt: Option<Runtime>,
}

impl Bridge {
    pub fn new() -> Result<Bridge> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("store-etcd")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("etcd client runtime: {e}")))?;
        Ok(Bridge { rt: Some(rt) })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        // `rt` is only taken in `drop`.
        self.rt
            .as_ref()
            .map(Runtime::handle)
            .expect("runtime lives until drop")
    }

    /// Run `f` on the store's runtime and wait for its output.
    pub fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Backend("etcd client runtime stopped".into()))
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Never blocks, so the store may be dropped inside async code too.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Whether an error is worth another attempt of an idempotent request
/// (a read, a keep-alive): the member is unreachable, has no leader yet,
/// or the attempt timed out.
pub(crate) fn transient(e: &EtcdError) -> bool {
    match e {
        EtcdError::TransportError(_) | EtcdError::IoError(_) => true,
        EtcdError::GRpcStatus(s) => matches!(
            s.code(),
            Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Cancelled
        ),
        _ => false,
    }
}

/// Whether a failed write certainly never reached a member, so that
/// sending it again cannot apply it twice: the connection could not be
/// made, or the member refused it before proposing it to Raft because it
/// has no leader (etcd's `ErrNoLeader`, as its Go client's
/// `isSafeRetryMutableRPC` decides). Anything else — a timeout, a reset
/// connection, "leader changed" — leaves the outcome unknown.
pub(crate) fn certainly_not_applied(e: &EtcdError) -> bool {
    match e {
        EtcdError::TransportError(_) => true,
        EtcdError::GRpcStatus(s) if s.code() == Code::Unavailable => {
            let m = s.message().to_ascii_lowercase();
            m.contains("error trying to connect")
                || m.contains("connection refused")
                || m.contains("tcp connect")
                || m.contains("no leader")
                || m.contains("service was not ready")
        }
        _ => false,
    }
}

/// `etcdserver: requested lease not found` and the client's own
/// "lease not found" of a keep-alive answered with TTL 0.
pub(crate) fn lease_not_found(e: &EtcdError) -> bool {
    match e {
        EtcdError::GRpcStatus(s) => s.message().contains("lease not found"),
        EtcdError::LeaseKeepAliveError(m) => m.contains("lease not found"),
        _ => false,
    }
}

/// `mvcc: required revision has been compacted`.
pub(crate) fn compacted(e: &EtcdError) -> bool {
    matches!(e, EtcdError::GRpcStatus(s) if s.message().contains("compacted"))
}

pub(crate) fn backend(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("etcd {what}: {e}"))
}

/// Exponential backoff between attempts: 50 ms doubling up to 2 s.
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(50);
    pub const MAX: Duration = Duration::from_secs(2);

    pub fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The pause before the next attempt.
    pub fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// How a failed attempt is treated by [`retry`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Reads and keep-alives: any transient error is retried.
    Idempotent,
    /// Writes: retried only when [`certainly_not_applied`].
    Mutation,
}

/// Run `attempt` until it succeeds, fails for good, or [`CALL_DEADLINE`]
/// passes; each attempt is bounded by [`ATTEMPT_TIMEOUT`]. A mutation that
/// timed out or broke in a way that may have applied it is not retried:
/// [`RetryError::OutcomeUnknown`] lets the caller decide.
pub(crate) async fn retry<T, F, Fut>(
    what: &str,
    safety: Safety,
    mut attempt: F,
) -> std::result::Result<T, RetryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, EtcdError>>,
{
    let deadline = tokio::time::Instant::now() + CALL_DEADLINE;
    let mut backoff = Backoff::new();
    loop {
        let err = match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => {
                let again = match safety {
                    Safety::Idempotent => transient(&e),
                    Safety::Mutation => certainly_not_applied(&e),
                };
                if !again {
                    return Err(if safety == Safety::Mutation && transient(&e) {
                        RetryError::OutcomeUnknown(format!("{what}: {e}"))
                    } else {
                        RetryError::Etcd(e)
                    });
                }
                e.to_string()
            }
            Err(_) if safety == Safety::Mutation => {
                return Err(RetryError::OutcomeUnknown(format!(
                    "{what}: no answer within {ATTEMPT_TIMEOUT:?}"
                )))
            }
            Err(_) => format!("no answer within {ATTEMPT_TIMEOUT:?}"),
        };
        let pause = backoff.step();
        if tokio::time::Instant::now() + pause > deadline {
            return Err(RetryError::GaveUp(format!(
                "{what}: gave up after {CALL_DEADLINE:?}: {err}"
            )));
        }
        tokio::time::sleep(pause).await;
    }
}

/// Why [`retry`] gave up.
pub(crate) enum RetryError {
    /// An error not worth retrying (the caller maps it).
    Etcd(EtcdError),
    /// The deadline passed with only transient errors.
    GaveUp(String),
    /// A write may or may not have been applied.
    OutcomeUnknown(String),
}

impl RetryError {
    pub fn into_store(self, what: &str) -> StoreError {
        match self {
            RetryError::Etcd(e) => backend(what, e),
            RetryError::GaveUp(m) => StoreError::Backend(format!("etcd {m}")),
            RetryError::OutcomeUnknown(m) => {
                StoreError::Backend(format!("etcd {m}; outcome unknown"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::new();
        let steps: Vec<Duration> = (0..8).map(|_| b.step()).collect();
        assert_eq!(steps[0], Backoff::FIRST);
        assert_eq!(steps[1], Backoff::FIRST * 2);
        assert_eq!(*steps.last().unwrap(), Backoff::MAX);
        b.reset();
        assert_eq!(b.step(), Backoff::FIRST);
    }

    #[test]
    fn only_unsent_writes_are_safe_to_resend() {
        let refused = EtcdError::GRpcStatus(tonic::Status::unavailable(
            "error trying to connect: tcp connect error: Connection refused",
        ));
        let changed =
            EtcdError::GRpcStatus(tonic::Status::unavailable("etcdserver: leader changed"));
        let no_leader = EtcdError::GRpcStatus(tonic::Status::unavailable("etcdserver: no leader"));
        assert!(certainly_not_applied(&refused));
        assert!(certainly_not_applied(&no_leader));
        assert!(!certainly_not_applied(&changed), "may have been applied");
        assert!(transient(&changed), "but a read may retry it");
        let bad = EtcdError::GRpcStatus(tonic::Status::invalid_argument("too large"));
        assert!(!transient(&bad) && !certainly_not_applied(&bad));
    }
}
