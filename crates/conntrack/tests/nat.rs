//! NAT: MASQUERADE, port allocation, DNAT, 1:1, hairpin, ICMP errors.

mod common;

use common::*;
use conntrack::*;

const S: TcpFlags = TcpFlags::SYN;
const A: TcpFlags = TcpFlags::ACK;

fn masq() -> NatSpec {
    NatSpec::masquerade(ip("203.0.113.1"))
}

fn with_nat(spec: &NatSpec, zone: u16, commit: bool) -> CtAction<'_> {
    CtAction {
        zone,
        commit,
        nat: Some(spec),
        ..CtAction::default()
    }
}

#[test]
fn masquerade_translates_both_directions() {
    let (mut ct, _) = tracker();
    let spec = masq();
    let r = ct.process(
        &seg("10.0.0.5", 40000, "198.51.100.9", 80, S, 1, 0, 0),
        &with_nat(&spec, 0, true),
    );
    assert_eq!(r.state, CtState::TRK | CtState::NEW | CtState::SNAT);
    let rw = r.rewrite.expect("rewrite");
    assert_eq!(
        rw,
        Rewrite {
            src: Some(ip("203.0.113.1")),
            ..Rewrite::default()
        },
        "port kept"
    );
    assert_eq!(
        r.orig.map(|t| t.src_ip()),
        Some(ip("10.0.0.5")),
        "ct_nw_src is pre-NAT"
    );

    let bare = NatSpec::default();
    let r = ct.process(
        &seg("198.51.100.9", 80, "203.0.113.1", 40000, S | A, 7, 2, 0),
        &with_nat(&bare, 0, false),
    );
    assert_eq!(
        r.state,
        CtState::TRK | CtState::EST | CtState::RPL | CtState::DNAT
    );
    assert_eq!(
        r.rewrite,
        Some(Rewrite {
            dst: Some(ip("10.0.0.5")),
            ..Rewrite::default()
        })
    );

    // Without `nat` in the action, no translation is reported.
    let r = ct.process(
        &seg("10.0.0.5", 40000, "198.51.100.9", 80, A, 2, 8, 0),
        &LOOKUP,
    );
    assert_eq!(r.state, CtState::TRK | CtState::EST);
    assert_eq!(r.rewrite, None);
    assert_eq!(
        ct.dump(None)[0].to_string(),
        "tcp,orig=(src=10.0.0.5,dst=198.51.100.9,sport=40000,dport=80),reply=(src=198.51.100.9,dst=203.0.113.1,sport=80,dport=40000),protoinfo=(state=ESTABLISHED)"
    );
}

#[test]
fn same_source_port_from_two_vms_gets_distinct_ports() {
    let (mut ct, _) = tracker();
    let spec = masq();
    let a = ct.process(
        &CtPacket::udp(ip("10.0.0.5"), ip("198.51.100.9"), 4000, 53),
        &with_nat(&spec, 0, true),
    );
    let b = ct.process(
        &CtPacket::udp(ip("10.0.0.6"), ip("198.51.100.9"), 4000, 53),
        &with_nat(&spec, 0, true),
    );
    assert_eq!(a.rewrite.and_then(|r| r.sport), None);
    let port = b.rewrite.and_then(|r| r.sport).expect("second VM remapped");
    assert_ne!(port, 4000);
    assert!(port >= 1024, "stays in netfilter's class for ports >= 1024");
    let bare = NatSpec::default();
    let back_b = ct.process(
        &CtPacket::udp(ip("198.51.100.9"), ip("203.0.113.1"), 53, port),
        &with_nat(&bare, 0, false),
    );
    assert_eq!(
        back_b.rewrite,
        Some(Rewrite {
            dst: Some(ip("10.0.0.6")),
            dport: Some(4000),
            ..Rewrite::default()
        })
    );
    let back_a = ct.process(
        &CtPacket::udp(ip("198.51.100.9"), ip("203.0.113.1"), 53, 4000),
        &with_nat(&bare, 0, false),
    );
    assert_eq!(
        back_a.rewrite,
        Some(Rewrite {
            dst: Some(ip("10.0.0.5")),
            ..Rewrite::default()
        })
    );
}

