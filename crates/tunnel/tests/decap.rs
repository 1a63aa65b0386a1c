//! Each malformed outer packet maps to its own typed drop reason.

mod common;

use std::net::Ipv4Addr;

use tunnel::{
    decap_ethernet, decap_ipv4, decap_udp_payload, encap, propagate_ecn, DecapConfig, DecapError,
    FrameBuf, Layout, PerPacket, Tos, TunnelKind, TunnelParams, UdpOrigin,
};

const LOCAL: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const REMOTE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
const ETH: Layout = Layout::Ethernet {
    src: [2, 0, 0, 0, 0, 1],
    dst: [2, 0, 0, 0, 0, 2],
};

fn wire(params: &TunnelParams<'_>, inner: &[u8]) -> Vec<u8> {
    let mut buf = FrameBuf::with_frame(vec![0u8; 4096], 256, inner).unwrap();
    encap(&mut buf, params, &ETH, PerPacket::default()).unwrap();
    buf.data().to_vec()
}

fn fix_ip_csum(pkt: &mut [u8]) {
    let mut ip = packet::ipv4::Ipv4Packet::new_checked(&mut pkt[14..]).unwrap();
    ip.fill_checksum();
}

#[test]
fn each_defect_has_its_reason() {
    let cfg = DecapConfig::default();
    let inner = common::udp4_frame(100);
    let vx = wire(&TunnelParams::vxlan(LOCAL, REMOTE, 7), &inner);
    assert!(decap_ethernet(&vx, &cfg).is_ok());

    let mut p = vx.clone();
    p[12] = 0x86;
    p[13] = 0xdd;
    assert_eq!(
        decap_ethernet(&p, &cfg).unwrap_err(),
        DecapError::NotIpv4 { ethertype: 0x86dd }
    );

    let mut p = vx.clone();
    p[24] ^= 0xff; // TTL byte: header checksum now wrong
    let e = decap_ethernet(&p, &cfg).unwrap_err();
    assert_eq!(e, DecapError::IpChecksum);
    assert_eq!(e.drop_reason(), "tunnel_ip_csum");
    let lax = DecapConfig {
        verify_checksums: false,
        ..cfg
    };
    assert!(decap_ethernet(&p, &lax).is_ok());

    let mut p = vx.clone();
    p[20] = 0x20; // MF
    fix_ip_csum(&mut p);
    assert_eq!(
        decap_ethernet(&p, &cfg).unwrap_err(),
        DecapError::Fragment { src: LOCAL }
    );

    let mut p = vx.clone();
    p[23] = 6; // TCP
    fix_ip_csum(&mut p);
    assert_eq!(
        decap_ethernet(&p, &cfg).unwrap_err(),
        DecapError::NotTunnelProtocol { protocol: 6 }
    );

    let mut p = vx.clone();
    p[36..38].copy_from_slice(&53u16.to_be_bytes());
    assert_eq!(
        decap_ethernet(&p, &cfg).unwrap_err(),
        DecapError::NotTunnelPort { port: 53 }
    );

    let mut p = vx.clone();
    p[42] = 0; // VXLAN I flag cleared
    assert_eq!(
        decap_ethernet(&p, &cfg).unwrap_err().drop_reason(),
        "tunnel_malformed"
    );

    assert_eq!(
        decap_ethernet(&vx[..vx.len() - inner.len() + 10], &cfg).unwrap_err(),
        DecapError::Header(packet::Error::Truncated {
            layer: "ipv4",
            need: vx.len() - 14 - inner.len() + inner.len(),
            have: vx.len() - 14 - inner.len() + 10,
        })
    );

    // UDP checksum present and wrong.
    let mut params = TunnelParams::vxlan(LOCAL, REMOTE, 7);
    params.udp_csum = true;
    let mut p = wire(&params, &inner);
    assert!(decap_ethernet(&p, &cfg).is_ok());
    let last = p.len() - 1;
    p[last] ^= 1;
    assert_eq!(
        decap_ethernet(&p, &cfg).unwrap_err(),
        DecapError::UdpChecksum
    );

    // GRE checksum wrong; GRE carrying IPv4 instead of Ethernet.
    let mut params = TunnelParams::gre(LOCAL, REMOTE, Some(1));
    params.gre.csum = true;
    let mut p = wire(&params, &inner);
    assert!(decap_ethernet(&p, &cfg).is_ok());
    let last = p.len() - 1;
    p[last] ^= 1;
    assert_eq!(
        decap_ethernet(&p, &cfg).unwrap_err(),
        DecapError::GreChecksum
    );
    let mut p = wire(&TunnelParams::gre(LOCAL, REMOTE, None), &inner);
    p[36..38].copy_from_slice(&0x0800u16.to_be_bytes());
    assert_eq!(
        decap_ethernet(&p, &cfg).unwrap_err(),
        DecapError::NotEthernetPayload { protocol: 0x0800 }
    );

    // Geneve with a non-Ethernet protocol type, and an option overrun.
    let g = wire(
        &TunnelParams::geneve(LOCAL, REMOTE, 7, &[0, 1, 2, 0]),
        &inner,
    );
    let mut p = g.clone();
    p[44..46].copy_from_slice(&0x0800u16.to_be_bytes());
    assert_eq!(
        decap_ethernet(&p, &cfg).unwrap_err(),
        DecapError::NotEthernetPayload { protocol: 0x0800 }
    );
    let mut p = g.clone();
    p[53] = 5; // option claims 20 data bytes in a 4-byte area
    assert!(matches!(
        decap_ethernet(&p, &cfg).unwrap_err(),
        DecapError::GeneveOption(_)
    ));

    // Tunnel header fine, inner frame too short.
    let origin = UdpOrigin {
        src: LOCAL,
        dst: REMOTE,
        src_port: 50000,
        dst_port: 4789,
        tos: 0,
        ttl: 64,
    };
    let short = [0x08, 0, 0, 0, 0, 0, 7, 0, 1, 2, 3];
    assert_eq!(
        decap_udp_payload(&short, TunnelKind::Vxlan, &origin).unwrap_err(),
        DecapError::InnerTooShort { len: 3 }
    );
    assert!(decap_ipv4(&[0x45; 10], &cfg).is_err());
}

