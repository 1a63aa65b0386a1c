//! "Nothing stored by a rejected request" (issue: API fuzzing): a batch of
//! invalid requests through the HTTP router over the real redb store leaves
//! the store's revision and every resource exactly where they were, and
//! every rejection is a 4xx NeutronError.

use std::collections::HashMap;
use std::sync::Arc;

use api::{App, AuthMode, TokenInfo};
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use store::Store;
use tower::ServiceExt;

struct Api {
    router: axum::Router,
    store: Arc<store::RedbStore>,
    _dir: tempfile::TempDir,
}

impl Api {
    fn new() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store::RedbStore::open(dir.path().join("db")).unwrap());
        let mut tokens = HashMap::new();
        for (t, p, r) in [
            ("admin", "admin", "admin"),
            ("alice", "alice", "member"),
            ("bob", "bob", "member"),
        ] {
            let info = TokenInfo {
                project_id: p.into(),
                roles: vec![r.into()],
            };
            tokens.insert(t.to_string(), info);
        }
        let app = App::new(
            store.clone(),
            model::IpamConfig::default(),
            AuthMode::Tokens(tokens),
            Arc::new(api::SystemClock),
            Some(1),
        )
        .unwrap();
        Api {
            router: api::router(Arc::new(app)),
            store,
            _dir: dir,
        }
    }

    async fn call(&self, token: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
        self.call_with(token, method, path, body, None).await
    }

    /// `call` with an optional `If-Match` header.
    async fn call_with(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: &str,
        if_match: Option<&str>,
    ) -> (u16, Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("x-auth-token", token)
            .header("content-type", "application/json");
        if let Some(m) = if_match {
            b = b.header("if-match", m);
        }
        let req = b.body(Body::from(body.to_string())).unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn create(&self, token: &str, coll: &str, body: Value) -> String {
        let (st, v) = self
            .call(token, "POST", &format!("/v2.0/{coll}"), &body.to_string())
            .await;
        assert_eq!(st, 201, "{coll}: {v}");
        let key = body.as_object().unwrap().keys().next().unwrap().clone();
        v[key]["id"].as_str().unwrap().to_string()
    }

    /// Every stored record (kind, id, version, value).
    fn dump(&self) -> Vec<(String, String, u64, Vec<u8>)> {
        model::Kind::ALL
            .into_iter()
            .flat_map(|k| self.store.list(k.store_name()).unwrap())
            .map(|r| (r.kind, r.id, r.version, r.value))
            .collect()
    }
}

