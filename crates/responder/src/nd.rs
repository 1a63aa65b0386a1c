//! IPv6 Neighbor Discovery responder: Neighbor Solicitation → Neighbor
//! Advertisement carrying a Target Link-Layer Address option (RFC 4861
//! §7.2.4), OVN's `nd_na` / `nd_na_router` actions (ovn-northd(8)).

use core::net::Ipv6Addr;

use packet::ethernet::EthernetFrame;
use packet::flowkey::ethertype;
use packet::icmpv6::{na_flags, Icmpv6Packet, NdMessage, NdRepr};
use packet::ip_proto;
use packet::ipv6::{self, Ipv6Packet, Ipv6Repr};

use crate::frame::{need, write_eth, ETH_LEN};
use crate::{Ipv6Table, NoReply};

/// Length of every reply [`respond`] writes: Ethernet, IPv6, NA with TLL.
pub const REPLY_LEN: usize = ETH_LEN + ipv6::HEADER_LEN + packet::icmpv6::ND_LEN + 8;

/// How advertisements are flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NdConfig {
    /// Set the Router flag (RFC 4861 §4.4): `true` when answering for a
    /// router port's address (OVN's `nd_na_router`).
    pub router: bool,
}

/// Answers a Neighbor Solicitation in `frame` for a target `table` knows.
///
/// Checks RFC 4861 §7.1.1 validity: hop limit 255, ICMPv6 checksum, code 0,
/// length; a solicitation from the unspecified address (duplicate address
/// detection) carries no SLL option and is answered to all-nodes with the
/// Solicited flag clear (§7.2.4). Otherwise the NA goes to the solicitor
/// (its SLL option, else the frame's source MAC) with S and O set.
pub fn respond(
    frame: &[u8],
    table: &impl Ipv6Table,
    config: NdConfig,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let (eth, ip) = nd_message(frame, packet::icmpv6::msg_type::NEIGHBOR_SOLICIT, "nd")?;
    let icmp = ip.payload();
    let (src, dst) = (ip.src(), ip.dst());
    if !Icmpv6Packet::new_checked(icmp)?.verify_checksum(&src, &dst) {
        return Err(NoReply::BadChecksum("icmpv6"));
    }
    let ns = NdMessage::new_checked(icmp)?;
    let NdRepr::Solicit { target, sll } = NdRepr::parse(&ns)? else {
        return Err(NoReply::NotForUs);
    };
    if target.is_multicast() {
        return Err(NoReply::Malformed(packet::Error::Malformed {
            layer: "nd",
            field: "target",
        }));
    }
    let mac = table.lookup_v6(target).ok_or(NoReply::UnknownTarget)?;
    if mac == eth.src() {
        return Err(NoReply::AskerOwnsTarget);
    }
    let dad = src.is_unspecified();
    if dad && sll.is_some() {
        // RFC 4861 §7.1.1: "If the IP source address is the unspecified
        // address, ... there is no source link-layer address option".
        return Err(NoReply::Malformed(packet::Error::Malformed {
            layer: "nd",
            field: "sll option",
        }));
    }
    let mut flags = na_flags::OVERRIDE;
    if config.router {
        flags |= na_flags::ROUTER;
    }
    let (ip_dst, eth_dst) = if dad {
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        (all_nodes, multicast_mac(&all_nodes))
    } else {
        flags |= na_flags::SOLICITED;
        (src, sll.unwrap_or(eth.src()))
    };
    need(out, REPLY_LEN)?;
    write_eth(out, mac, eth_dst, ethertype::IPV6)?;
    let na = NdRepr::Advert {
        flags,
        target,
        tll: Some(mac),
    };
    let ip_out = &mut out[ETH_LEN..REPLY_LEN];
    Ipv6Repr {
        src: target,
        dst: ip_dst,
        next_header: ip_proto::ICMPV6,
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 255,
        payload_len: na.buffer_len() as u16,
    }
    .emit(ip_out)?;
    na.emit(&mut ip_out[ipv6::HEADER_LEN..], &target, &ip_dst)?;
    Ok(REPLY_LEN)
}

/// Length of every solicitation [`request`] writes: Ethernet, IPv6, NS
/// with SLL.
pub const REQUEST_LEN: usize = REPLY_LEN;

