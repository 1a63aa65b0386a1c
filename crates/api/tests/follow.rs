//! An API server follows writes made by another on the same store, and
//! reloads a snapshot when the history its watch needs is compacted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use store::{Compare, Op, Record, RedbStore, Store, StoreError, Watch};
use tower::ServiceExt;

/// The embedded store, whose first watch reports its start revision as
/// compacted (as etcd does once a watcher fell behind its history).
struct CompactedOnce {
    inner: RedbStore,
    /// The `after` of every watch asked for.
    watches: Mutex<Vec<u64>>,
}

impl Store for CompactedOnce {
    fn get(&self, kind: &str, id: &str) -> store::Result<Option<Record>> {
        self.inner.get(kind, id)
    }
    fn list(&self, kind: &str) -> store::Result<Vec<Record>> {
        self.inner.list(kind)
    }
    fn revision(&self) -> store::Result<u64> {
        self.inner.revision()
    }
    fn commit(&self, compares: &[Compare], ops: &[Op]) -> store::Result<u64> {
        self.inner.commit(compares, ops)
    }
    fn watch(&self, after: u64) -> store::Result<Watch> {
        let mut w = self.watches.lock().unwrap();
        w.push(after);
        if w.len() == 1 {
            return Err(StoreError::Compacted(after));
        }
        self.inner.watch(after)
    }
}

fn app(store: Arc<dyn Store>) -> Arc<api::App> {
    Arc::new(
        api::App::new(
            store,
            model::IpamConfig::default(),
            api::AuthMode::NoAuth,
            Arc::new(api::SystemClock),
            None,
        )
        .unwrap(),
    )
}

async fn create_network(app: &Arc<api::App>, name: &str) -> String {
    let req = Request::builder()
        .method("POST")
        .uri("/v2.0/networks")
        .header("content-type", "application/json")
        .body(Body::from(json!({"network": {"name": name}}).to_string()))
        .unwrap();
    let res = api::router(app.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), 201);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    v["network"]["id"].as_str().unwrap().to_string()
}

fn has_network(app: &api::App, id: &str) -> bool {
    app.read(|s| s.get(model::Kind::Network, id).is_some())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_reloads_when_its_history_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Arc::new(CompactedOnce {
        inner: RedbStore::open(dir.path().join("db")).unwrap(),
        watches: Mutex::new(Vec::new()),
    });
    let store: Arc<dyn Store> = shared.clone();
    let a = app(store.clone());
    let b = app(store.clone());
    // B writes after A loaded; A's watch from its load revision is then
    // "compacted", so only a reload can show A the network.
    let first = create_network(&b, "first").await;
    let written_at = store.revision().unwrap();
    api::follow::start(&a, store.clone()).unwrap();
    let a2 = a.clone();
    let f = first.clone();
    tokio::task::spawn_blocking(move || {
        lab::wait_until(
            "A reloads and sees B's network",
            Duration::from_secs(10),
            || has_network(&a2, &f),
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        *shared.watches.lock().unwrap(),
        [a.loaded_revision(), written_at],
        "watched again from the snapshot's revision"
    );
    // After the reload, A follows B's writes through the watch.
    let second = create_network(&b, "second").await;
    tokio::task::spawn_blocking(move || {
        lab::wait_until(
            "A follows B after the reload",
            Duration::from_secs(10),
            || has_network(&a, &second),
        )
    })
    .await
    .unwrap()
    .unwrap();
}
