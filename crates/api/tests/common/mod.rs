//! Test harness: the router over a temporary store, called in-process.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use api::{App, AuthMode, TokenInfo};
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub struct T {
    pub app: Arc<App>,
    pub router: axum::Router,
    pub dir: tempfile::TempDir,
}

pub fn tokens() -> AuthMode {
    let mut m = HashMap::new();
    m.insert(
        "admin-token".to_string(),
        TokenInfo {
            project_id: "admin".into(),
            roles: vec!["admin".into()],
        },
    );
    m.insert(
        "alice-token".to_string(),
        TokenInfo {
            project_id: "alice".into(),
            roles: vec!["member".into()],
        },
    );
    m.insert(
        "bob-token".to_string(),
        TokenInfo {
            project_id: "bob".into(),
            roles: vec!["member".into()],
        },
    );
    AuthMode::Tokens(m)
}

impl T {
    pub fn new() -> T {
        Self::with_auth(AuthMode::NoAuth)
    }

    pub fn with_auth(auth: AuthMode) -> T {
        Self::with_port_stats(auth, Arc::new(api::ui::NoPortStats))
    }

    /// An app whose `/v2.0/cloudnet/port-stats` reads `stats`.
    pub fn with_port_stats(auth: AuthMode, stats: Arc<dyn api::ui::PortStatsSource>) -> T {
        let dir = tempfile::tempdir().unwrap();
        let store = store::RedbStore::open(dir.path().join("db")).unwrap();
        let app = App::new(
            Arc::new(store),
            model::IpamConfig::default(),
            auth,
            Arc::new(api::SystemClock),
            Some(42),
        )
        .unwrap()
        .with_port_stats(stats);
        let app = Arc::new(app);
        T {
            router: api::router(app.clone()),
            app,
            dir,
        }
    }

    pub async fn req(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "cloud.test:9696");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let body = match body {
            Some(v) => Body::from(serde_json::to_vec(v).unwrap()),
            None => Body::empty(),
        };
        let resp = self
            .router
            .clone()
            .oneshot(b.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, v)
    }

    pub async fn raw(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.req("GET", path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.req("POST", path, Some(&body), &[]).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.req("PUT", path, Some(&body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> u16 {
        self.req("DELETE", path, None, &[]).await.0
    }

    /// Create and return the new resource's id, asserting 201.
    pub async fn create(&self, coll: &str, key: &str, body: Value) -> String {
        let (st, v) = self
            .post(&format!("/v2.0/{coll}"), serde_json::json!({ key: body }))
            .await;
        assert_eq!(st, 201, "create {coll}: {v}");
        v[key]["id"].as_str().unwrap().to_string()
    }
}

/// The `NeutronError.type` of an error body.
pub fn etype(v: &Value) -> &str {
    v["NeutronError"]["type"].as_str().unwrap_or("")
}
