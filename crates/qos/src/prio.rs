//! Priority bands: pfifo_fast (tc-pfifo_fast(8)) and the prio qdisc
//! (tc-prio(8)). A packet's TOS picks a Linux priority (the kernel's
//! `ip_tos2prio` table, indexed by the four TOS bits), the 16-entry priomap
//! turns that priority into a band, and band 0 is always emptied before
//! band 1, band 1 before band 2. The seed: "TOS 总共四位…十六种类型…
//! priomap 也是十六个数字, 在0到2之间… Band 0优先级最高".

use crate::clock::Nanos;
use crate::fifo::Fifo;
use crate::qdisc::{Dropped, Packet, Qdisc, QdiscStats};

/// pfifo_fast's fixed priomap, as `tc qdisc show` prints it:
/// `priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1`.
pub const PFIFO_FAST_PRIOMAP: [u8; 16] = [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];

/// Linux `ip_tos2prio` (net/ipv4/route.c), indexed by `(tos & 0x1e) >> 1`:
/// best effort (0), bulk (2), interactive (6), interactive bulk (4).
const TOS2PRIO: [u8; 16] = [0, 0, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4];

/// The Linux priority (`TC_PRIO_*`, 0..=15) for an IPv4 TOS byte, as
/// `rt_tos2priority()` computes it. E.g. 0x10 "minimize delay" → 6
/// (interactive), 0x08 "maximize throughput" → 2 (bulk).
pub fn tos_to_priority(tos: u8) -> u8 {
    TOS2PRIO[usize::from((tos & 0x1e) >> 1)]
}

/// A bad prio configuration; names the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrioError {
    /// tc-prio(8) allows 2 to 16 bands.
    #[error("prio: {0} bands; must be between 2 and 16")]
    Bands(usize),
    /// A priomap entry names a band that does not exist.
    #[error("prio: priomap entry {index} is band {band}, but there are only {bands} bands")]
    Priomap {
        /// Position in the priomap.
        index: usize,
        /// The band it names.
        band: u8,
        /// Number of bands.
        bands: usize,
    },
}

/// Strict-priority bands, each a pfifo.
#[derive(Debug)]
pub struct PrioBands<P> {
    bands: Vec<Fifo<P>>,
    priomap: [u8; 16],
    stats: QdiscStats,
}

impl<P: Packet> PrioBands<P> {
    /// pfifo_fast: three bands, [`PFIFO_FAST_PRIOMAP`], `limit` packets per
    /// band (the kernel uses txqueuelen, 1000).
    pub fn pfifo_fast(limit: usize) -> Self {
        Self::build(3, PFIFO_FAST_PRIOMAP, limit)
    }

    /// The prio qdisc with `bands` bands and a custom priomap.
    pub fn new(bands: usize, priomap: [u8; 16], limit: usize) -> Result<Self, PrioError> {
        if !(2..=16).contains(&bands) {
            return Err(PrioError::Bands(bands));
        }
        if let Some((index, &band)) = priomap
            .iter()
            .enumerate()
            .find(|(_, &b)| usize::from(b) >= bands)
        {
            return Err(PrioError::Priomap { index, band, bands });
        }
        Ok(Self::build(bands, priomap, limit))
    }

    fn build(bands: usize, priomap: [u8; 16], limit: usize) -> Self {
        Self {
            bands: (0..bands).map(|_| Fifo::pfifo(limit)).collect(),
            priomap,
            stats: QdiscStats::default(),
        }
    }

    /// The band a packet with this TOS goes to.
    pub fn band_for_tos(&self, tos: u8) -> usize {
        usize::from(self.priomap[usize::from(tos_to_priority(tos))])
    }

    /// Packets waiting in `band`.
    pub fn band_len(&self, band: usize) -> usize {
        self.bands.get(band).map_or(0, Qdisc::len)
    }
}

impl<P: Packet> Qdisc<P> for PrioBands<P> {
    fn enqueue(&mut self, pkt: P, _now: Nanos) -> Result<(), Dropped<P>> {
        let len = pkt.len();
        let band = self.band_for_tos(pkt.tos());
        let Some(fifo) = self.bands.get_mut(band) else {
            // Unreachable: the priomap was checked against the band count.
            self.stats.on_drop(len);
            return Err(Dropped::new(pkt, crate::DropReason::Unclassified));
        };
        match fifo.push(pkt) {
            Ok(()) => {
                self.stats.on_enqueue(len);
                Ok(())
            }
            Err(e) => {
                self.stats.on_drop(len);
                Err(e)
            }
        }
    }

    fn dequeue(&mut self, _now: Nanos) -> Option<P> {
        let pkt = self.bands.iter_mut().find_map(Fifo::pop)?;
        self.stats.on_send(pkt.len());
        Some(pkt)
    }

    fn next_ready(&mut self, now: Nanos) -> Option<Nanos> {
        (!self.is_empty()).then_some(now)
    }

    fn len(&self) -> usize {
        self.bands.iter().map(Qdisc::len).sum()
    }

    fn backlog_bytes(&self) -> usize {
        self.bands.iter().map(Qdisc::backlog_bytes).sum()
    }

    fn stats(&self) -> QdiscStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tos_table_of_tc_prio_man_page() {
        // tc-prio(8): 0x0 → band 1, 0x8 max-throughput → band 2,
        // 0x10 min-delay → band 0, 0x18 → band 1.
        let p: PrioBands<crate::sim::SimPacket> = PrioBands::pfifo_fast(10);
        assert_eq!(p.band_for_tos(0x00), 1);
        assert_eq!(p.band_for_tos(0x04), 1);
        assert_eq!(p.band_for_tos(0x08), 2);
        assert_eq!(p.band_for_tos(0x10), 0);
        assert_eq!(p.band_for_tos(0x18), 1);
        assert_eq!(p.band_for_tos(0x10 | 0x03), 0, "ECN bits are ignored");
    }

    #[test]
    fn bad_priomap_is_named() {
        let e = PrioBands::<crate::sim::SimPacket>::new(3, [3; 16], 1).expect_err("band 3");
        assert_eq!(
            e,
            PrioError::Priomap {
                index: 0,
                band: 3,
                bands: 3
            }
        );
        assert!(PrioBands::<crate::sim::SimPacket>::new(1, [0; 16], 1).is_err());
    }
}
