//! Tunnel ports (`type=vxlan|geneve|gre`): the sockets, receive demux and
//! transmit path. The headers themselves are the `tunnel` crate's.
//!
//! * **Receive.** VXLAN and Geneve arrive on a UDP socket per (kind,
//!   `local_ip`, `dst_port`), shared by every port using that triple; GRE on
//!   a raw `IPPROTO_GRE` socket per `local_ip` (this kernel has no GRE
//!   module, so nothing else consumes protocol 47). The sockets sit in the
//!   datapath's epoll set under tokens of their own ([`TUN_TOKEN_HI`]). A
//!   packet goes to the port whose `remote_ip` and `key` match its outer
//!   source and key, an exact port before a `flow` one, as OVS's tunnel port
//!   lookup does; the flow tables see `tun_id`, `tun_src`, `tun_dst`
//!   (ovs-fields(7), "Tunnel Fields"). The outer TOS (`IP_RECVTOS`, or the
//!   GRE packet's own header) is `tun_tos`, and a CE mark on it is copied
//!   onto an ECN-capable inner packet, a not-ECN-capable one dropped
//!   (RFC 6040 §4.2, [`DropReason::TunnelEcn`]); encapsulation copies the
//!   inner ECN field outwards (RFC 6040 §4.1, normal mode). Limits:
//!   `tun_dst` is 0 on a socket bound to the wildcard address (no
//!   `IP_PKTINFO` yet); GRE
//!   ports of one host should agree on `local_ip` (a raw socket bound to an
//!   address and a wildcard one would both get each packet).
//! * **Coalescing.** In-order TCP segments of one flow in a receive burst
//!   are merged into one GSO frame before the pipeline
//!   ([`super::tunnel_gro`], software GRO), so the receiving TAP gets one
//!   write per burst rather than one per MSS.
//! * **Transmit.** One `IPPROTO_RAW` socket (`IP_HDRINCL`, raw(7)) sends
//!   every tunnel's packets, outer IPv4 written here: the UDP source port is
//!   the inner flow's hash (RFC 7348 §5, ECMP-friendly), DF is set
//!   (`options:df_default`), and an unspecified source lets the kernel fill
//!   in the route's (raw(7): "source address ... filled in when zero").
//!   The host's routing chooses the underlay interface.
//! * **Offloads.** A TSO/USO super-frame from a TAP is segmented in
//!   software ([`tunnel::Segmenter`]) and each segment encapsulated; over
//!   VXLAN and Geneve the segments leave in one UDP GSO send
//!   ([`super::tunnel_gso`]), over GRE in `sendmmsg(2)` batches; a
//!   partial checksum is completed first ([`tunnel::complete_checksum`]).
//!   The path MTU of a `remote_ip=flow` port is learned towards the first
//!   remote it sends to and refreshed when a send fails with `EMSGSIZE`.
//! * **MTU.** A frame (or segment) whose encapsulation would exceed the
//!   underlay's path MTU (`IP_MTU` of a socket connected to the remote, see
//!   ip(7)) is answered with ICMP fragmentation-needed / Packet Too Big
//!   carrying the inner MTU (RFC 1191, RFC 8201) and counted
//!   ([`DropReason::TunnelTooBig`]), never silently dropped.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;

use netio::vnet::{GsoType, VirtioNetHdr, VnetHdrLen};
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tunnel::{DecapConfig, FrameBuf, PerPacket, TunnelKind, TunnelMeta, DEFAULT_HEADROOM};

use super::port::{Pieces, PortIo, VlanEdit, BUF_LEN, HDR};
use super::stats::DropReason;
use super::tunnel_cfg::{FromFlow, TunnelCfg};
pub(super) use super::tunnel_md::tun_set;
pub use super::tunnel_md::TunSet;
use super::tunnel_sock::{open_tx, path_mtu};
use super::{Datapath, BURST};

/// Epoll tokens of tunnel sockets: this in the high 32 bits, the socket
/// index in the low ones. Port tokens carry a generation there, which
/// would need 2^32 - 1 reopenings of one slot to collide.
pub(super) const TUN_TOKEN_HI: u64 = 0xffff_ffff << 32;

/// Receive buffer asked for each tunnel socket: bursts of 64 KB TSO
/// traffic from the peer arrive faster than one wake-up drains.
pub(super) const SOCK_BUF: usize = 4 << 20;

