//! Software segmentation: a 64 KB TCP super-frame comes out as MSS-sized
//! frames whose payloads concatenate to the original, each with valid
//! checksums (verified with the packet crate's full checksum), correct
//! sequence numbers, IP ids and flags.

mod common;

use common::*;
use netio::vnet::{GsoType, VirtioNetHdr};
use packet::checksum;
use packet::ip_proto;
use packet::ipv4::Ipv4Packet;
use packet::ipv6::Ipv6Packet;
use packet::tcp::{flags, TcpPacket};
use packet::udp::UdpPacket;
use tunnel::{complete_checksum, GsoError, Segmenter};

const MSS: u16 = 1448;

fn tso(gso_type: GsoType, hdr_len: u16) -> VirtioNetHdr {
    VirtioNetHdr {
        flags: VirtioNetHdr::F_NEEDS_CSUM,
        gso_type,
        gso_size: MSS,
        hdr_len,
        csum_start: hdr_len - 20,
        csum_offset: 16,
        ..VirtioNetHdr::default()
    }
}

fn segments(frame: &[u8], vnet: &VirtioNetHdr) -> Vec<Vec<u8>> {
    let mut seg = Segmenter::new(frame, vnet).unwrap();
    let mut out = vec![0u8; seg.max_segment_len()];
    let mut all = Vec::new();
    while let Some(r) = seg.next_into(&mut out) {
        let len = r.unwrap();
        all.push(out[..len].to_vec());
    }
    assert_eq!(all.len(), seg.segment_count());
    // The header-only path (headers written, payload left in the frame for
    // a vectored send) yields the same bytes, checksums included.
    let mut seg = Segmenter::new(frame, vnet).unwrap();
    let mut hdr = vec![0u8; seg.header_len()];
    let mut i = 0;
    while let Some(r) = seg.next_headers_into(&mut hdr) {
        let payload = r.unwrap();
        let mut joined = hdr.clone();
        joined.extend_from_slice(&frame[payload]);
        assert_eq!(joined, all[i], "segment {i}: header-only path differs");
        i += 1;
    }
    assert_eq!(i, all.len());
    all
}

#[test]
fn tcp4_64k_segments_concatenate_with_valid_checksums() {
    let payload_len = 65535 - 40;
    let seq0 = 0xffff_f000; // wraps during the frame
    let all_flags = flags::ACK | flags::PSH | flags::FIN | flags::CWR;
    let frame = tcp4_frame(payload_len, all_flags, seq0);
    let segs = segments(&frame, &tso(GsoType::TcpV4, 54));
    assert_eq!(segs.len(), payload_len.div_ceil(usize::from(MSS)));

    let mut joined = Vec::with_capacity(payload_len);
    for (i, s) in segs.iter().enumerate() {
        assert!(s.len() <= 54 + usize::from(MSS));
        let ip = Ipv4Packet::new_checked(&s[14..]).unwrap();
        assert_eq!(usize::from(ip.total_len()), s.len() - 14);
        assert!(ip.verify_checksum(), "segment {i}: IPv4 checksum");
        assert_eq!(
            ip.ident(),
            0xfffeu16.wrapping_add(i as u16),
            "segment {i}: ident"
        );
        assert!(ip.dont_frag());
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(
            tcp.verify_checksum_v4(VM_IP, PEER_IP),
            "segment {i}: TCP checksum"
        );
        assert_eq!(
            tcp.seq(),
            seq0.wrapping_add(joined.len() as u32),
            "segment {i}: seq"
        );
        assert_eq!(tcp.ack(), 7);
        let f = tcp.flags();
        let last = i == segs.len() - 1;
        assert_eq!(f & flags::FIN != 0, last, "segment {i}: FIN");
        assert_eq!(f & flags::PSH != 0, last, "segment {i}: PSH");
        assert_eq!(f & flags::CWR != 0, i == 0, "segment {i}: CWR");
        assert_ne!(f & flags::ACK, 0);
        joined.extend_from_slice(tcp.payload());
    }
    assert_eq!(joined, frame[54..]);
}

