//! Packet-out: a frame handed to the switch by the control side, with the
//! OpenFlow actions to execute on it (OpenFlow 1.3 §7.3.7 OFPT_PACKET_OUT,
//! ovs-ofctl(8) `packet-out`).
//!
//! The actions are translated as a flow's would be ([`flow::translate_actions`]:
//! `resubmit(,T)` looks the frame up in table T, `output:N`, `NORMAL`,
//! header rewrites, `ct(...)`) and executed on the frame by the datapath,
//! exactly as for a frame a port received. The frame is considered to have
//! arrived on `in_port`:
//!
//! * a port of the bridge (by number, or `LOCAL` for the bridge's own
//!   internal port): `output:IN_PORT` sends it back there, `NORMAL` learns
//!   its source MAC on that port, other outputs skip it; its receive
//!   counters are not touched (the frame did not come from the wire);
//! * `CONTROLLER` or `NONE` (OpenFlow 1.0's name for the same): no port.
//!   `NORMAL` treats it as entering on a trunk of every VLAN and learns
//!   nothing, as OVS's `ofpp_none_bundle`; every output is allowed.
//!
//! A control-side call: it runs under the datapath lock, allocates a
//! buffer for the frame, and sends what AF_PACKET ports queued before it
//! returns.

use flow::actions::port;
use flow::Action;
use packet::FlowKey;

use super::ct::Recirc;
use super::execute::ExecAt;
use super::port::{BUF_LEN, HDR};
use super::rewrite::Layout;
use super::stats::DropReason;
use super::{Datapath, NO_SLOT};
use crate::schema::OFPP_LOCAL;

/// Shortest frame a packet-out may carry: an Ethernet header.
pub const MIN_FRAME: usize = 14;

/// Longest frame a packet-out may carry (the datapath's buffer).
pub const MAX_FRAME: usize = BUF_LEN - HDR;

/// Why a packet-out was refused. Each names the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketOutError {
    /// No bridge of that name.
    #[error("{0} is not a bridge or a socket")]
    NoBridge(String),
    /// `in_port` names no port of the bridge.
    #[error("in_port {0:?}: no such port on the bridge")]
    NoPort(String),
    /// `in_port` is a reserved port a frame cannot arrive on.
    #[error("in_port {0:?}: not a valid input port (a port, LOCAL, CONTROLLER or NONE)")]
    BadInPort(String),
    /// The frame is not hex digits.
    #[error("packet {token:?}: {why}")]
    BadHex {
        /// The offending part of the hex string.
        token: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The frame is shorter than an Ethernet header (counted as the
    /// bridge's `malformed` drop).
    #[error("packet of {0} bytes: shorter than an Ethernet header ({MIN_FRAME} bytes)")]
    TooShort(usize),
    /// The frame is longer than the datapath's buffers.
    #[error("packet of {0} bytes: longer than {MAX_FRAME} bytes")]
    TooLong(usize),
    /// The actions do not parse.
    #[error("actions {text:?}: {why}")]
    BadActions {
        /// The action text.
        text: String,
        /// The parser's message (naming the token).
        why: String,
    },
    /// A `KEY=VALUE` of the packet-out text is not known, or lacks `=`.
    #[error(
        "packet-out: unknown or malformed argument {0:?} (expected in_port=, packet=, actions=)"
    )]
    BadArgument(String),
    /// A required part of the packet-out is missing.
    #[error("packet-out: missing {0}")]
    Missing(&'static str),
}

/// What a packet-out did: the datapath actions it was translated to
/// (ovs-ofctl prints nothing; the control reply carries these for tests
/// and `--verbose` clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketOutResult {
    /// The translated datapath actions (empty: dropped).
    pub actions: Vec<flow::DpAction>,
}