/// Bytes of the segment arena: a 64 KB super-frame cut into [`BURST`]
/// segments, each with its own headroom and copied headers.
const ARENA_LEN: usize = BUF_LEN + BURST * (DEFAULT_HEADROOM + 128);

/// A tunnel port's datapath state.
#[derive(Debug)]
pub struct TunnelPort {
    /// Parsed options.
    pub cfg: TunnelCfg,
    /// Index of its receive socket in [`TunnelIo`].
    sock: Option<usize>,
    /// Underlay path MTU to the fixed remote, once known.
    pub path_mtu: Option<u32>,
}

impl TunnelPort {
    /// A port not yet attached to a socket.
    pub fn new(cfg: TunnelCfg) -> TunnelPort {
        TunnelPort {
            cfg,
            sock: None,
            path_mtu: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SockKey {
    kind: TunnelKind,
    local: Option<Ipv4Addr>,
    port: u16,
    /// The multicast group of a VXLAN port flooding through one.
    group: Option<Ipv4Addr>,
}

impl SockKey {
    /// Placeholder for a socket that has gone.
    const NONE: SockKey = SockKey {
        kind: TunnelKind::Gre,
        local: None,
        port: 0,
        group: None,
    };
}

#[derive(Debug)]
enum RxIo {
    Udp(UdpSocket),
    Gre(Socket),
}

#[derive(Debug)]
struct RxSock {
    key: SockKey,
    io: RxIo,
    /// Slots of the ports receiving through it.
    users: Vec<usize>,
}

/// Tunnel counters beyond the per-port ones (`ofctl dump-tables`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelCounters {
    /// Received packets that did not parse as the tunnel protocol.
    pub rx_decap_errors: u64,
    /// Received packets no port's remote/key matched.
    pub rx_no_port: u64,
    /// Frames too big for the underlay (each answered by ICMP if possible).
    pub tx_too_big: u64,
    /// ICMP frag-needed / Packet Too Big replies sent to VMs.
    pub icmp_too_big_sent: u64,
    /// Outer CE over a not-ECN-capable inner packet (RFC 6040 §4.2).
    pub rx_ecn_drops: u64,
}

/// The tunnel sockets and scratch buffers of a datapath.
#[derive(Debug)]
pub struct TunnelIo {
    tx: Option<Socket>,
    /// Raw send sockets for VXLAN multicast groups, per local address.
    mcast_tx: super::tunnel_sock::McastTx,
    socks: Vec<Option<RxSock>>,
    /// Encapsulation buffer: headroom + one frame.
    enc: Vec<u8>,
    /// Encapsulated segments of one super-frame, sent as a batch.
    arena: Vec<u8>,
    /// Flat copy of the inner frame (with virtio header) for segmentation.
    flat: Vec<u8>,
    /// ICMP reply (virtio header + frame).
    icmp: Vec<u8>,
    /// Sources of a received burst.
    srcs: [SocketAddrV4; BURST],
    /// Segment sizes of a received burst (`UDP_GRO`; 0: one datagram).
    rx_gso: [u16; BURST],
    /// Outer TOS of each message of a received burst (`IP_RECVTOS`).
    rx_tos: [u8; BURST],
    /// UDP GSO send sockets (VXLAN / Geneve super-frames).
    gso: GsoTx,
    /// Receive-side coalescing ([`super::tunnel_gro`]).
    pub(super) gro: super::tunnel_gro::Gro,
    /// Counters.
    pub counters: TunnelCounters,
}

impl Default for TunnelIo {
    fn default() -> Self {
        TunnelIo {
            tx: None,
            mcast_tx: Default::default(),
            socks: Vec::new(),
            enc: vec![0u8; DEFAULT_HEADROOM + BUF_LEN],
            arena: vec![0u8; ARENA_LEN],
            flat: Vec::with_capacity(BUF_LEN),
            icmp: vec![0u8; HDR + 1600],
            srcs: [SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0); BURST],
            rx_gso: [0; BURST],
            rx_tos: [0; BURST],
            gso: GsoTx::default(),
            gro: super::tunnel_gro::new_gro(),
            counters: TunnelCounters::default(),
        }
    }
}

fn open_rx(key: SockKey) -> io::Result<RxIo> {
    let local = key.local.unwrap_or(Ipv4Addr::UNSPECIFIED);
    if key.kind == TunnelKind::Gre {
        let s = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(i32::from(packet::ip_proto::GRE))),
        )?;
        if key.local.is_some() {
            s.bind(&SockAddr::from(SocketAddrV4::new(local, 0)))?;
        }
        s.set_nonblocking(true)?;
        let _ = s.set_recv_buffer_size(SOCK_BUF);
        return Ok(RxIo::Gre(s));
    }
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // A group's socket is bound to the group: it gets only the datagrams
    // sent there, the unicast socket of `local_ip` the rest. It joins on
    // the interface of `local_ip` (IP_ADD_MEMBERSHIP, ip(7); RFC 7348
    // §4.2: a VTEP joins the group of its VNI).
    s.bind(&SockAddr::from(SocketAddrV4::new(
        key.group.unwrap_or(local),
        key.port,
    )))?;
    if let Some(group) = key.group {
        s.join_multicast_v4(&group, &local)?;
    }
    s.set_nonblocking(true)?;
    // Coalesced reads where the kernel can (udp(7)); split in
    // `service_tunnel`. Without it, datagrams come one by one.
    let _ = netio::udpgso::set_gro(s.as_fd());
    // The outer TOS, for ECN on decapsulation (RFC 6040 §4.2).
    let _ = netio::udpgso::set_recv_tos(s.as_fd());
    let _ = s.set_recv_buffer_size(SOCK_BUF);
    Ok(RxIo::Udp(s.into()))
}

