//! Send sockets for VXLAN ports whose `remote_ip` is a multicast group
//! (RFC 7348 §4.2; see `tunnel_cfg` for the option).
//!
//! The shared `IPPROTO_RAW` socket cannot reach a group: the kernel routes
//! a raw packet by the socket's addresses, not by the source written in its
//! IPv4 header, and an underlay has no route to 224.0.0.0/4. A socket per
//! local address with `IP_MULTICAST_IF` set to it (ip(7)) leaves through
//! that address's interface; multicast loop is off (`open_tx`), so a
//! host's floods do not come back to its own group socket. The UDP GSO
//! sockets need nothing more: they are bound to the local address, which
//! picks the interface for a multicast destination.

use std::io;
use std::net::Ipv4Addr;

use socket2::Socket;

/// The raw send sockets of multicast groups, one per local address,
/// opened on first use.
#[derive(Debug, Default)]
pub struct McastTx {
    socks: Vec<(Ipv4Addr, Socket)>,
}

impl McastTx {
    /// The socket sending multicast from `local`.
    pub(super) fn socket(&mut self, local: Ipv4Addr) -> Option<&Socket> {
        let i = match self.socks.iter().position(|(l, _)| *l == local) {
            Some(i) => i,
            None => {
                let s = open(local).ok()?;
                self.socks.push((local, s));
                self.socks.len() - 1
            }
        };
        self.socks.get(i).map(|(_, s)| s)
    }
}

fn open(local: Ipv4Addr) -> io::Result<Socket> {
    let s = super::tunnel::open_tx()?;
    s.set_multicast_if_v4(&local)?;
    Ok(s)
}
