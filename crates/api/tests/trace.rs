//! `POST /v2.0/cloudnet/trace`: names resolved per project, `to` turned
//! into the destination address, NeutronError bodies on bad input, the
//! tracer's errors mapped to HTTP statuses. The tracer is a stand-in that
//! records what it was asked (the real one is the agent's, tested with
//! `cloudnet serve` in crates/cli/tests/trace.rs).

mod common;

use std::sync::{Arc, Mutex};

use api::Tracer;
use controller::explain::{CtAssume, ResourceRef, TraceError, TraceReport, TraceRequest, Verdict};
use serde_json::{json, Value};

#[derive(Default)]
struct Fake {
    asked: Mutex<Vec<TraceRequest>>,
}

impl Tracer for Fake {
    fn trace(&self, req: TraceRequest) -> Result<TraceReport, api::ApiError> {
        self.asked.lock().unwrap().push(req.clone());
        if req.flow.contains("nw_dst=192.0.2.99") {
            return Err(TraceError::NotBound(req.port_id).into());
        }
        Ok(TraceReport {
            from: ResourceRef {
                kind: "port".into(),
                id: req.port_id.clone(),
                ..ResourceRef::default()
            },
            flow: req.flow,
            ct_state: req.ct_state,
            steps: vec![],
            verdict: Verdict::Local {
                action: "cloudnet:test".into(),
            },
            passes: vec![],
        })
    }
}

/// The test harness with a token per project (`admin`, `alice`).
struct Api(common::T);

impl Api {
    fn new() -> Api {
        Api(common::T::with_auth(common::tokens()))
    }

    async fn call(&self, who: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
        let token = format!("{who}-token");
        let headers = [("x-auth-token", token.as_str())];
        self.0.req(method, path, Some(&body), &headers).await
    }

    async fn trace(&self, who: &str, body: Value) -> (u16, Value) {
        self.call(
            who,
            "POST",
            "/v2.0/cloudnet/trace",
            json!({ "trace": body }),
        )
        .await
    }

    async fn create(&self, who: &str, coll: &str, body: Value) -> String {
        let (st, v) = self
            .call(who, "POST", &format!("/v2.0/{coll}"), body.clone())
            .await;
        assert_eq!(st, 201, "{coll}: {v}");
        let key = body.as_object().unwrap().keys().next().unwrap().clone();
        v[key]["id"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn trace_resolves_ports_and_maps_errors() {
    let api = Api::new();
    // Without an agent: a clear 503.
    let (st, v) = api.trace("admin", json!({"from": "x"})).await;
    assert_eq!(st, 503, "{v}");
    assert_eq!(v["NeutronError"]["type"], "ServiceUnavailable");
    let fake = Arc::new(Fake::default());
    api.0.app.set_tracer(fake.clone()).unwrap();

    let net = api
        .create("alice", "networks", json!({"network": {"name": "n"}}))
        .await;
    api.create(
        "alice",
        "subnets",
        json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/24", "ip_version": 4}}),
    )
    .await;
    let web = api
        .create(
            "alice",
            "ports",
            json!({"port": {"network_id": net, "name": "web"}}),
        )
        .await;
    let db = api
        .create(
            "alice",
            "ports",
            json!({"port": {"network_id": net, "name": "db"}}),
        )
        .await;
    let (_, v) = api
        .call("alice", "GET", &format!("/v2.0/ports/{db}"), json!(null))
        .await;
    let db_ip = v["port"]["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string();

    // By name, `to` becomes nw_dst; a project's trace is marked with it.
    let (st, v) = api
        .trace(
            "alice",
            json!({"from": "web", "to": "db", "flow": "tcp,tp_dst=3306", "ct_state": "est"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["trace"]["from"]["id"], web.as_str());
    assert_eq!(v["trace"]["verdict"]["kind"], "local");
    let asked = fake.asked.lock().unwrap().last().cloned().unwrap();
    assert_eq!(asked.port_id, web);
    assert_eq!(asked.flow, format!("tcp,tp_dst=3306,nw_dst={db_ip}"));
    assert_eq!(asked.ct_state, CtAssume::Est);
    assert_eq!(asked.viewer.as_deref(), Some("alice"));
    // An admin's trace is not restricted.
    let (st, _) = api
        .trace("admin", json!({"from": web, "flow": "ip,nw_dst=10.0.0.9"}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(fake.asked.lock().unwrap().last().unwrap().viewer, None);

    // Bad input: NeutronError bodies naming what is wrong.
    let (st, v) = api.trace("alice", json!({"from": "nope"})).await;
    assert_eq!(st, 404, "{v}");
    assert!(v["NeutronError"]["message"]
        .as_str()
        .unwrap()
        .contains("nope"));
    let (st, v) = api.trace("alice", json!({"form": "web"})).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["NeutronError"]["message"]
        .as_str()
        .unwrap()
        .contains("form"));
    let (st, v) = api
        .trace(
            "alice",
            json!({"from": "web", "to": "db", "flow": "ip,nw_dst=10.0.0.9"}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = api
        .trace("alice", json!({"from": "web", "ct_state": "maybe"}))
        .await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = api
        .call("alice", "GET", "/v2.0/cloudnet/trace", json!(null))
        .await;
    assert_eq!(st, 405, "{v}");
    // From an uplink: admins only, and not together with a port.
    let (st, v) = api
        .trace("alice", json!({"from_physnet": "physnet1"}))
        .await;
    assert_eq!(st, 403, "{v}");
    let (st, v) = api
        .trace("admin", json!({"from": web, "from_physnet": "physnet1"}))
        .await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = api
        .trace(
            "admin",
            json!({"from_physnet": "physnet1", "flow": "tcp,nw_dst=198.51.100.50"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let asked = fake.asked.lock().unwrap().last().cloned().unwrap();
    assert_eq!(asked.uplink.as_deref(), Some("physnet1"));
    assert_eq!(asked.port_id, "");
    // The tracer's refusal keeps its meaning.
    let (st, v) = api
        .trace(
            "alice",
            json!({"from": "web", "flow": "ip,nw_dst=192.0.2.99"}),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["NeutronError"]["type"], "PortNotBound");
    // Another project's port is not found, by name or ID.
    api.create("admin", "networks", json!({"network": {"name": "other"}}))
        .await;
    let (st, _) = api.trace("admin", json!({"from": web})).await;
    assert_eq!(st, 200, "admin sees alice's port");
    let n = fake.asked.lock().unwrap().len();
    let (_, v) = api
        .call("admin", "GET", "/v2.0/networks?name=other", json!(null))
        .await;
    let other = v["networks"][0]["id"].as_str().unwrap().to_string();
    let admin_port = api
        .create(
            "admin",
            "ports",
            json!({"port": {"network_id": other, "name": "adm"}}),
        )
        .await;
    for p in ["adm", admin_port.as_str()] {
        let (st, v) = api.trace("alice", json!({"from": p})).await;
        assert_eq!(st, 404, "{p}: {v}");
    }
    assert_eq!(
        fake.asked.lock().unwrap().len(),
        n,
        "refused before tracing"
    );
}
