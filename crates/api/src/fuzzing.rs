//! Body of the `requests` cargo-fuzz target (`fuzz/`), kept in the crate so
//! the corpus replay test (`tests/fuzz_corpus.rs`) runs exactly what the
//! fuzzer runs. It panics when an invariant breaks — the fuzzer's signal,
//! never reachable from production callers.
//!
//! Requests go through [`crate::routes::handle`] (the code behind the axum
//! router, authentication included) against an [`App`] over an in-memory
//! [`Store`], freshly loaded per input from a snapshot that already holds
//! one of every resource kind, so each input starts from the same state.
//!
//! Input: up to [`MAX_REQUESTS`] requests separated by `0xff` (a byte no
//! UTF-8 JSON body contains). Each request is `[route, who] ++ body`:
//! `route` picks the method and path ([`route`]), `who` the caller and the
//! resource ID in the path; for `GET` the body is the query string.
//!
//! Invariants, after every request:
//! - no 5xx;
//! - every error body is a NeutronError `{"NeutronError": {"type",
//!   "message", "detail"}}` with string members;
//! - a rejected request (4xx) and any `GET` leave the store's revision
//!   where it was: nothing stored;
//!
//! and after the whole input, the intent loaded back from the store renders
//! exactly as the server's in-memory state (no write is half-applied).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, Method};
use model::Kind;
use serde_json::{json, Value};
use store::{Compare, Op, Record, Store, StoreError, Watch};

use crate::app::{App, Clock};
use crate::auth::{AuthMode, TokenInfo};
use crate::docs::COLLECTIONS;
use crate::routes::{self, url_path};

/// Most requests one input runs.
pub const MAX_REQUESTS: usize = 8;

/// An in-memory [`Store`] with the same revision and version rules as
/// [`store::RedbStore`] (etcd's: one global revision per commit, `version`
/// counts puts since creation, compare 0 = "must not exist"). No watch.
#[derive(Debug, Default)]
pub struct MemStore {
    inner: Mutex<Contents>,
}

/// The revision and every record by (kind, id).
type Contents = (u64, BTreeMap<(String, String), Record>);

impl MemStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Contents> {
        // A panic while holding the lock is already a finding; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn snapshot(&self) -> MemStore {
        MemStore {
            inner: Mutex::new(self.lock().clone()),
        }
    }
}

impl Store for MemStore {
    fn get(&self, kind: &str, id: &str) -> store::Result<Option<Record>> {
        Ok(self.lock().1.get(&(kind.into(), id.into())).cloned())
    }

    fn list(&self, kind: &str) -> store::Result<Vec<Record>> {
        let g = self.lock();
        Ok(g.1.values().filter(|r| r.kind == kind).cloned().collect())
    }

    fn revision(&self) -> store::Result<u64> {
        Ok(self.lock().0)
    }

    fn commit(&self, compares: &[Compare], ops: &[Op]) -> store::Result<u64> {
        let mut g = self.lock();
        for c in compares {
            let found =
                g.1.get(&(c.kind.clone(), c.id.clone()))
                    .map_or(0, |r| r.version);
            if found != c.version {
                return Err(StoreError::Conflict {
                    kind: c.kind.clone(),
                    id: c.id.clone(),
                    expected: c.version,
                    found,
                });
            }
        }
        if ops.is_empty() {
            return Ok(g.0);
        }
        g.0 += 1;
        let rev = g.0;
        for op in ops {
            match op {
                Op::Put { kind, id, value } => {
                    let key = (kind.clone(), id.clone());
                    let version = g.1.get(&key).map_or(0, |r| r.version) + 1;
                    let rec = Record {
                        kind: kind.clone(),
                        id: id.clone(),
                        value: value.clone(),
                        mod_revision: rev,
                        version,
                    };
                    g.1.insert(key, rec);
                }
                Op::Delete { kind, id } => {
                    g.1.remove(&(kind.clone(), id.clone()));
                }
            }
        }
        Ok(rev)
    }

    fn watch(&self, _after: u64) -> store::Result<Watch> {
        Err(StoreError::Backend("the fuzz store has no watch".into()))
    }
}

/// A clock that stays at one instant, so inputs replay identically.
struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
}

/// The tokens callers use: an admin and two members of different projects.
pub const TOKENS: [(&str, &str, &str); 3] = [
    ("admin-token", "admin", "admin"),
    ("alice-token", "alice", "member"),
    ("bob-token", "bob", "member"),
];