#[test]
fn icmp_echo_ids_are_translated() {
    let (mut ct, _) = tracker();
    let spec = masq();
    ct.process(
        &CtPacket::echo(ip("10.0.0.5"), ip("198.51.100.9"), true, 1),
        &with_nat(&spec, 0, true),
    );
    let b = ct.process(
        &CtPacket::echo(ip("10.0.0.6"), ip("198.51.100.9"), true, 1),
        &with_nat(&spec, 0, true),
    );
    let id = b.rewrite.and_then(|r| r.icmp_id).expect("id remapped");
    assert_ne!(id, 1);
    let bare = NatSpec::default();
    let r = ct.process(
        &CtPacket::echo(ip("198.51.100.9"), ip("203.0.113.1"), false, id),
        &with_nat(&bare, 0, false),
    );
    assert_eq!(
        r.state,
        CtState::TRK | CtState::EST | CtState::RPL | CtState::DNAT
    );
    assert_eq!(
        r.rewrite,
        Some(Rewrite {
            dst: Some(ip("10.0.0.6")),
            icmp_id: Some(1),
            ..Rewrite::default()
        })
    );
}

#[test]
fn icmp_error_inner_header_is_reverse_translated() {
    let (mut ct, _) = tracker();
    let spec = masq();
    ct.process(
        &CtPacket::udp(ip("10.0.0.6"), ip("198.51.100.9"), 4000, 53),
        &with_nat(&spec, 0, true),
    );
    let r = ct.process(
        &CtPacket::udp(ip("10.0.0.5"), ip("198.51.100.9"), 4000, 53),
        &with_nat(&spec, 0, true),
    );
    let port = r.rewrite.and_then(|r| r.sport).expect("remapped");
    // A router on the internet side reports the translated packet.
    let quoted = Tuple::new(ip("203.0.113.1"), ip("198.51.100.9"), proto::UDP, port, 53).unwrap();
    let err = CtPacket {
        src: ip("198.51.100.1"),
        dst: ip("203.0.113.1"),
        proto: proto::ICMP,
        l4: L4::IcmpError {
            ty: 11,
            code: 0,
            inner: quoted,
        },
    };
    let bare = NatSpec::default();
    let r = ct.process(&err, &with_nat(&bare, 0, false));
    assert_eq!(
        r.state,
        CtState::TRK | CtState::REL | CtState::RPL | CtState::DNAT
    );
    let rw = r.rewrite.expect("rewrite");
    assert_eq!(rw.dst, Some(ip("10.0.0.5")));
    assert_eq!(rw.src, None, "the router's own address stays");
    assert_eq!(
        rw.inner,
        Some(InnerRewrite {
            src: ip("10.0.0.5"),
            dst: ip("198.51.100.9"),
            sport: 4000,
            dport: 53
        })
    );
}

#[test]
fn floating_ip_dnat_inbound_and_snat_outbound() {
    let (mut ct, _) = tracker();
    let dnat = NatSpec::dnat(NatRange::addr(ip("10.0.0.7")));
    let r = ct.process(
        &seg("198.51.100.7", 5555, "203.0.113.10", 22, S, 1, 0, 0),
        &with_nat(&dnat, 0, true),
    );
    assert_eq!(r.state, CtState::TRK | CtState::NEW | CtState::DNAT);
    assert_eq!(
        r.rewrite,
        Some(Rewrite {
            dst: Some(ip("10.0.0.7")),
            ..Rewrite::default()
        })
    );
    let bare = NatSpec::default();
    let r = ct.process(
        &seg("10.0.0.7", 22, "198.51.100.7", 5555, S | A, 9, 2, 0),
        &with_nat(&bare, 0, false),
    );
    assert_eq!(
        r.state,
        CtState::TRK | CtState::EST | CtState::RPL | CtState::SNAT
    );
    assert_eq!(
        r.rewrite,
        Some(Rewrite {
            src: Some(ip("203.0.113.10")),
            ..Rewrite::default()
        })
    );

    // The server's own outbound connection leaves with the floating IP.
    let snat = NatSpec::snat(NatRange::addr(ip("203.0.113.10")));
    let r = ct.process(
        &seg("10.0.0.7", 43210, "198.51.100.7", 443, S, 1, 0, 0),
        &with_nat(&snat, 0, true),
    );
    assert_eq!(
        r.rewrite,
        Some(Rewrite {
            src: Some(ip("203.0.113.10")),
            ..Rewrite::default()
        })
    );
}

