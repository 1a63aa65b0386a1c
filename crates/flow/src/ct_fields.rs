//! The connection-tracking original-direction tuple fields of
//! ovs-fields(7) ("Connection Tracking Fields"): `ct_nw_src`, `ct_nw_dst`,
//! `ct_ipv6_src`, `ct_ipv6_dst`, `ct_nw_proto`, `ct_tp_src`, `ct_tp_dst`.
//! Read-only: the switch sets them after `ct` from the connection's
//! original tuple (zero when there is none).

use crate::fields::{fi, ro, Field, FieldInfo, Fmt, Prereq as P};
use crate::flowvec::{Words, W_CT_IPV6_DST, W_CT_IPV6_SRC, W_CT_NW, W_CT_TP};

/// The original-tuple fields, in the order `dump-flows` and a trace print
/// them.
pub(crate) const CT_TUPLE_FIELDS: [Field; 7] = [
    Field::CtNwSrc,
    Field::CtNwDst,
    Field::CtIpv6Src,
    Field::CtIpv6Dst,
    Field::CtNwProto,
    Field::CtTpSrc,
    Field::CtTpDst,
];

/// Description of one of the fields above (any other field: `ct_tp_dst`'s,
/// never asked for by `Field::info`).
#[rustfmt::skip]
pub(crate) fn info(f: Field) -> FieldInfo {
    use Fmt::*;
    match f {
        Field::CtNwSrc => ro(fi("ct_nw_src", "NXM_NX_CT_NW_SRC", W_CT_NW, 0, 32, true, P::Ipv4, Ipv4)),
        Field::CtNwDst => ro(fi("ct_nw_dst", "NXM_NX_CT_NW_DST", W_CT_NW, 32, 32, true, P::Ipv4, Ipv4)),
        Field::CtIpv6Src => ro(fi("ct_ipv6_src", "NXM_NX_CT_IPV6_SRC", W_CT_IPV6_SRC, 0, 128, true, P::Ipv6, Ipv6)),
        Field::CtIpv6Dst => ro(fi("ct_ipv6_dst", "NXM_NX_CT_IPV6_DST", W_CT_IPV6_DST, 0, 128, true, P::Ipv6, Ipv6)),
        Field::CtNwProto => ro(fi("ct_nw_proto", "NXM_NX_CT_NW_PROTO", W_CT_TP, 32, 8, false, P::Ip, Dec)),
        Field::CtTpSrc => ro(fi("ct_tp_src", "NXM_NX_CT_TP_SRC", W_CT_TP, 0, 16, true, P::Ip, Dec)),
        _ => ro(fi("ct_tp_dst", "NXM_NX_CT_TP_DST", W_CT_TP, 16, 16, true, P::Ip, Dec)),
    }
}

/// The packet fields `resubmit(,T,ct)` exchanges with the original-direction
/// tuple, as OVS's `tuple_swap` (ofproto-dpif-xlate.c): protocol and ports,
/// then the addresses of the packet's family.
const SWAP_COMMON: [(Field, Field); 3] = [
    (Field::NwProto, Field::CtNwProto),
    (Field::TpSrc, Field::CtTpSrc),
    (Field::TpDst, Field::CtTpDst),
];
const SWAP_V4: [(Field, Field); 2] = [
    (Field::NwSrc, Field::CtNwSrc),
    (Field::NwDst, Field::CtNwDst),
];
const SWAP_V6: [(Field, Field); 2] = [
    (Field::Ipv6Src, Field::CtIpv6Src),
    (Field::Ipv6Dst, Field::CtIpv6Dst),
];

/// Exchanges the packet's L3/L4 tuple fields with the `ct_*` tuple fields
/// in `w` (a flow or a megaflow mask: swapping the mask too makes the bits a
/// lookup consulted on `nw_src` count against `ct_nw_src`). Its own inverse.
pub(crate) fn swap_tuple(w: &mut Words, ipv6: bool) {
    let addrs: &[(Field, Field)] = if ipv6 { &SWAP_V6 } else { &SWAP_V4 };
    for &(pkt, ct) in SWAP_COMMON.iter().chain(addrs) {
        let (a, b) = (pkt.get(w), ct.get(w));
        pkt.set(w, b);
        ct.set(w, a);
    }
}

#[cfg(test)]
mod tests {
    use crate::{format_flow, parse_flow};

    #[test]
    fn tuple_fields_parse_print_and_round_trip() {
        let text = "table=1,ct_state=+trk+est,ip,ct_nw_src=10.0.0.0/24,ct_nw_dst=198.51.100.50,\
                    ct_nw_proto=6,ct_tp_dst=80 actions=drop";
        let f = parse_flow(text).expect("parses").flow;
        let printed = format_flow(&f, None);
        for want in [
            "ct_nw_src=10.0.0.0/24",
            "ct_nw_dst=198.51.100.50",
            "ct_nw_proto=6",
            "ct_tp_dst=80",
        ] {
            assert!(printed.contains(want), "{printed}");
        }
        assert_eq!(parse_flow(printed.trim()).expect("reparses").flow, f);
        let v6 = parse_flow("ipv6,ct_ipv6_src=2001:db8::/32 actions=drop")
            .expect("parses")
            .flow;
        assert!(format_flow(&v6, None).contains("ct_ipv6_src=2001:db8::/32"));
        let e = parse_flow("ip actions=set_field:1.2.3.4->ct_nw_src");
        assert!(e.is_err(), "ct_nw_src is read-only");
    }
}
