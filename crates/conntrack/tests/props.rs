//! Property tests: random traffic never panics; replies of committed
//! connections are +est+rpl; NAT never gives two live connections a tuple.

mod common;

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use common::*;
use conntrack::*;
use proptest::prelude::*;

fn addr(i: u8, v6: bool) -> IpAddr {
    if v6 {
        format!("fd00::{}", i + 1).parse().unwrap()
    } else {
        IpAddr::from([10, 0, 0, i + 1])
    }
}

fn any_packet() -> impl Strategy<Value = CtPacket> {
    let l4 = prop_oneof![
        (
            0u16..4,
            0u16..4,
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            0u32..3000,
            proptest::option::of(0u8..20)
        )
            .prop_map(
                |(sp, dp, f, seq, ack, window, len, wscale)| L4::Tcp(TcpInfo {
                    sport: 1000 + sp,
                    dport: 80 + dp,
                    flags: TcpFlags::from_bits_truncate(f),
                    seq: seq % 4096,
                    ack: ack % 4096,
                    window,
                    payload_len: len,
                    wscale,
                })
            ),
        (0u16..4, 0u16..4).prop_map(|(s, d)| L4::Udp {
            sport: 1000 + s,
            dport: 53 + d
        }),
        (any::<u8>(), 0u16..3).prop_map(|(ty, id)| L4::Icmp { ty, code: 0, id }),
        Just(L4::Other),
        (0u8..4, 0u8..4, 0u16..4).prop_map(|(s, d, p)| L4::IcmpError {
            ty: 3,
            code: 0,
            inner: Tuple::new(addr(s, false), addr(d, false), proto::UDP, 1000 + p, 53).unwrap(),
        }),
    ];
    (0u8..4, 0u8..4, any::<bool>(), l4).prop_map(|(s, d, v6, l4)| {
        let proto = match l4 {
            L4::Tcp(_) => proto::TCP,
            L4::Udp { .. } => proto::UDP,
            L4::Icmp { .. } | L4::IcmpError { .. } => {
                if v6 {
                    proto::ICMPV6
                } else {
                    proto::ICMP
                }
            }
            L4::Other => 47,
        };
        CtPacket {
            src: addr(s, v6),
            dst: addr(d, v6),
            proto,
            l4,
        }
    })
}

fn any_nat() -> impl Strategy<Value = Option<NatSpec>> {
    prop_oneof![
        Just(None),
        Just(Some(NatSpec::default())),
        (0u16..3, any::<bool>(), any::<bool>()).prop_map(|(w, random, persistent)| {
            let r = NatRange::new(
                addr(200, false),
                addr(200 + (w as u8), false),
                Some((5000, 5000 + w)),
            )
            .unwrap();
            Some(NatSpec {
                src: Some(r),
                mode: if random {
                    PortMode::Random
                } else {
                    PortMode::Hash
                },
                persistent,
                ..NatSpec::default()
            })
        }),
        Just(Some(NatSpec::dnat(NatRange::addr(addr(3, false))))),
    ]
}