#[test]
fn tcp6_segments_have_payload_lengths_and_checksums() {
    let payload_len = 20_000;
    let frame = tcp6_frame(payload_len, flags::ACK | flags::PSH, 1000);
    let segs = segments(&frame, &tso(GsoType::TcpV6, 74));
    let mut joined = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let ip = Ipv6Packet::new_checked(&s[14..]).unwrap();
        assert_eq!(usize::from(ip.payload_len()), s.len() - 54);
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.verify_checksum_v6(&VM_IP6, &PEER_IP6), "segment {i}");
        assert_eq!(tcp.seq(), 1000 + joined.len() as u32);
        assert_eq!(tcp.flags() & flags::PSH != 0, i == segs.len() - 1);
        joined.extend_from_slice(tcp.payload());
    }
    assert_eq!(joined, frame[74..]);
}

#[test]
fn udp_l4_segments_are_datagrams() {
    let frame = udp4_frame(10_000);
    let vnet = VirtioNetHdr {
        gso_type: GsoType::UdpL4,
        gso_size: 1400,
        ..VirtioNetHdr::default()
    };
    let segs = segments(&frame, &vnet);
    assert_eq!(segs.len(), 8);
    let mut joined = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let ip = Ipv4Packet::new_checked(&s[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.ident(), 1 + i as u16);
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(usize::from(udp.len()), ip.payload().len());
        assert_ne!(udp.checksum(), 0);
        assert!(udp.verify_checksum_v4(VM_IP, PEER_IP), "datagram {i}");
        joined.extend_from_slice(udp.payload());
    }
    assert_eq!(joined, frame[42..]);
}

#[test]
fn a_frame_smaller_than_mss_is_one_segment_and_flags_stay() {
    let frame = tcp4_frame(100, flags::ACK | flags::FIN | flags::CWR, 5);
    let segs = segments(&frame, &tso(GsoType::TcpV4, 54));
    assert_eq!(segs.len(), 1);
    let tcp = TcpPacket::new_checked(&segs[0][34..]).unwrap();
    assert_eq!(tcp.flags(), flags::ACK | flags::FIN | flags::CWR);
    assert_eq!(&segs[0][54..], &frame[54..]);
}

#[test]
fn segmentation_errors_are_typed() {
    let frame = tcp4_frame(5000, flags::ACK, 0);
    let mut vnet = tso(GsoType::TcpV4, 54);
    vnet.gso_size = 0;
    assert_eq!(
        Segmenter::new(&frame, &vnet).unwrap_err(),
        GsoError::ZeroGsoSize
    );
    assert_eq!(
        Segmenter::new(&frame, &tso(GsoType::TcpV6, 54)).unwrap_err(),
        GsoError::WrongIpVersion
    );
    assert_eq!(
        Segmenter::new(&frame, &tso(GsoType::Udp, 54)).unwrap_err(),
        GsoError::Unsupported(GsoType::Udp)
    );
    let udp = udp4_frame(3000);
    assert_eq!(
        Segmenter::new(&udp, &tso(GsoType::TcpV4, 54)).unwrap_err(),
        GsoError::WrongProtocol {
            expected: ip_proto::TCP,
            found: ip_proto::UDP
        }
    );
    // Too small a buffer: an error, and nothing is skipped.
    let mut seg = Segmenter::new(&frame, &tso(GsoType::TcpV4, 54)).unwrap();
    let mut small = [0u8; 100];
    assert_eq!(
        seg.next_into(&mut small),
        Some(Err(GsoError::BufferTooSmall {
            need: 54 + 1448,
            have: 100
        }))
    );
    let mut big = vec![0u8; 2000];
    assert_eq!(seg.next_into(&mut big), Some(Ok(54 + 1448)));
    let tcp = TcpPacket::new_checked(&big[34..54 + 1448]).unwrap();
    assert_eq!(tcp.seq(), 0);
}

