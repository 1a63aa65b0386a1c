//! Property tests: encapsulation then decapsulation gives back the inner
//! frame and the tunnel metadata, for every tunnel kind and layout; hostile
//! bytes never panic any parser.

use std::net::Ipv4Addr;

use netio::vnet::{GsoType, VirtioNetHdr};
use proptest::prelude::*;
use tunnel::{
    decap_ethernet, decap_ipv4, decap_udp_payload, encap, tun_flags, DecapConfig, FrameBuf,
    GeneveOptsBuf, GreFlags, Layout, PerPacket, Segmenter, Tos, Ttl, TunnelKind, TunnelParams,
    UdpOrigin,
};

#[derive(Debug, Clone)]
struct Case {
    kind: TunnelKind,
    layout: Layout,
    id: u32,
    ttl: Option<u8>,
    tos: Option<u8>,
    df: bool,
    udp_csum: bool,
    gre: GreFlags,
    options: Vec<(u16, u8, Vec<u8>)>,
    per_packet: PerPacket,
    inner: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    let kind = prop_oneof![
        Just(TunnelKind::Vxlan),
        Just(TunnelKind::Geneve),
        Just(TunnelKind::Gre)
    ];
    let layout = prop_oneof![
        Just(Layout::UdpPayload),
        Just(Layout::Ipv4),
        any::<([u8; 6], [u8; 6])>().prop_map(|(src, dst)| Layout::Ethernet { src, dst }),
    ];
    let option = (any::<u16>(), any::<u8>(), 0usize..4).prop_flat_map(|(c, t, w)| {
        (
            Just(c),
            Just(t),
            proptest::collection::vec(any::<u8>(), w * 4),
        )
    });
    (
        (
            kind,
            layout,
            any::<u32>(),
            any::<Option<u8>>(),
            any::<Option<u8>>(),
        ),
        (any::<bool>(), any::<bool>(), any::<(bool, bool, bool)>()),
        proptest::collection::vec(option, 0..4),
        (any::<u16>(), any::<u32>(), any::<Option<u32>>()),
        proptest::collection::vec(any::<u8>(), 14..1600),
    )
        .prop_filter_map(
            "GRE has no UDP-payload layout",
            |((kind, layout, id, ttl, tos), (df, udp_csum, (k, s, c)), options, pp, inner)| {
                if kind == TunnelKind::Gre && layout == Layout::UdpPayload {
                    return None;
                }
                let id = if kind == TunnelKind::Gre {
                    id
                } else {
                    id & 0xff_ffff
                };
                Some(Case {
                    kind,
                    layout,
                    id,
                    ttl,
                    tos,
                    df,
                    udp_csum,
                    gre: GreFlags {
                        key: k,
                        seq: s,
                        csum: c,
                    },
                    options,
                    per_packet: PerPacket {
                        ip_ident: pp.0,
                        gre_seq: pp.1,
                        flow_hash: pp.2,
                    },
                    inner,
                })
            },
        )
}