#[tokio::test]
async fn rejected_requests_store_nothing() {
    let api = Api::new();
    let ext = api
        .create(
            "admin",
            "networks",
            json!({"network": {"name": "pub", "router:external": true}}),
        )
        .await;
    api.create(
        "admin",
        "subnets",
        json!({"subnet": {"network_id": ext, "cidr": "203.0.113.0/24", "ip_version": 4}}),
    )
    .await;
    let net = api
        .create("alice", "networks", json!({"network": {"name": "n"}}))
        .await;
    let sub = api
        .create(
            "alice",
            "subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/24", "ip_version": 4}}),
        )
        .await;
    let port = api
        .create("alice", "ports", json!({"port": {"network_id": net}}))
        .await;
    let router = api
        .create("alice", "routers", json!({"router": {"name": "r"}}))
        .await;
    let sg = api
        .create(
            "alice",
            "security-groups",
            json!({"security_group": {"name": "web"}}),
        )
        .await;
    let rule = json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}});
    api.create("alice", "security-group-rules", rule.clone())
        .await;
    // Each project's default security group exists before the batch: it is
    // created on a project's first request, rejected or not (as Neutron).
    for t in ["admin", "alice", "bob"] {
        assert_eq!(api.call(t, "GET", "/v2.0/security-groups", "").await.0, 200);
    }

    let before_rev = api.store.revision().unwrap();
    let before = api.dump();
    let n = |s: &str| {
        s.replace("NET", &net)
            .replace("SUB", &sub)
            .replace("PORT", &port)
            .replace("ROUTER", &router)
            .replace("SG", &sg)
            .replace("EXT", &ext)
    };
    let bad: Vec<(&str, &str, String, String)> = vec![
        ("alice", "POST", "/v2.0/networks".into(), "{not json".into()),
        (
            "alice",
            "POST",
            "/v2.0/networks".into(),
            r#"{"network": []}"#.into(),
        ),
        (
            "alice",
            "POST",
            "/v2.0/networks".into(),
            r#"{"network": {"mtu": 10}}"#.into(),
        ),
        (
            "alice",
            "POST",
            "/v2.0/networks".into(),
            r#"{"network": {"no_such_attribute": 1}}"#.into(),
        ),
        (
            "alice",
            "POST",
            "/v2.0/networks".into(),
            r#"{"network": {"provider:network_type": "vlan"}}"#.into(),
        ),
        (
            "alice",
            "POST",
            "/v2.0/networks".into(),
            r#"{"networks": [{"name": "ok"}, {"mtu": "x"}]}"#.into(),
        ),
        (
            "alice",
            "POST",
            "/v2.0/subnets".into(),
            n(r#"{"subnet": {"network_id": "NET", "cidr": "10.0.0.0/33", "ip_version": 4}}"#),
        ),
        (
            "alice",
            "POST",
            "/v2.0/subnets".into(),
            n(r#"{"subnet": {"network_id": "NET", "cidr": "10.0.0.128/25", "ip_version": 4}}"#),
        ),
        (
            "alice",
            "POST",
            "/v2.0/subnets".into(),
            n(
                r#"{"subnets": [{"network_id": "NET", "cidr": "10.1.0.0/24", "ip_version": 4}, {"network_id": "NET", "cidr": "10.1.0.0/24", "ip_version": 4}]}"#,
            ),
        ),
        (
            "bob",
            "POST",
            "/v2.0/subnets".into(),
            n(r#"{"subnet": {"network_id": "NET", "cidr": "10.2.0.0/24", "ip_version": 4}}"#),
        ),
        (
            "alice",
            "POST",
            "/v2.0/ports".into(),
            r#"{"port": {"network_id": "00000000-0000-0000-0000-000000000000"}}"#.into(),
        ),
        (
            "alice",
            "POST",
            "/v2.0/ports".into(),
            n(
                r#"{"port": {"network_id": "NET", "fixed_ips": [{"subnet_id": "SUB", "ip_address": "10.9.9.9"}]}}"#,
            ),
        ),
        (
            "alice",
            "POST",
            "/v2.0/ports".into(),
            n(r#"{"port": {"network_id": "NET", "mac_address": "ff:ff:ff:ff:ff:ff"}}"#),
        ),
        (
            "alice",
            "PUT",
            n("/v2.0/ports/PORT"),
            r#"{"port": {"binding:host_id": "h"}}"#.into(),
        ),
        (
            "alice",
            "PUT",
            n("/v2.0/networks/NET"),
            r#"{"network": {"id": "new"}}"#.into(),
        ),
        (
            "bob",
            "PUT",
            n("/v2.0/networks/NET"),
            r#"{"network": {"name": "stolen"}}"#.into(),
        ),
        ("bob", "DELETE", n("/v2.0/networks/NET"), String::new()),
        ("alice", "DELETE", n("/v2.0/subnets/SUB"), String::new()),
        (
            "alice",
            "DELETE",
            "/v2.0/routers/nope".into(),
            String::new(),
        ),
        (
            "alice",
            "PUT",
            n("/v2.0/routers/ROUTER/add_router_interface"),
            r#"{"subnet_id": "nope"}"#.into(),
        ),
        (
            "alice",
            "PUT",
            n("/v2.0/routers/ROUTER/remove_router_interface"),
            n(r#"{"subnet_id": "SUB"}"#),
        ),
        (
            "alice",
            "PUT",
            n("/v2.0/routers/ROUTER"),
            n(r#"{"router": {"routes": [{"destination": "1.0.0.0/8", "nexthop": "192.0.2.1"}]}}"#),
        ),
        (
            "alice",
            "POST",
            "/v2.0/floatingips".into(),
            n(r#"{"floatingip": {"floating_network_id": "NET"}}"#),
        ),
        (
            "alice",
            "POST",
            "/v2.0/security-group-rules".into(),
            rule.to_string(),
        ),
        (
            "alice",
            "POST",
            "/v2.0/security-group-rules".into(),
            n(r#"{"security_group_rule": {"security_group_id": "SG", "direction": "sideways"}}"#),
        ),
        (
            "alice",
            "POST",
            "/v2.0/qos/policies".into(),
            r#"{"policy": {"name": "p", "shared": "maybe"}}"#.into(),
        ),
        (
            "alice",
            "PUT",
            n("/v2.0/networks/NET/tags/bad,tag"),
            String::new(),
        ),
        (
            "alice",
            "PUT",
            n("/v2.0/networks/NET"),
            r#"{"network": {"name": "x"}}"#.into(),
        ),
        (
            "nobody",
            "POST",
            "/v2.0/networks".into(),
            r#"{"network": {}}"#.into(),
        ),
    ];
    let mut rejected = 0;
    for (token, method, path, body) in &bad {
        // The one valid update carries a stale If-Match (revision-if-match).
        let stale = (body == r#"{"network": {"name": "x"}}"#).then_some("revision_number=999");
        let (st, v) = api.call_with(token, method, path, body, stale).await;
        assert!((400..500).contains(&st), "{method} {path} {body}: {st} {v}");
        for k in ["type", "message", "detail"] {
            assert!(v["NeutronError"][k].is_string(), "{method} {path}: {v}");
        }
        rejected += 1;
    }
    assert_eq!(rejected, bad.len());
    assert_eq!(
        api.store.revision().unwrap(),
        before_rev,
        "a rejected request moved the revision"
    );
    assert_eq!(
        api.dump(),
        before,
        "a rejected request changed a stored record"
    );
}