#[test]
fn dnat_with_port_range_and_without() {
    let (mut ct, _) = tracker();
    let to =
        NatSpec::dnat(NatRange::new(ip("10.0.0.7"), ip("10.0.0.7"), Some((8080, 8080))).unwrap());
    let r = ct.process(
        &CtPacket::udp(ip("198.51.100.7"), ip("203.0.113.10"), 1, 80),
        &with_nat(&to, 0, true),
    );
    assert_eq!(
        r.rewrite,
        Some(Rewrite {
            dst: Some(ip("10.0.0.7")),
            dport: Some(8080),
            ..Rewrite::default()
        })
    );
    // Another public address DNATed to the same server: same client tuple
    // would clash, and DNAT without a port range never moves ports.
    let plain = NatSpec::dnat(NatRange::addr(ip("10.0.0.7")));
    let r = ct.process(
        &CtPacket::udp(ip("198.51.100.7"), ip("203.0.113.11"), 1, 8080),
        &with_nat(&plain, 0, true),
    );
    assert_eq!(r.refused, Some(DropReason::NatExhausted));
}

#[test]
fn hairpin_snat_and_dnat_on_one_connection() {
    let (mut ct, _) = tracker();
    let hairpin = NatSpec {
        src: Some(NatRange::addr(ip("10.0.0.1"))),
        dst: Some(NatRange::addr(ip("10.0.0.7"))),
        ..NatSpec::default()
    };
    let r = ct.process(
        &seg("10.0.0.5", 40000, "203.0.113.10", 80, S, 1, 0, 0),
        &with_nat(&hairpin, 0, true),
    );
    assert_eq!(
        r.state,
        CtState::TRK | CtState::NEW | CtState::SNAT | CtState::DNAT
    );
    assert_eq!(
        r.rewrite,
        Some(Rewrite {
            src: Some(ip("10.0.0.1")),
            dst: Some(ip("10.0.0.7")),
            ..Rewrite::default()
        })
    );
    let bare = NatSpec::default();
    let r = ct.process(
        &seg("10.0.0.7", 80, "10.0.0.1", 40000, S | A, 5, 2, 0),
        &with_nat(&bare, 0, false),
    );
    assert_eq!(
        r.state,
        CtState::TRK | CtState::EST | CtState::RPL | CtState::SNAT | CtState::DNAT
    );
    assert_eq!(
        r.rewrite,
        Some(Rewrite {
            src: Some(ip("203.0.113.10")),
            dst: Some(ip("10.0.0.5")),
            ..Rewrite::default()
        })
    );
}