#[test]
fn header_only_segmentation_needs_room_for_the_headers_only() {
    let frame = tcp4_frame(3000, flags::ACK, 1);
    let mut seg = Segmenter::new(&frame, &tso(GsoType::TcpV4, 54)).unwrap();
    let mut small = [0u8; 53];
    assert_eq!(
        seg.next_headers_into(&mut small),
        Some(Err(GsoError::BufferTooSmall { need: 54, have: 53 }))
    );
    let mut hdr = [0u8; 54];
    assert_eq!(seg.next_headers_into(&mut hdr), Some(Ok(54..54 + 1448)));
    assert_eq!(seg.next_headers_into(&mut hdr), Some(Ok(1502..2950)));
    assert_eq!(seg.next_headers_into(&mut hdr), Some(Ok(2950..3054)));
    assert_eq!(seg.next_headers_into(&mut hdr), None);
}

#[test]
fn needs_csum_completion_matches_a_full_checksum() {
    // TCP: the sender leaves the pseudo-header sum in the field (Linux
    // CHECKSUM_PARTIAL convention) and asks for the rest.
    let mut frame = tcp4_frame(999, flags::ACK, 42);
    let l4_len = (frame.len() - 34) as u16;
    let pseudo = checksum::pseudo_header_v4(VM_IP, PEER_IP, ip_proto::TCP, l4_len);
    frame[50..52].copy_from_slice(&pseudo.to_be_bytes());
    assert!(!TcpPacket::new_checked(&frame[34..])
        .unwrap()
        .verify_checksum_v4(VM_IP, PEER_IP));
    let vnet = VirtioNetHdr {
        flags: VirtioNetHdr::F_NEEDS_CSUM,
        csum_start: 34,
        csum_offset: 16,
        ..VirtioNetHdr::default()
    };
    assert!(complete_checksum(&mut frame, &vnet).unwrap());
    assert!(TcpPacket::new_checked(&frame[34..])
        .unwrap()
        .verify_checksum_v4(VM_IP, PEER_IP));

    // UDP the same, at offset 6.
    let mut frame = udp4_frame(333);
    let pseudo = checksum::pseudo_header_v4(VM_IP, PEER_IP, ip_proto::UDP, 341);
    frame[40..42].copy_from_slice(&pseudo.to_be_bytes());
    let vnet = VirtioNetHdr {
        csum_offset: 6,
        ..vnet
    };
    assert!(complete_checksum(&mut frame, &vnet).unwrap());
    assert!(UdpPacket::new_checked(&frame[34..])
        .unwrap()
        .verify_checksum_v4(VM_IP, PEER_IP));

    // Not asked: untouched. Out of range: an error.
    let before = frame.clone();
    assert!(!complete_checksum(&mut frame, &VirtioNetHdr::default()).unwrap());
    assert_eq!(frame, before);
    let bad = VirtioNetHdr {
        csum_start: 400,
        ..vnet
    };
    assert!(matches!(
        complete_checksum(&mut frame, &bad),
        Err(GsoError::CsumOutOfRange { .. })
    ));
}

#[test]
fn vlan_tagged_super_frames_keep_their_tag() {
    let plain = tcp4_frame(5000, flags::ACK, 9);
    let mut tagged = plain[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x20, 0x0a]);
    tagged.extend_from_slice(&plain[12..]);
    let segs = segments(&tagged, &tso(GsoType::TcpV4, 58));
    assert_eq!(segs.len(), 4);
    let mut joined = Vec::new();
    for s in &segs {
        assert_eq!(&s[12..16], &[0x81, 0x00, 0x20, 0x0a]);
        let ip = Ipv4Packet::new_checked(&s[18..]).unwrap();
        assert!(ip.verify_checksum());
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.verify_checksum_v4(VM_IP, PEER_IP));
        joined.extend_from_slice(tcp.payload());
    }
    assert_eq!(joined, plain[54..]);
}
