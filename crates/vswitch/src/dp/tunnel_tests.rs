//! Unit tests of the tunnel receive demux helpers and send errors.

use super::*;

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn encapped(params: &tunnel::TunnelParams<'_>, layout: tunnel::Layout) -> Vec<u8> {
    let inner = [0x5au8; 60];
    let mut b = FrameBuf::with_frame(vec![0u8; 256], DEFAULT_HEADROOM, &inner).unwrap();
    tunnel::encap(&mut b, params, &layout, PerPacket::default()).unwrap();
    b.data().to_vec()
}

#[test]
fn decap_by_socket_kind() {
    let vx = tunnel::TunnelParams::vxlan(A, B, 101);
    let pkt = encapped(&vx, tunnel::Layout::UdpPayload);
    let key = SockKey {
        kind: TunnelKind::Vxlan,
        local: Some(B),
        port: 4789,
        group: None,
    };
    let r = decap(key, &pkt, SocketAddrV4::new(A, 50000), 0).unwrap();
    assert_eq!((r.meta.tun_id, r.meta.tun_src, r.meta.tun_dst), (101, A, B));
    assert_eq!(&pkt[r.inner.clone()], &[0x5a; 60][..]);
    assert_eq!(r.inner.start, 8, "after the VXLAN header");

    let gre = tunnel::TunnelParams::gre(A, B, Some(7));
    let pkt = encapped(&gre, tunnel::Layout::Ipv4);
    let key = SockKey {
        kind: TunnelKind::Gre,
        local: None,
        port: 0,
        group: None,
    };
    let r = decap(key, &pkt, SocketAddrV4::new(A, 0), 0).unwrap();
    assert_eq!((r.meta.tun_id, r.meta.tun_src), (7, A));
    assert_eq!(r.inner.len(), 60);
    // A VXLAN payload on the GRE socket is not GRE.
    assert!(decap(key, &pkt[20..], SocketAddrV4::new(A, 0), 0).is_err());
}

#[test]
fn send_errors_map_to_drop_reasons() {
    let e = io::Error::from_raw_os_error(nix::libc::EMSGSIZE);
    assert_eq!(send_error(&e), DropReason::TunnelTooBig);
    let e = io::Error::from(io::ErrorKind::WouldBlock);
    assert_eq!(send_error(&e), DropReason::TxFull);
    let e = io::Error::from_raw_os_error(nix::libc::ENETUNREACH);
    assert_eq!(send_error(&e), DropReason::TxError);
}
