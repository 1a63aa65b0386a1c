//! The agent's small HTTP listeners (`/metrics`, `/v1/trace`): tiny_http
//! servers on a thread each, for a process without an HTTP stack of its
//! own.

use std::net::SocketAddr;

/// Bind `addr`; the server and the address it bound (useful with port 0).
pub(crate) fn listen(addr: SocketAddr) -> Result<(tiny_http::Server, SocketAddr), String> {
    let server = tiny_http::Server::http(addr).map_err(|e| e.to_string())?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| "not an IP listener".to_string())?;
    Ok((server, bound))
}
