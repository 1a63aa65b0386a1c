//! The OpenStack Networking API v2.0 over HTTP (axum): authentication,
//! routing, list queries and `NeutronError` bodies. Validation and IPAM live
//! in `model`, persistence in `store`; this crate only translates.
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod docs;
pub mod error;
pub mod follow;
#[doc(hidden)]
pub mod fuzzing;
mod group;
pub mod metrics;
pub mod query;
pub mod routes;
pub mod trace;
pub mod ui;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;

pub use app::{App, Clock, SystemClock};
pub use auth::{AuthMode, TokenInfo};
pub use error::ApiError;
pub use trace::Tracer;

/// The default listen address, Neutron's port.
pub const DEFAULT_BIND: &str = "127.0.0.1:9696";

/// Configuration of `cloudnet serve`'s API part.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub auth: AuthMode,
    pub ipam: model::IpamConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("noauth mode is only allowed on a loopback address, not {0}; use a token file")]
    NoAuthNotLoopback(SocketAddr),
    #[error("creating data dir {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("opening store: {0}")]
    Store(#[from] store::StoreError),
    #[error("loading state: {0}")]
    Load(ApiError),
    #[error("binding {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:9696");
    format!("http://{host}")
}

async fn root(headers: HeaderMap) -> Response {
    Json(docs::versions(&base_url(&headers))).into_response()
}

async fn openapi() -> Response {
    Json(docs::openapi()).into_response()
}

async fn v2(
    AxState(app): AxState<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Handlers may block on the store's fsync: keep them off the reactor.
    let res = tokio::task::spawn_blocking(move || {
        let path = uri.path().strip_prefix("/v2.0").unwrap_or("");
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let req = routes::Request {
            method,
            segs,
            query: uri.query(),
            base: base_url(&headers),
            headers,
            body,
        };
        routes::handle(&app, req)
    })
    .await;
    match res {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// The HTTP application.
pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::get(root))
        .route("/openapi.json", axum::routing::get(openapi))
        .route("/v2.0", axum::routing::any(v2))
        .route("/v2.0/", axum::routing::any(v2))
        .route("/v2.0/{*rest}", axum::routing::any(v2))
        .merge(ui::routes())
        .route("/metrics", axum::routing::get(metrics::handler))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            metrics::track,
        ))
        .with_state(app)
}

/// Open the store in `data_dir` and build the application.
pub fn build(config: &Config) -> Result<Arc<App>, ServeError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| ServeError::DataDir(config.data_dir.clone(), e))?;
    let store = store::Spec::Redb(config.data_dir.join(store::REDB_FILE)).open()?;
    let app = App::new(
        store,
        config.ipam.clone(),
        config.auth.clone(),
        Arc::new(SystemClock),
        None,
    )
    .map_err(ServeError::Load)?;
    Ok(Arc::new(app))
}

/// Serve until ctrl-c. `ready` receives the bound address.
pub async fn serve(
    config: Config,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<(), ServeError> {
    if config.auth == AuthMode::NoAuth && !config.bind.ip().is_loopback() {
        return Err(ServeError::NoAuthNotLoopback(config.bind));
    }
    let app = build(&config)?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| ServeError::Bind(config.bind, e))?;
    let local = listener.local_addr().map_err(ServeError::Serve)?;
    tracing::info!(%local, "OpenStack Networking API listening");
    if let Some(tx) = ready {
        let _ = tx.send(local);
    }
    serve_on(listener, app).await.map_err(ServeError::Serve)
}

/// Serve `app` on a bound listener until ctrl-c (for a caller that builds
/// the [`App`] itself, as `cloudnet serve` does to share its store).
pub async fn serve_on(listener: tokio::net::TcpListener, app: Arc<App>) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
