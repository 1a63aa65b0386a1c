//! Group commit: writes staged while a transaction is in flight are
//! validated against the state including earlier staged writes, committed
//! together in the next transaction, and a failed request in a group
//! neither stores anything nor fails the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use api::{ApiError, App, AuthMode, SystemClock};
use model::{Ctx, IpamConfig, Kind};
use serde_json::{json, Value};
use store::{Compare, Op, RedbStore, Store, StoreError, Watch};

/// A store counting commits whose second commit waits for a gate; commit
/// number `fail_at` (1-based, 0 = never) fails.
struct GatedStore {
    inner: RedbStore,
    commits: AtomicUsize,
    fail_at: usize,
    gate: Mutex<bool>,
    opened: Condvar,
}

impl GatedStore {
    fn open_gate(&self) {
        *self.gate.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl Store for GatedStore {
    fn get(&self, kind: &str, id: &str) -> store::Result<Option<store::Record>> {
        self.inner.get(kind, id)
    }
    fn list(&self, kind: &str) -> store::Result<Vec<store::Record>> {
        self.inner.list(kind)
    }
    fn revision(&self) -> store::Result<u64> {
        self.inner.revision()
    }
    fn commit(&self, compares: &[Compare], ops: &[Op]) -> store::Result<u64> {
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 2 {
            let mut open = self.gate.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }
        if n == self.fail_at {
            return Err(StoreError::Backend("injected failure".into()));
        }
        self.inner.commit(compares, ops)
    }
    fn watch(&self, after: u64) -> store::Result<Watch> {
        self.inner.watch(after)
    }
}

fn setup(fail_at: usize) -> (tempfile::TempDir, Arc<GatedStore>, Arc<App>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(GatedStore {
        inner: RedbStore::open(dir.path().join("db")).unwrap(),
        commits: AtomicUsize::new(0),
        fail_at,
        gate: Mutex::new(false),
        opened: Condvar::new(),
    });
    let app = App::new(
        store.clone(),
        IpamConfig::default(),
        AuthMode::NoAuth,
        Arc::new(SystemClock),
        Some(7),
    )
    .unwrap();
    (dir, store, Arc::new(app))
}

fn create(app: &App, kind: Kind, body: Value) -> Result<String, ApiError> {
    let ctx = Ctx::admin("p1");
    app.write(&ctx, |state, env| {
        model::ops::create(state, &ctx, env, kind, &body, None).map(|o| (o.changes, o.id))
    })
}

fn wait_pending(app: &App, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.pending_writes() < n {
        assert!(Instant::now() < deadline, "{n} writes never got staged");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn port(net: &str, mac: &str) -> Value {
    json!({"network_id": net, "mac_address": mac})
}

/// Stage, while port A's transaction is held: port B, port C with B's MAC
/// (409: validated against B, which is not durable yet), port D. B and D go
/// into one transaction; C stores nothing.
fn staged_group(
    app: &Arc<App>,
    store: &Arc<GatedStore>,
) -> (String, Vec<Result<String, ApiError>>, ApiError) {
    let net_id = create(app, Kind::Network, json!({"name": "n"})).expect("network");
    assert_eq!(store.commits.load(Ordering::SeqCst), 1);
    let spawn = |mac: &'static str| {
        let app = app.clone();
        let net_id = net_id.clone();
        std::thread::spawn(move || create(&app, Kind::Port, port(&net_id, mac)))
    };
    let a = spawn("fa:16:3e:00:00:0a");
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.commits.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "A's commit never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    let b = spawn("fa:16:3e:00:00:01");
    wait_pending(app, 1);
    // Readers see only durable state: neither A nor B.
    assert_eq!(app.read(|s| s.ports.len()).unwrap(), 0);
    let c = create(app, Kind::Port, port(&net_id, "fa:16:3e:00:00:01")).unwrap_err();
    let d = spawn("fa:16:3e:00:00:02");
    wait_pending(app, 2);
    assert_eq!(store.commits.load(Ordering::SeqCst), 2, "B and D wait");
    store.open_gate();
    let done = [a, b, d].map(|h| h.join().expect("writer thread"));
    (net_id, done.into(), c)
}

#[test]
fn concurrent_writes_share_one_transaction_and_a_failure_stays_alone() {
    let (_dir, store, app) = setup(0);
    let (net_id, done, c) = staged_group(&app, &store);
    let [a, b, d] = [0, 1, 2].map(|i| done[i].clone().expect("port created"));
    assert_eq!(c.status, 409, "duplicate MAC of B, staged before it: {c:?}");
    assert_eq!(
        store.commits.load(Ordering::SeqCst),
        3,
        "network, A, then B and D together"
    );
    let stored: Vec<String> = store
        .inner
        .list("ports")
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut want = vec![a.clone(), b.clone(), d.clone()];
    want.sort();
    assert_eq!(stored, want, "C stored nothing");
    // B and D are in one revision.
    let (rb, rd) = (
        store.inner.get("ports", &b).unwrap().unwrap().mod_revision,
        store.inner.get("ports", &d).unwrap().unwrap().mod_revision,
    );
    assert_eq!(rb, rd);
    assert_eq!(
        app.read(|s| (s.ports.len(), s.networks.contains_key(&net_id)))
            .unwrap(),
        (3, true),
        "readers see the durable state"
    );
    assert_eq!(app.pending_writes(), 0);
}

#[test]
fn failed_transaction_fails_its_group_and_resets_the_working_state() {
    let (_dir, store, app) = setup(3);
    let (net_id, done, c) = staged_group(&app, &store);
    assert_eq!(c.status, 409);
    let a = done[0].clone().expect("A's own group committed");
    for (name, r) in ["B", "D"].iter().zip(&done[1..]) {
        let e = r.clone().expect_err("the group failed");
        assert_eq!(e.status, 500, "{name}: {e:?}");
    }
    let stored: Vec<String> = store
        .inner
        .list("ports")
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(stored, vec![a.clone()]);
    // The working state forgot B and D: B's MAC is free again.
    let e = create(&app, Kind::Port, port(&net_id, "fa:16:3e:00:00:01"))
        .expect("MAC free after the failed group");
    assert_eq!(store.inner.list("ports").unwrap().len(), 2);
    let (has_a, has_e, n) = app
        .read(|s| {
            (
                s.ports.contains_key(&a),
                s.ports.contains_key(&e),
                s.ports.len(),
            )
        })
        .unwrap();
    assert!(has_a && has_e, "A and the new port are visible");
    assert_eq!(n, 2);
}