fn app_over(store: Arc<dyn Store>) -> App {
    let tokens = TOKENS
        .iter()
        .map(|(t, p, r)| {
            let info = TokenInfo {
                project_id: (*p).into(),
                roles: vec![(*r).into()],
            };
            ((*t).to_string(), info)
        })
        .collect();
    App::new(
        store,
        model::IpamConfig::default(),
        AuthMode::Tokens(tokens),
        Arc::new(FixedClock),
        Some(7),
    )
    .expect("the fuzz store loads")
}

/// What one request returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// Runs one request through [`routes::handle`] as `token`.
pub fn call(
    app: &App,
    method: Method,
    path: &str,
    query: Option<&str>,
    token: &str,
    body: &[u8],
) -> Answer {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(token) {
        headers.insert("x-auth-token", v);
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let req = routes::Request {
        method,
        segs,
        query,
        headers,
        body: bytes::Bytes::copy_from_slice(body),
        base: "http://fuzz.test:9696".into(),
    };
    let resp = match routes::handle(app, req) {
        Ok(r) => r,
        Err(e) => axum::response::IntoResponse::into_response(e),
    };
    let status = resp.status().as_u16();
    let bytes = ready(axum::body::to_bytes(resp.into_body(), usize::MAX))
        .expect("an in-memory body is complete at once")
        .unwrap_or_default();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Answer { status, body }
}

/// Polls `f` once: the handlers' bodies are complete buffers, so their
/// futures are ready at the first poll and no executor is needed.
fn ready<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// The snapshot each input starts from, and the IDs in it by kind.
struct Base {
    store: MemStore,
    ids: BTreeMap<Kind, Vec<String>>,
}

fn created_id(a: &Answer, key: &str) -> String {
    assert_eq!(a.status, 201, "base {key}: {}", a.body);
    a.body[key]["id"].as_str().expect("created id").to_owned()
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let store = Arc::new(MemStore::default());
        let app = app_over(store.clone());
        let post = |token: &str, path: &str, body: Value| {
            call(&app, Method::POST, path, None, token, body.to_string().as_bytes())
        };
        let (admin, alice) = ("admin-token", "alice-token");
        let ext = created_id(&post(admin, "/networks", json!({"network": {"name": "public", "router:external": true}})), "network");
        post(admin, "/subnets", json!({"subnet": {"network_id": ext, "cidr": "203.0.113.0/24", "ip_version": 4}}));
        let net = created_id(&post(alice, "/networks", json!({"network": {"name": "net"}})), "network");
        let sub = created_id(&post(alice, "/subnets", json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/24", "ip_version": 4}})), "subnet");
        let port = created_id(&post(alice, "/ports", json!({"port": {"network_id": net}})), "port");
        let router = created_id(&post(alice, "/routers", json!({"router": {"name": "r", "external_gateway_info": {"network_id": ext}}})), "router");
        let a = call(&app, Method::PUT, &format!("/routers/{router}/add_router_interface"), None, alice, json!({"subnet_id": sub}).to_string().as_bytes());
        assert_eq!(a.status, 200, "base router interface: {}", a.body);
        post(alice, "/floatingips", json!({"floatingip": {"floating_network_id": ext, "port_id": port}}));
        let sg = created_id(&post(alice, "/security-groups", json!({"security_group": {"name": "web"}})), "security_group");
        post(alice, "/security-group-rules", json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80, "ethertype": "IPv4"}}));
        let qos = created_id(&post(admin, "/qos/policies", json!({"policy": {"name": "gold", "shared": true}})), "policy");
        post(admin, &format!("/qos/policies/{qos}/bandwidth_limit_rules"), json!({"bandwidth_limit_rule": {"max_kbps": 1000}}));
        // Every project has its default security group, so that later
        // rejected requests have nothing legitimate to store.
        for (t, _, _) in TOKENS {
            call(&app, Method::GET, "/security-groups", None, t, b"");
        }
        let ids = Kind::ALL
            .into_iter()
            .map(|k| (k, app.read(|s| s.metas(k).iter().map(|m| m.id.clone()).collect()).expect("state readable")))
            .collect();
        Base { store: store.snapshot(), ids }
    })
}

/// IDs of `kind` in the base snapshot (for seeds and tests).
pub fn base_ids(kind: Kind) -> Vec<String> {
    base().ids.get(&kind).cloned().unwrap_or_default()
}

