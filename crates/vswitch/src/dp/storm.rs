//! Storm control: a per-port limit on the broadcast and multicast frames a
//! port may send into its bridge, so that one VM flooding broadcasts (an ARP
//! storm, a looping bridge inside a guest) cannot make the switch copy every
//! frame to every port of the segment and starve the others.
//!
//! OVS has no storm control of its own (operators police a port with
//! `ingress_policing_rate`, which limits all traffic alike); physical
//! switches do (Cisco `storm-control broadcast level pps`). cloudnet follows
//! the latter and takes its settings from the Interface `other_config`
//! column ([`super::pps`]):
//!
//! * `other_config:storm-control-pps`: broadcast + multicast frames per
//!   second the port may send (absent or 0: no limit);
//! * `other_config:storm-control-burst`: frames allowed back to back (absent
//!   or 0: one second's worth, `storm-control-pps`).
//!
//! Frames over the limit are dropped at input, before the flow tables, and
//! counted as [`DropReason::StormControl`](super::stats::DropReason) on the
//! bridge and in the port's `rx_dropped`. Unicast frames never touch the
//! bucket.

use std::time::Duration;

use super::pps::PpsBucket;

/// `other_config` key of the rate (frames per second).
pub const PPS_KEY: &str = "storm-control-pps";
/// `other_config` key of the burst (frames).
pub const BURST_KEY: &str = "storm-control-burst";

/// Whether `eth` (an Ethernet frame) may enter the bridge at `now`: a
/// unicast frame always may; a broadcast or multicast one (group bit of
/// the destination MAC set, IEEE 802-2014 §8.2) takes a token of `bucket`.
#[inline]
pub fn admit(bucket: &mut PpsBucket, eth: &[u8], now: Duration) -> bool {
    match eth.first() {
        Some(b) if b & 1 == 1 => bucket.take(now),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dp::pps::PpsCfg;

    const BCAST: [u8; 14] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 8, 6];
    const MCAST: [u8; 14] = [0x01, 0x00, 0x5e, 0, 0, 1, 2, 0, 0, 0, 0, 1, 8, 0];
    const UCAST: [u8; 14] = [0x02, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];

    #[test]
    fn broadcast_and_multicast_are_limited_unicast_is_not() {
        let t = Duration::ZERO;
        let mut s = PpsBucket::new(
            PpsCfg {
                pps: 100,
                burst: 10,
            },
            t,
        );
        assert_eq!((0..50).filter(|_| admit(&mut s, &BCAST, t)).count(), 10);
        assert!(
            (0..1000).all(|_| admit(&mut s, &UCAST, t)),
            "unicast untouched"
        );
        assert!(!admit(&mut s, &MCAST, t), "multicast shares the bucket");
        assert!(admit(&mut s, &[], t), "an empty frame is not a broadcast");
    }
}
