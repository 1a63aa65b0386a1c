//! The server's state: the intent in memory ([`model::State`]), loaded from
//! and written through to a [`store::Store`]. Readers see only durable
//! state. Writers validate in order against a working copy that includes
//! changes still waiting for their transaction, and concurrent writes are
//! committed together (see [`crate::group`]): one transaction, one fsync,
//! with a version compare per touched resource so a shared back end would
//! also reject a lost update.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::SystemTime;

use model::{Change, Ctx, Env, IpamConfig, Kind, Resource, State};
use rand::rngs::StdRng;
use rand::SeedableRng;
use store::Store;

use crate::auth::AuthMode;
use crate::error::ApiError;
use crate::group::{merge, Writers};

/// Source of timestamps (injected so tests can fix time).
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Everything a request handler needs.
pub struct App {
    /// Durable state, for readers.
    state: RwLock<State>,
    store: Arc<dyn Store>,
    /// Working state, rng and the group-commit queue.
    writers: Mutex<Writers>,
    /// Signalled whenever a group is done.
    group_done: Condvar,
    clock: Arc<dyn Clock>,
    pub ipam: IpamConfig,
    pub auth: AuthMode,
    /// Request and commit metrics, and the registry `/metrics` serves.
    pub metrics: crate::metrics::ApiMetrics,
}

fn lock_err<T>(_: T) -> ApiError {
    ApiError::internal("lock poisoned")
}

impl App {
    /// Load every resource from `store`.
    pub fn new(
        store: Arc<dyn Store>,
        ipam: IpamConfig,
        auth: AuthMode,
        clock: Arc<dyn Clock>,
        seed: Option<u64>,
    ) -> Result<App, ApiError> {
        let mut state = State::default();
        for kind in Kind::ALL {
            for rec in store.list(kind.store_name())? {
                let mut r = Resource::from_json(kind, &rec.value).map_err(|e| {
                    ApiError::internal(format!("decoding {}/{}: {e}", rec.kind, rec.id))
                })?;
                r.meta_mut().revision_number = rec.version;
                state.put(r);
            }
        }
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        Ok(App {
            writers: Mutex::new(Writers::new(state.clone(), rng)),
            group_done: Condvar::new(),
            state: RwLock::new(state),
            store,
            clock,
            ipam,
            auth,
            metrics: crate::metrics::ApiMetrics::default(),
        })
    }

    /// Run `f` with read access to the state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, ApiError> {
        let s = self.state.read().map_err(lock_err)?;
        Ok(f(&s))
    }

    /// Writes validated and staged but not yet durable (waiting for, or
    /// in, a group commit's transaction).
    pub fn pending_writes(&self) -> usize {
        self.writers.lock().map_or(0, |w| w.queue.len())
    }

    fn now(&self) -> String {
        humantime::format_rfc3339_seconds(self.clock.now()).to_string()
    }

    /// One atomic write. `f` sees the working state and returns changes
    /// plus a result; nothing is stored if it fails. The project's default
    /// security group is created first if missing (its own change set, as
    /// Neutron). Returns once the changes are durable and visible to readers.
    pub fn write<T>(
        &self,
        ctx: &Ctx,
        f: impl FnOnce(&State, &mut Env) -> model::Result<(Vec<Change>, T)>,
    ) -> Result<T, ApiError> {
        let mut w = self.writers.lock().map_err(lock_err)?;
        let now = self.now();
        let pre = {
            let ws = &mut *w;
            let mut env = Env {
                now: now.clone(),
                rng: &mut ws.rng,
                config: &self.ipam,
            };
            model::ops::ensure_default_security_group(&ws.working, &mut env, &ctx.project_id).1
        };
        let pre_seq = w.stage(pre)?;
        let result = {
            let ws = &mut *w;
            let mut env = Env {
                now,
                rng: &mut ws.rng,
                config: &self.ipam,
            };
            f(&ws.working, &mut env)
        };
        let (seq, out) = match result {
            Ok((changes, out)) => match w.stage(changes) {
                Ok(seq) => (seq.or(pre_seq), Ok(out)),
                Err(e) => (pre_seq, Err(e)),
            },
            // Nothing of the request is staged; only its default security
            // group, if any, still has to become durable.
            Err(e) => (pre_seq, Err(ApiError::from(e))),
        };
        if let Some(seq) = seq {
            self.wait_durable(w, seq)?;
        }
        out
    }

    /// Wait until request `seq` is durable (or its group failed), leading
    /// a group commit whenever none is in flight.
    fn wait_durable<'a>(
        &'a self,
        mut w: MutexGuard<'a, Writers>,
        seq: u64,
    ) -> Result<(), ApiError> {
        loop {
            if let Some(outcome) = w.outcome(seq) {
                return outcome;
            }
            if !w.committing && !w.queue.is_empty() {
                w = self.lead(w)?;
                continue;
            }
            w = self.group_done.wait(w).map_err(lock_err)?;
        }
    }

    /// Commit every staged request in one transaction, then publish it to
    /// readers. The writer lock is released during the commit so that the
    /// next group can be staged meanwhile.
    fn lead<'a>(
        &'a self,
        mut w: MutexGuard<'a, Writers>,
    ) -> Result<MutexGuard<'a, Writers>, ApiError> {
        let group = std::mem::take(&mut w.queue);
        let Some(last) = group.last().map(|s| s.seq) else {
            return Ok(w);
        };
        w.committing = true;
        drop(w);
        let (compares, ops) = merge(&group);
        // A panicking back end must not leave `committing` set forever
        // (every writer would wait): it fails the group like an error.
        let started = std::time::Instant::now();
        let commit = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.store.commit(&compares, &ops)
        }));
        self.metrics.observe_commit(started.elapsed());
        let res = match commit {
            Ok(r) => r.map_err(ApiError::from),
            Err(_) => Err(ApiError::internal("store commit panicked")),
        }
        .and_then(|_| {
            let mut state = self.state.write().map_err(lock_err)?;
            for s in &group {
                state.apply(&s.changes);
            }
            Ok(())
        });
        // Whatever happens, clear `committing` and wake the others.
        let mut w = match self.writers.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        w.committing = false;
        match res {
            Ok(()) => w.done_upto = last,
            Err(e) => {
                w.fail(&group, &e);
                match self.state.read() {
                    Ok(durable) => w.working = durable.clone(),
                    Err(_) => {
                        self.group_done.notify_all();
                        return Err(lock_err(()));
                    }
                }
            }
        }
        self.group_done.notify_all();
        Ok(w)
    }
}
