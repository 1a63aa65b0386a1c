//! Golden bytes for each encapsulation, computed independently (by hand,
//! from the RFC layouts, with the checksums worked out separately) and
//! cross-checked with etherparse for the outer Ethernet/IPv4/UDP headers.

use std::net::Ipv4Addr;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use tunnel::{
    decap_ipv4, encap, DecapConfig, FrameBuf, GeneveOptsBuf, GreFlags, Layout, PerPacket,
    TunnelParams,
};

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PP: PerPacket = PerPacket {
    ip_ident: 0x1234,
    gre_seq: 7,
    // Hash 0 maps to the bottom of the port range: 49152 = 0xc000.
    flow_hash: Some(0),
};

fn inner() -> Vec<u8> {
    (0..60u32).map(|i| (i * 7 + 3) as u8).collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn encapsulated(params: &TunnelParams<'_>, layout: &Layout) -> Vec<u8> {
    let mut buf = FrameBuf::with_frame(vec![0u8; 512], tunnel::MAX_HEADROOM, &inner()).unwrap();
    let info = encap(&mut buf, params, layout, PP).unwrap();
    assert_eq!(info.header_len, buf.len() - 60);
    assert_eq!(
        &buf.data()[info.header_len..],
        &inner()[..],
        "inner frame intact"
    );
    buf.data().to_vec()
}

/// Checks the outer IPv4 (+UDP) with etherparse: lengths, flags, header
/// checksum and, when present, the UDP checksum.
fn etherparse_check(pkt: &SlicedPacket<'_>, proto: u8, udp_ports: Option<(u16, u16)>) {
    let Some(NetSlice::Ipv4(ip)) = &pkt.net else {
        panic!("etherparse sees no IPv4")
    };
    let h = ip.header().to_header();
    assert_eq!(h.calc_header_checksum(), h.header_checksum);
    assert!(h.dont_fragment);
    assert_eq!(h.time_to_live, 64);
    assert_eq!(h.protocol.0, proto);
    assert_eq!(h.source, LOCAL.octets());
    assert_eq!(h.destination, REMOTE.octets());
    if let Some((src, dst)) = udp_ports {
        let Some(TransportSlice::Udp(udp)) = &pkt.transport else {
            panic!("etherparse sees no UDP")
        };
        assert_eq!(udp.source_port(), src);
        assert_eq!(udp.destination_port(), dst);
        assert_eq!(usize::from(udp.length()), 8 + udp.payload().len());
        if udp.checksum() != 0 {
            let want = udp
                .to_header()
                .calc_checksum_ipv4(&h, udp.payload())
                .unwrap();
            assert_eq!(udp.checksum(), want);
        }
    }
}

#[test]
fn vxlan_over_ethernet() {
    let layout = Layout::Ethernet {
        src: [2, 0, 0, 0, 0, 1],
        dst: [2, 0, 0, 0, 0, 2],
    };
    let pkt = encapsulated(&TunnelParams::vxlan(LOCAL, REMOTE, 101), &layout);
    let want = hex(concat!(
        "020000000002020000000001",
        "0800",                                     // Ethernet
        "45000060123440004011a455c0000201c0000202", // IPv4, DF, UDP
        "c00012b5004c0000",                         // UDP 49152 -> 4789, csum 0
        "0800000000006500",                         // VXLAN I flag, VNI 101
    ));
    assert_eq!(&pkt[..want.len()], &want[..]);
    let sliced = SlicedPacket::from_ethernet(&pkt).unwrap();
    etherparse_check(&sliced, 17, Some((49152, 4789)));
}

#[test]
fn geneve_with_option_and_udp_checksum_over_ip() {
    let mut opts = GeneveOptsBuf::default();
    opts.push(0x0102, 0x80, &[0xde, 0xad, 0xbe, 0xef]).unwrap();
    let mut params = TunnelParams::geneve(LOCAL, REMOTE, 101, opts.as_bytes());
    params.udp_csum = true;
    params.validate().unwrap();
    let pkt = encapsulated(&params, &Layout::Ipv4);
    let want = hex(concat!(
        "45000068123440004011a44dc0000201c0000202", // IPv4
        "c00017c100548743",                         // UDP 49152 -> 6081, checksum
        "0240655800006500",                         // Geneve: 2 option words, C bit, 0x6558, VNI
        "01028001deadbeef",                         // option 0x0102/0x80, 1 word
    ));
    assert_eq!(&pkt[..want.len()], &want[..]);
    let sliced = SlicedPacket::from_ip(&pkt).unwrap();
    etherparse_check(&sliced, 17, Some((49152, 6081)));
    let rx = decap_ipv4(&pkt, &DecapConfig::default()).unwrap();
    assert_eq!(rx.options, opts.as_bytes());
    assert_ne!(rx.meta.flags & tunnel::tun_flags::CRITICAL, 0);
}

#[test]
fn gre_key_and_seq_over_ip() {
    let mut params = TunnelParams::gre(LOCAL, REMOTE, Some(101));
    params.gre.seq = true;
    let pkt = encapsulated(&params, &Layout::Ipv4);
    let want = hex(concat!(
        "4500005c12344000402fa43bc0000201c0000202", // IPv4 proto 47
        "30006558",                                 // K and S, TEB
        "00000065",                                 // key 101
        "00000007",                                 // seq 7
    ));
    assert_eq!(&pkt[..want.len()], &want[..]);
    let sliced = SlicedPacket::from_ip(&pkt).unwrap();
    etherparse_check(&sliced, 47, None);
}

#[test]
fn gre_checksum_and_key_over_ip() {
    let mut params = TunnelParams::gre(LOCAL, REMOTE, Some(101));
    params.gre = GreFlags {
        key: true,
        seq: false,
        csum: true,
    };
    let pkt = encapsulated(&params, &Layout::Ipv4);
    let want = hex(concat!(
        "4500005c12344000402fa43bc0000201c0000202",
        "a0006558c93e0000", // C and K, TEB, checksum, reserved1
        "00000065",
    ));
    assert_eq!(&pkt[..want.len()], &want[..]);
    let rx = decap_ipv4(&pkt, &DecapConfig::default()).unwrap();
    assert_eq!(rx.meta.tun_id, 101);
}

#[test]
fn udp_socket_layout_is_the_tunnel_header_only() {
    let pkt = encapsulated(
        &TunnelParams::vxlan(LOCAL, REMOTE, 0xabcdef),
        &Layout::UdpPayload,
    );
    assert_eq!(&pkt[..8], &hex("08000000abcdef00")[..]);
    assert_eq!(pkt.len(), 8 + 60);
    let mut buf = FrameBuf::with_frame(vec![0u8; 256], 64, &inner()).unwrap();
    assert_eq!(
        encap(
            &mut buf,
            &TunnelParams::gre(LOCAL, REMOTE, None),
            &Layout::UdpPayload,
            PP
        ),
        Err(tunnel::EncapError::GreNeedsIpLayout)
    );
}

#[test]
fn encap_refuses_bad_parameters_without_touching_the_frame() {
    use tunnel::EncapError;
    let fresh = || FrameBuf::with_frame(vec![0u8; 70_000], 256, &inner()).unwrap();
    let mut buf = fresh();
    assert_eq!(
        encap(
            &mut buf,
            &TunnelParams::vxlan(LOCAL, REMOTE, 1 << 24),
            &Layout::Ipv4,
            PP
        ),
        Err(EncapError::VniOutOfRange { vni: 1 << 24 })
    );
    assert!(TunnelParams::vxlan(LOCAL, REMOTE, 1 << 24)
        .validate()
        .is_err());
    assert_eq!(
        encap(
            &mut buf,
            &TunnelParams::geneve(LOCAL, REMOTE, 1, &[1, 2, 3]),
            &Layout::Ipv4,
            PP
        ),
        Err(EncapError::BadOptions {
            reason: "length not a multiple of 4 or over 252 bytes"
        })
    );
    // Whole words but an option claiming more data than there is.
    assert!(TunnelParams::geneve(LOCAL, REMOTE, 1, &[1, 2, 3, 4])
        .validate()
        .is_err());
    assert_eq!(buf.data(), &inner()[..]);

    let mut short = FrameBuf::with_frame(vec![0u8; 256], 128, &[0u8; 13]).unwrap();
    assert_eq!(
        encap(
            &mut short,
            &TunnelParams::vxlan(LOCAL, REMOTE, 1),
            &Layout::Ipv4,
            PP
        ),
        Err(EncapError::InnerTooShort { len: 13 })
    );

    let mut big = FrameBuf::with_frame(vec![0u8; 70_000], 256, &vec![0u8; 65_500]).unwrap();
    assert_eq!(
        encap(
            &mut big,
            &TunnelParams::vxlan(LOCAL, REMOTE, 1),
            &Layout::Ipv4,
            PP
        ),
        Err(EncapError::TooBig { len: 65_536 })
    );

    let mut no_room = FrameBuf::with_frame(vec![0u8; 256], 20, &inner()).unwrap();
    assert!(matches!(
        encap(
            &mut no_room,
            &TunnelParams::vxlan(LOCAL, REMOTE, 1),
            &Layout::Ipv4,
            PP
        ),
        Err(EncapError::Buf(_))
    ));
    assert_eq!(no_room.data(), &inner()[..]);
}
