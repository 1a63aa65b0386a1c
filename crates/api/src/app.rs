//! The server's state: the intent in memory ([`model::State`]), loaded from
//! and written through to a [`store::Store`]. Writes are serialized: each
//! computes its changes against the current state, commits them to the store
//! in one transaction (with a version compare per touched resource, so a
//! shared back end would also reject a lost update), then applies them.

use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use model::{Change, Ctx, Env, IpamConfig, Kind, Resource, State};
use rand::rngs::StdRng;
use rand::SeedableRng;
use store::{Compare, Op, Store};

use crate::auth::AuthMode;
use crate::error::ApiError;

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
    state: RwLock<State>,
    store: Arc<dyn Store>,
    writer: Mutex<StdRng>,
    clock: Arc<dyn Clock>,
    pub ipam: IpamConfig,
    pub auth: AuthMode,
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
            state: RwLock::new(state),
            store,
            writer: Mutex::new(rng),
            clock,
            ipam,
            auth,
        })
    }

    /// Run `f` with read access to the state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, ApiError> {
        let s = self.state.read().map_err(lock_err)?;
        Ok(f(&s))
    }

    fn now(&self) -> String {
        humantime::format_rfc3339_seconds(self.clock.now()).to_string()
    }

    /// One atomic write. `f` sees the state and returns changes plus a
    /// result; nothing is stored if it fails. The project's default security
    /// group is created first if missing (its own transaction, as Neutron).
    pub fn write<T>(
        &self,
        ctx: &Ctx,
        f: impl FnOnce(&State, &mut Env) -> model::Result<(Vec<Change>, T)>,
    ) -> Result<T, ApiError> {
        let mut rng = self.writer.lock().map_err(lock_err)?;
        let now = self.now();
        let pre = {
            let state = self.state.read().map_err(lock_err)?;
            let mut env = Env {
                now: now.clone(),
                rng: &mut *rng,
                config: &self.ipam,
            };
            model::ops::ensure_default_security_group(&state, &mut env, &ctx.project_id).1
        };
        if !pre.is_empty() {
            self.commit(pre)?;
        }
        let (changes, out) = {
            let state = self.state.read().map_err(lock_err)?;
            let mut env = Env {
                now,
                rng: &mut *rng,
                config: &self.ipam,
            };
            f(&state, &mut env)?
        };
        self.commit(changes)?;
        Ok(out)
    }

    /// Store then apply. Caller holds the writer lock.
    fn commit(&self, mut changes: Vec<Change>) -> Result<(), ApiError> {
        let mut compares = Vec::new();
        let mut ops = Vec::new();
        {
            let state = self.state.read().map_err(lock_err)?;
            for c in changes.iter_mut() {
                match c {
                    Change::Put(r) => {
                        let old = state
                            .get(r.kind(), r.id())
                            .map(|o| o.meta().revision_number);
                        // The stored version and revision_number move together.
                        r.meta_mut().revision_number = old.map_or(1, |v| v + 1);
                        compares.push(Compare {
                            kind: r.kind().store_name().into(),
                            id: r.id().into(),
                            version: old.unwrap_or(0),
                        });
                        let value = serde_json::to_vec(&r.to_json()).map_err(ApiError::internal)?;
                        ops.push(Op::Put {
                            kind: r.kind().store_name().into(),
                            id: r.id().into(),
                            value,
                        });
                    }
                    Change::Delete(k, id) => {
                        if let Some(o) = state.get(*k, id) {
                            compares.push(Compare {
                                kind: k.store_name().into(),
                                id: id.clone(),
                                version: o.meta().revision_number,
                            });
                            ops.push(Op::Delete {
                                kind: k.store_name().into(),
                                id: id.clone(),
                            });
                        }
                    }
                }
            }
        }
        // A resource both created and updated within one change list is
        // compared once (the first compare is the one that holds).
        let mut seen = std::collections::HashSet::new();
        compares.retain(|c| seen.insert((c.kind.clone(), c.id.clone())));
        self.store.commit(&compares, &ops)?;
        let mut state = self.state.write().map_err(lock_err)?;
        state.apply(&changes);
        Ok(())
    }
}
