//! The switch side of `ct()`: one connection tracker per datapath and the
//! glue between frames and the `conntrack` crate.
//!
//! As in the kernel datapath, there is a single table for all bridges;
//! zones (`ct(zone=N)`, ovs-fields(7) `ct_zone`) keep tenants apart.
//! [`ct_packet`] summarises a frame as a [`CtPacket`] from the offsets
//! `packet::extract` found; `execute.rs` calls [`Ct::process`] and applies
//! the NAT verdict with `nat.rs`. Expiry is incremental (a few entries per
//! packet inside the tracker) plus a bounded sweep from the datapath's
//! housekeeping, so idle tables empty too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use conntrack::{
    icmp_is_error, proto, Config, Conntrack, CtPacket, NatRange, NatRangeError, NatSpec, PortMode,
    TcpFlags, TcpInfo, Tuple, L4,
};
use conntrack::{CtAction, Masked};
use flow::{recirc_id_for_table, DpAction};
use packet::FlowKey;

use super::mac::Clock;
use super::nat::{self, ip_end};
use super::rewrite::Layout;
use super::stats::DropReason;
use super::Datapath;

/// Most `ct(table=T)` recirculations one frame may go through before it
/// is dropped (`DropReason::RecircLimit`); the userspace datapath's
/// `MAX_RECIRC_DEPTH` is 6 as well.
pub const MAX_RECIRC: usize = 6;

/// Expired connections removed per housekeeping tick at most.
pub const SWEEP_BUDGET: usize = 4096;

/// The datapath clock as conntrack's [`conntrack::Clock`].
pub struct DpClock(pub Arc<dyn Clock>);

impl conntrack::Clock for DpClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
}

/// The datapath's connection tracker and the spare frame buffers that
/// `ct(table=T)` in the middle of an action list recirculates copies in.
pub struct Ct {
    /// The tracker (dump, flush, stats, limits go straight to it).
    pub table: Conntrack<DpClock>,
    spare: Vec<Vec<u8>>,
}

impl Ct {
    /// A tracker with `cfg`, timed by `clock`.
    pub fn new(cfg: Config, clock: Arc<dyn Clock>) -> Ct {
        Ct {
            table: Conntrack::new(cfg, DpClock(clock)),
            spare: Vec::new(),
        }
    }

    /// A buffer for a recirculated copy (allocated only the first few
    /// times; returned with [`Ct::put_buf`]).
    pub(super) fn take_buf(&mut self) -> Vec<u8> {
        self.spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(super::port::BUF_LEN))
    }

    /// Give back a buffer from [`Ct::take_buf`].
    pub(super) fn put_buf(&mut self, mut b: Vec<u8>) {
        b.clear();
        self.spare.push(b);
    }
}

/// What a frame carries from one pass through the tables to the next
/// (`ct(table=T)`): how many recirculations so far, and the connection it
/// was last tracked in — its zone and the packet as conntrack saw it then,
/// before NAT. A later `ct` in the same zone looks that packet up again, so
/// it finds the same connection although the frame is translated by now,
/// as the kernel keeps `skb->_nfct` and the userspace datapath
/// `dp_packet.md.conn` (`ct(nat,table=1)` followed by `ct(commit)` in the
/// OVN style).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Recirc {
    pub n: usize,
    pub seen: Option<(u16, CtPacket)>,
}

/// Where a `ct` action runs: bridge, input port slot, patch depth,
/// recirculations so far, and whether it ends its action list.
pub(super) struct CtAt {
    pub bi: usize,
    pub slot: usize,
    pub depth: usize,
    pub recirc: usize,
    pub last: bool,
}

