//! The topology page (`GET /ui`) and its one data extension,
//! `GET /v2.0/cloudnet/port-stats`.
//!
//! The page is static: HTML, CSS and vanilla JavaScript compiled into the
//! binary (`crates/api/ui/`), no build step and nothing fetched from
//! elsewhere, so it works on an offline machine. It draws what the standard
//! Neutron list endpoints return (networks, subnets, ports, routers,
//! floating IPs, security groups) and polls the port-stats extension for
//! live counters.
//!
//! Authentication: the page itself carries no data and is served without
//! credentials. Its API requests go through the API's normal auth. In
//! noauth mode (`cloudnet serve` without `--token-file`, loopback only)
//! they need nothing and see every project as admin. With a token file,
//! the first request answers 401 and the page asks for a token, keeps it in
//! the tab's `sessionStorage` and sends it as `X-Auth-Token`, as any
//! Neutron client does. The visible resources are then that token's.
//!
//! Names are tenant input. The script builds every node with
//! `createElementNS` and sets text with `textContent`, never `innerHTML`.
//! The page is also served with a Content-Security-Policy that allows
//! scripts only from this origin, so an injected `<script>` or event
//! handler attribute would not run anyway.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use model::{Ctx, Kind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::error::ApiError;

/// Counters of one port, as the switch's Interface `statistics` column
/// (ovs-vswitchd.conf.db(5)): what the VM sent is `rx` at the switch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub tx_errors: u64,
}

/// Why the live counters could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("port counters unavailable: {0}")]
pub struct StatsError(pub String);

/// Where live port counters come from. `cloudnet serve` passes one backed
/// by its in-process switch; the API crate knows nothing of the switch.
pub trait PortStatsSource: Send + Sync {
    /// Counters of every port the switch knows, by Neutron port ID.
    fn port_stats(&self) -> Result<BTreeMap<String, PortCounters>, StatsError>;
}

/// No switch (`serve --api-only`, tests): no counters.
pub struct NoPortStats;

impl PortStatsSource for NoPortStats {
    fn port_stats(&self) -> Result<BTreeMap<String, PortCounters>, StatsError> {
        Ok(BTreeMap::new())
    }
}

impl App {
    /// Read live port counters from `source` (a new app has none).
    pub fn with_port_stats(mut self, source: Arc<dyn PortStatsSource>) -> App {
        self.port_stats = source;
        self
    }
}

/// The default source of a new [`App`].
pub(crate) fn no_port_stats() -> Arc<dyn PortStatsSource> {
    Arc::new(NoPortStats)
}

/// `GET /v2.0/cloudnet/port-stats` → `{"port_stats": {PORT_ID: {...}}}`,
/// only ports the caller may see (a tenant must not learn another's
/// traffic). 503 when the switch does not answer.
pub fn port_stats(app: &App, ctx: &Ctx) -> Result<Response, ApiError> {
    let all = app
        .port_stats
        .port_stats()
        .map_err(|e| ApiError::new(503, "ServiceUnavailable", e.to_string()))?;
    let visible = app.read(|s| s.ids_filtered(ctx, Kind::Port, &[]))?;
    let mine: BTreeMap<&String, &PortCounters> = visible
        .iter()
        .filter_map(|id| all.get_key_value(id))
        .collect();
    Ok((StatusCode::OK, Json(json!({ "port_stats": mine }))).into_response())
}

const INDEX_HTML: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const APP_CSS: &str = include_str!("../ui/app.css");

/// Scripts and styles only from this origin, requests only to it, no
/// framing: defence in depth behind the script's own escaping.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// `/ui` and its two assets, to merge into the API router.
pub fn routes() -> axum::Router<Arc<App>> {
    axum::Router::new()
        .route("/ui", axum::routing::get(index))
        .route(
            "/ui/",
            axum::routing::get(|| async { axum::response::Redirect::permanent("/ui") }),
        )
        .route("/ui/app.js", axum::routing::get(script))
        .route("/ui/app.css", axum::routing::get(style))
}