impl TunnelIo {
    /// Attach port `slot` to the receive socket its configuration needs,
    /// opening (and registering) the socket if no other port has it.
    pub fn attach(
        &mut self,
        slot: usize,
        tp: &mut TunnelPort,
        epoll: &Epoll,
    ) -> Result<(), String> {
        let key = SockKey {
            kind: tp.cfg.kind,
            local: tp.cfg.local,
            port: tp.cfg.dst_port,
            group: tp.cfg.group(),
        };
        let idx = match self
            .socks
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.key == key))
        {
            Some(i) => i,
            None => {
                let io = open_rx(key).map_err(|e| {
                    format!(
                        "tunnel receive socket {:?} {}:{}: {e}",
                        key.kind,
                        key.local.unwrap_or(Ipv4Addr::UNSPECIFIED),
                        key.port
                    )
                })?;
                let i = match self.socks.iter().position(Option::is_none) {
                    Some(i) => i,
                    None => {
                        self.socks.push(None);
                        self.socks.len() - 1
                    }
                };
                let ev = EpollEvent::new(EpollFlags::EPOLLIN, TUN_TOKEN_HI | i as u64);
                let reg = match &io {
                    RxIo::Udp(u) => epoll.add(u.as_fd(), ev),
                    RxIo::Gre(s) => epoll.add(s.as_fd(), ev),
                };
                reg.map_err(|e| format!("tunnel socket: epoll: {e}"))?;
                self.socks[i] = Some(RxSock {
                    key,
                    io,
                    users: Vec::new(),
                });
                i
            }
        };
        if let Some(s) = self.socks[idx].as_mut() {
            s.users.push(slot);
        }
        tp.sock = Some(idx);
        if let FromFlow::Fixed(remote) = tp.cfg.remote {
            tp.path_mtu = path_mtu(tp.cfg.local, remote).ok();
        }
        Ok(())
    }

    /// Detach port `slot`; the socket closes with its last user.
    pub fn detach(&mut self, slot: usize, tp: &TunnelPort, epoll: &Epoll) {
        let Some(idx) = tp.sock else { return };
        let Some(Some(s)) = self.socks.get_mut(idx) else {
            return;
        };
        s.users.retain(|&u| u != slot);
        if s.users.is_empty() {
            let _ = match &s.io {
                RxIo::Udp(u) => epoll.delete(u.as_fd()),
                RxIo::Gre(g) => epoll.delete(g.as_fd()),
            };
            self.socks[idx] = None;
        }
    }
}

/// One received packet: where its inner frame lies in the buffer and its
/// tunnel metadata.
struct Rx {
    meta: TunnelMeta,
    inner: std::ops::Range<usize>,
    /// Length of its Geneve options (they end where the inner frame starts).
    opts_len: usize,
}

impl Datapath {
    /// Whether the port in `slot` is a tunnel.
    pub(super) fn is_tunnel(&self, slot: usize) -> bool {
        matches!(
            self.ports.get(slot),
            Some(Some(super::DpPort {
                io: PortIo::Tunnel(_),
                ..
            }))
        )
    }