impl Datapath {
    /// Execute `ct(...)` (ovs-actions(7) "The ct action") on `frame`:
    /// track it in its zone, apply the NAT verdict in place, and with
    /// `table=T` run the tracked packet through the tables again from T
    /// with `ct_state`, `ct_zone`, `ct_mark`, `ct_label` set and
    /// `recirc_id = recirc_id_for_table(T)`.
    ///
    /// ct forks the pipeline: the actions after it in the same list run on
    /// the frame too (translation already saw them with the ct fields as
    /// they were), so a `ct(table=T)` that is not last recirculates a copy.
    /// The frame keeps its translation for those actions, as the kernel
    /// datapath's in-place NAT does (`ct(commit,nat(src=…)),output:2`).
    /// Registers and `metadata` enter the recirculation as they were at
    /// the `ct` action (translation records them in the action).
    ///
    /// Returns false when the frame was dropped (and counted).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ct_execute(
        &mut self,
        at: &CtAt,
        seen: &mut Option<(u16, CtPacket)>,
        frame: &mut [u8],
        lay: &Layout,
        key: &FlowKey,
        meta: &flow::Metadata,
        a: &DpAction,
    ) -> bool {
        let DpAction::Ct {
            zone,
            commit,
            force,
            nat,
            set_mark,
            set_label,
            recirc_table,
            regs,
            metadata,
            ..
        } = a
        else {
            return true;
        };
        let mut next = flow::Metadata {
            ct_state: 0,
            ct_zone: *zone,
            ct_mark: 0,
            ct_label: 0,
            regs: *regs,
            metadata: *metadata,
            ..*meta
        };
        // Non-IP frames pass the tracker untracked (ct_state 0).
        let pkt = match *seen {
            Some((z, p)) if z == *zone => Some(p),
            _ => ct_packet(frame, lay, key),
        };
        *seen = pkt.map(|p| (*zone, p));
        if let Some(pkt) = pkt {
            let spec = match nat.as_ref().map(nat_spec).transpose() {
                Ok(s) => s,
                Err(_) => {
                    self.drop_frame(at.bi, at.slot, DropReason::Unsupported);
                    return false;
                }
            };
            // A new connection's commit spends a token of its input
            // port's rate (the lookup before it said +new).
            if *commit
                && meta.ct_state & flow::fields::ct_state::NEW != 0
                && !self.admit_new_conn(at.slot)
            {
                self.drop_frame(at.bi, at.slot, DropReason::CtNewRate);
                return false;
            }
            let act = CtAction {
                zone: *zone,
                commit: *commit,
                force: *force,
                nat: spec.as_ref(),
                set_mark: set_mark.map(|(value, mask)| Masked { value, mask }),
                set_label: set_label.map(|(value, mask)| Masked { value, mask }),
            };
            let r = self.ct.table.process(&pkt, &act);
            if let Some(why) = r.refused {
                let why = match why {
                    conntrack::DropReason::GlobalLimit | conntrack::DropReason::ZoneLimit => {
                        DropReason::CtLimit
                    }
                    conntrack::DropReason::NatExhausted | conntrack::DropReason::TupleClash => {
                        DropReason::CtNat
                    }
                };
                self.drop_frame(at.bi, at.slot, why);
                return false;
            }
            if let Some(rw) = r.rewrite.filter(|rw| !rw.is_empty()) {
                if nat::apply(frame, lay, &rw).is_err() {
                    self.drop_frame(at.bi, at.slot, DropReason::Malformed);
                    return false;
                }
            }
            next.ct_state = r.state.bits();
            next.ct_zone = r.zone;
            next.ct_mark = r.mark;
            next.ct_label = r.label;
            set_orig(&mut next, r.orig.as_ref());
        } else {
            set_orig(&mut next, None);
        }
        let Some(t) = *recirc_table else {
            return true;
        };
        if at.recirc >= MAX_RECIRC {
            self.drop_frame(at.bi, at.slot, DropReason::RecircLimit);
            return false;
        }
        next.recirc_id = recirc_id_for_table(t);
        let r = Recirc {
            n: at.recirc + 1,
            seen: *seen,
        };
        if at.last {
            self.pipeline(at.bi, at.slot, frame, &next, at.depth, r);
        } else {
            let mut buf = self.ct.take_buf();
            buf.extend_from_slice(frame);
            self.pipeline(at.bi, at.slot, &mut buf, &next, at.depth, r);
            self.ct.put_buf(buf);
        }
        true
    }
}

/// The `ct_nw_src/dst`, `ct_ipv6_src/dst`, `ct_nw_proto`, `ct_tp_src/dst`
/// fields of `m` from the connection's original-direction tuple (zero when
/// there is none, ovs-fields(7)). Ports are set for TCP and UDP only.
fn set_orig(m: &mut flow::Metadata, orig: Option<&Tuple>) {
    m.ct_nw_src = 0;
    m.ct_nw_dst = 0;
    m.ct_ipv6_src = [0; 16];
    m.ct_ipv6_dst = [0; 16];
    m.ct_nw_proto = 0;
    m.ct_tp_src = 0;
    m.ct_tp_dst = 0;
    let Some(t) = orig else { return };
    match (t.src_ip(), t.dst_ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            m.ct_nw_src = s.into();
            m.ct_nw_dst = d.into();
        }
        (s, d) => {
            m.ct_ipv6_src = ipv6_bytes(s);
            m.ct_ipv6_dst = ipv6_bytes(d);
        }
    }
    m.ct_nw_proto = t.proto;
    if t.has_ports() {
        m.ct_tp_src = t.sport;
        m.ct_tp_dst = t.dport;
    }
}