const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encap_then_decap_round_trips(c in case()) {
        let mut opts = GeneveOptsBuf::default();
        for (class, kind, data) in &c.options {
            opts.push(*class, *kind, data).unwrap();
        }
        let params = TunnelParams {
            kind: c.kind,
            local: LOCAL,
            remote: REMOTE,
            id: c.id,
            ttl: c.ttl.map_or(Ttl::Inherit, Ttl::Fixed),
            tos: c.tos.map_or(Tos::Inherit, Tos::Fixed),
            df: c.df,
            dst_port: c.kind.default_port(),
            udp_csum: c.udp_csum,
            geneve_options: if c.kind == TunnelKind::Geneve { opts.as_bytes() } else { &[] },
            gre: c.gre,
        };
        params.validate().unwrap();
        let mut buf = FrameBuf::with_frame(vec![0u8; 2048], tunnel::MAX_HEADROOM, &c.inner).unwrap();
        let info = encap(&mut buf, &params, &c.layout, c.per_packet).unwrap();
        prop_assert_eq!(buf.len(), c.inner.len() + params.header_len(&c.layout));
        if c.kind.is_udp() {
            prop_assert!((49152..=65535).contains(&info.src_port));
        }

        let cfg = DecapConfig::default();
        let rx = match c.layout {
            Layout::UdpPayload => decap_udp_payload(buf.data(), c.kind, &UdpOrigin {
                src: REMOTE, dst: LOCAL, src_port: info.src_port,
                dst_port: params.dst_port, tos: info.tos, ttl: info.ttl,
            }),
            Layout::Ipv4 => decap_ipv4(buf.data(), &cfg),
            Layout::Ethernet { .. } => decap_ethernet(buf.data(), &cfg),
        }.unwrap();
        prop_assert_eq!(rx.inner, &c.inner[..]);
        prop_assert_eq!(rx.meta.kind, c.kind);
        prop_assert_eq!(rx.meta.tun_tos, info.tos);
        prop_assert_eq!(rx.meta.tun_ttl, info.ttl);
        if let Some(t) = c.ttl { prop_assert_eq!(info.ttl, t); }
        if let Some(t) = c.tos { prop_assert_eq!(info.tos & 0xfc, t & 0xfc); }
        let key_sent = c.kind != TunnelKind::Gre || c.gre.key;
        prop_assert_eq!(rx.meta.tun_id, if key_sent { u64::from(c.id) } else { 0 });
        prop_assert_eq!(rx.meta.flags & tun_flags::KEY != 0, key_sent);
        if c.layout != Layout::UdpPayload {
            prop_assert_eq!(rx.meta.tun_src, LOCAL);
            prop_assert_eq!(rx.meta.tun_dst, REMOTE);
            prop_assert_eq!(rx.meta.flags & tun_flags::DONT_FRAGMENT != 0, c.df);
            prop_assert_eq!(rx.meta.tp_src, info.src_port);
        }
        match c.kind {
            TunnelKind::Gre => {
                prop_assert_eq!(rx.meta.gre_seq, c.gre.seq.then_some(c.per_packet.gre_seq));
                prop_assert_eq!(rx.meta.flags & tun_flags::CSUM != 0, c.gre.csum);
            }
            TunnelKind::Geneve => prop_assert_eq!(rx.options, opts.as_bytes()),
            TunnelKind::Vxlan => prop_assert!(rx.options.is_empty()),
        }
        // The range lets the buffer become the inner frame in place.
        let range = rx.inner_range.clone();
        buf.pull_front(range.start).unwrap();
        buf.truncate(range.len());
        prop_assert_eq!(buf.data(), &c.inner[..]);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let cfg = DecapConfig { verify_checksums: false, ..DecapConfig::default() };
        let _ = decap_ethernet(&bytes, &cfg);
        let _ = decap_ipv4(&bytes, &cfg);
        let _ = decap_ipv4(&bytes, &DecapConfig::default());
        let origin = UdpOrigin { src: LOCAL, dst: REMOTE, src_port: 1, dst_port: 2, tos: 0, ttl: 1 };
        for kind in [TunnelKind::Vxlan, TunnelKind::Geneve, TunnelKind::Gre] {
            let _ = decap_udp_payload(&bytes, kind, &origin);
        }
        let mut out = [0u8; 2048];
        let _ = tunnel::icmp::too_big_reply(&bytes, 1400, &mut out);
        for gso_type in [GsoType::TcpV4, GsoType::TcpV6, GsoType::UdpL4] {
            let vnet = VirtioNetHdr { gso_type, gso_size: 7, ..VirtioNetHdr::default() };
            if let Ok(mut seg) = Segmenter::new(&bytes, &vnet) {
                let mut n = 0;
                while let Some(r) = seg.next_into(&mut out) {
                    prop_assert!(r.is_ok());
                    n += 1;
                    prop_assert!(n <= 200);
                }
            }
        }
        let mut frame = bytes.clone();
        let vnet = VirtioNetHdr {
            flags: VirtioNetHdr::F_NEEDS_CSUM,
            csum_start: bytes.first().copied().unwrap_or(0).into(),
            csum_offset: bytes.get(1).copied().unwrap_or(0).into(),
            ..VirtioNetHdr::default()
        };
        let _ = tunnel::complete_checksum(&mut frame, &vnet);
    }

    /// Truncating or corrupting a valid tunnel packet yields an error or a
    /// result, never a panic; cutting into the headers is always an error.
    #[test]
    fn damaged_packets_never_panic(
        kind in prop_oneof![Just(TunnelKind::Vxlan), Just(TunnelKind::Geneve), Just(TunnelKind::Gre)],
        cut in 0usize..200,
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..4),
    ) {
        let opts = [0x01, 0x02, 0x03, 0x01, 1, 2, 3, 4];
        let params = match kind {
            TunnelKind::Vxlan => TunnelParams::vxlan(LOCAL, REMOTE, 9),
            TunnelKind::Geneve => TunnelParams::geneve(LOCAL, REMOTE, 9, &opts),
            TunnelKind::Gre => TunnelParams { gre: GreFlags { key: true, seq: true, csum: true }, ..TunnelParams::gre(LOCAL, REMOTE, Some(9)) },
        };
        let layout = Layout::Ethernet { src: [2; 6], dst: [4; 6] };
        let mut buf = FrameBuf::with_frame(vec![0u8; 512], 128, &[0x5a; 100]).unwrap();
        encap(&mut buf, &params, &layout, PerPacket::default()).unwrap();
        let hdr = params.header_len(&layout);
        let mut pkt = buf.data().to_vec();
        let cfg = DecapConfig::default();
        if cut < hdr + 14 {
            prop_assert!(decap_ethernet(&pkt[..cut], &cfg).is_err());
        }
        for (at, v) in flips {
            if let Some(b) = pkt.get_mut(at) { *b ^= v | 1; }
        }
        let _ = decap_ethernet(&pkt, &cfg);
        let _ = decap_ethernet(&pkt[..cut.min(pkt.len())], &cfg);
        let _ = decap_ipv4(&pkt[14..], &DecapConfig { verify_checksums: false, ..cfg });
    }
}
