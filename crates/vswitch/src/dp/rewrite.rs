//! Header rewrites (`set_field`/`mod_*` after translation: the `Set*`
//! [`DpAction`]s) executed in place on a frame, virtio header included.
//!
//! Checksums are patched incrementally (RFC 1624 eqn. 3, the packet crate's
//! `checksum::update*`), never re-summed: the IPv4 header checksum for
//! address/TTL/TOS changes, and the TCP/UDP/ICMPv6 checksum for address
//! changes (their pseudo-header, RFC 793 §3.1, RFC 768, RFC 8200 §8.1) and
//! port/type/code changes.
//!
//! Checksum offload: a frame whose virtio header has `NEEDS_CSUM` (virtio
//! 1.x §5.1.6.2; Linux CHECKSUM_PARTIAL) carries in its L4 checksum field
//! the *uncomplemented* pseudo-header sum, and whoever finishes it sums
//! `csum_start..end` into that field. An address change must then move the
//! partial sum the same way (`~update(~partial)`), while a port change needs
//! nothing because the port bytes are summed later — the rule OVS's
//! `packet_set_ipv4_addr`/`packet_set_tcp_port` follow for offloaded
//! packets. A UDP checksum of 0 means "none" (RFC 768) and stays 0.

use flow::DpAction;
use packet::checksum;
use packet::extract::Offsets;

use super::port::HDR;