#[test]
fn exhaustion_is_refused_and_counted_existing_unaffected() {
    let (mut ct, _) = tracker();
    let spec = NatSpec::snat(NatRange::addr_ports(ip("203.0.113.1"), 5000, 5001).unwrap());
    for (i, src) in ["10.0.0.5", "10.0.0.6"].iter().enumerate() {
        let r = ct.process(
            &CtPacket::udp(ip(src), ip("198.51.100.9"), 4000, 53),
            &with_nat(&spec, 3, true),
        );
        assert_eq!(r.refused, None, "conn {i}");
        assert!((5000..=5001).contains(&r.rewrite.and_then(|w| w.sport).unwrap_or(0)));
    }
    let r = ct.process(
        &CtPacket::udp(ip("10.0.0.7"), ip("198.51.100.9"), 4000, 53),
        &with_nat(&spec, 3, true),
    );
    assert_eq!(r.refused, Some(DropReason::NatExhausted));
    assert_eq!(r.state, CtState::TRK | CtState::INV);
    let st = ct.stats();
    assert_eq!(st.drops.get(DropReason::NatExhausted), 1);
    assert_eq!(st.zones[&3].drops.get(DropReason::NatExhausted), 1);
    assert_eq!(ct.len(), 2);
    let r = ct.process(
        &CtPacket::udp(ip("10.0.0.5"), ip("198.51.100.9"), 4000, 53),
        &with_nat(&spec, 3, false),
    );
    assert_eq!(r.state, CtState::TRK | CtState::NEW | CtState::SNAT);
    // A different destination reuses the same ports: uniqueness is per tuple.
    let r = ct.process(
        &CtPacket::udp(ip("10.0.0.7"), ip("198.51.100.10"), 4000, 53),
        &with_nat(&spec, 3, true),
    );
    assert_eq!(r.refused, None);
}

/// Always returns the same number.
struct FixedRng(u64);

impl rand::RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        self.0 as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(self.0 as u8);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

#[test]
fn random_mode_uses_injected_rng() {
    let (mut ct, _) = tracker();
    ct.set_rng(Box::new(FixedRng(1234)));
    let spec = NatSpec {
        mode: PortMode::Random,
        ..NatSpec::snat(NatRange::addr_ports(ip("203.0.113.1"), 2000, 2999).unwrap())
    };
    let r = ct.process(
        &CtPacket::udp(ip("10.0.0.5"), ip("198.51.100.9"), 2500, 53),
        &with_nat(&spec, 0, true),
    );
    // Random mode does not prefer the original port even though it is in range.
    assert_eq!(r.rewrite.and_then(|w| w.sport), Some(2000 + 1234 % 1000));
    let r = ct.process(
        &CtPacket::udp(ip("10.0.0.6"), ip("198.51.100.9"), 2500, 53),
        &with_nat(&spec, 0, true),
    );
    let second = r.rewrite.and_then(|w| w.sport).expect("translated");
    assert!(
        (2000..=2999).contains(&second) && second != 2234,
        "{second}"
    );
    // Same injected randomness, same choice: behaviour is reproducible.
    let (mut again, _) = tracker();
    again.set_rng(Box::new(FixedRng(1234)));
    again.process(
        &CtPacket::udp(ip("10.0.0.5"), ip("198.51.100.9"), 2500, 53),
        &with_nat(&spec, 0, true),
    );
    let r = again.process(
        &CtPacket::udp(ip("10.0.0.6"), ip("198.51.100.9"), 2500, 53),
        &with_nat(&spec, 0, true),
    );
    assert_eq!(r.rewrite.and_then(|w| w.sport), Some(second));
}

#[test]
fn persistent_keeps_one_address_per_client() {
    let (mut ct, _) = tracker();
    let range = NatRange::new(ip("203.0.113.1"), ip("203.0.113.8"), None).unwrap();
    let addrs = |ct: &mut Conntrack<ManualClock>, spec: &NatSpec, client: &str| {
        (0..16u8)
            .map(|i| {
                let dst = ip(&format!("198.51.100.{}", i + 1));
                let r = ct.process(
                    &CtPacket::udp(ip(client), dst, 4000, 53),
                    &with_nat(spec, 0, true),
                );
                r.rewrite.and_then(|w| w.src).expect("translated")
            })
            .collect::<std::collections::BTreeSet<_>>()
    };
    let persistent = NatSpec {
        persistent: true,
        ..NatSpec::snat(range)
    };
    assert_eq!(addrs(&mut ct, &persistent, "10.0.0.5").len(), 1);
    assert!(
        addrs(&mut ct, &NatSpec::snat(range), "10.0.0.6").len() > 1,
        "spread by destination otherwise"
    );
}