/// Every (zone, tuple) key of live connections is unique, and per-zone
/// counts add up.
fn check_invariants(ct: &Conntrack<ManualClock>) {
    let mut keys = HashSet::new();
    for e in ct.dump(None) {
        assert!(keys.insert((e.zone, e.orig)), "duplicate orig {e}");
        if e.reply != e.orig {
            assert!(keys.insert((e.zone, e.reply)), "duplicate reply {e}");
        }
    }
    let st = ct.stats();
    let sum: u32 = st.zones.values().map(|z| z.count).sum();
    assert_eq!(sum as usize, ct.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_traffic_never_panics(
        ops in proptest::collection::vec((any_packet(), any::<bool>(), any::<bool>(), 0u16..2, any_nat(), 0u64..40), 1..120)
    ) {
        let (mut ct, clock) = tracker_with(Config { max_conns: 40, ..Config::default() });
        ct.set_zone_limit(1, Some(5));
        for (pkt, commit, force, zone, nat, advance) in ops {
            let act = CtAction { zone, commit, force, nat: nat.as_ref(), set_mark: Some(Masked::exact(3)), set_label: None };
            let r = ct.process(&pkt, &act);
            prop_assert!(r.state.contains(CtState::TRK));
            if r.state.contains(CtState::INV) {
                prop_assert!(!r.state.intersects(CtState::NEW | CtState::EST | CtState::REL));
            }
            clock.advance(Duration::from_secs(advance));
            if advance % 7 == 0 {
                ct.sweep(3);
            }
        }
        check_invariants(&ct);
        prop_assert!(ct.len() <= 40);
    }

    #[test]
    fn reply_of_committed_connection_is_est_rpl(
        conns in proptest::collection::vec((0u8..6, 0u8..6, 0u16..50, 0u16..3, 0u8..4, any_nat(), any::<u32>()), 1..40)
    ) {
        let (mut ct, _) = tracker();
        for (s, d, sp, zone, kind, nat, isn) in conns {
            if s == d { continue; }
            let (a, b) = (addr(s, false), addr(d, false));
            let sp = 2000 + sp;
            let pkt = match kind {
                0 => CtPacket::udp(a, b, sp, 53),
                1 => CtPacket::echo(a, b, true, sp),
                2 => CtPacket { src: a, dst: b, proto: 47, l4: L4::Other },
                _ => CtPacket::tcp(a, b, TcpInfo { sport: sp, dport: 80, flags: TcpFlags::SYN, seq: isn, window: 1000, ..TcpInfo::default() }),
            };
            let act = CtAction { zone, commit: true, nat: nat.as_ref(), ..CtAction::default() };
            let r = ct.process(&pkt, &act);
            if r.refused.is_some() || !r.state.contains(CtState::NEW) {
                continue; // clash with an earlier generated connection
            }
            // The packet as it leaves after translation, turned around.
            let rw = r.rewrite.unwrap_or_default();
            let (ts, td) = (rw.src.unwrap_or(a), rw.dst.unwrap_or(b));
            let reply = match pkt.l4 {
                L4::Udp { sport, dport } => CtPacket::udp(td, ts, rw.dport.unwrap_or(dport), rw.sport.unwrap_or(sport)),
                L4::Icmp { id, .. } => CtPacket::echo(td, ts, false, rw.icmp_id.unwrap_or(id)),
                L4::Tcp(t) => CtPacket::tcp(td, ts, TcpInfo {
                    sport: rw.dport.unwrap_or(t.dport),
                    dport: rw.sport.unwrap_or(t.sport),
                    flags: TcpFlags::SYN | TcpFlags::ACK,
                    seq: 77,
                    ack: isn.wrapping_add(1),
                    window: 1000,
                    ..TcpInfo::default()
                }),
                _ => CtPacket { src: td, dst: ts, proto: 47, l4: L4::Other },
            };
            let bare = NatSpec::default();
            let r2 = ct.process(&reply, &CtAction { zone, nat: Some(&bare), ..CtAction::default() });
            prop_assert!(r2.state.contains(CtState::TRK | CtState::EST | CtState::RPL), "{:?} → {:?}", reply, r2);
            prop_assert_eq!(r2.orig, r.orig);
            // And it translates back to the original endpoints.
            let back = r2.rewrite.unwrap_or_default();
            prop_assert_eq!(back.dst.unwrap_or(reply.dst), a);
            prop_assert_eq!(back.src.unwrap_or(reply.src), b);
        }
    }

    #[test]
    fn nat_never_shares_a_tuple(
        conns in proptest::collection::vec((0u8..8, 0u8..3, 0u16..6, any::<bool>(), any::<bool>()), 1..80),
        seed in any::<u64>()
    ) {
        let clock = ManualClock::new();
        let mut ct = Conntrack::with_seed(Config::default(), clock, seed);
        let spec_hash = NatSpec::snat(NatRange::new(addr(200, false), addr(201, false), Some((6000, 6003))).unwrap());
        let spec_rand = NatSpec { mode: PortMode::Random, ..spec_hash };
        for (client, server, sp, random, tcp) in conns {
            let (a, b) = (addr(client, false), addr(100 + server, false));
            let pkt = if tcp {
                CtPacket::tcp(a, b, TcpInfo { sport: 6000 + sp, dport: 80, flags: TcpFlags::SYN, seq: 1, window: 100, ..TcpInfo::default() })
            } else {
                CtPacket::udp(a, b, 6000 + sp, 53)
            };
            let spec = if random { &spec_rand } else { &spec_hash };
            ct.process(&pkt, &CtAction { commit: true, nat: Some(spec), ..CtAction::default() });
            check_invariants(&ct);
        }
        // 2 addresses × 4 ports × 3 servers × 2 protocols bound the SNAT space.
        prop_assert!(ct.len() <= 48);
    }
}