/// Method and path shape of a `route` byte: bits 0-2 pick the collection
/// (`docs::COLLECTIONS` order), the rest the operation.
pub fn route(sel: u8, id: &str) -> (Method, String) {
    let coll = url_path(COLLECTIONS[usize::from(sel & 7)]);
    // Tags of QoS policies live at `/policies/{id}/tags`.
    let tagged = coll.trim_start_matches("qos/");
    let rule = ["bandwidth_limit", "minimum_bandwidth", "dscp_marking"][usize::from(sel & 3) % 3];
    match sel >> 3 {
        0 => (Method::POST, format!("/{coll}")),
        1 => (Method::GET, format!("/{coll}")),
        2 => (Method::PUT, format!("/{coll}/{id}")),
        3 => (Method::DELETE, format!("/{coll}/{id}")),
        4 => (Method::GET, format!("/{coll}/{id}")),
        5 => (Method::PUT, format!("/routers/{id}/add_router_interface")),
        6 => (
            Method::PUT,
            format!("/routers/{id}/remove_router_interface"),
        ),
        7 => (Method::POST, format!("/qos/policies/{id}/{rule}_rules")),
        8 => (Method::PUT, format!("/{tagged}/{id}/tags")),
        9 => (
            Method::PUT,
            format!("/{tagged}/{id}/tags/{}", &id[..id.len().min(8)]),
        ),
        10 => (Method::DELETE, format!("/{tagged}/{id}/tags")),
        _ => (Method::PATCH, format!("/{coll}")),
    }
}

/// The kind whose IDs a `route` byte's path takes.
fn kind_of(sel: u8) -> Kind {
    match sel >> 3 {
        5 | 6 => Kind::Router,
        7 => Kind::QosPolicy,
        _ => COLLECTIONS[usize::from(sel & 7)],
    }
}

/// Asserts the NeutronError shape of an error body.
pub fn assert_neutron_error(a: &Answer) {
    let e = &a.body["NeutronError"];
    for k in ["type", "message", "detail"] {
        assert!(
            e[k].is_string(),
            "{} error body without NeutronError.{k}: {}",
            a.status,
            a.body
        );
    }
}

/// Every resource rendered, by kind and ID.
fn rendered(app: &App) -> BTreeMap<(Kind, String), Value> {
    app.read(|s| {
        let mut out = BTreeMap::new();
        for k in Kind::ALL {
            for m in s.metas(k) {
                if let Some(r) = s.get(k, &m.id) {
                    out.insert((k, m.id.clone()), s.render(&r));
                }
            }
        }
        out
    })
    .expect("state readable")
}

/// Target `requests`.
pub fn requests_target(data: &[u8]) {
    let base = base();
    let store = Arc::new(base.store.snapshot());
    let app = app_over(store.clone());
    for chunk in data.split(|&b| b == 0xff).take(MAX_REQUESTS) {
        let [sel, who, body @ ..] = chunk else {
            continue;
        };
        let ids = base
            .ids
            .get(&kind_of(*sel))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let id = match ids.get(usize::from(who >> 2)) {
            Some(id) => id.as_str(),
            None if who >> 2 == 63 => "",
            None => "00000000-0000-0000-0000-000000000000",
        };
        let (method, path) = route(*sel, id);
        let (token, project, _) = TOKENS[usize::from(who & 3) % 3];
        // The first write of a project creates its default security group
        // even when the request itself is rejected (as Neutron does), so
        // "nothing stored" is checked only once that group exists.
        let had_default = app
            .read(|s| {
                s.security_groups
                    .values()
                    .any(|g| g.meta.project_id == project && g.name == "default")
            })
            .expect("state readable");
        let (query, body) = if method == Method::GET {
            (std::str::from_utf8(body).ok(), &b""[..])
        } else {
            (None, body)
        };
        let before = store.revision().expect("revision");
        let a = call(&app, method.clone(), &path, query, token, body);
        assert!(
            a.status < 500,
            "{method} {path} -> {}: {}",
            a.status,
            a.body
        );
        let after = store.revision().expect("revision");
        if a.status >= 400 {
            assert_neutron_error(&a);
        }
        if a.status >= 400 && had_default {
            assert_eq!(
                before, after,
                "{method} {path} rejected with {} but stored a change",
                a.status
            );
        }
        if method == Method::GET && had_default {
            assert_eq!(before, after, "GET {path} stored a change");
        }
    }
    let reloaded = app_over(store);
    assert_eq!(
        rendered(&reloaded),
        rendered(&app),
        "the store and the served state differ"
    );
}
