//! Tunnel send sockets: the shared `IPPROTO_RAW` one, those of VXLAN
//! ports whose `remote_ip` is a multicast group (RFC 7348 §4.2; see
//! `tunnel_cfg` for the option), and the path MTU probe.
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
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

use super::tunnel::SOCK_BUF;

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
    let s = open_tx()?;
    s.set_multicast_if_v4(&local)?;
    Ok(s)
}

/// The shared raw send socket: every tunnel's packets, outer IPv4
/// header written by the datapath.
pub(super) fn open_tx() -> io::Result<Socket> {
    // IPPROTO_RAW implies IP_HDRINCL (raw(7)).
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(libc_raw())))?;
    s.set_nonblocking(true)?;
    let _ = s.set_send_buffer_size(SOCK_BUF);
    // Floods to a VXLAN group must not come back to this host's own group
    // socket (ip(7) IP_MULTICAST_LOOP).
    let _ = s.set_multicast_loop_v4(false);
    Ok(s)
}

/// `IPPROTO_RAW` (255, RFC 790 "reserved"; Linux's send-only raw protocol).
const fn libc_raw() -> i32 {
    255
}

/// The underlay path MTU towards `remote`: `IP_MTU` of a UDP socket
/// connected to it (ip(7); connecting a UDP socket sends nothing).
pub fn path_mtu(local: Option<Ipv4Addr>, remote: Ipv4Addr) -> io::Result<u32> {
    let s = UdpSocket::bind(SocketAddrV4::new(local.unwrap_or(Ipv4Addr::UNSPECIFIED), 0))?;
    s.connect(SocketAddrV4::new(remote, 9))?;
    let mtu = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::IpMtu)
        .map_err(io::Error::from)?;
    u32::try_from(mtu).map_err(|_| io::Error::other("negative IP_MTU"))
}