#[test]
fn reply_tuple_clash_without_nat_is_refused() {
    let (mut ct, _) = tracker();
    let spec = masq();
    ct.process(
        &CtPacket::udp(ip("10.0.0.5"), ip("198.51.100.9"), 4000, 53),
        &with_nat(&spec, 0, true),
    );
    // The router itself using the same public tuple.
    let own = CtPacket::udp(ip("203.0.113.1"), ip("198.51.100.9"), 4000, 53);
    let r = ct.process(&own, &COMMIT);
    assert_eq!(r.refused, Some(DropReason::TupleClash));
    let r = ct.process(&own, &with_nat(&spec, 0, true));
    assert_eq!(r.refused, None, "with SNAT it moves to a free port");
    assert!(r.rewrite.and_then(|w| w.sport).is_some());
}

#[test]
fn uncommitted_new_connection_gets_no_translation() {
    let (mut ct, _) = tracker();
    let spec = masq();
    let r = ct.process(
        &CtPacket::udp(ip("10.0.0.5"), ip("198.51.100.9"), 4000, 53),
        &with_nat(&spec, 0, false),
    );
    assert_eq!(r.state, CtState::TRK | CtState::NEW);
    assert_eq!(r.rewrite, None);
    assert!(ct.is_empty());
}

#[test]
fn ipv6_snat() {
    let (mut ct, _) = tracker();
    let spec = NatSpec::snat(NatRange::addr(ip("2001:db8::1")));
    let r = ct.process(
        &CtPacket::udp(ip("fd00::5"), ip("2001:db8::99"), 4000, 53),
        &with_nat(&spec, 0, true),
    );
    assert_eq!(
        r.rewrite,
        Some(Rewrite {
            src: Some(ip("2001:db8::1")),
            ..Rewrite::default()
        })
    );
    // A v4 range cannot translate v6 traffic.
    let v4 = masq();
    let r = ct.process(
        &CtPacket::udp(ip("fd00::6"), ip("2001:db8::99"), 4000, 53),
        &with_nat(&v4, 0, true),
    );
    assert_eq!(r.refused, Some(DropReason::NatExhausted));
}

#[test]
fn icmp_error_in_original_direction_reaches_the_dnat_server() {
    let (mut ct, _) = tracker();
    let dnat = NatSpec::dnat(NatRange::addr(ip("10.0.0.7")));
    ct.process(
        &CtPacket::udp(ip("198.51.100.7"), ip("203.0.113.10"), 5555, 53),
        &with_nat(&dnat, 0, true),
    );
    // The server's reply left as 203.0.113.10:53 → 198.51.100.7:5555; a
    // router near the client reports it undeliverable.
    let quoted = Tuple::new(ip("203.0.113.10"), ip("198.51.100.7"), proto::UDP, 53, 5555).unwrap();
    let err = CtPacket {
        src: ip("198.51.100.1"),
        dst: ip("203.0.113.10"),
        proto: proto::ICMP,
        l4: L4::IcmpError {
            ty: 3,
            code: 1,
            inner: quoted,
        },
    };
    let bare = NatSpec::default();
    let r = ct.process(&err, &with_nat(&bare, 0, false));
    assert_eq!(
        r.state,
        CtState::TRK | CtState::REL | CtState::DNAT,
        "original direction: no +rpl"
    );
    let rw = r.rewrite.expect("rewrite");
    assert_eq!((rw.src, rw.dst), (None, Some(ip("10.0.0.7"))));
    assert_eq!(
        rw.inner,
        Some(InnerRewrite {
            src: ip("10.0.0.7"),
            dst: ip("198.51.100.7"),
            sport: 53,
            dport: 5555
        })
    );
}
