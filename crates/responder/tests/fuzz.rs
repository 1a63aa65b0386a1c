//! Property tests: no responder panics on any input, and every reply it
//! does write parses back with valid checksums.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use responder::dhcp::{is_dhcp_server_reply, Binding, DhcpServer, SubnetOptions, MAX_REPLY_LEN};
use responder::icmp_error::{
    icmpv4_error, icmpv6_error, ErrorSource, Icmpv4Error, Icmpv6Error, Quote,
};
use responder::nd::NdConfig;
use responder::{arp, echo, nd, L2Addrs};

fn server() -> DhcpServer {
    let mut s = DhcpServer::new();
    let subnet = Arc::new(SubnetOptions::new(
        Ipv4Addr::new(10, 0, 0, 2),
        [2, 0, 0, 0, 0, 2],
        24,
    ));
    s.insert(VM_MAC, Binding { ip: VM_IP, subnet }).unwrap();
    s
}

/// Runs every responder on `frame` with a small and a large buffer.
fn run_all(frame: &[u8], server: &DhcpServer) {
    let any4 = |_: Ipv4Addr| Some(ROUTER_MAC);
    let any6 = |_: Ipv6Addr| Some(ROUTER_MAC);
    let v4 = ErrorSource {
        addr: ROUTER_IP,
        l2: L2Addrs::Swap,
        ttl: 64,
    };
    let v6 = ErrorSource {
        addr: Ipv6Addr::LOCALHOST,
        l2: L2Addrs::Swap,
        ttl: 64,
    };
    for size in [0usize, 41, MAX_REPLY_LEN.max(frame.len() + 64)] {
        let mut out = vec![0u8; size];
        let _ = arp::respond(frame, &any4, &mut out);
        let _ = nd::respond(frame, &any6, NdConfig { router: true }, &mut out);
        if let Ok(len) = echo::respond(frame, |_: IpAddr| true, &mut out) {
            assert!(len <= out.len());
        }
        let _ = icmpv4_error(
            frame,
            Icmpv4Error::TimeExceeded,
            &v4,
            Quote::Rfc1812,
            &mut out,
        );
        let _ = icmpv6_error(
            frame,
            Icmpv6Error::PacketTooBig { mtu: 1280 },
            &v6,
            &mut out,
        );
        let _ = server.respond(frame, &mut out);
        let _ = is_dhcp_server_reply(frame);
        // The IPv6 configuration responders check their own replies.
        responder::fuzzing6::ipv6_target(&[[0u8].as_slice(), frame].concat());
    }
}

/// A valid header prefix followed by random bytes: reaches deeper code than
/// pure noise does.
fn prefixed() -> impl Strategy<Value = Vec<u8>> {
    let heads = vec![
        arp(1, VM_MAC, VM_IP, [0; 6], ROUTER_IP),
        ping_v4(VM_IP, ROUTER_IP, b"abcdefgh"),
        eth(
            ROUTER_MAC,
            VM_MAC,
            0x0800,
            &udp_v4(VM_IP, ROUTER_IP, 68, 67, &[1u8; 240]),
        ),
        eth(
            ROUTER_MAC,
            VM_MAC,
            0x86dd,
            &ipv6(
                Ipv6Addr::LOCALHOST,
                Ipv6Addr::LOCALHOST,
                58,
                255,
                &[135, 0, 0, 0],
            ),
        ),
    ];
    (
        prop::sample::select(heads),
        0usize..80,
        prop::collection::vec(any::<u8>(), 0..400),
    )
        .prop_map(|(head, cut, tail)| {
            let mut f = head[..head.len().saturating_sub(cut)].to_vec();
            f.extend_from_slice(&tail);
            f
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(frame in prop::collection::vec(any::<u8>(), 0..1600)) {
        run_all(&frame, &server());
    }

    #[test]
    fn mutated_frames_never_panic(frame in prefixed(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..8)) {
        let mut frame = frame;
        for (at, v) in flips {
            if !frame.is_empty() {
                let i = at % frame.len();
                frame[i] ^= v;
            }
        }
        run_all(&frame, &server());
    }

    #[test]
    fn echo_reply_mirrors_any_payload(data in prop::collection::vec(any::<u8>(), 0..1400)) {
        let req = ping_v4(VM_IP, ROUTER_IP, &data);
        let mut out = [0u8; 1514];
        let len = echo::respond(&req, |_: IpAddr| true, &mut out).unwrap();
        let ip = packet::ipv4::Ipv4Packet::new_checked(&out[14..len]).unwrap();
        prop_assert!(ip.verify_checksum());
        prop_assert!(icmpv4_ok(ip.payload()));
        prop_assert_eq!(&ip.payload()[8..], &data[..]);
    }
}
