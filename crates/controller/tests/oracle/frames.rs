//! Frames the isolation oracle injects: a proptest strategy for what a VM
//! (or a host behind the uplink) sends, and the bytes of each frame.

use proptest::prelude::*;

/// One frame to inject; indexes are taken modulo what the cloud has.
#[derive(Clone, Debug)]
pub struct FrameSpec {
    /// A port index, or (>= ports) the uplink.
    pub from: u8,
    pub kind: Kind,
    /// The port (or earlier frame) the frame is aimed at.
    pub target: u8,
    /// 0 TCP SYN, 1 UDP, 2 ICMP echo request, 3 TCP ACK.
    pub proto: u8,
    pub dport: u8,
    /// Bit 0: source MAC of the target; bit 1: source IP of the target;
    /// bit 2: a made-up source MAC; bit 3: a made-up source IP.
    pub spoof: u8,
    /// An 802.1Q tag the VM puts on its frame.
    pub vlan: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// IP to the target port's MAC and address.
    Unicast,
    /// IP to the target port's address through the sender's router MAC.
    Routed,
    /// IP to the internet (198.51.100.7) through the router MAC.
    Internet,
    /// ARP request for the target's address.
    ArpRequest,
    /// Gratuitous ARP for the sender's (or, spoofed, the target's) address.
    Garp,
    /// UDP to the broadcast MAC and 255.255.255.255.
    Broadcast,
    /// UDP to 224.0.0.251 and its multicast MAC.
    Multicast,
    /// A DHCP server's OFFER (UDP 67 → 68) to the broadcast MAC.
    DhcpServer,
    /// The first fragment of a unicast datagram (MF set).
    FirstFragment,
    /// A later fragment (offset 185 × 8) of a unicast datagram.
    LaterFragment,
    /// UDP to 4789 or 6081 at the target (looks like VXLAN / Geneve).
    TunnelLike,
    /// The receiver of an earlier delivered frame answers it.
    Reply,
    /// The target of an earlier injected frame answers it, whether or not
    /// it was delivered (a guessed reply).
    GuessedReply,
    /// From the uplink: to a floating IP through the router's gateway MAC.
    ToFloating,
    /// From the uplink: to a router's gateway address.
    ToGateway,
}

const KINDS: [Kind; 15] = [
    Kind::Unicast,
    Kind::Routed,
    Kind::Internet,
    Kind::ArpRequest,
    Kind::Garp,
    Kind::Broadcast,
    Kind::Multicast,
    Kind::DhcpServer,
    Kind::FirstFragment,
    Kind::LaterFragment,
    Kind::TunnelLike,
    Kind::Reply,
    Kind::GuessedReply,
    Kind::ToFloating,
    Kind::ToGateway,
];

pub const DPORTS: [u16; 6] = [22, 80, 1500, 53, 8080, 3000];

pub fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    (
        0u8..8,
        0usize..KINDS.len(),
        any::<u8>(),
        0u8..4,
        0u8..6,
        prop::sample::select(vec![0u8, 0, 0, 0, 1, 2, 3, 4, 8, 12]),
        prop::option::weighted(0.1, prop::sample::select(vec![0u16, 1, 100, 4095])),
    )
        .prop_map(|(from, k, target, proto, dport, spoof, vlan)| FrameSpec {
            from,
            kind: KINDS[k],
            target,
            proto,
            dport,
            spoof,
            vlan,
        })
}

/// Header values of a frame to build.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hdr {
    pub dl_src: [u8; 6],
    pub dl_dst: [u8; 6],
    pub vlan: Option<u16>,
    pub src: u32,
    pub dst: u32,
    /// 6, 17 or 1.
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// TCP flags; ICMP type (8 request, 0 reply).
    pub flags: u8,
    /// (more fragments, offset in 8-byte units)
    pub frag: (bool, u16),
    pub ttl: u8,
    /// TCP acknowledgment number (with the ACK flag); every SYN carries
    /// sequence number 1000, so 1001 answers it and anything else is
    /// outside the window.
    pub ack: u32,
}

fn csum(data: &[u8], init: u32) -> u16 {
    let mut s = init;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        s += u32::from(w);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn eth(h: &Hdr, ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&h.dl_dst);
    f.extend_from_slice(&h.dl_src);
    if let Some(v) = h.vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// An IPv4 frame carrying TCP, UDP or ICMP with 16 bytes of payload.
pub fn ipv4(h: &Hdr) -> Vec<u8> {
    let payload = [0x5au8; 16];
    let l4: Vec<u8> = match h.proto {
        6 => {
            let mut t = Vec::new();
            t.extend_from_slice(&h.sport.to_be_bytes());
            t.extend_from_slice(&h.dport.to_be_bytes());
            t.extend_from_slice(&1000u32.to_be_bytes());
            t.extend_from_slice(&(if h.flags & 0x10 != 0 { h.ack } else { 0 }).to_be_bytes());
            t.extend_from_slice(&[0x50, h.flags, 0xff, 0xff, 0, 0, 0, 0]);
            t.extend_from_slice(&payload);
            t
        }
        17 => {
            let mut u = Vec::new();
            u.extend_from_slice(&h.sport.to_be_bytes());
            u.extend_from_slice(&h.dport.to_be_bytes());
            u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            u.extend_from_slice(&[0, 0]);
            u.extend_from_slice(&payload);
            u
        }
        _ => {
            let mut i = vec![h.flags, 0, 0, 0];
            i.extend_from_slice(&h.sport.to_be_bytes());
            i.extend_from_slice(&1u16.to_be_bytes());
            i.extend_from_slice(&payload);
            let c = csum(&i, 0);
            i[2..4].copy_from_slice(&c.to_be_bytes());
            i
        }
    };
    let mut l4 = l4;
    if h.proto == 6 || h.proto == 17 {
        let mut ph = 0u32;
        for w in [h.src >> 16, h.src & 0xffff, h.dst >> 16, h.dst & 0xffff] {
            ph += w;
        }
        ph += u32::from(h.proto) + l4.len() as u32;
        let c = csum(&l4, ph);
        let at = if h.proto == 6 { 16 } else { 6 };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let body: &[u8] = if h.frag.1 == 0 { &l4 } else { &payload };
    let total = 20 + body.len();
    let frag = (u16::from(h.frag.0) << 13) | (h.frag.1 & 0x1fff);
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&0x1234u16.to_be_bytes());
    ip.extend_from_slice(&frag.to_be_bytes());
    ip.extend_from_slice(&[h.ttl, h.proto, 0, 0]);
    ip.extend_from_slice(&h.src.to_be_bytes());
    ip.extend_from_slice(&h.dst.to_be_bytes());
    let c = csum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(h, 0x0800);
    f.extend_from_slice(&ip);
    f.extend_from_slice(body);
    f
}

/// An ARP frame (RFC 826): `op` 1 request, 2 reply; `src`/`dst` are the
/// sender and target protocol addresses, `dl_src` the sender's hardware
/// address.
pub fn arp(h: &Hdr, op: u16) -> Vec<u8> {
    let mut f = eth(h, 0x0806);
    f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&h.dl_src);
    f.extend_from_slice(&h.src.to_be_bytes());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&h.dst.to_be_bytes());
    f
}