const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`.
const NEEDS_CSUM: u8 = 1;

/// Why a rewrite could not be executed; the frame is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// The frame lacks the header the action rewrites (it did not parse
    /// that far, or is a non-first fragment for an L4 rewrite).
    #[error("{action}: the frame has no {layer} header to rewrite")]
    NoHeader {
        /// The action, as `ovs-dpctl` names it.
        action: &'static str,
        /// The missing layer.
        layer: &'static str,
    },
    /// SCTP ports are covered by a CRC32c this datapath does not recompute.
    #[error("set(l4): SCTP port rewrite is not supported")]
    Sctp,
}

/// Where a frame's headers are, in frame coordinates (virtio header
/// included), from [`packet::extract`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// IPv4 or IPv6 header start and which.
    l3: Option<(usize, IpVer)>,
    /// L4 header start (parsed: its fixed header is in the frame) and the
    /// IP protocol.
    l4: Option<(usize, u8)>,
    /// ARP header start, for ARP frames.
    arp: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IpVer {
    V4,
    V6,
}

impl Layout {
    /// The layout of a frame whose Ethernet part parsed with `off` and
    /// whose `dl_type`/`nw_proto` are as given.
    pub fn new(off: &Offsets, dl_type: u16, nw_proto: u8) -> Layout {
        let ver = match dl_type {
            0x0800 => IpVer::V4,
            0x86dd => IpVer::V6,
            0x0806 => {
                return Layout {
                    arp: off.l3.map(|o| HDR + o as usize),
                    ..Layout::default()
                }
            }
            _ => return Layout::default(),
        };
        let Some(l3) = off.l3 else {
            return Layout::default();
        };
        Layout {
            l3: Some((HDR + l3 as usize, ver)),
            l4: off.l4.map(|o| (HDR + o as usize, nw_proto)),
            arp: None,
        }
    }

    /// IP header start (frame offset) and whether it is IPv6.
    pub(super) fn l3(&self) -> Option<(usize, bool)> {
        self.l3.map(|(at, v)| (at, v == IpVer::V6))
    }

    /// L4 header start (frame offset) and IP protocol, when parsed.
    pub(super) fn l4(&self) -> Option<(usize, u8)> {
        self.l4
    }

    fn ip(&self, action: &'static str) -> Result<(usize, IpVer), RewriteError> {
        self.l3.ok_or(RewriteError::NoHeader {
            action,
            layer: "IP",
        })
    }
}

fn be16(f: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]))
}

fn put16(f: &mut [u8], at: usize, v: u16) -> Option<()> {
    f.get_mut(at..at + 2)?.copy_from_slice(&v.to_be_bytes());
    Some(())
}

fn no(action: &'static str, layer: &'static str) -> RewriteError {
    RewriteError::NoHeader { action, layer }
}

/// The L4 checksum field of `lay` (frame offset) and whether it covers a
/// pseudo-header; `None` when the protocol has no 16-bit Internet checksum.
fn l4_csum(lay: &Layout) -> Option<(usize, u8, bool)> {
    let (l4, proto) = lay.l4?;
    let v6 = matches!(lay.l3, Some((_, IpVer::V6)));
    match proto {
        TCP => Some((l4 + 16, proto, true)),
        UDP => Some((l4 + 6, proto, true)),
        ICMPV6 if v6 => Some((l4 + 2, proto, true)),
        ICMP if !v6 => Some((l4 + 2, proto, false)),
        _ => None,
    }
}

/// Whether the L4 checksum at `field` is left partial (offloaded) by the
/// virtio header: `NEEDS_CSUM` with `csum_start + csum_offset` on it.
fn partial(f: &[u8], field: usize) -> bool {
    let (Some(start), Some(off)) = (
        f.get(6..8).map(|b| u16::from_le_bytes([b[0], b[1]])),
        f.get(8..10).map(|b| u16::from_le_bytes([b[0], b[1]])),
    ) else {
        return false;
    };
    f[0] & NEEDS_CSUM != 0 && HDR + usize::from(start) + usize::from(off) == field
}

/// Patch the L4 checksum for a change of bytes it covers, `upd` being the
/// RFC 1624 update of a *complemented* checksum. `pseudo` says whether the
/// changed bytes are in the pseudo-header (only then does a partial sum
/// move).
pub(super) fn fix_l4(f: &mut [u8], lay: &Layout, pseudo: bool, upd: impl Fn(u16) -> u16) {
    let Some((field, proto, has_pseudo)) = l4_csum(lay) else {
        return;
    };
    if pseudo && !has_pseudo {
        return;
    }
    let Some(cur) = be16(f, field) else {
        return;
    };
    let new = if partial(f, field) {
        if !pseudo {
            return;
        }
        !upd(!cur)
    } else {
        if proto == UDP && cur == 0 {
            return;
        }
        match upd(cur) {
            0 if proto == UDP => 0xffff,
            c => c,
        }
    };
    let _ = put16(f, field, new);
}

/// Apply one rewrite action to `f` (virtio header + Ethernet frame).
/// Actions that are not header rewrites are ignored.
pub fn apply(f: &mut [u8], lay: &Layout, a: &DpAction) -> Result<(), RewriteError> {
    match *a {
        DpAction::SetEthDst(m) => f
            .get_mut(HDR..HDR + 6)
            .ok_or(no("set(eth)", "Ethernet"))?
            .copy_from_slice(&m),
        DpAction::SetEthSrc(m) => f
            .get_mut(HDR + 6..HDR + 12)
            .ok_or(no("set(eth)", "Ethernet"))?
            .copy_from_slice(&m),
        DpAction::SetIpv4Src(ip) => set_ipv4_addr(f, lay, 12, ip)?,
        DpAction::SetIpv4Dst(ip) => set_ipv4_addr(f, lay, 16, ip)?,
        DpAction::SetIpv6Src(ip) => set_ipv6_addr(f, lay, 8, &ip)?,
        DpAction::SetIpv6Dst(ip) => set_ipv6_addr(f, lay, 24, &ip)?,
        DpAction::SetIpTos(tos) => set_tos(f, lay, tos)?,
        DpAction::SetIpTtl(ttl) => set_ttl(f, lay, ttl)?,
        DpAction::SetTpSrc(p) => set_tp(f, lay, 0, p)?,
        DpAction::SetTpDst(p) => set_tp(f, lay, 1, p)?,
        DpAction::SetArp {
            op,
            sha,
            spa,
            tha,
            tpa,
        } => set_arp(f, lay, op, &sha, spa, &tha, tpa)?,
        DpAction::SetNd { target, sll, tll } => set_nd(f, lay, &target, &sll, &tll)?,
        _ => {}
    }
    Ok(())
}

fn set_ipv4_addr(f: &mut [u8], lay: &Layout, at: usize, ip: u32) -> Result<(), RewriteError> {
    const ACT: &str = "set(ipv4)";
    let (l3, IpVer::V4) = lay.ip(ACT)? else {
        return Err(no(ACT, "IPv4"));
    };
    let b = f.get_mut(l3 + at..l3 + at + 4).ok_or(no(ACT, "IPv4"))?;
    let old = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    b.copy_from_slice(&ip.to_be_bytes());
    let c = be16(f, l3 + 10).ok_or(no(ACT, "IPv4"))?;
    let _ = put16(f, l3 + 10, checksum::update32(c, old, ip));
    fix_l4(f, lay, true, |c| checksum::update32(c, old, ip));
    Ok(())
}

/// OVS skips the L4 update when a routing header is present (the
/// pseudo-header then names the final destination); extraction does not
/// report one, so such packets get the same treatment as others.
fn set_ipv6_addr(f: &mut [u8], lay: &Layout, at: usize, ip: &[u8; 16]) -> Result<(), RewriteError> {
    const ACT: &str = "set(ipv6)";
    let (l3, IpVer::V6) = lay.ip(ACT)? else {
        return Err(no(ACT, "IPv6"));
    };
    let b = f.get_mut(l3 + at..l3 + at + 16).ok_or(no(ACT, "IPv6"))?;
    let mut old = [0u8; 16];
    old.copy_from_slice(b);
    b.copy_from_slice(ip);
    fix_l4(f, lay, true, |c| checksum::update128(c, &old, ip));
    Ok(())
}

/// `SetIpTos` carries the whole ToS/traffic-class byte: translation merges
/// the DSCP `mod_nw_tos` writes (ovs-actions(7): "the ECN bits are not
/// modified") with the packet's own ECN bits, since `nw_tos` in the flow
/// key holds the full byte. Writing it whole therefore keeps ECN.
fn set_tos(f: &mut [u8], lay: &Layout, tos: u8) -> Result<(), RewriteError> {
    const ACT: &str = "set(ip(tos))";
    let (l3, ver) = lay.ip(ACT)?;
    let hdr = f.get_mut(l3..l3 + 12).ok_or(no(ACT, "IP"))?;
    match ver {
        IpVer::V4 => {
            let old = u16::from_be_bytes([hdr[0], hdr[1]]);
            hdr[1] = tos;
            let new = u16::from_be_bytes([hdr[0], tos]);
            let c = u16::from_be_bytes([hdr[10], hdr[11]]);
            hdr[10..12].copy_from_slice(&checksum::update16(c, old, new).to_be_bytes());
        }
        // Traffic class: the low nibble of byte 0, the high one of byte 1
        // (RFC 8200 §3); no header checksum.
        IpVer::V6 => {
            hdr[0] = (hdr[0] & 0xf0) | (tos >> 4);
            hdr[1] = (hdr[1] & 0x0f) | (tos << 4);
        }
    }
    Ok(())
}

fn set_ttl(f: &mut [u8], lay: &Layout, ttl: u8) -> Result<(), RewriteError> {
    const ACT: &str = "set(ip(ttl))";
    let (l3, ver) = lay.ip(ACT)?;
    let hdr = f.get_mut(l3..l3 + 12).ok_or(no(ACT, "IP"))?;
    match ver {
        IpVer::V4 => {
            let old = u16::from_be_bytes([hdr[8], hdr[9]]);
            hdr[8] = ttl;
            let new = u16::from_be_bytes([ttl, hdr[9]]);
            let c = u16::from_be_bytes([hdr[10], hdr[11]]);
            hdr[10..12].copy_from_slice(&checksum::update16(c, old, new).to_be_bytes());
        }
        IpVer::V6 => hdr[7] = ttl,
    }
    Ok(())
}

/// `which` 0 = source, 1 = destination. TCP/UDP ports; for ICMP and
/// ICMPv6 `tp_src`/`tp_dst` are the type and code (ovs-fields(7)).
///
/// An IP packet without a parsed L4 header (a later fragment, which
/// carries no ports) is left alone and still forwarded, as OVS's
/// `commit_set_port_action` skips `FLOW_NW_FRAG_LATER` packets.
fn set_tp(f: &mut [u8], lay: &Layout, which: usize, v: u16) -> Result<(), RewriteError> {
    const ACT: &str = "set(l4)";
    let Some((l4, proto)) = lay.l4 else {
        return match lay.l3 {
            Some(_) => Ok(()),
            None => Err(no(ACT, "L4")),
        };
    };
    let (at, old, new) = match proto {
        TCP | UDP => {
            let at = l4 + 2 * which;
            (at, be16(f, at).ok_or(no(ACT, "L4"))?, v)
        }
        ICMP | ICMPV6 => {
            let at = l4;
            let old = be16(f, at).ok_or(no(ACT, "ICMP"))?;
            let new = if which == 0 {
                (old & 0x00ff) | (v << 8)
            } else {
                (old & 0xff00) | (v & 0xff)
            };
            (at, old, new)
        }
        SCTP => return Err(RewriteError::Sctp),
        _ => return Err(no(ACT, "TCP/UDP/ICMP")),
    };
    put16(f, at, new).ok_or(no(ACT, "L4"))?;
    fix_l4(f, lay, false, |c| checksum::update16(c, old, new));
    Ok(())
}

/// `set(arp(...))`: the Ethernet/IPv4 ARP body (RFC 826: htype, ptype,
/// hlen, plen, op, sha, spa, tha, tpa); no checksum.
fn set_arp(
    f: &mut [u8],
    lay: &Layout,
    op: u16,
    sha: &[u8; 6],
    spa: u32,
    tha: &[u8; 6],
    tpa: u32,
) -> Result<(), RewriteError> {
    const ACT: &str = "set(arp)";
    let at = lay.arp.ok_or(no(ACT, "ARP"))?;
    let b = f.get_mut(at + 6..at + 28).ok_or(no(ACT, "ARP"))?;
    b[0..2].copy_from_slice(&op.to_be_bytes());
    b[2..8].copy_from_slice(sha);
    b[8..12].copy_from_slice(&spa.to_be_bytes());
    b[12..18].copy_from_slice(tha);
    b[18..22].copy_from_slice(&tpa.to_be_bytes());
    Ok(())
}

/// `set(nd(...))` on a Neighbor Solicitation or Advertisement (RFC 4861
/// §4.3-4.4): the target address at offset 8 of the ICMPv6 message and the
/// Source/Target Link-Layer Address options (types 1 and 2, §4.6.1) that
/// are present; the ICMPv6 checksum is patched for each change.
fn set_nd(
    f: &mut [u8],
    lay: &Layout,
    target: &[u8; 16],
    sll: &[u8; 6],
    tll: &[u8; 6],
) -> Result<(), RewriteError> {
    const ACT: &str = "set(nd)";
    let (l4, ICMPV6) = lay.l4.ok_or(no(ACT, "ICMPv6"))? else {
        return Err(no(ACT, "ICMPv6"));
    };
    let Some(&(135 | 136)) = f.get(l4) else {
        return Err(no(ACT, "ND"));
    };
    let end = match lay.l3 {
        Some((l3, IpVer::V6)) => l3 + 40 + usize::from(be16(f, l3 + 4).ok_or(no(ACT, "IPv6"))?),
        _ => return Err(no(ACT, "IPv6")),
    }
    .min(f.len());
    let b = f.get_mut(l4 + 8..l4 + 24).ok_or(no(ACT, "ND"))?;
    let mut old = [0u8; 16];
    old.copy_from_slice(b);
    b.copy_from_slice(target);
    fix_l4(f, lay, false, |c| checksum::update128(c, &old, target));
    // Options: type, length in units of 8 bytes, value.
    let mut at = l4 + 24;
    while at + 8 <= end {
        let (kind, len) = (f[at], usize::from(f[at + 1]) * 8);
        if len == 0 {
            break;
        }
        let new = match kind {
            1 => Some(sll),
            2 => Some(tll),
            _ => None,
        };
        if let (Some(new), 8) = (new, len) {
            let mut old = [0u8; 16];
            old[..6].copy_from_slice(&f[at + 2..at + 8]);
            let mut upd = [0u8; 16];
            upd[..6].copy_from_slice(new);
            f[at + 2..at + 8].copy_from_slice(new);
            fix_l4(f, lay, false, |c| checksum::update128(c, &old, &upd));
        }
        at += len;
    }
    Ok(())
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
