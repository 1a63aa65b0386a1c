//! Port I/O: how each interface type moves frames.
//!
//! Every frame inside the datapath is prefixed by a 10-byte
//! `virtio_net_hdr` ([`HDR`]): TAPs are opened with `IFF_VNET_HDR` and a
//! 10-byte header, AF_PACKET sockets with `PACKET_VNET_HDR`, which uses the
//! same layout. A frame with a partial checksum or a 64 KB GSO super-frame
//! therefore passes from any port to any other whole, and the kernel of the
//! output side finishes or segments it (on a TAP only if the reader did not
//! announce the offload with `TUNSETOFFLOAD`, on AF_PACKET in software
//! when the netdev lacks the offload — which needs the qdisc path, see
//! [`system_options`]). No port type here lacks the header, so the switch
//! never has to finish checksums itself.

use std::fs::File;
use std::io::{self, IoSlice};
use std::sync::Arc;

use netio::afpacket::{AfPacket, AfPacketOptions};
use netio::tap::{Offloads, Tap, TapOptions, VnetHdrLen};

use crate::schema::{IfaceType, Interface};

/// Length of the virtio header before every frame in the datapath.
pub const HDR: usize = 10;

/// Largest frame with header a port delivers (64 KB GSO frame, a VLAN tag).
pub const BUF_LEN: usize = HDR + 65535 + 4 + 14;

/// The I/O side of a port.
#[derive(Debug)]
pub enum PortIo {
    /// A TAP (type `tap` or `internal`); shared with the datapath threads
    /// that read or send without the datapath lock.
    Tap(Arc<Tap>),
    /// An AF_PACKET socket on an existing netdev (type `system`), shared
    /// likewise.
    Packet(Arc<AfPacket>),
    /// Frames go to another port of the daemon.
    Patch,
    /// A VXLAN / Geneve / GRE tunnel (`super::tunnel`).
    Tunnel(super::tunnel::TunnelPort),
    /// The port could not be opened; frames to it are dropped.
    Down(String),
    /// An in-memory port (`super::dummy`, OVS's netdev-dummy).
    Dummy(super::dummy::DummyIo),
}

