//! `GET /metrics` of the API server alone (`cloudnet serve --api-only`):
//! requests are counted by route template and status class, never by raw
//! path, and store commits are timed.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{tokens, T};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

async fn get_metrics(t: &T, headers: &[(&str, &str)]) -> axum::response::Response {
    let mut req = Request::get("/metrics");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    t.router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn scrape(t: &T) -> String {
    let resp = get_metrics(t, &[]).await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn requests_by_route_template_and_commit_latency() {
    let t = T::new();
    let (st, v) = t
        .post("/v2.0/networks", json!({"network": {"name": "n1"}}))
        .await;
    assert_eq!(st, 201);
    let id = v["network"]["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        assert_eq!(t.get(&format!("/v2.0/networks/{id}")).await.0, 200);
    }
    assert_eq!(t.get("/v2.0/networks/no-such-id").await.0, 404);
    let text = scrape(&t).await;
    let line = |series: &str| {
        text.lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("{series} missing in\n{text}"))
            .rsplit_once(' ')
            .unwrap()
            .1
            .to_owned()
    };
    let get = r#"cloudnet_api_requests_total{method="GET",route="/v2.0/networks/{id}""#;
    assert_eq!(line(&format!(r#"{get},status="2xx"}}"#)), "3");
    assert_eq!(line(&format!(r#"{get},status="4xx"}}"#)), "1");
    assert_eq!(
        line(r#"cloudnet_api_requests_total{method="POST",route="/v2.0/networks",status="2xx"}"#),
        "1"
    );
    assert!(!text.contains(&id), "no resource ID in any label");
    // The network and its project's default security group: at least one
    // group commit.
    let commits: u64 = line("cloudnet_api_store_commit_seconds_count")
        .parse()
        .unwrap();
    assert!(commits >= 1, "{commits}");
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn token_mode_needs_an_admin_token() {
    let t = T::with_auth(tokens());
    assert_eq!(get_metrics(&t, &[]).await.status(), 401);
    let member = get_metrics(&t, &[("x-auth-token", "alice-token")]).await;
    assert_eq!(member.status(), 403);
    let admin = get_metrics(&t, &[("x-auth-token", "admin-token")]).await;
    assert_eq!(admin.status(), 200);
    let bearer = get_metrics(&t, &[("authorization", "Bearer admin-token")]).await;
    assert_eq!(bearer.status(), 200);
}
