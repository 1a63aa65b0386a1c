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
use crate::follow::{change_of, Revisions};
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
    /// Per resource, the store revision its state is at (see
    /// [`crate::follow`]); taken after `state`.
    revisions: Mutex<Revisions>,
    /// The store revision the state was loaded at.
    loaded_revision: u64,
    pub ipam: IpamConfig,
    pub auth: AuthMode,
    /// Answers `POST /v2.0/cloudnet/trace` ([`crate::trace`]).
    pub(crate) tracer: std::sync::OnceLock<Arc<dyn crate::Tracer>>,
    /// Live port counters for `/v2.0/cloudnet/port-stats` (none by default).
    pub(crate) port_stats: Arc<dyn crate::ui::PortStatsSource>,
    /// Request and commit metrics, and the registry `/metrics` serves.
    pub metrics: crate::metrics::ApiMetrics,
}

/// Every resource of `store`, with the revision each was last changed at,
/// read at or after the returned revision.
fn load(store: &dyn Store) -> Result<(State, Revisions, u64), ApiError> {
    let revision = store.revision()?;
    let mut state = State::default();
    let mut revs = Revisions::default();
    for kind in Kind::ALL {
        for rec in store.list(kind.store_name())? {
            let mut r = Resource::from_json(kind, &rec.value).map_err(|e| {
                ApiError::internal(format!("decoding {}/{}: {e}", rec.kind, rec.id))
            })?;
            r.meta_mut().revision_number = rec.version;
            revs.loaded(kind, &rec.id, rec.mod_revision);
            state.put(r);
        }
    }
    Ok((state, revs, revision))
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
        let (state, revisions, loaded_revision) = load(store.as_ref())?;
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
            revisions: Mutex::new(revisions),
            loaded_revision,
            ipam,
            auth,
            tracer: std::sync::OnceLock::new(),
            port_stats: crate::ui::no_port_stats(),
            metrics: crate::metrics::ApiMetrics::default(),
        })
    }

    /// The store revision the state was loaded at (a watch from it misses
    /// nothing).
    pub fn loaded_revision(&self) -> u64 {
        self.loaded_revision
    }

    /// Apply a change another server committed (from the store's watch),
    /// to readers and writers alike. A staged request that it conflicts
    /// with fails at commit, on the store's version compare.
    pub(crate) fn apply_event(&self, ev: &store::Event) -> Result<(), ApiError> {
        let Some(change) = change_of(ev)? else {
            return Ok(());
        };
        let mut w = self.writers.lock().map_err(lock_err)?;
        let mut state = self.state.write().map_err(lock_err)?;
        let mut revs = self.revisions.lock().map_err(lock_err)?;
        let seen = revs.seen(&change);
        let newer = revs.newer(ev.revision, std::slice::from_ref(&change));
        state.apply(&newer);
        // A replay of a revision already applied must not undo a request
        // staged on top of it.
        if ev.revision > seen {
            w.working.apply(&newer);
        }
        Ok(())
    }

    /// Replace the state with a fresh snapshot of the store (after the
    /// watch's history was compacted away). Waits for a group in flight;
    /// requests staged but not yet committed are kept on top. Returns the
    /// revision to watch from.
    pub(crate) fn reload(&self) -> Result<u64, ApiError> {
        let mut w = self.writers.lock().map_err(lock_err)?;
        while w.committing {
            w = self.group_done.wait(w).map_err(lock_err)?;
        }
        let (fresh, revs, revision) = load(self.store.as_ref())?;
        let mut working = fresh.clone();
        for s in &w.queue {
            working.apply(&s.changes);
        }
        w.working = working;
        *self.state.write().map_err(lock_err)? = fresh;
        *self.revisions.lock().map_err(lock_err)? = revs;
        Ok(revision)
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
        .and_then(|rev| {
            let mut state = self.state.write().map_err(lock_err)?;
            let mut revs = self.revisions.lock().map_err(lock_err)?;
            for s in &group {
                state.apply(&revs.newer(rev, &s.changes));
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
