//! `POST /v2.0/cloudnet/trace` (a cloudnet extension): a tenant-level
//! trace — `ovn-trace` plus `ofproto/trace` in one answer — of a packet
//! from a port. The API resolves names and checks the caller may see the
//! ports; a [`Tracer`] does the tracing: in `cloudnet serve` the local
//! agent (its switch's real tables, its compiler's cookies); in the
//! stateless `cloudnet api` the agent of the chassis the port is bound to,
//! reached over HTTP at the address its chassis record advertises.
//!
//! Body: `{"trace": {"from": PORT, "to": PORT?, "flow": "tcp,tp_dst=22"?,
//! "ct_state": "new"|"est"?}}` (PORT a name or ID); an admin may give
//! `"from_physnet": PHYSNET` instead of `from` to trace a packet arriving
//! from the outside (e.g. to a floating IP). Answer:
//! `{"trace": TraceReport}` (crate `controller`, module `explain`).

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use controller::explain::{CtAssume, TraceError, TraceReport, TraceRequest};
use model::{Ctx, Kind, State};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::routes::{resource_body, Request};
use crate::App;

/// Runs traces for the API server: the local agent in `cloudnet serve`,
/// or a forwarder to the agent of the port's chassis in the stateless
/// `cloudnet api` (crate `agent`, module `trace_http`). Errors are API
/// errors (a [`TraceError`] converts), so a forwarder can say which
/// chassis failed and how (502, 504) in the same NeutronError body.
pub trait Tracer: Send + Sync {
    fn trace(&self, req: TraceRequest) -> Result<TraceReport, ApiError>;
}

impl App {
    /// Install the tracer (once; `cloudnet serve` does when its agent runs).
    pub fn set_tracer(&self, t: Arc<dyn Tracer>) -> Result<(), ApiError> {
        self.tracer
            .set(t)
            .map_err(|_| ApiError::internal("a tracer is already installed"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    from: Option<String>,
    /// Admin only: from the outside of a physical network's uplink.
    #[serde(default)]
    from_physnet: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    flow: String,
    #[serde(default)]
    ct_state: CtAssume,
}

fn bad(message: String) -> ApiError {
    ApiError::new(400, "HTTPBadRequest", message)
}

/// A port `ctx` may see, by ID or unique name.
fn find_port(st: &State, ctx: &Ctx, name_or_id: &str) -> Result<String, ApiError> {
    if st.find(ctx, Kind::Port, name_or_id).is_ok() {
        return Ok(name_or_id.to_string());
    }
    let mut ids = st
        .ports
        .values()
        .filter(|p| p.name == name_or_id)
        .map(|p| p.meta.id.clone())
        .filter(|id| st.find(ctx, Kind::Port, id).is_ok());
    match (ids.next(), ids.next()) {
        (Some(id), None) => Ok(id),
        (None, _) => Err(ApiError::from(Kind::Port.not_found(name_or_id))),
        (Some(_), Some(_)) => Err(ApiError::new(
            409,
            "Conflict",
            format!("More than one port exists with the name '{name_or_id}'; use its ID."),
        )),
    }
}

impl From<TraceError> for ApiError {
    /// Status and type by [`TraceError::class`]; an unknown port keeps the
    /// API's own not-found body.
    fn from(e: TraceError) -> ApiError {
        if let TraceError::NoPort(id) = &e {
            return ApiError::from(Kind::Port.not_found(id));
        }
        let (status, kind) = e.class();
        ApiError::new(status, kind, e.to_string())
    }
}

/// The request `body` asks for, resolved against `st` for `ctx`.
fn request(st: &State, ctx: &Ctx, body: Body) -> Result<TraceRequest, ApiError> {
    let (port_id, uplink) = match (&body.from, &body.from_physnet) {
        (Some(f), None) => (find_port(st, ctx, f)?, None),
        (None, Some(_)) if !ctx.is_admin => {
            return Err(ApiError::new(
                403,
                "PolicyNotAuthorized",
                "tracing from a physical network's uplink is for admins",
            ))
        }
        (None, Some(p)) => (String::new(), Some(p.clone())),
        _ => {
            return Err(bad(
                "give exactly one of \"from\" (a port) and \"from_physnet\"".into(),
            ))
        }
    };
    let mut flow = body.flow;
    if let Some(to) = &body.to {
        let id = find_port(st, ctx, to)?;
        let ip = st
            .ports
            .get(&id)
            .and_then(|p| {
                p.fixed_ips
                    .iter()
                    .find(|f| f.ip_address.parse::<std::net::Ipv4Addr>().is_ok())
            })
            .map(|f| f.ip_address.clone())
            .ok_or_else(|| bad(format!("port {to} has no IPv4 address to trace to")))?;
        let m = controller::explain::microflow::Microflow::parse(&flow);
        if m.has("nw_dst") {
            return Err(bad(format!(
                "both \"to\" ({to}) and nw_dst in the flow name a destination"
            )));
        }
        let sep = if flow.trim().is_empty() { "" } else { "," };
        flow = format!("{flow}{sep}nw_dst={ip}");
    }
    Ok(TraceRequest {
        port_id,
        uplink,
        viewer: (!ctx.is_admin).then(|| ctx.project_id.clone()),
        flow,
        ct_state: body.ct_state,
    })
}

/// Handle `/v2.0/cloudnet/trace`.
pub fn handle(app: &App, ctx: &Ctx, req: &Request) -> Result<Response, ApiError> {
    if req.method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let body: Body = serde_json::from_value(resource_body(&req.body, "trace")?)
        .map_err(|e| bad(format!("Invalid trace request: {e}")))?;
    let tracer = app.tracer.get().ok_or_else(|| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            "no agent runs on this server (serve --api-only): nothing to trace",
        )
    })?;
    let tr = app.read(|st| request(st, ctx, body))??;
    let report = tracer.trace(tr)?;
    Ok((StatusCode::OK, Json(json!({ "trace": report }))).into_response())
}