    /// Receive a burst from tunnel socket `idx` (one `recvmmsg(2)`) and
    /// switch every inner frame as received on the port it belongs to.
    pub(super) fn service_tunnel(&mut self, idx: usize) {
        let mut rx = std::mem::take(&mut self.rx);
        let t = &mut self.tun;
        let (n, key) = match t.socks.get(idx) {
            Some(Some(s)) => {
                let n = match &s.io {
                    RxIo::Udp(u) => netio::udpgso::recv_batch_gro(
                        u.as_fd(),
                        &mut rx,
                        HDR,
                        netio::udpgso::RecvMeta {
                            lens: &mut self.rx_len,
                            srcs: &mut t.srcs,
                            gso: &mut t.rx_gso,
                            tos: &mut t.rx_tos,
                        },
                    ),
                    RxIo::Gre(g) => {
                        t.rx_gso.fill(0);
                        t.rx_tos.fill(0);
                        netio::dgram::recv_batch(
                            g.as_fd(),
                            &mut rx,
                            HDR,
                            &mut self.rx_len,
                            &mut t.srcs,
                        )
                    }
                };
                (n.unwrap_or(0), s.key)
            }
            _ => (0, SockKey::NONE),
        };
        for (i, buf) in rx.iter_mut().enumerate().take(n) {
            let len = self.rx_len[i].min(buf.len() - HDR);
            // A UDP_GRO read holds datagrams of `gso` bytes back to back.
            let step = match usize::from(self.tun.rx_gso[i]) {
                0 => len.max(1),
                g => g,
            };
            for at in (0..len).step_by(step) {
                let end = (at + step).min(len);
                self.tunnel_input(idx, key, buf, at, end, i);
            }
        }
        self.rx = rx;
        self.gro_flush();
        self.flush_tx();
    }

    /// Decapsulate the datagram at `buf[HDR + at..HDR + end]`, part of
    /// message `msg` of the burst received on socket `idx`, and switch its
    /// inner frame. The bytes
    /// before the inner frame (its tunnel header, and for the first datagram
    /// the room reserved at the buffer start) become an empty virtio
    /// header: they precede a datagram already switched, never a later one.
    fn tunnel_input(
        &mut self,
        idx: usize,
        key: SockKey,
        buf: &mut [u8],
        at: usize,
        end: usize,
        msg: usize,
    ) {
        let (src, tos) = (self.tun.srcs[msg], self.tun.rx_tos[msg]);
        let r = match decap(key, &buf[HDR + at..HDR + end], src, tos) {
            Ok(r) => r,
            Err(_) => {
                self.tun.counters.rx_decap_errors += 1;
                return;
            }
        };
        let Some(slot) = self.tunnel_port_for(idx, &r.meta) else {
            self.tun.counters.rx_no_port += 1;
            return;
        };
        let start = at + r.inner.start;
        let end = HDR + at + r.inner.end;
        // RFC 6040 §4.2: CE on the outer header marks the inner one; an
        // inner packet that is not ECN-capable must then be dropped.
        if tunnel::propagate_ecn(r.meta.tun_tos, &mut buf[HDR + start..end]).is_err() {
            self.tun.counters.rx_ecn_drops += 1;
            if let Some(Some(p)) = self.ports.get_mut(slot) {
                p.stats.rx_dropped += 1;
                let bi = p.bridge;
                self.drop_frame(bi, slot, DropReason::TunnelEcn);
            }
            return;
        }
        if r.opts_len > 0 {
            let opts = &buf[HDR + start - r.opts_len..HDR + start];
            if !self.geneve_rx_options(slot, opts) {
                return;
            }
        } else if self.gro_offer(slot, r.meta, &buf[HDR + start..end]) {
            return;
        }
        buf[start..start + HDR].fill(0);
        self.tunnel_deliver(slot, r.meta, &mut buf[start..end]);
    }

