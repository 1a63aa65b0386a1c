//! Geneve options ↔ `tun_metadataN` in the datapath (ovs-fields(7)
//! "Tunnel Fields", RFC 8926 §3.5), through each bridge's TLV map
//! ([`crate::tlv`]).
//!
//! * Receive: a packet's options become the `tun_metadata` it enters the
//!   pipeline with; an unmapped critical option drops it
//!   ([`DropReason::GeneveCriticalOption`], counted per bridge and on the
//!   port's `rx_dropped`).
//! * Send: the `tun_metadata` present after the actions become the
//!   options of a Geneve output (VXLAN and GRE carry none); the options
//!   are part of the header length the MTU check and frag-needed use.

use super::port::PortIo;
use super::stats::DropReason;
use super::Datapath;
use ::tunnel::{GeneveOptsBuf, TunnelKind, TunnelMeta};

impl Datapath {
    /// Decode the Geneve options `raw` of a packet received on tunnel port
    /// `slot` into `rx_md`; `false` when the packet was dropped.
    pub(super) fn geneve_rx_options(&mut self, slot: usize, raw: &[u8]) -> bool {
        let Some(Some(p)) = self.ports.get_mut(slot) else {
            return false;
        };
        let bi = p.bridge;
        let decoded = match self.bridges.get(bi) {
            Some(Some(b)) => b.tlv.decode(raw),
            _ => return false,
        };
        match decoded {
            Ok(md) => {
                self.rx_md = md;
                true
            }
            Err(_) => {
                p.stats.rx_dropped += 1;
                self.drop_frame(bi, slot, DropReason::GeneveCriticalOption);
                false
            }
        }
    }

    /// The Geneve options for `md` on output port `out` of bridge `bi`:
    /// `None` when there are none to send or the port is not Geneve.
    pub(super) fn geneve_tx_options(
        &self,
        bi: usize,
        out: usize,
        md: &flow::TunMetadata,
    ) -> Option<GeneveOptsBuf> {
        if md.present == 0 {
            return None;
        }
        let Some(Some(p)) = self.ports.get(out) else {
            return None;
        };
        match &p.io {
            PortIo::Tunnel(tp) if tp.cfg.kind == TunnelKind::Geneve => {}
            _ => return None,
        }
        let Some(Some(b)) = self.bridges.get(bi) else {
            return None;
        };
        Some(b.tlv.encode(md)).filter(|o| !o.as_bytes().is_empty())
    }
}

/// The tunnel fields of the packet being processed (ovs-fields(7)
/// `tun_id`, `tun_src`, `tun_dst`): those it arrived with, changed by
/// `set_tunnel` / `set_field:…->tun_*`, read by outputs to `flow` ports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunSet {
    /// `tun_id`.
    pub id: u64,
    /// `tun_src`, host order.
    pub src: u32,
    /// `tun_dst`, host order.
    pub dst: u32,
    /// `tun_flags` (received: `oam` from the Geneve O bit).
    pub flags: u16,
    /// `tun_metadataN` (Geneve options through the bridge's TLV map).
    pub md: flow::TunMetadata,
}

/// The tunnel fields a frame received with `meta` enters the pipeline with.
pub(super) fn tun_set(meta: &TunnelMeta) -> TunSet {
    TunSet {
        id: meta.tun_id,
        src: u32::from(meta.tun_src),
        dst: u32::from(meta.tun_dst),
        flags: if meta.flags & ::tunnel::tun_flags::OAM != 0 {
            flow::tun_md::TUN_FLAG_OAM as u16
        } else {
            0
        },
        md: flow::TunMetadata::default(),
    }
}
