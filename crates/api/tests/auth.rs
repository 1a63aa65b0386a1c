//! Token auth and project isolation over HTTP.

mod common;

use common::{etype, tokens, T};
use serde_json::json;

#[tokio::test]
async fn token_required_and_projects_isolated() {
    let t = T::with_auth(tokens());
    let (st, v) = t.get("/v2.0/networks").await;
    assert_eq!((st, etype(&v)), (401, "HTTPUnauthorized"));
    let alice = [("X-Auth-Token", "alice-token")];
    let bob = [("X-Auth-Token", "bob-token")];
    let admin = [("X-Auth-Token", "admin-token")];
    let (st, v) = t
        .req(
            "POST",
            "/v2.0/networks",
            Some(&json!({"network": {"name": "a"}})),
            &alice,
        )
        .await;
    assert_eq!(st, 201);
    let na = v["network"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["network"]["project_id"], "alice");
    let (st, v) = t
        .req("GET", &format!("/v2.0/networks/{na}"), None, &bob)
        .await;
    assert_eq!((st, etype(&v)), (404, "NetworkNotFound"));
    assert_eq!(
        t.req("DELETE", &format!("/v2.0/networks/{na}"), None, &bob)
            .await
            .0,
        404
    );
    assert_eq!(
        t.req(
            "PUT",
            &format!("/v2.0/networks/{na}"),
            Some(&json!({"network": {"name": "x"}})),
            &bob
        )
        .await
        .0,
        404
    );
    let (_, v) = t.req("GET", "/v2.0/networks", None, &bob).await;
    assert_eq!(v["networks"], json!([]));
    // Shared and external networks are visible to everyone.
    let (st, v) = t
        .req(
            "POST",
            "/v2.0/networks",
            Some(&json!({"network": {"name": "pub", "shared": true}})),
            &admin,
        )
        .await;
    assert_eq!(st, 201);
    let shared = v["network"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        t.req("GET", &format!("/v2.0/networks/{shared}"), None, &bob)
            .await
            .0,
        200
    );
    let (st, v) = t
        .req(
            "POST",
            "/v2.0/networks",
            Some(&json!({"network": {"provider:network_type": "vlan"}})),
            &bob,
        )
        .await;
    assert_eq!((st, etype(&v)), (403, "PolicyNotAuthorized"));
    let (st, _) = t.req("POST", "/v2.0/networks", Some(&json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 200}})), &admin).await;
    assert_eq!(st, 201);
    let (_, v) = t.req("GET", "/v2.0/networks", None, &admin).await;
    assert_eq!(v["networks"].as_array().unwrap().len(), 3, "admin sees all");
    // Each project gets its own default security group.
    let (_, v) = t.req("GET", "/v2.0/security-groups", None, &bob).await;
    let groups = v["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["project_id"], "bob");
}

#[test]
fn noauth_refuses_non_loopback() {
    let cfg = api::Config {
        bind: "0.0.0.0:0".parse().unwrap(),
        data_dir: std::env::temp_dir(),
        auth: api::AuthMode::NoAuth,
        ipam: Default::default(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt.block_on(api::serve(cfg, None)).unwrap_err();
    assert!(matches!(e, api::ServeError::NoAuthNotLoopback(_)), "{e}");
}