    /// The port of socket `idx` that `meta` belongs to: the most specific
    /// match of remote and key.
    fn tunnel_port_for(&self, idx: usize, meta: &TunnelMeta) -> Option<usize> {
        let s = self.tun.socks.get(idx)?.as_ref()?;
        let mut best: Option<(u8, usize)> = None;
        for &slot in &s.users {
            let Some(Some(p)) = self.ports.get(slot) else {
                continue;
            };
            let PortIo::Tunnel(tp) = &p.io else { continue };
            if let Some(rank) = tp.cfg.rx_rank(meta.tun_src, meta.tun_id) {
                if best.is_none_or(|(r, _)| rank > r) {
                    best = Some((rank, slot));
                }
            }
        }
        best.map(|(_, s)| s)
    }

    /// Send `pieces` (the frame as it leaves, VLAN edit included) through
    /// tunnel port `out`. `frame` is the frame as received on `in_slot`,
    /// quoted by an ICMP too-big reply sent back there.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tunnel_transmit(
        &mut self,
        bi: usize,
        in_slot: usize,
        out: usize,
        frame: &[u8],
        pieces: &Pieces<'_>,
        depth: usize,
    ) {
        let set = self.tx_tun;
        let opts = self.geneve_tx_options(bi, out, &set.md);
        let Some(Some(p)) = self.ports.get_mut(out) else {
            return;
        };
        let PortIo::Tunnel(tp) = &mut p.io else {
            return;
        };
        let cfg = tp.cfg;
        let remote = match cfg.remote {
            FromFlow::Fixed(ip) => ip,
            FromFlow::Flow if set.dst != 0 => Ipv4Addr::from(set.dst),
            FromFlow::Flow => {
                p.stats.tx_dropped += 1;
                self.drop_frame(bi, in_slot, DropReason::TunnelError);
                return;
            }
        };
        let id = match cfg.key {
            FromFlow::Fixed(k) => k,
            // A 24-bit VNI keeps the low bits of tun_id, as OVS does.
            FromFlow::Flow if cfg.kind.is_udp() => (set.id & 0x00ff_ffff) as u32,
            FromFlow::Flow => set.id as u32,
        };
        if tp.path_mtu.is_none() {
            tp.path_mtu = path_mtu(cfg.local, remote).ok();
        }
        let mtu = tp.path_mtu;
        let params = ::tunnel::TunnelParams {
            geneve_options: opts.as_ref().map_or(&[][..], |o| o.as_bytes()),
            ..cfg.params(remote, id)
        };
        let vnet = VirtioNetHdr::parse(&pieces.hdr, VnetHdrLen::V10).unwrap_or_default();

        // The inner frame in one slice: the frame itself when no VLAN edit
        // splits it, else a flat copy.
        let mut flat = std::mem::take(&mut self.tun.flat);
        let inner = match pieces.contiguous() {
            Some(f) => f,
            None => {
                pieces.copy_into(&mut flat);
                &flat[HDR..]
            }
        };
        // The largest wire frame this will produce.
        let gso = vnet.gso_type != GsoType::None;
        let seg_len = if gso {
            match tunnel::Segmenter::new(inner, &vnet) {
                Ok(s) => s.max_segment_len(),
                Err(_) => {
                    self.tun.flat = flat;
                    self.drop_frame(bi, in_slot, DropReason::Malformed);
                    return;
                }
            }
        } else {
            inner.len()
        };
        if let Some(mtu) = mtu {
            if !tunnel::mtu::fits(seg_len, mtu as usize, &params) {
                self.tun.flat = flat;
                let inner_mtu = tunnel::mtu::inner_mtu(mtu as usize, &params) as u32;
                self.too_big(bi, in_slot, out, frame, inner_mtu, depth);
                return;
            }
        }
        let (sent, bytes, failed) = self.tun.send_frame(inner, &vnet, &params);
        self.tun.flat = flat;
        if let Some(Some(p)) = self.ports.get_mut(out) {
            p.stats.tx_packets += sent;
            p.stats.tx_bytes += bytes;
            if failed.is_some() {
                p.stats.tx_dropped += 1;
            }
            if failed == Some(DropReason::TunnelTooBig) {
                // The route's MTU shrank: learn it again, answer the VM.
                if let PortIo::Tunnel(tp) = &mut p.io {
                    tp.path_mtu = path_mtu(cfg.local, remote).ok();
                    if let Some(m) = tp.path_mtu {
                        let inner_mtu = tunnel::mtu::inner_mtu(m as usize, &params) as u32;
                        self.too_big(bi, in_slot, out, frame, inner_mtu, depth);
                        return;
                    }
                }
            }
        }
        if let Some(why) = failed {
            self.drop_frame(bi, in_slot, why);
        }
    }

    /// Count a frame too big for tunnel port `out` and answer it with ICMP
    /// frag-needed / Packet Too Big (`inner_mtu`) out of the port it came
    /// in on, as received (so patch ports and VLAN tags lead it back).
    fn too_big(
        &mut self,
        bi: usize,
        in_slot: usize,
        out: usize,
        frame: &[u8],
        inner_mtu: u32,
        depth: usize,
    ) {
        self.tun.counters.tx_too_big += 1;
        if let Some(Some(p)) = self.ports.get_mut(out) {
            p.stats.tx_dropped += 1;
        }
        if let Some(Some(b)) = self.bridges.get_mut(bi) {
            b.drops.bump(DropReason::TunnelTooBig);
        }
        let mut icmp = std::mem::take(&mut self.tun.icmp);
        let Some(eth) = frame.get(HDR..) else {
            self.tun.icmp = icmp;
            return;
        };
        icmp[..HDR].fill(0);
        if let Ok(n) = tunnel::icmp::too_big_reply(eth, inner_mtu, &mut icmp[HDR..]) {
            self.tun.counters.icmp_too_big_sent += 1;
            self.transmit(bi, out, in_slot, &icmp[..HDR + n], VlanEdit::Keep, depth);
        }
        self.tun.icmp = icmp;
    }
}

