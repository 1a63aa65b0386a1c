//! Prometheus metrics of the API server (`GET /metrics`): request counts
//! and latency by method, route template and status class, and the store's
//! group-commit latency. Routes are labelled by template
//! (`/v2.0/ports/{id}`), never by raw path, so resource IDs do not multiply
//! the series. Other parts of the process (`cloudnet serve`'s agent and
//! switch) add their collectors with [`ApiMetrics::with_registry`].
//!
//! The text is the OpenMetrics exposition of prometheus-client, which
//! Prometheus scrapes natively.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::app::App;
use crate::error::ApiError;

/// Content type of the exposition.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Most path segments a route template keeps (deeper paths end in `…`).
const MAX_SEGMENTS: usize = 6;

/// Labels of a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    /// `2xx`, `4xx`, …
    pub status: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~6.5 s.
    Histogram::new(exponential_buckets(0.00005, 2.0, 18))
}

/// The API server's metrics and the registry they are exposed from.
#[derive(Debug)]
pub struct ApiMetrics {
    registry: RwLock<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    commit: Histogram,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Family<RequestLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let commit = latency_histogram();
        let mut reg = Registry::default();
        let sub = reg.sub_registry_with_prefix("cloudnet_api");
        sub.register(
            "requests",
            "HTTP requests by method, route template and status class",
            requests.clone(),
        );
        sub.register(
            "request_duration_seconds",
            "HTTP request latency by method, route template and status class",
            latency.clone(),
        );
        sub.register(
            "store_commit_seconds",
            "Latency of one group commit to the store (transaction and fsync)",
            commit.clone(),
        );
        ApiMetrics {
            registry: RwLock::new(reg),
            requests,
            latency,
            commit,
        }
    }
}

impl ApiMetrics {
    /// Record one request.
    pub fn observe_request(&self, method: &str, route: String, status: u16, d: Duration) {
        let l = RequestLabels {
            method: method.to_owned(),
            route,
            status: format!("{}xx", status / 100),
        };
        self.requests.get_or_create(&l).inc();
        self.latency.get_or_create(&l).observe(d.as_secs_f64());
    }

    /// Record one store commit.
    pub fn observe_commit(&self, d: Duration) {
        self.commit.observe(d.as_secs_f64());
    }

    /// Register more metrics or collectors (the agent's, the switch's).
    pub fn with_registry<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        let mut reg = self
            .registry
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut reg)
    }

    /// The exposition text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let reg = self
            .registry
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &reg)?;
        Ok(s)
    }
}

/// Whether a path segment under `/v2.0` is part of the API's vocabulary
/// (kept in the template) rather than an ID, name or tag.
fn is_literal(seg: &str) -> bool {
    crate::routes::collection(seg).is_some()
        || matches!(
            seg,
            "qos"
                | "rule-types"
                | "tags"
                | "extensions"
                | "add_router_interface"
                | "remove_router_interface"
                | "bandwidth_limit_rules"
                | "minimum_bandwidth_rules"
                | "dscp_marking_rules"
        )
}

/// The route template of a request path: axum's matched route, except
/// under `/v2.0` (one catch-all route) where IDs become `{id}`.
pub fn route_template(matched: Option<&str>, path: &str) -> String {
    let Some(rest) = path
        .strip_prefix("/v2.0")
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return matched.unwrap_or("unmatched").to_owned();
    };
    let mut t = String::from("/v2.0");
    for (i, seg) in rest.split('/').filter(|s| !s.is_empty()).enumerate() {
        if i == MAX_SEGMENTS {
            t.push_str("/…");
            break;
        }
        t.push('/');
        t.push_str(if is_literal(seg) { seg } else { "{id}" });
    }
    t
}

/// Middleware: time every request and count it by route template.
pub async fn track(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = route_template(
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
        req.uri().path(),
    );
    let resp = next.run(req).await;
    app.metrics
        .observe_request(&method, route, resp.status().as_u16(), start.elapsed());
    resp
}

/// With token auth, metrics name every project's ports: only an admin
/// token may read them, as `X-Auth-Token` or `Authorization: Bearer` (what a
/// Prometheus scrape config's `authorization` sends).
fn check_admin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let mut h = headers.clone();
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| HeaderValue::from_str(t.trim()).ok());
    if let (Some(t), false) = (bearer, h.contains_key("x-auth-token")) {
        h.insert("x-auth-token", t);
    }
    if app.auth.context(&h)?.is_admin {
        Ok(())
    } else {
        Err(ApiError::new(
            403,
            "HTTPForbidden",
            "metrics need an admin token",
        ))
    }
}

/// `GET /metrics`. Collectors may ask the local switch for its counters,
/// so encoding runs off the reactor.
pub async fn handler(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(e) = check_admin(&app, &headers) {
        return e.into_response();
    }
    match tokio::task::spawn_blocking(move || app.metrics.encode()).await {
        Ok(Ok(body)) => ([(CONTENT_TYPE, OPENMETRICS)], body).into_response(),
        Ok(Err(_)) => ApiError::internal("encoding metrics").into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_hide_ids() {
        let t = |p: &str| route_template(Some("/v2.0/{*rest}"), p);
        assert_eq!(t("/v2.0/ports"), "/v2.0/ports");
        assert_eq!(
            t("/v2.0/ports/4f1c0e6a-1111-2222-3333-444455556666"),
            "/v2.0/ports/{id}"
        );
        assert_eq!(
            t("/v2.0/networks/n1/tags/blue"),
            "/v2.0/networks/{id}/tags/{id}"
        );
        assert_eq!(
            t("/v2.0/qos/policies/p/bandwidth_limit_rules/r"),
            "/v2.0/qos/policies/{id}/bandwidth_limit_rules/{id}"
        );
        assert_eq!(
            t("/v2.0/routers/r/add_router_interface"),
            "/v2.0/routers/{id}/add_router_interface"
        );
        assert_eq!(
            t("/v2.0/a/b/c/d/e/f/g/h"),
            "/v2.0/{id}/{id}/{id}/{id}/{id}/{id}/…"
        );
        assert_eq!(route_template(Some("/metrics"), "/metrics"), "/metrics");
        assert_eq!(route_template(None, "/nope/123"), "unmatched");
        assert_eq!(route_template(None, "/v2.0x"), "unmatched");
    }

    #[test]
    fn requests_are_counted_by_class() {
        let m = ApiMetrics::default();
        m.observe_request("GET", "/v2.0/ports".into(), 200, Duration::from_millis(1));
        m.observe_request("GET", "/v2.0/ports".into(), 204, Duration::from_millis(1));
        m.observe_commit(Duration::from_millis(2));
        let text = m.encode().unwrap();
        assert!(
            text.contains(
                r#"cloudnet_api_requests_total{method="GET",route="/v2.0/ports",status="2xx"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains("cloudnet_api_store_commit_seconds_count 1"),
            "{text}"
        );
    }
}
