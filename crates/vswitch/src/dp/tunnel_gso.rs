//! UDP tunnels (VXLAN, Geneve) send a TSO/USO super-frame from a VM with
//! one `sendmsg(2)` and `UDP_SEGMENT` (UDP GSO, udp(7), Linux ≥ 4.18)
//! instead of one raw packet per segment: the payload is N back-to-back
//! chunks of equal size, each the tunnel header (RFC 7348 §5, RFC 8926
//! §3) and one inner segment with its own headers and checksums
//! ([`tunnel::Segmenter`]); the kernel writes the outer IPv4/UDP headers
//! and segments as late as it can. This is what the kernel's own VXLAN
//! device gains with GSO: one trip through the IP stack per super-frame.
//! Only the headers are written in user space (into a small arena); each
//! datagram is two iovecs, its headers and its payload where it lies in
//! the frame read from the TAP, so the payload is copied once, by the
//! kernel's `sendmsg(2)` (measured with `bench/vxlan.sh -c`).
//!
//! **Source ports.** A UDP socket sends from the one port it is bound to,
//! so the outer source port (RFC 7348 §5: a hash of the inner flow, for
//! ECMP) comes from a pool of [`POOL`] sockets per local address, the
//! flow's hash-derived port choosing the socket; each socket is bound to
//! the port of the first flow that picks it (in 49152-65535), or to an
//! ephemeral one if that port is taken. Trade-off: super-frames spread
//! over at most [`POOL`] source ports (ECMP paths) per host instead of
//! 16384, and a flow's non-TSO frames, still sent raw, carry the flow's
//! own hash port, which may differ from its socket's — both stay constant
//! per flow, so a flow is reordered only if an ECMP underlay sends the two
//! kinds on different paths.
//!
//! Limits: used only with DF (the default, `options:df_default=true`): the
//! kernel refuses a GSO send whose segments exceed the device MTU rather
//! than fragmenting, so a DF-clear port keeps the raw path; the outer UDP
//! checksum is always computed (`options:csum=false` is not honoured on
//! this path; RFC 7348 §5 lets receivers accept a non-zero one).

use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;

use netio::udpgso::{self, OuterIp};
use netio::vnet::VirtioNetHdr;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tunnel::{FrameBuf, Layout, PerPacket, TunnelParams};

use super::stats::DropReason;

/// Send sockets per local address (and so distinct outer source ports).
pub const POOL: usize = 8;

/// Send buffer of each socket: a few 64 KB super-frames.
const SOCK_BUF: usize = 4 << 20;

/// Outer IPv4 + UDP header bytes the kernel adds to each datagram.
const OUTER: usize = packet::ipv4::MIN_HEADER_LEN + packet::udp::HEADER_LEN;

/// Packets sent, bytes sent, and why the rest was dropped.
pub(super) type Sent = (u64, u64, Option<DropReason>);

#[derive(Debug)]
struct PoolSock {
    local: Ipv4Addr,
    slot: usize,
    sock: UdpSocket,
}

/// The UDP GSO send sockets of a datapath, opened on first use.
#[derive(Debug, Default)]
pub struct GsoTx {
    socks: Vec<PoolSock>,
    /// Set when the kernel refused `UDP_SEGMENT`: the raw path is used.
    unsupported: bool,
}

fn open(local: Ipv4Addr, port: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if s.bind(&SockAddr::from(SocketAddrV4::new(local, port)))
        .is_err()
    {
        s.bind(&SockAddr::from(SocketAddrV4::new(local, 0)))?;
    }
    s.set_nonblocking(true)?;
    let _ = s.set_send_buffer_size(SOCK_BUF);
    // Nothing is read from it: keep what strays in small.
    let _ = s.set_recv_buffer_size(0);
    // No copy of a flood to a VXLAN multicast group for this host.
    let _ = s.set_multicast_loop_v4(false);
    udpgso::set_df(s.as_fd(), true)?;
    Ok(s.into())
}

impl GsoTx {
    /// The pool socket for `local` that source port `port` hashes to.
    fn socket(&mut self, local: Ipv4Addr, port: u16) -> io::Result<&UdpSocket> {
        let slot = usize::from(port) % POOL;
        let i = match self
            .socks
            .iter()
            .position(|s| s.local == local && s.slot == slot)
        {
            Some(i) => i,
            None => {
                let sock = open(local, port)?;
                self.socks.push(PoolSock { local, slot, sock });
                self.socks.len() - 1
            }
        };
        Ok(&self.socks[i].sock)
    }

