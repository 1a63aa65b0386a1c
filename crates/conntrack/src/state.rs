//! The `ct_state` bits a packet leaves conntrack with.

bitflags::bitflags! {
    /// Connection state of a packet, with the bit values of ovs-fields(7)
    /// `ct_state` so that flow matches can use the value directly.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct CtState: u32 {
        /// Start of a new connection: an uncommitted connection, or a
        /// committed one whose reply direction has not been seen yet
        /// (netfilter `IP_CT_NEW`).
        const NEW = 0x01;
        /// Part of a connection that has seen packets in both directions.
        const EST = 0x02;
        /// Related to an existing connection (an ICMP error quoting it).
        const REL = 0x04;
        /// Flows in the reply direction.
        const RPL = 0x08;
        /// Invalid: could not be tracked, or fails TCP state/window checks,
        /// or was refused because a connection limit was reached.
        const INV = 0x10;
        /// Went through conntrack.
        const TRK = 0x20;
        /// Source address/port was translated.
        const SNAT = 0x40;
        /// Destination address/port was translated.
        const DNAT = 0x80;
    }
}