impl Datapath {
    /// Execute `actions` on `frame` (an Ethernet frame, without virtio
    /// header) in bridge `bridge` as if it had arrived on `in_port` (an
    /// OpenFlow port number, or [`port::LOCAL`], [`port::CONTROLLER`],
    /// [`port::NONE`]); see the module documentation.
    pub fn packet_out(
        &mut self,
        bridge: &str,
        in_port: u32,
        frame: &[u8],
        actions: &[Action],
    ) -> Result<PacketOutResult, PacketOutError> {
        let bi = self
            .bridge_index(bridge)
            .ok_or_else(|| PacketOutError::NoBridge(bridge.to_owned()))?;
        let (slot, meta_port) = self.packet_out_port(bi, in_port)?;
        if frame.len() < MIN_FRAME {
            self.drop_frame(bi, slot, DropReason::Malformed);
            return Err(PacketOutError::TooShort(frame.len()));
        }
        if frame.len() > MAX_FRAME {
            return Err(PacketOutError::TooLong(frame.len()));
        }
        let mut buf = Vec::with_capacity(HDR + frame.len());
        buf.resize(HDR, 0);
        buf.extend_from_slice(frame);
        let mut key = FlowKey::default();
        // As for a received frame: upper layers that do not parse leave a
        // frame still switched on what did.
        let layout = match packet::extract(frame, &mut key) {
            Ok(off) => Layout::new(&off, key.dl_type, key.nw_proto),
            Err(_) => Layout::default(),
        };
        let meta = flow::Metadata {
            in_port: meta_port,
            ..flow::Metadata::default()
        };
        let now = self.clock.now();
        let x = {
            let b = self.bridges[bi]
                .as_mut()
                .ok_or_else(|| PacketOutError::NoBridge(bridge.to_owned()))?;
            let pkt = flow::Packet { key, meta };
            let set = b.tables.read();
            let x = flow::translate_actions(&set, &pkt.to_words(), actions, None);
            for r in x.rules.iter().filter_map(|r| set.rule(*r)) {
                r.hit(frame.len() as u64, now);
            }
            drop(set);
            for _ in 0..b.tables.apply_learned(&x.learns, now) {
                b.drops.bump(DropReason::LearnLimit);
            }
            x
        };
        self.tx_tun = super::tunnel::TunSet::default();
        if self.shaped > 0 {
            self.egress_meta = super::egress::Meta::from_key(&key);
        }
        let (rx, ref_ok) = (self.cur_rx.take(), self.tx_ref_ok);
        self.tx_ref_ok = false;
        let at = ExecAt {
            bi,
            slot,
            depth: 0,
            recirc: Recirc::default(),
            layout: &layout,
            key: &key,
            meta: &meta,
        };
        self.run_actions(&at, &mut buf, &x.actions);
        self.flush_tx();
        self.cur_rx = rx;
        self.tx_ref_ok = ref_ok;
        Ok(PacketOutResult { actions: x.actions })
    }

    /// The input slot and `in_port` metadata of a packet-out from
    /// `in_port`: the bridge's port of that number, the bridge's LOCAL
    /// port (whose frames carry its number, [`OFPP_LOCAL`]), or no port.
    fn packet_out_port(&self, bi: usize, in_port: u32) -> Result<(usize, u32), PacketOutError> {
        match in_port {
            port::CONTROLLER | port::NONE => Ok((NO_SLOT, port::CONTROLLER)),
            port::LOCAL => Ok(match self.slot_by_ofport(bi, OFPP_LOCAL) {
                Some(s) => (s, u32::from(OFPP_LOCAL)),
                None => (NO_SLOT, port::LOCAL),
            }),
            n => match u16::try_from(n).ok().filter(|&n| n != 0 && n < 0xff00) {
                Some(p) => self
                    .slot_by_ofport(bi, p)
                    .map(|s| (s, n))
                    .ok_or_else(|| PacketOutError::NoPort(n.to_string())),
                None => Err(PacketOutError::BadInPort(flow::print::port_str(n))),
            },
        }
    }
}

/// Decode the hex digits of a packet-out frame (ovs-ofctl(8): "a series
/// of hex digits"); spaces, `:` and `.` between bytes are allowed, as
/// `ovs-ofctl` accepts in its hex strings.
pub fn decode_hex(s: &str) -> Result<Vec<u8>, PacketOutError> {
    let digits: String = s
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != ':' && *c != '.')
        .collect();
    let digits = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
        .unwrap_or(&digits);
    if let Some(i) = digits.find(|c: char| !c.is_ascii_hexdigit()) {
        let token: String = digits[i..].chars().take(8).collect();
        return Err(PacketOutError::BadHex {
            token,
            why: "not a hex digit",
        });
    }
    if !digits.len().is_multiple_of(2) {
        let tail = digits.len().saturating_sub(3);
        return Err(PacketOutError::BadHex {
            token: digits[tail..].to_owned(),
            why: "odd number of hex digits",
        });
    }
    Ok((0..digits.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decodes_with_separators_and_names_bad_digits() {
        assert_eq!(decode_hex("ff00 0a:0b").unwrap(), vec![0xff, 0, 0x0a, 0x0b]);
        assert_eq!(decode_hex("0xABcd").unwrap(), vec![0xab, 0xcd]);
        match decode_hex("ff0g12") {
            Err(PacketOutError::BadHex { token, .. }) => assert_eq!(token, "g12"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_hex("abc"),
            Err(PacketOutError::BadHex { why, .. }) if why.contains("odd")
        ));
    }
}