/// Writes a Neighbor Solicitation "who has `target`?" from `sip`/`sha` to
/// the target's solicited-node multicast address (RFC 4861 §7.2.2, RFC
/// 4291 §2.7.1) with a Source Link-Layer Address option and hop limit 255,
/// returning its length. A router resolving an unknown IPv6 next hop sends
/// this (OVN's `nd_ns { ... }` action in `lr_in_arp_request`,
/// ovn-northd(8)); `sip` is the address of the router port it leaves by.
pub fn request(
    sha: crate::Mac,
    sip: Ipv6Addr,
    target: Ipv6Addr,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    if target.is_multicast() || target.is_unspecified() {
        return Err(NoReply::Malformed(packet::Error::Malformed {
            layer: "nd",
            field: "target",
        }));
    }
    let t = target.octets();
    let dst = Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(t[13]),
        u16::from_be_bytes([t[14], t[15]]),
    );
    need(out, REQUEST_LEN)?;
    write_eth(out, sha, multicast_mac(&dst), ethertype::IPV6)?;
    let ns = NdRepr::Solicit {
        target,
        sll: Some(sha),
    };
    let ip_out = &mut out[ETH_LEN..REQUEST_LEN];
    Ipv6Repr {
        src: sip,
        dst,
        next_header: ip_proto::ICMPV6,
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 255,
        payload_len: ns.buffer_len() as u16,
    }
    .emit(ip_out)?;
    ns.emit(&mut ip_out[ipv6::HEADER_LEN..], &sip, &dst)?;
    Ok(REQUEST_LEN)
}

/// The Ethernet frame and IPv6 packet of the ND message of type `kind` in
/// `frame`, with hop limit 255 (RFC 4861 §6.1.1, §7.1.1: never forwarded
/// by a router). ND messages carry no extension headers in practice; one
/// hidden behind them is not answered (the owner's kernel would be).
#[allow(clippy::type_complexity)]
pub(crate) fn nd_message<'a>(
    frame: &'a [u8],
    kind: u8,
    layer: &'static str,
) -> Result<(EthernetFrame<&'a [u8]>, Ipv6Packet<&'a [u8]>), NoReply> {
    let eth = EthernetFrame::new_checked(frame)?;
    if eth.ethertype() != ethertype::IPV6 {
        return Err(NoReply::NotForUs);
    }
    let ip = Ipv6Packet::new_checked(&frame[ETH_LEN..])?;
    if ip.next_header() != ip_proto::ICMPV6 || ip.payload().first() != Some(&kind) {
        return Err(NoReply::NotForUs);
    }
    if ip.hop_limit() != 255 {
        return Err(NoReply::Malformed(packet::Error::Malformed {
            layer,
            field: "hop limit",
        }));
    }
    Ok((eth, ip))
}

/// The Ethernet address an IPv6 multicast address maps to (RFC 2464 §7):
/// 33:33 followed by the last four bytes of the address.
#[inline]
pub fn multicast_mac(ip: &Ipv6Addr) -> crate::Mac {
    let o = ip.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The modified EUI-64 interface identifier of `mac` (RFC 4291 §2.5.1,
/// appendix A): `ff:fe` in the middle, the universal/local bit flipped.
#[inline]
pub fn eui64(mac: crate::Mac) -> [u8; 8] {
    [
        mac[0] ^ 2,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ]
}

/// The link-local address `fe80::/64` + [`eui64`] of `mac` (RFC 4862
/// §5.3), which a router port advertises from and answers for.
#[inline]
pub fn link_local(mac: crate::Mac) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o[0] = 0xfe;
    o[1] = 0x80;
    o[8..].copy_from_slice(&eui64(mac));
    Ipv6Addr::from(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_solicits_the_solicited_node_group() {
        let sha = [2, 0, 0, 0, 0, 1];
        let sip: Ipv6Addr = "2001:db8::5".parse().unwrap();
        let target: Ipv6Addr = "2001:db8::12:3456".parse().unwrap();
        let mut out = [0u8; 128];
        let n = request(sha, sip, target, &mut out).unwrap();
        assert_eq!(n, REQUEST_LEN);
        let (eth, ip) =
            nd_message(&out[..n], packet::icmpv6::msg_type::NEIGHBOR_SOLICIT, "nd").unwrap();
        assert_eq!(eth.src(), sha);
        assert_eq!(eth.dst(), [0x33, 0x33, 0xff, 0x12, 0x34, 0x56]);
        let group: Ipv6Addr = "ff02::1:ff12:3456".parse().unwrap();
        assert_eq!((ip.src(), ip.dst()), (sip, group));
        assert!(Icmpv6Packet::new_checked(ip.payload())
            .unwrap()
            .verify_checksum(&sip, &group));
        let m = NdMessage::new_checked(ip.payload()).unwrap();
        assert_eq!(
            NdRepr::parse(&m).unwrap(),
            NdRepr::Solicit {
                target,
                sll: Some(sha)
            }
        );
        // The owner's responder answers it: a real NS.
        let mut na = [0u8; 128];
        let table = |ip: Ipv6Addr| (ip == target).then_some([2, 0, 0, 0, 0, 9]);
        assert_eq!(
            respond(&out[..n], &table, NdConfig::default(), &mut na),
            Ok(REPLY_LEN)
        );
        assert!(
            request(sha, sip, group, &mut out).is_err(),
            "multicast target"
        );
        assert!(matches!(
            request(sha, sip, target, &mut out[..40]),
            Err(NoReply::BufferTooSmall { .. })
        ));
    }
}