#[test]
fn ethernet_padding_after_the_ip_packet_is_not_inner_data() {
    let inner = common::udp4_frame(10);
    let mut p = wire(&TunnelParams::vxlan(LOCAL, REMOTE, 7), &inner);
    p.extend_from_slice(&[0xee; 12]);
    let rx = decap_ethernet(&p, &DecapConfig::default()).unwrap();
    assert_eq!(rx.inner, &inner[..]);
}

#[test]
fn tos_inherit_and_rfc6040_ecn() {
    let mut inner = common::tcp4_frame(10, 0x10, 1);
    inner[15] = 0xb9; // DSCP 46, ECT(1)
    packet::ipv4::Ipv4Packet::new_checked(&mut inner[14..])
        .unwrap()
        .fill_checksum();
    let mut params = TunnelParams::vxlan(LOCAL, REMOTE, 1);
    params.tos = Tos::Inherit;
    let rx_tos = |params: &TunnelParams<'_>| {
        let p = wire(params, &inner);
        decap_ethernet(&p, &DecapConfig::default())
            .unwrap()
            .meta
            .tun_tos
    };
    assert_eq!(rx_tos(&params), 0xb9);
    params.tos = Tos::Fixed(0x20);
    assert_eq!(
        rx_tos(&params),
        0x21,
        "fixed DSCP, ECN copied (RFC 6040 normal mode)"
    );

    // Decapsulation: outer CE marks an ECT inner packet CE and keeps its
    // header checksum valid; over Not-ECT it is a drop.
    let mut f = inner.clone();
    propagate_ecn(0x03, &mut f).unwrap();
    let ip = packet::ipv4::Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert_eq!(ip.tos(), 0xbb);
    assert!(ip.verify_checksum());
    let mut not_ect = common::tcp4_frame(10, 0x10, 1);
    assert_eq!(
        propagate_ecn(0x03, &mut not_ect),
        Err(DecapError::EcnCeOnNotEct)
    );
    let before = not_ect.clone();
    propagate_ecn(0x02, &mut not_ect).unwrap();
    assert_eq!(not_ect, before, "no CE outside: nothing changes");
}
