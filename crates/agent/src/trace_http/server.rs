//! The agent's side: `POST /v1/trace` answered by the agent's thread
//! (through a [`crate::TraceHandle`], so a trace sees one consistent
//! moment of intent, bindings and flows).

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};

use controller::explain::{TraceError, TraceReport, TraceRequest};

use super::{ErrorBody, Secret, TraceHttpError, WireError, MAX_BODY, TRACE_PATH};

/// A bound trace listener, not yet answering.
pub struct TraceServer {
    server: tiny_http::Server,
    addr: SocketAddr,
    secret: Option<Secret>,
}

impl std::fmt::Debug for TraceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceServer")
            .field("addr", &self.addr)
            .field("secret", &self.secret)
            .finish()
    }
}

impl TraceServer {
    /// Bind `addr`. Without a secret only a loopback address is allowed:
    /// a trace reveals every project's addresses and rules to whoever can
    /// connect.
    pub fn bind(addr: SocketAddr, secret: Option<Secret>) -> Result<TraceServer, TraceHttpError> {
        if secret.is_none() && !addr.ip().is_loopback() {
            return Err(TraceHttpError::NoSecretOffLoopback(addr));
        }
        let (server, bound) =
            crate::http::listen(addr).map_err(|why| TraceHttpError::Listen { addr, why })?;
        Ok(TraceServer {
            server,
            addr: bound,
            secret,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address to advertise in the chassis record: the bound one, or,
    /// bound to all addresses (`0.0.0.0`), the host's underlay address
    /// with the bound port.
    pub fn advertised(&self, underlay_ip: Ipv4Addr) -> SocketAddr {
        if self.addr.ip().is_unspecified() {
            SocketAddr::from((underlay_ip, self.addr.port()))
        } else {
            self.addr
        }
    }

    /// Answer requests on a thread with `trace` (e.g. a
    /// [`crate::TraceHandle`]'s), one at a time, as the agent's thread
    /// answers them anyway.
    pub fn spawn<F>(self, trace: F) -> std::io::Result<()>
    where
        F: Fn(TraceRequest) -> Result<TraceReport, TraceError> + Send + 'static,
    {
        let TraceServer { server, secret, .. } = self;
        std::thread::Builder::new()
            .name("trace-http".into())
            .spawn(move || {
                for mut req in server.incoming_requests() {
                    let (status, body) = answer(&mut req, secret.as_ref(), &trace);
                    let mut resp = tiny_http::Response::from_data(body).with_status_code(status);
                    if let Ok(h) = tiny_http::Header::from_bytes(
                        &b"Content-Type"[..],
                        &b"application/json"[..],
                    ) {
                        resp = resp.with_header(h);
                    }
                    // The asker may have gone (its timeout): nothing to do.
                    let _ = req.respond(resp);
                }
            })
            .map(|_| ())
    }
}

fn refuse(status: u16, kind: &str, message: impl Into<String>) -> (u16, Vec<u8>) {
    let body = ErrorBody {
        error: WireError {
            status,
            kind: kind.to_owned(),
            message: message.into(),
        },
    };
    // Serializing a struct of strings cannot fail; stay total anyway.
    (status, serde_json::to_vec(&body).unwrap_or_default())
}

/// Status and body for one request.
fn answer<F>(req: &mut tiny_http::Request, secret: Option<&Secret>, trace: &F) -> (u16, Vec<u8>)
where
    F: Fn(TraceRequest) -> Result<TraceReport, TraceError>,
{
    if req.url() != TRACE_PATH {
        return refuse(404, "HTTPNotFound", format!("no such path {}", req.url()));
    }
    if *req.method() != tiny_http::Method::Post {
        return refuse(405, "HTTPMethodNotAllowed", "use POST");
    }
    if let Some(s) = secret {
        let auth = req
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .map(|h| h.value.as_str());
        if !s.admits(auth) {
            return refuse(401, "HTTPUnauthorized", "missing or wrong trace secret");
        }
    }
    let mut body = Vec::new();
    let limit = u64::try_from(MAX_BODY + 1).unwrap_or(u64::MAX);
    if let Err(e) = req.as_reader().take(limit).read_to_end(&mut body) {
        return refuse(400, "HTTPBadRequest", format!("reading the body: {e}"));
    }
    if body.len() > MAX_BODY {
        return refuse(413, "HTTPRequestEntityTooLarge", "trace request too large");
    }
    let tr: TraceRequest = match serde_json::from_slice(&body) {
        Ok(t) => t,
        Err(e) => return refuse(400, "HTTPBadRequest", format!("Invalid trace request: {e}")),
    };
    match trace(tr) {
        Ok(report) => match serde_json::to_vec(&report) {
            Ok(b) => (200, b),
            Err(e) => refuse(500, "HTTPInternalServerError", e.to_string()),
        },
        Err(e) => {
            let (status, kind) = e.class();
            refuse(status, kind, e.to_string())
        }
    }
}
