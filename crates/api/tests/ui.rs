//! The topology page's assets and the port-stats extension, in process
//! (the page itself is drawn by Chromium in crates/cli/tests/ui_browser.rs).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use api::ui::{PortCounters, PortStatsSource, StatsError};
use axum::body::Body;
use axum::http::Request;
use common::{etype, tokens, T};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

/// Counters set by the test, or an error.
struct Fake(Mutex<Result<BTreeMap<String, PortCounters>, StatsError>>);

impl PortStatsSource for Fake {
    fn port_stats(&self) -> Result<BTreeMap<String, PortCounters>, StatsError> {
        self.0.lock().unwrap().clone()
    }
}

/// GET `path`: status, headers, body text.
async fn fetch(t: &T, path: &str) -> (u16, axum::http::HeaderMap, String) {
    let req = Request::builder().uri(path).body(Body::empty()).unwrap();
    let resp = t.router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn page_and_assets_are_served_with_a_strict_policy() {
    // Even with token auth: the page carries no data, its requests do.
    let t = T::with_auth(tokens());
    for (path, ty) in [
        ("/ui", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let (st, h, body) = fetch(&t, path).await;
        assert_eq!(st, 200, "{path}");
        let ct = h["content-type"].to_str().unwrap();
        assert!(ct.starts_with(ty), "{path}: content-type {ct}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(!body.is_empty(), "{path}");
    }
    let (_, _, html) = fetch(&t, "/ui").await;
    assert!(html.contains("ui/app.js") && html.contains("<svg"));
    // Nothing the page loads comes from another origin (offline machines).
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!html.contains(attr), "page loads {attr}…");
    }
    let (st, h, _) = fetch(&t, "/ui/").await;
    assert_eq!((st, h["location"].to_str().unwrap()), (308, "/ui"));
}

/// The script never parses strings as markup: tenant names reach the DOM
/// only as text (the browser test shows a hostile name inert).
#[tokio::test]
async fn script_never_writes_markup() {
    let t = T::new();
    let (_, _, js) = fetch(&t, "/ui/app.js").await;
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ] {
        assert!(!js.contains(sink), "app.js uses {sink}");
    }
    assert!(js.contains("textContent"));
}

#[tokio::test]
async fn port_stats_only_for_visible_ports() {
    let fake = Arc::new(Fake(Mutex::new(Ok(BTreeMap::new()))));
    let t = T::with_port_stats(tokens(), fake.clone());
    let alice = [("X-Auth-Token", "alice-token")];
    let bob = [("X-Auth-Token", "bob-token")];
    let admin = [("X-Auth-Token", "admin-token")];
    let mut ports = Vec::new();
    for who in [&alice, &bob] {
        let (st, v) = t
            .req(
                "POST",
                "/v2.0/networks",
                Some(&json!({"network": {"name": "n"}})),
                who,
            )
            .await;
        assert_eq!(st, 201, "{v}");
        let net = v["network"]["id"].as_str().unwrap().to_string();
        let (st, v) = t
            .req(
                "POST",
                "/v2.0/ports",
                Some(&json!({"port": {"network_id": net}})),
                who,
            )
            .await;
        assert_eq!(st, 201, "{v}");
        ports.push(v["port"]["id"].as_str().unwrap().to_string());
    }
    let (pa, pb) = (&ports[0], &ports[1]);
    let counters = |n: u64| PortCounters {
        rx_packets: n,
        rx_bytes: n * 100,
        tx_dropped: n + 1,
        ..Default::default()
    };
    *fake.0.lock().unwrap() = Ok(BTreeMap::from([
        (pa.clone(), counters(3)),
        (pb.clone(), counters(5)),
        ("not-a-neutron-port".to_string(), counters(7)),
    ]));

    let path = "/v2.0/cloudnet/port-stats";
    let (st, v) = t.req("GET", path, None, &alice).await;
    assert_eq!(st, 200, "{v}");
    let m = v["port_stats"].as_object().unwrap();
    assert_eq!(
        m.keys().collect::<Vec<_>>(),
        vec![pa],
        "alice sees hers only"
    );
    assert_eq!(m[pa]["rx_packets"], 3);
    assert_eq!(m[pa]["rx_bytes"], 300);
    assert_eq!(m[pa]["tx_dropped"], 4);

    let (_, v) = t.req("GET", path, None, &bob).await;
    assert_eq!(v["port_stats"].as_object().unwrap().len(), 1);
    assert_eq!(v["port_stats"][pb]["rx_packets"], 5);

    let (_, v) = t.req("GET", path, None, &admin).await;
    let m = v["port_stats"].as_object().unwrap();
    assert_eq!(m.len(), 2, "admin: both ports, no unknown IDs: {v}");

    let (st, v) = t.get(path).await;
    assert_eq!((st, etype(&v)), (401, "HTTPUnauthorized"));

    *fake.0.lock().unwrap() = Err(StatsError("control socket gone".into()));
    let (st, v) = t.req("GET", path, None, &admin).await;
    assert_eq!((st, etype(&v)), (503, "ServiceUnavailable"));
    assert!(v["NeutronError"]["message"]
        .as_str()
        .unwrap()
        .contains("control socket gone"));
}

#[tokio::test]
async fn port_stats_without_a_switch_is_empty() {
    let t = T::new();
    let (st, v) = t.get("/v2.0/cloudnet/port-stats").await;
    assert_eq!((st, v), (200, json!({"port_stats": {}})));
    let (_, doc) = t.get("/openapi.json").await;
    let op = &doc["paths"]["/v2.0/cloudnet/port-stats"]["get"];
    assert!(op["responses"]["200"].is_object(), "not in /openapi.json");
}