/// Errors opening a port, with the interface named.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// TAP creation failed.
    #[error(transparent)]
    Tap(#[from] netio::tap::TapError),
    /// AF_PACKET failed.
    #[error(transparent)]
    Packet(#[from] netio::afpacket::AfPacketError),
    /// The network namespace in `options:netns` cannot be entered.
    #[error("interface {iface}: network namespace {netns:?}: {source}")]
    Netns {
        /// Interface.
        iface: String,
        /// Namespace name or path.
        netns: String,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// `mtu_request` could not be applied.
    #[error("interface {iface}: mtu_request={mtu}: {source}")]
    Mtu {
        /// Interface.
        iface: String,
        /// Requested MTU.
        mtu: u32,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// Bad tunnel options.
    #[error(transparent)]
    Tunnel(#[from] super::tunnel_cfg::TunnelCfgError),
    /// `options:n_rxq` is not a number of queues.
    #[error(transparent)]
    NRxq(#[from] super::rxq::NRxqError),
    /// No TAP queue could be opened.
    #[error("interface {0}: no TAP queue opened")]
    NoQueue(String),
    /// A patch port lacks `options:peer`.
    #[error("patch interface {0} has no options:peer")]
    NoPeer(String),
}

fn tap_options() -> TapOptions {
    tap_options_mq(false)
}

fn tap_options_mq(multi_queue: bool) -> TapOptions {
    TapOptions {
        vnet_hdr: Some(VnetHdrLen::V10),
        offloads: Offloads::ALL,
        multi_queue,
        persist: Some(true),
        nonblocking: true,
    }
}

/// Run `f` inside the network namespace `netns` (a name under /run/netns,
/// or a path), from a short-lived thread: `setns(2)` changes only the
/// calling thread's namespace, and fds opened there keep working from any.
fn in_netns<T: Send + 'static>(
    netns: &str,
    iface: &str,
    f: impl FnOnce() -> Result<T, OpenError> + Send + 'static,
) -> Result<T, OpenError> {
    let path = if netns.contains('/') {
        netns.to_owned()
    } else {
        format!("/run/netns/{netns}")
    };
    let ns_err = |source| OpenError::Netns {
        iface: iface.to_owned(),
        netns: netns.to_owned(),
        source,
    };
    let file = File::open(&path).map_err(ns_err)?;
    let name = iface.to_owned();
    let h = std::thread::spawn(move || -> Result<T, OpenError> {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| io::Error::from_raw_os_error(e as i32))
            .map_err(|source| OpenError::Netns {
                iface: name,
                netns: path,
                source,
            })?;
        f()
    });
    h.join()
        .unwrap_or_else(|_| Err(ns_err(io::Error::other("namespace thread panicked"))))
}

/// Open a TAP inside the network namespace `netns`.
fn open_tap_in(netns: &str, ifname: &str, iface: &str) -> Result<Tap, OpenError> {
    let ifname = ifname.to_owned();
    in_netns(netns, iface, move || {
        Ok(Tap::open(&ifname, &tap_options())?)
    })
}

/// Open `n` queues of TAP `ifname` (`super::rxq`): one fd with
/// `IFF_MULTI_QUEUE` per queue when `n` > 1. `TUNSETIFF` refuses
/// (`EINVAL`) to attach in the other queue mode than the netdev was
/// created with, so an existing TAP is adopted in its own mode: a
/// single-queue one gives one queue whatever `n` asks.
fn open_tap_queues(ifname: &str, n: usize) -> Result<Vec<Tap>, OpenError> {
    let want_mq = n > 1;
    let first = match Tap::open(ifname, &tap_options_mq(want_mq)) {
        Err(netio::tap::TapError::Sys { source, .. })
            if source.raw_os_error() == Some(nix::errno::Errno::EINVAL as i32) =>
        {
            Tap::open(ifname, &tap_options_mq(!want_mq)).map(|t| (t, !want_mq))
        }
        r => r.map(|t| (t, want_mq)),
    };
    let (first, mq) = first?;
    let mut queues = vec![first];
    if mq {
        for _ in 1..n {
            queues.push(Tap::open(ifname, &tap_options_mq(true))?);
        }
    }
    Ok(queues)
}

/// Open the I/O side of `iface` with `n` receive queues if it is a TAP
/// (see [`open_tap_queues`]); the extra queues (1 and up) come second.
pub fn open_queues(iface: &Interface, n: usize) -> Result<(PortIo, Vec<Arc<Tap>>), OpenError> {
    // Even for one queue: an existing multi-queue TAP needs the fallback.
    if iface.kind != IfaceType::Tap {
        return open(iface).map(|io| (io, Vec::new()));
    }
    let ifname = iface
        .options
        .get("ifname")
        .unwrap_or(&iface.name)
        .to_owned();
    let queues = match iface.options.get("netns") {
        Some(ns) => in_netns(ns, &iface.name, move || open_tap_queues(&ifname, n))?,
        None => open_tap_queues(&ifname, n)?,
    };
    let mut it = queues.into_iter().map(Arc::new);
    let first = it
        .next()
        .ok_or_else(|| OpenError::NoQueue(iface.name.clone()))?;
    Ok((PortIo::Tap(first), it.collect()))
}

/// Apply `mtu_request` (ovs-vswitchd.conf.db(5)) to a TAP or internal
/// port's netdev, in its namespace: e.g. 1450 for a VM behind VXLAN.
/// Other types have no netdev of the switch's to set.
pub fn apply_mtu(iface: &Interface) -> Result<(), OpenError> {
    let Some(mtu) = iface.mtu_request else {
        return Ok(());
    };
    if !matches!(iface.kind, IfaceType::Tap | IfaceType::Internal) {
        return Ok(());
    }
    let ifname = iface
        .options
        .get("ifname")
        .unwrap_or(&iface.name)
        .to_owned();
    let name = iface.name.clone();
    let set = move || {
        netio::netdev::set_mtu(&ifname, mtu).map_err(|source| OpenError::Mtu {
            iface: name,
            mtu,
            source,
        })
    };
    match iface.options.get("netns") {
        Some(ns) if iface.kind == IfaceType::Tap => in_netns(ns, &iface.name, set),
        _ => set(),
    }
}

/// AF_PACKET options of a `system` port: the virtio header, promiscuous
/// mode, and *no* `PACKET_QDISC_BYPASS`.
///
/// With the bypass, the kernel sends through `__dev_direct_xmit`, which runs
/// `validate_xmit_skb_list` and then drops the frame whenever validation
/// replaced the skb (`if (skb != orig_skb) goto drop` in net/core/dev.c):
/// exactly what happens when a GSO super-frame from a TAP meets a netdev
/// without TSO (e.g. a veth after `ethtool -K … tx off`, which also clears
/// TSO and SG) and must be segmented in software. Every TSO frame was then
/// lost and TCP crawled on retransmissions. Without the bypass the frame
/// takes `dev_queue_xmit`, whose `validate_xmit_skb` segments it and finishes
/// partial checksums in software, so the switch needs no feature probing
/// and no copy; on a veth (qdisc `noqueue`) the extra cost is negligible.
fn system_options() -> AfPacketOptions {
    AfPacketOptions {
        qdisc_bypass: false,
        ..AfPacketOptions::default()
    }
}

/// Open the I/O side of `iface`.
pub fn open(iface: &Interface) -> Result<PortIo, OpenError> {
    match iface.kind {
        IfaceType::Internal => Ok(PortIo::Tap(Arc::new(Tap::open(
            &iface.name,
            &tap_options(),
        )?))),
        IfaceType::Tap => {
            let ifname = iface.options.get("ifname").unwrap_or(&iface.name);
            match iface.options.get("netns") {
                Some(ns) => Ok(PortIo::Tap(Arc::new(open_tap_in(ns, ifname, &iface.name)?))),
                None => Ok(PortIo::Tap(Arc::new(Tap::open(ifname, &tap_options())?))),
            }
        }
        IfaceType::System => Ok(PortIo::Packet(Arc::new(AfPacket::open(
            &iface.name,
            &system_options(),
        )?))),
        IfaceType::Vxlan | IfaceType::Geneve | IfaceType::Gre => {
            match super::tunnel_cfg::TunnelCfg::parse(&iface.name, iface.kind, &iface.options)? {
                Some(cfg) => Ok(PortIo::Tunnel(super::tunnel::TunnelPort::new(cfg))),
                None => Ok(PortIo::Down(format!("{}: not a tunnel", iface.name))),
            }
        }
        IfaceType::Patch => {
            if iface.options.contains_key("peer") {
                Ok(PortIo::Patch)
            } else {
                Err(OpenError::NoPeer(iface.name.clone()))
            }
        }
    }
}

/// Release a port that is being deleted: a TAP the switch made persistent
/// becomes transient, so the netdev goes away with the fd (del-port,
/// del-br), while a daemon restart keeps it.
pub fn release(io: &PortIo) {
    if let PortIo::Tap(t) = io {
        let _ = t.set_persist(false);
    }
}

/// How a frame's outer VLAN tag changes on output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VlanEdit {
    /// Send as received.
    Keep,
    /// Insert an 802.1Q tag with this TCI.
    Push(u16),
    /// Remove the outer tag.
    Pop,
    /// Replace the VID of the outer tag.
    Rewrite(u16),
}

/// The pieces of an output frame: header (adjusted copy), then up to three
/// slices of the frame around a tag. No copy of the payload is made.
pub struct Pieces<'a> {
    /// Adjusted virtio header.
    pub hdr: [u8; HDR],
    /// 802.1Q tag to insert (used when `tag_len` is 4).
    pub tag: [u8; 4],
    /// 4 when `tag` is part of the frame.
    pub tag_len: usize,
    /// Bytes before the tag position.
    pub head: &'a [u8],
    /// Bytes after it.
    pub tail: &'a [u8],
}

impl<'a> Pieces<'a> {
    /// The Ethernet frame as one slice when no tag is inserted or
    /// removed (the virtio header, [`Pieces::hdr`], apart).
    pub fn contiguous(&self) -> Option<&'a [u8]> {
        (self.tag_len == 0 && self.tail.is_empty()).then_some(self.head)
    }

    /// Build the pieces for `frame` (header included) under `edit`. Returns
    /// `None` when the edit cannot apply (pop on an untagged frame).
    pub fn new(frame: &'a [u8], edit: VlanEdit) -> Option<Pieces<'a>> {
        let mut hdr = [0u8; HDR];
        hdr.copy_from_slice(frame.get(..HDR)?);
        let eth = &frame[HDR..];
        let tagged = eth.len() >= 18 && eth[12] == 0x81 && eth[13] == 0x00;
        let (delta, tci, head, tail): (i32, Option<u16>, &[u8], &[u8]) = match edit {
            VlanEdit::Keep => (0, None, eth, &[]),
            VlanEdit::Push(tci) => (4, Some(tci), eth.get(..12)?, eth.get(12..)?),
            VlanEdit::Pop if tagged => (-4, None, &eth[..12], &eth[16..]),
            VlanEdit::Pop => return None,
            VlanEdit::Rewrite(vid) if tagged => {
                let old = u16::from_be_bytes([eth[14], eth[15]]);
                (0, Some((old & 0xf000) | vid), &eth[..12], &eth[16..])
            }
            VlanEdit::Rewrite(vid) => (4, Some(vid), eth.get(..12)?, eth.get(12..)?),
        };
        if delta != 0 {
            adjust_hdr(&mut hdr, delta);
        }
        let mut tag = [0x81, 0x00, 0, 0];
        if let Some(t) = tci {
            tag[2..].copy_from_slice(&t.to_be_bytes());
        }
        Some(Pieces {
            hdr,
            tag,
            tag_len: if tci.is_some() { 4 } else { 0 },
            head,
            tail,
        })
    }

    /// The Ethernet frame length (header excluded).
    pub fn frame_len(&self) -> usize {
        self.head.len() + self.tag_len + self.tail.len()
    }

    /// Slices in wire order (some may be empty).
    pub fn slices(&self) -> [&[u8]; 4] {
        [&self.hdr, self.head, &self.tag[..self.tag_len], self.tail]
    }

    /// Write to a TAP in one `writev(2)`.
    pub fn write_tap(&self, t: &Tap) -> io::Result<usize> {
        let s = self.slices();
        let iov = [
            IoSlice::new(s[0]),
            IoSlice::new(s[1]),
            IoSlice::new(s[2]),
            IoSlice::new(s[3]),
        ];
        t.writev(&iov)
    }

    /// Copy into the start of `out` as one contiguous frame; returns its
    /// length. `out` must hold `hdr.len() + frame_len()` bytes.
    pub fn copy_to(&self, out: &mut [u8]) -> usize {
        let mut off = 0;
        for s in self.slices() {
            out[off..off + s.len()].copy_from_slice(s);
            off += s.len();
        }
        off
    }

    /// Copy into `out` (cleared first) as one contiguous frame.
    pub fn copy_into(&self, out: &mut Vec<u8>) {
        out.clear();
        for s in self.slices() {
            out.extend_from_slice(s);
        }
    }
}

/// Shift `csum_start` (when `NEEDS_CSUM`) and `hdr_len` (when GSO) by the
/// bytes a tag push/pop adds before them (virtio 1.x §5.1.6.2).
fn adjust_hdr(hdr: &mut [u8; HDR], delta: i32) {
    let shift = |lo: usize, hdr: &mut [u8; HDR]| {
        let v = i32::from(u16::from_le_bytes([hdr[lo], hdr[lo + 1]])) + delta;
        let v = v.clamp(0, i32::from(u16::MAX)) as u16;
        hdr[lo..lo + 2].copy_from_slice(&v.to_le_bytes());
    };
    if hdr[0] & 1 != 0 {
        shift(6, hdr);
    }
    if hdr[1] != 0 {
        shift(2, hdr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tagged: bool) -> Vec<u8> {
        let mut f = vec![0u8; HDR];
        f[0] = 1; // NEEDS_CSUM
        f[6..8].copy_from_slice(&34u16.to_le_bytes());
        f.extend_from_slice(&[0xff; 6]);
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        if tagged {
            f.extend_from_slice(&[0x81, 0, 0x20, 10]);
        }
        f.extend_from_slice(&[0x08, 0x00, 0x45]);
        f
    }

    fn flat(p: &Pieces) -> Vec<u8> {
        let mut v = Vec::new();
        p.copy_into(&mut v);
        v
    }

    #[test]
    fn push_pop_rewrite() {
        let untagged = frame(false);
        let tagged = frame(true);
        let p = Pieces::new(&untagged, VlanEdit::Push(10)).unwrap();
        let got = flat(&p);
        assert_eq!(&got[HDR + 12..HDR + 16], &[0x81, 0, 0, 10]);
        assert_eq!(u16::from_le_bytes([got[6], got[7]]), 38, "csum_start moved");
        assert_eq!(p.frame_len(), untagged.len() - HDR + 4);

        let p = Pieces::new(&tagged, VlanEdit::Pop).unwrap();
        let got = flat(&p);
        assert_eq!(&got[HDR + 12..HDR + 14], &[0x08, 0x00]);
        assert_eq!(u16::from_le_bytes([got[6], got[7]]), 30);

        let p = Pieces::new(&tagged, VlanEdit::Rewrite(20)).unwrap();
        let got = flat(&p);
        assert_eq!(&got[HDR + 12..HDR + 16], &[0x81, 0, 0x20, 20], "PCP kept");
        assert!(Pieces::new(&untagged, VlanEdit::Pop).is_none());
        assert!(Pieces::new(&untagged[..5], VlanEdit::Keep).is_none());
        assert_eq!(flat(&Pieces::new(&tagged, VlanEdit::Keep).unwrap()), tagged);
    }
}
