//! Local actions on hand-built frames: each op's reply is parsed back and
//! its addresses, types and checksums checked.

use std::net::{Ipv4Addr, Ipv6Addr};

use packet::checksum;

use super::*;

const VM_MAC: [u8; 6] = [2, 0, 0, 0, 0, 5];
const GW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const VM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const FAR: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 7);

fn op(text: &str) -> LocalOp {
    local_op::parse(text.as_bytes())
        .expect("cloudnet: prefix")
        .expect("parses")
        .op
}

fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// An IPv4 packet from the VM, sent to the gateway's MAC.
fn ipv4(ttl: u8, proto: u8, dst: Ipv4Addr, l4: &[u8]) -> Vec<u8> {
    let mut f = eth(GW_MAC, VM_MAC, 0x0800);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip[8] = ttl;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&VM.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = checksum::ipv4_header(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(l4);
    f
}

fn echo_request() -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    m.extend_from_slice(b"abcdefgh");
    let c = checksum::icmpv4(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn run(op_text: &str, frame: &[u8]) -> Result<Vec<u8>, NoReply> {
    let mut out = [0u8; MAX_REPLY_LEN];
    let n = respond(&op(op_text), frame, &[0; 16], &mut out)?;
    Ok(out[..n].to_vec())
}

#[test]
fn time_exceeded_comes_from_the_router_address() {
    let udp = [0x9c, 0x40, 0x82, 0x9b, 0, 12, 0, 0, 1, 2, 3, 4];
    let req = ipv4(1, 17, FAR, &udp);
    let r = run("cloudnet:icmp4-time-exceeded src=10.0.0.1", &req).unwrap();
    assert_eq!(&r[0..6], &VM_MAC, "back to the sender");
    assert_eq!(&r[6..12], &GW_MAC, "from the MAC it sent to");
    let ip = &r[14..34];
    assert_eq!(checksum::sum(ip), 0xffff, "IP checksum");
    assert_eq!(&ip[12..16], &GW.octets());
    assert_eq!(&ip[16..20], &VM.octets());
    let icmp = &r[34..];
    assert_eq!((icmp[0], icmp[1]), (11, 0));
    assert_eq!(checksum::sum(icmp), 0xffff, "ICMP checksum");
    assert_eq!(&icmp[8..], &req[14..], "the whole (short) packet is quoted");
}

#[test]
fn unreachable_with_mtu_and_suppression() {
    let req = ipv4(64, 6, FAR, &[0u8; 20]);
    let r = run(
        "cloudnet:icmp4-unreachable src=10.0.0.1 code=4 mtu=1400",
        &req,
    )
    .unwrap();
    assert_eq!((r[34], r[35]), (3, 4));
    assert_eq!(u16::from_be_bytes([r[40], r[41]]), 1400, "next-hop MTU");
    // No error about an ICMP error (RFC 1122 §3.2.2).
    let mut err = vec![3, 1, 0, 0, 0, 0, 0, 0];
    let c = checksum::icmpv4(&err);
    err[2..4].copy_from_slice(&c.to_be_bytes());
    let about_error = ipv4(1, 1, FAR, &err);
    assert!(matches!(
        run("cloudnet:icmp4-time-exceeded src=10.0.0.1", &about_error),
        Err(NoReply::ErrorSuppressed(_))
    ));
}

#[test]
fn echo_reply_and_family_check() {
    let req = ipv4(64, 1, GW, &echo_request());
    let r = run("cloudnet:icmp4-echo-reply", &req).unwrap();
    assert_eq!(&r[0..6], &VM_MAC);
    assert_eq!(&r[14 + 12..14 + 16], &GW.octets());
    assert_eq!(r[34], 0, "echo reply");
    assert_eq!(checksum::sum(&r[34..]), 0xffff);
    assert_eq!(&r[38..], &req[38..], "id, seq and data returned");
    assert!(run("cloudnet:icmp6-echo-reply", &req).is_err());
}

#[test]
fn arp_reply_for_the_target() {
    let mut req = eth([0xff; 6], VM_MAC, 0x0806);
    req.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
    req.extend_from_slice(&VM_MAC);
    req.extend_from_slice(&VM.octets());
    req.extend_from_slice(&[0; 6]);
    req.extend_from_slice(&GW.octets());
    let r = run("cloudnet:arp-reply mac=02:00:00:00:00:01", &req).unwrap();
    assert_eq!(&r[0..6], &VM_MAC);
    assert_eq!(&r[6..12], &GW_MAC);
    assert_eq!(u16::from_be_bytes([r[20], r[21]]), 2, "reply");
    assert_eq!(&r[22..28], &GW_MAC, "sha");
    assert_eq!(&r[28..32], &GW.octets(), "spa");
    assert_eq!(&r[32..38], &VM_MAC, "tha");
    // An IPv4 packet is not an ARP request.
    assert_eq!(
        run(
            "cloudnet:arp-reply mac=02:00:00:00:00:01",
            &ipv4(64, 1, GW, &echo_request())
        ),
        Err(NoReply::NotForUs)
    );
}

#[test]
fn neighbor_advertisement_with_router_flag() {
    let src: Ipv6Addr = "fe80::5".parse().unwrap();
    let target: Ipv6Addr = "fd00::1".parse().unwrap();
    let dst: Ipv6Addr = "ff02::1:ff00:1".parse().unwrap();
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[1, 1]);
    m.extend_from_slice(&VM_MAC);
    let c = checksum::l4_ipv6(&src, &dst, 58, &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut req = eth([0x33, 0x33, 0xff, 0, 0, 1], VM_MAC, 0x86dd);
    req.extend_from_slice(&[0x60, 0, 0, 0]);
    req.extend_from_slice(&(m.len() as u16).to_be_bytes());
    req.extend_from_slice(&[58, 255]);
    req.extend_from_slice(&src.octets());
    req.extend_from_slice(&dst.octets());
    req.extend_from_slice(&m);
    let r = run("cloudnet:nd-na mac=02:00:00:00:00:01 router=1", &req).unwrap();
    assert_eq!(&r[0..6], &VM_MAC);
    let icmp = &r[54..];
    assert_eq!(icmp[0], 136, "NA");
    assert_eq!(icmp[4] & 0x80, 0x80, "router flag");
    assert_eq!(&icmp[8..24], &target.octets());
    assert_eq!(&icmp[24..32], &[2, 1, 2, 0, 0, 0, 0, 1], "TLL option");
}

#[test]
fn partial_checksum_is_completed_before_responding() {
    // A UDP/IPv6 datagram whose checksum field holds only the
    // pseudo-header sum, as a kernel leaves it with NEEDS_CSUM.
    let (src, dst): (Ipv6Addr, Ipv6Addr) =
        ("fe80::5".parse().unwrap(), "ff02::1:2".parse().unwrap());
    let payload = b"dhcpv6 client message";
    let udp_len = 8 + payload.len();
    let mut f = vec![0u8; HDR];
    f.extend(eth([0x33, 0x33, 0, 1, 0, 2], VM_MAC, 0x86dd));
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend((udp_len as u16).to_be_bytes());
    ip.extend([17, 1]);
    ip.extend(src.octets());
    ip.extend(dst.octets());
    f.extend(ip);
    let l4 = f.len();
    f.extend(546u16.to_be_bytes());
    f.extend(547u16.to_be_bytes());
    f.extend((udp_len as u16).to_be_bytes());
    let pseudo = checksum::pseudo_header_v6(&src, &dst, 17, udp_len as u32);
    f.extend(pseudo.to_be_bytes());
    f.extend_from_slice(payload);
    f[0] = NEEDS_CSUM;
    f[6..8].copy_from_slice(&((l4 - HDR) as u16).to_le_bytes());
    f[8..10].copy_from_slice(&6u16.to_le_bytes());
    let mut done = f.clone();
    finish_partial_csum(&mut done);
    assert_eq!(done[0] & NEEDS_CSUM, 0);
    let udp = packet::udp::UdpPacket::new_checked(&done[l4..]).unwrap();
    assert!(
        udp.verify_checksum_v6(&src, &dst),
        "completed checksum verifies"
    );
    // Bad offsets from a guest are ignored, never a panic.
    let mut bad = f.clone();
    bad[6..8].copy_from_slice(&u16::MAX.to_le_bytes());
    let before = bad.clone();
    finish_partial_csum(&mut bad);
    assert_eq!(bad, before);
}

#[test]
fn neighbor_solicitation_for_the_registered_next_hop() {
    let mut regs = [0u32; 16];
    regs[..4].copy_from_slice(&[0x2001_0db8, 0, 0, 0x0064]);
    let mut out = [0u8; MAX_REPLY_LEN];
    let any = ipv4(64, 1, FAR, &echo_request());
    let n = respond(
        &op("cloudnet:nd-ns sip=2001:db8::5 sha=02:00:00:00:00:01 target=xxreg0"),
        &any,
        &regs,
        &mut out,
    )
    .unwrap();
    let r = &out[..n];
    assert_eq!(
        &r[0..6],
        &[0x33, 0x33, 0xff, 0, 0, 0x64],
        "solicited-node MAC"
    );
    assert_eq!(&r[6..12], &GW_MAC);
    assert_eq!(r[14 + 7], 255, "hop limit");
    let group: Ipv6Addr = "ff02::1:ff00:64".parse().unwrap();
    assert_eq!(&r[14 + 24..14 + 40], &group.octets());
    assert_eq!(r[54], 135, "neighbor solicitation");
    let target: Ipv6Addr = "2001:db8::64".parse().unwrap();
    assert_eq!(&r[62..78], &target.octets());
    assert_eq!(&r[78..80], &[1, 1], "source link-layer address option");
    assert_eq!(&r[80..86], &GW_MAC);
}
