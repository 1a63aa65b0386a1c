//! ECN across a VXLAN decapsulation (RFC 6040 §4.2), with real packets: a
//! tunnel endpoint namespace sends hand-built VXLAN datagrams, its outer
//! TOS set through the socket, to a host running `cloudnet-vswitchd`; a VM
//! behind the switch reads the inner IP header on a raw socket.
//!
//! * outer CE around an ECT(0) inner packet: the VM sees CE;
//! * outer CE around a Not-ECT inner packet: dropped, `tunnel_ecn` counted;
//! * outer Not-ECT around ECT(0): the inner field is left as it was.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use common::overlay::{host_ip, vm_ip, vxlan_site};
use socket2::{Domain, Protocol, Socket, Type};
use vswitch::Request;

const VNI: u32 = 100;

/// A VXLAN payload (RFC 7348 §5) around an Ethernet + IPv4 + UDP frame to
/// `dst_mac` / `dst_ip` port 6000 with TOS `tos` and `text` as payload.
fn vxlan(dst_mac: [u8; 6], src_ip: [u8; 4], dst_ip: [u8; 4], tos: u8, text: &[u8]) -> Vec<u8> {
    let mut p = vec![0x08, 0, 0, 0];
    p.extend_from_slice(&(VNI << 8).to_be_bytes());
    p.extend_from_slice(&dst_mac);
    p.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x99, 0x08, 0x00]);
    let total = (20 + 8 + text.len()) as u16;
    let mut ip = vec![0x45, tos];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src_ip);
    ip.extend_from_slice(&dst_ip);
    let c = packet::checksum::ipv4_header(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&ip);
    p.extend_from_slice(&5555u16.to_be_bytes());
    p.extend_from_slice(&6000u16.to_be_bytes());
    p.extend_from_slice(&((8 + text.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(text);
    p
}

/// The payload and TOS of the next UDP datagram to port 6000 that the
/// raw socket `sock` sees (the IP header comes with it, raw(7)).
fn recv_tos(sock: &Socket) -> Option<(Vec<u8>, u8)> {
    loop {
        let mut buf = [0u8; 512];
        let n = (&mut &*sock).read(&mut buf).ok()?;
        let pkt = &buf[..n];
        if pkt.len() >= 28 && pkt[22..24] == 6000u16.to_be_bytes() {
            return Some((pkt[28..].to_vec(), pkt[1]));
        }
    }
}

#[test]
fn ce_is_copied_inwards_and_not_ect_under_ce_is_dropped() {
    let Some(lab) = lab::Lab::new_or_skip("overlay_ecn") else {
        return;
    };
    let mut peer = lab.host("e0").expect("host");
    peer.set_underlay_ip(format!("{}/24", host_ip(0)).parse().expect("ip"))
        .expect("underlay ip");
    let site = vxlan_site(
        &lab,
        1,
        "e",
        &format!("options:remote_ip={} options:key={VNI}", host_ip(0)),
    );
    let (sw, guest) = (&site.sw, &site.vm);
    let mac = guest.mac("eth0").expect("mac").0;
    let vm_addr: std::net::Ipv4Addr = vm_ip(0, 1).parse().expect("ip");
    let src: std::net::Ipv4Addr = vm_ip(0, 0).parse().expect("ip");

    let rx = guest
        .run(|| Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)))
        .expect("VM namespace")
        .expect("raw socket");
    rx.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let tx = peer
        .udp_socket(SocketAddr::from((
            host_ip(0).parse::<std::net::Ipv4Addr>().expect("ip"),
            0,
        )))
        .expect("peer socket");
    let to = SocketAddr::from((host_ip(1).parse::<std::net::Ipv4Addr>().expect("ip"), 4789));
    let send = |outer: u8, inner: u8, text: &[u8]| {
        socket2::SockRef::from(&tx)
            .set_tos_v4(u32::from(outer))
            .expect("IP_TOS");
        tx.send_to(&vxlan(mac, src.octets(), vm_addr.octets(), inner, text), to)
            .expect("send");
    };

    // CE outside, ECT(0) inside: CE reaches the VM.
    send(0x03, 0x02, b"ect0-under-ce");
    let (text, tos) = recv_tos(&rx).expect("first datagram");
    assert_eq!(text, b"ect0-under-ce");
    assert_eq!(tos & 0x03, 0x03, "CE copied onto the inner header");

    // CE outside, Not-ECT inside: dropped. Then Not-ECT outside, ECT(0)
    // inside: delivered unchanged, and it is the next thing the VM reads.
    send(0x03, 0x00, b"not-ect-under-ce");
    send(0x00, 0x02, b"ect0-plain");
    let (text, tos) = recv_tos(&rx).expect("third datagram");
    assert_eq!(
        text, b"ect0-plain",
        "the Not-ECT packet under CE was dropped"
    );
    assert_eq!(tos & 0x03, 0x02, "no CE without one outside");

    let tables = sw.of(Request::DumpTables {
        bridge: "br0".into(),
    });
    assert!(
        tables.contains("tunnel_ecn=1"),
        "drop not counted:\n{tables}"
    );
}
