//! Software GRO between tunnel decapsulation and the pipeline.
//!
//! The hook sits in [`Datapath::service_tunnel`](super::Datapath) (module
//! `tunnel`): each decapsulated inner frame whose port is known is offered
//! to a [`tunnel::Coalescer`] ([`Datapath::gro_offer`]) before it would
//! enter the pipeline on its own; in-order TCP segments of one flow come
//! back as one GSO frame (`virtio_net_hdr` TCPv4/TCPv6, `NEEDS_CSUM`), which
//! the pipeline switches once and a TAP port writes in one `write(2)`: the
//! receiving VM sees 64 KB frames, as behind the kernel's VXLAN GRO.
//! Everything held is switched at the end of the receive burst
//! ([`Datapath::gro_flush`]), so the coalescer adds no latency beyond the
//! burst. Frames are merged only with the same input port and identical
//! tunnel metadata, so the flow tables see exactly what each segment would
//! have shown them. Frames with Geneve options are not offered (their
//! options could differ between segments).

use netio::vnet::VnetHdrLen;
use tunnel::{Coalescer, TunnelMeta};

use super::Datapath;

/// The coalescer of a datapath: context = (input port slot, tunnel
/// metadata).
pub(super) type Gro = Coalescer<(usize, TunnelMeta)>;

/// A coalescer with its buffers (allocated once, [`tunnel::gro::MAX_FLOWS`]
/// flows of up to 64 KB).
pub(super) fn new_gro() -> Gro {
    Coalescer::new(tunnel::gro::MAX_FLOWS, VnetHdrLen::V10)
}

impl Datapath {
    /// Offers the inner Ethernet `frame` received on tunnel port `slot`
    /// with `meta`; `true` if the coalescer took it (it is switched, maybe
    /// merged with others, by this call or a later one), `false` if the
    /// caller switches it itself. Held data of the same flow is switched
    /// first either way.
    pub(super) fn gro_offer(&mut self, slot: usize, meta: TunnelMeta, frame: &[u8]) -> bool {
        let mut gro = std::mem::take(&mut self.tun.gro);
        let taken = gro.push((slot, meta), frame, &mut |(s, m), f| {
            self.tunnel_deliver(s, m, f)
        });
        self.tun.gro = gro;
        taken
    }

    /// Switches every held frame (end of a receive burst).
    pub(super) fn gro_flush(&mut self) {
        if self.tun.gro.is_empty() {
            return;
        }
        let mut gro = std::mem::take(&mut self.tun.gro);
        gro.flush(&mut |(s, m), f| self.tunnel_deliver(s, m, f));
        self.tun.gro = gro;
    }

    /// Coalescing counters.
    pub fn gro_stats(&self) -> tunnel::GroStats {
        self.tun.gro.stats()
    }

    /// Switches `frame` (virtio header first) as received on tunnel port
    /// `slot` with `meta`.
    pub(super) fn tunnel_deliver(&mut self, slot: usize, meta: TunnelMeta, frame: &mut [u8]) {
        self.rx_tun = Some(meta);
        self.input(slot, frame, 0);
        self.rx_tun = None;
        self.rx_md = flow::TunMetadata::default();
    }
}