fn ipv6_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// conntrack's NAT spec for a flow's `nat(...)` (ovs-actions(7)): a bare
/// `nat` is the default spec; `src=`/`dst=` give a range, the port range
/// defaulting to "keep the port if free" (none given).
pub fn nat_spec(n: &flow::actions::NatSpec) -> Result<NatSpec, NatRangeError> {
    let mut s = NatSpec {
        mode: if n.random {
            PortMode::Random
        } else {
            PortMode::Hash
        },
        persistent: n.persistent,
        ..NatSpec::default()
    };
    let (Some(dir), Some(min)) = (n.src, n.addr_min) else {
        return Ok(s);
    };
    let ports = n.port_min.map(|lo| (lo, n.port_max.unwrap_or(lo)));
    let r = NatRange::new(min, n.addr_max.unwrap_or(min), ports)?;
    if dir {
        s.src = Some(r);
    } else {
        s.dst = Some(r);
    }
    Ok(s)
}

fn be16(f: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]))
}

fn be32(f: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *f.get(at)?,
        *f.get(at + 1)?,
        *f.get(at + 2)?,
        *f.get(at + 3)?,
    ]))
}

fn v6(b: &[u8]) -> Option<IpAddr> {
    let a: [u8; 16] = b.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(a)))
}

/// The window-scale option of a SYN (RFC 7323 §2.2), if present.
fn wscale(opts: &[u8]) -> Option<u8> {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => return None,
            1 => i += 1,
            kind => {
                let len = usize::from(*opts.get(i + 1)?);
                if len < 2 {
                    return None;
                }
                if kind == 3 && len == 3 {
                    return opts.get(i + 2).copied();
                }
                i += len;
            }
        }
    }
    None
}

fn tcp_info(f: &[u8], l4: usize, end: usize) -> Option<TcpInfo> {
    let off = usize::from(f.get(l4 + 12)? >> 4) * 4;
    if off < 20 || l4 + off > end {
        return None;
    }
    let flags = TcpFlags::from_bits_truncate(*f.get(l4 + 13)?);
    Some(TcpInfo {
        sport: be16(f, l4)?,
        dport: be16(f, l4 + 2)?,
        flags,
        seq: be32(f, l4 + 4)?,
        ack: be32(f, l4 + 8)?,
        window: be16(f, l4 + 14)?,
        payload_len: u32::try_from(end - l4 - off).ok()?,
        wscale: if flags.contains(TcpFlags::SYN) {
            wscale(f.get(l4 + 20..l4 + off)?)
        } else {
            None
        },
    })
}

/// The tuple of the packet an ICMP(v6) error quotes, starting at `il3`
/// (RFC 792; RFC 4443 §2.4(c)). Echo quotes use the identifier for both
/// ports; other protocols without ports use 0.
fn quoted_tuple(f: &[u8], il3: usize, is_v6: bool) -> Option<Tuple> {
    let (src, dst, p, il4) = if is_v6 {
        let h = f.get(il3..il3 + 40)?;
        (v6(&h[8..24])?, v6(&h[24..40])?, h[6], il3 + 40)
    } else {
        let h = f.get(il3..il3 + 20)?;
        let ihl = usize::from(h[0] & 0x0f) * 4;
        let s = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
        let d = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
        (s.into(), d.into(), h[9], il3 + ihl)
    };
    let (sp, dp) = match p {
        proto::TCP | proto::UDP => (be16(f, il4)?, be16(f, il4 + 2)?),
        proto::ICMP | proto::ICMPV6 => {
            let id = be16(f, il4 + 4)?;
            (id, id)
        }
        _ => (0, 0),
    };
    Tuple::new(src, dst, p, sp, dp)
}