use super::tunnel_gso::{GsoTx, Sent};

impl TunnelIo {
    /// Encapsulate and send the inner frame `inner` described by `vnet`:
    /// segmented first when it is a GSO super-frame, its checksum completed
    /// when partial.
    fn send_frame(
        &mut self,
        inner: &[u8],
        vnet: &VirtioNetHdr,
        params: &tunnel::TunnelParams<'_>,
    ) -> Sent {
        let mut enc = std::mem::take(&mut self.enc);
        let r = if vnet.gso_type != GsoType::None {
            let mut arena = std::mem::take(&mut self.arena);
            let gso = self.gso.send(&mut arena, inner, vnet, params);
            self.arena = arena;
            match gso {
                Some(r) => r,
                None => self.send_segments(inner, vnet, params),
            }
        } else {
            let res = FrameBuf::with_frame(&mut enc[..], DEFAULT_HEADROOM, inner)
                .map_err(|_| DropReason::Malformed)
                .and_then(|mut b| {
                    if vnet.needs_csum() && tunnel::complete_checksum(b.data_mut(), vnet).is_err() {
                        return Err(DropReason::Malformed);
                    }
                    self.send(&mut b, params)
                });
            match res {
                Ok(n) => (1, n as u64, None),
                Err(why) => (0, 0, Some(why)),
            }
        };
        self.enc = enc;
        r
    }

    /// Segment `inner` (TSO / USO), encapsulating each segment into the
    /// batch arena, and send them in `sendmmsg(2)` batches of up to
    /// [`BURST`]; stops at the first failure.
    fn send_segments(
        &mut self,
        inner: &[u8],
        vnet: &VirtioNetHdr,
        params: &tunnel::TunnelParams<'_>,
    ) -> Sent {
        let mut seg = match tunnel::Segmenter::new(inner, vnet) {
            Ok(s) => s,
            Err(_) => return (0, 0, Some(DropReason::Malformed)),
        };
        let need = DEFAULT_HEADROOM + seg.max_segment_len();
        let mut arena = std::mem::take(&mut self.arena);
        let mut spans = [(0usize, 0usize); BURST];
        let (mut k, mut off) = (0usize, 0usize);
        let mut total: Sent = (0, 0, None);
        loop {
            if k == BURST || arena.len() - off < need {
                let r = self.send_spans(&arena, &spans[..k], params);
                total = (total.0 + r.0, total.1 + r.1, r.2);
                (k, off) = (0, 0);
                if total.2.is_some() || arena.len() < need {
                    break;
                }
            }
            let Ok(mut b) = FrameBuf::new(&mut arena[off..], DEFAULT_HEADROOM) else {
                break;
            };
            let len = match seg.next_into(b.tail_mut()) {
                None => break,
                Some(Ok(l)) => l,
                Some(Err(_)) => {
                    total.2 = Some(DropReason::Malformed);
                    break;
                }
            };
            if b.set_len(len).is_err()
                || tunnel::encap(&mut b, params, &tunnel::Layout::Ipv4, PerPacket::default())
                    .is_err()
            {
                total.2 = Some(DropReason::TunnelError);
                break;
            }
            let start = off + b.headroom();
            spans[k] = (start, b.len());
            k += 1;
            off = start + b.len();
        }
        if total.2.is_none() && k > 0 {
            let r = self.send_spans(&arena, &spans[..k], params);
            total = (total.0 + r.0, total.1 + r.1, r.2);
        }
        self.arena = arena;
        total
    }