    /// Segment `inner` (a GSO super-frame described by `vnet`) and send
    /// the segments with UDP GSO, each datagram the tunnel header and the
    /// segment's headers (written into `arena`) followed by its payload
    /// read in place from `inner`: one vectored `sendmsg(2)` per
    /// [`udpgso::MAX_SEGMENTS`] segments or 64 KB, and no user-space copy
    /// of the payload. `None` when this path does not apply (GRE, DF
    /// clear, no kernel support, segments too large for one datagram): use
    /// the raw path.
    pub(super) fn send(
        &mut self,
        arena: &mut [u8],
        inner: &[u8],
        vnet: &VirtioNetHdr,
        params: &TunnelParams<'_>,
    ) -> Option<Sent> {
        if self.unsupported || !params.kind.is_udp() || !params.df {
            return None;
        }
        let mut seg = tunnel::Segmenter::new(inner, vnet).ok()?;
        let th = params.header_len(&Layout::UdpPayload);
        let hl = th + seg.header_len();
        let chunk = th + seg.max_segment_len();
        let gso_size = u16::try_from(chunk).ok()?;
        let per_send = (udpgso::MAX_PAYLOAD / chunk).min(udpgso::MAX_SEGMENTS);
        if per_send == 0 || arena.len() < per_send * hl {
            return None;
        }
        let mut total: Sent = (0, 0, None);
        let mut outer: Option<(u16, OuterIp)> = None;
        loop {
            // Headers of up to `per_send` segments, `hl` bytes each.
            let mut payloads = [(0usize, 0usize); udpgso::MAX_SEGMENTS];
            let mut k = 0usize;
            let mut bytes = 0usize;
            let mut done = false;
            while k < per_send {
                let at = k * hl;
                let Ok(mut b) = FrameBuf::new(&mut arena[at..at + hl], th) else {
                    return Some((total.0, total.1, Some(DropReason::TunnelError)));
                };
                let payload = match seg.next_headers_into(b.tail_mut()) {
                    None => {
                        done = true;
                        break;
                    }
                    Some(Ok(p)) => p,
                    Some(Err(_)) => {
                        return Some((total.0, total.1, Some(DropReason::Malformed)));
                    }
                };
                // The tunnel header depends on the inner headers only (the
                // flow hash, TOS, TTL), which every segment shares.
                let info = b.set_len(hl - th).ok().and_then(|()| {
                    tunnel::encap(&mut b, params, &Layout::UdpPayload, PerPacket::default()).ok()
                });
                let Some(info) = info else {
                    return Some((total.0, total.1, Some(DropReason::TunnelError)));
                };
                outer.get_or_insert((
                    info.src_port,
                    OuterIp {
                        tos: info.tos,
                        ttl: info.ttl,
                    },
                ));
                bytes += hl + payload.len();
                payloads[k] = (payload.start, payload.end);
                k += 1;
            }
            if k > 0 {
                let (port, ip) = outer?;
                let mut iov = [IoSlice::new(&[]); udpgso::MAX_IOV];
                for (i, &(from, to)) in payloads[..k].iter().enumerate() {
                    iov[2 * i] = IoSlice::new(&arena[i * hl..(i + 1) * hl]);
                    iov[2 * i + 1] = IoSlice::new(inner.get(from..to).unwrap_or(&[]));
                }
                match self.flush(&iov[..2 * k], bytes, gso_size, params, port, ip) {
                    Ok(()) => {
                        total.0 += k as u64;
                        total.1 += (bytes + k * OUTER) as u64;
                    }
                    Err(e) if total.0 == 0 && unsupported(&e) => {
                        self.unsupported = true;
                        return None;
                    }
                    Err(e) => return Some((total.0, total.1, Some(super::tunnel::send_error(&e)))),
                }
            }
            if done || k < per_send {
                return Some(total);
            }
        }
    }

    /// One UDP GSO send of `iov` (`len` bytes in all).
    fn flush(
        &mut self,
        iov: &[IoSlice<'_>],
        len: usize,
        gso_size: u16,
        params: &TunnelParams<'_>,
        port: u16,
        ip: OuterIp,
    ) -> io::Result<()> {
        let dst = SocketAddrV4::new(params.remote, params.dst_port);
        let sock = self.socket(params.local, port)?;
        let n = udpgso::send_segmented_vectored(sock.as_fd(), iov, gso_size, dst, ip)?;
        if n != len {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        Ok(())
    }
}

/// Errors meaning the kernel (or the route) cannot do UDP GSO here:
/// `EINVAL` / `ENOPROTOOPT` from a kernel without `UDP_SEGMENT`, `EIO`
/// when the route goes through xfrm (udp(7) via `udp_send_skb`).
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::EINVAL) | Some(nix::libc::ENOPROTOOPT) | Some(nix::libc::EIO)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_refusals_fall_back_but_mtu_and_full_queue_do_not() {
        assert!(unsupported(&io::Error::from_raw_os_error(
            nix::libc::EINVAL
        )));
        assert!(unsupported(&io::Error::from_raw_os_error(nix::libc::EIO)));
        assert!(!unsupported(&io::Error::from_raw_os_error(
            nix::libc::EMSGSIZE
        )));
        assert!(!unsupported(&io::Error::from(io::ErrorKind::WouldBlock)));
    }

    #[test]
    fn pool_socket_per_slot_is_reused() {
        let mut g = GsoTx::default();
        let a = g
            .socket(Ipv4Addr::LOCALHOST, 0)
            .unwrap()
            .local_addr()
            .unwrap();
        let b = g
            .socket(Ipv4Addr::LOCALHOST, POOL as u16)
            .unwrap()
            .local_addr()
            .unwrap();
        assert_eq!(a, b, "ports equal modulo POOL share a socket");
        let _ = g.socket(Ipv4Addr::LOCALHOST, 1).unwrap();
        assert_eq!(g.socks.len(), 2);
    }
}