/// What conntrack needs to know about frame `f` (virtio header included),
/// whose key (for the IP protocol) and layout came from `packet::extract`. `None` for frames
/// that are not IP (they bypass the tracker, untracked).
pub fn ct_packet(f: &[u8], lay: &Layout, key: &FlowKey) -> Option<CtPacket> {
    let (l3, is_v6) = lay.l3()?;
    // From the bytes, not the key: rewrites before `ct` changed them.
    let (src, dst): (IpAddr, IpAddr) = if is_v6 {
        (v6(f.get(l3 + 8..l3 + 24)?)?, v6(f.get(l3 + 24..l3 + 40)?)?)
    } else {
        (
            Ipv4Addr::from(be32(f, l3 + 12)?).into(),
            Ipv4Addr::from(be32(f, l3 + 16)?).into(),
        )
    };
    let p = key.nw_proto;
    let end = ip_end(f, l3, is_v6);
    // Later fragments carry no L4 header: tracked by addresses only.
    let Some((l4, _)) = lay.l4() else {
        return Some(CtPacket {
            src,
            dst,
            proto: p,
            l4: L4::Other,
        });
    };
    let l4sum = match p {
        proto::TCP => tcp_info(f, l4, end).map(L4::Tcp),
        proto::UDP => be16(f, l4)
            .zip(be16(f, l4 + 2))
            .map(|(sport, dport)| L4::Udp { sport, dport }),
        proto::ICMP | proto::ICMPV6 if (p == proto::ICMPV6) == is_v6 => {
            let ty = *f.get(l4)?;
            let code = *f.get(l4 + 1)?;
            if icmp_is_error(is_v6, ty) {
                quoted_tuple(f, l4 + 8, is_v6).map(|inner| L4::IcmpError { ty, code, inner })
            } else {
                let echo = if is_v6 {
                    matches!(ty, 128 | 129)
                } else {
                    matches!(ty, 0 | 8)
                };
                let id = if echo { be16(f, l4 + 4)? } else { 0 };
                Some(L4::Icmp { ty, code, id })
            }
        }
        _ => Some(L4::Other),
    };
    // A truncated L4 header is tracked by addresses only.
    Some(CtPacket {
        src,
        dst,
        proto: p,
        l4: l4sum.unwrap_or(L4::Other),
    })
}

/// Interface `other_config` key of the new-connection rate: how many
/// connections per second a port may commit (`ct(commit)` of a packet the
/// tracker saw as `+new`); absent or 0: no limit. Past it the packet is
/// dropped as [`DropReason::CtNewRate`] before the commit, so a SYN flood
/// costs the switch a lookup per packet instead of an entry, a delivery
/// and the victim's answer. A per-port allowance in the spirit of the
/// cloud providers' per-interface connection-tracking allowances; OVS has
/// only the per-zone count limit (`ct-set-limits`).
pub const CT_NEW_PPS_KEY: &str = "ct-new-pps";
/// `other_config` key of the new-connection burst (default one second).
pub const CT_NEW_BURST_KEY: &str = "ct-new-burst";
/// Interface `other_config` key of the upcall rate: flow-cache misses per
/// second the port's frames may send to the tables (absent or 0: no
/// limit); past it a missing frame is dropped untranslated as
/// `upcall_limit` (checked in `execute.rs` through
/// `flow::process_limited`). A flood of ever-new flows (random spoofed
/// sources) costs the switch a translation per frame without it.
pub const UPCALL_PPS_KEY: &str = "upcall-pps";
/// `other_config` key of the upcall burst (default one second).
pub const UPCALL_BURST_KEY: &str = "upcall-burst";

impl Datapath {
    /// Whether the frame being processed at port `slot` may commit one
    /// more new connection now. The rate charged is that of the port the
    /// frame was read from (`slot` itself only for frames no port read),
    /// so a connection routed across patch ports still counts against its
    /// sender: the port's own rate, or (a port with per-destination
    /// limits) the rate of the frame's destination. A refusal holds the
    /// port, or that destination (`admit.rs`).
    fn admit_new_conn(&mut self, slot: usize) -> bool {
        let now = self.clock.now();
        let (owner, dst) = self.rate_owner(slot);
        let Some(p) = self.ports.get_mut(owner).and_then(Option::as_mut) else {
            return true;
        };
        if let (Some(l), Some(e)) = (p.per_dst.as_mut(), dst) {
            if !l.take_ct_new(e, now) {
                return false;
            }
        }
        let ok = p.ct_new.as_mut().is_none_or(|b| b.take(now));
        if !ok {
            p.admit.refused(now);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wscale_found_after_other_options() {
        // MSS, NOP, WS=7, SACK-permitted.
        let opts = [2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2];
        assert_eq!(wscale(&opts), Some(7));
        assert_eq!(wscale(&[2, 4, 5, 0xb4]), None);
        assert_eq!(wscale(&[3, 0]), None, "bad length stops the walk");
    }

    #[test]
    fn nat_spec_from_flow() {
        let mut n = flow::actions::NatSpec {
            src: Some(true),
            addr_min: Some("198.51.100.1".parse().unwrap()),
            port_min: Some(1024),
            port_max: Some(2047),
            random: true,
            ..Default::default()
        };
        let s = nat_spec(&n).unwrap();
        assert_eq!(s.src.unwrap().ports(), Some((1024, 2047)));
        assert!(s.dst.is_none());
        assert_eq!(s.mode, PortMode::Random);
        n.src = None;
        assert!(!nat_spec(&n).unwrap().binds(), "bare nat binds nothing");
        n.src = Some(false);
        n.addr_max = Some("::1".parse().unwrap());
        assert!(nat_spec(&n).is_err(), "mixed families are refused");
    }
}