    /// Send the packets at `spans` of `arena` to `params.remote` in one
    /// `sendmmsg(2)`.
    fn send_spans(
        &mut self,
        arena: &[u8],
        spans: &[(usize, usize)],
        params: &tunnel::TunnelParams<'_>,
    ) -> Sent {
        let remote = params.remote;
        let mut pkts: [&[u8]; BURST] = [&[]; BURST];
        let mut bytes = 0u64;
        for (p, &(start, len)) in pkts.iter_mut().zip(spans) {
            *p = arena.get(start..start + len).unwrap_or(&[]);
            bytes += len as u64;
        }
        let n = spans.len();
        let Some(tx) = self.tx_socket(remote, params.local) else {
            return (0, 0, Some(DropReason::TxError));
        };
        match netio::dgram::send_batch_to(tx.as_fd(), &pkts[..n], SocketAddrV4::new(remote, 0)) {
            Ok(sent) if sent == n => (n as u64, bytes, None),
            Ok(sent) => {
                let b: u64 = spans[..sent].iter().map(|s| s.1 as u64).sum();
                (sent as u64, b, Some(DropReason::TxFull))
            }
            Err(e) => (0, 0, Some(send_error(&e))),
        }
    }

    /// The raw send socket towards `remote`, opened on first use: the
    /// shared one, or for a multicast group the one of `local`.
    fn tx_socket(&mut self, remote: Ipv4Addr, local: Ipv4Addr) -> Option<&Socket> {
        if remote.is_multicast() {
            return self.mcast_tx.socket(local);
        }
        if self.tx.is_none() {
            self.tx = open_tx().ok();
        }
        self.tx.as_ref()
    }

    /// Encapsulate the inner frame in `b` for `params` and send it; the
    /// bytes sent, or the drop reason.
    fn send(
        &mut self,
        b: &mut FrameBuf<&mut [u8]>,
        params: &tunnel::TunnelParams<'_>,
    ) -> Result<usize, DropReason> {
        tunnel::encap(b, params, &tunnel::Layout::Ipv4, PerPacket::default())
            .map_err(|_| DropReason::TunnelError)?;
        let Some(tx) = self.tx_socket(params.remote, params.local) else {
            return Err(DropReason::TxError);
        };
        let to = SockAddr::from(SocketAddrV4::new(params.remote, 0));
        tx.send_to(b.data(), &to).map_err(|e| send_error(&e))
    }
}

/// The drop reason of a failed tunnel send: EMSGSIZE is the route's MTU
/// (raw(7): IP_HDRINCL packets are never fragmented).
pub(super) fn send_error(e: &io::Error) -> DropReason {
    if e.raw_os_error() == Some(nix::libc::EMSGSIZE) {
        DropReason::TunnelTooBig
    } else if e.kind() == io::ErrorKind::WouldBlock {
        DropReason::TxFull
    } else {
        DropReason::TxError
    }
}

/// Decapsulate a packet read from the socket of `key`: a UDP payload from
/// `src`, or (GRE) a whole IPv4 packet. The inner range is relative to
/// `pkt`.
fn decap(key: SockKey, pkt: &[u8], src: SocketAddrV4, tos: u8) -> Result<Rx, tunnel::DecapError> {
    let d = if key.kind == TunnelKind::Gre {
        tunnel::decap_ipv4(pkt, &DecapConfig::default())?
    } else {
        let origin = tunnel::UdpOrigin {
            src: *src.ip(),
            dst: key.local.unwrap_or(Ipv4Addr::UNSPECIFIED),
            src_port: src.port(),
            dst_port: key.port,
            tos,
            ttl: 0,
        };
        tunnel::decap_udp_payload(pkt, key.kind, &origin)?
    };
    Ok(Rx {
        meta: d.meta,
        opts_len: d.options.len(),
        inner: d.inner_range,
    })
}

#[cfg(test)]
#[path = "tunnel_tests.rs"]
mod tests;
