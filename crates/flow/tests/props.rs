//! Property tests: printing then parsing a flow gives the same flow, and a
//! cached verdict equals the classifier's.

use flow::actions::*;
use flow::cache::{process, process_uncached, FlowCache};
use flow::fields::{Field, FieldRef};
use flow::{FlowMod, FlowOp, FlowTables, Match, Packet};
use packet::flowkey::VLAN_CFI;
use proptest::prelude::*;
use std::time::Duration;

fn mac() -> impl Strategy<Value = u128> {
    any::<u64>().prop_map(|v| (v & 0xffff_ffff_ffff) as u128)
}

fn l3() -> impl Strategy<Value = (u16, Option<u8>)> {
    prop_oneof![
        Just((0u16, None)),
        Just((0x0800, None)),
        Just((0x0800, Some(6u8))),
        Just((0x0800, Some(17))),
        Just((0x0800, Some(1))),
        Just((0x0806, None)),
        Just((0x86dd, None)),
        Just((0x86dd, Some(6))),
        Just((0x86dd, Some(58))),
    ]
}

fn field_ref() -> impl Strategy<Value = FieldRef> {
    (0u8..16, 0u8..32, 1u8..=32).prop_map(|(r, ofs, n)| {
        let nbits = n.min(32 - ofs);
        FieldRef {
            field: Field::Reg(r),
            ofs,
            nbits,
        }
    })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (1u32..0xff00).prop_map(Action::Output),
        Just(Action::Output(port::NORMAL)),
        Just(Action::Output(port::IN_PORT)),
        Just(Action::Output(port::LOCAL)),
        field_ref().prop_map(Action::OutputReg),
        (1u32..100, 0u32..8).prop_map(|(port, queue)| Action::Enqueue { port, queue }),
        (
            proptest::option::of(1u32..100),
            proptest::option::of(0u8..254),
            any::<bool>()
        )
            .prop_filter("needs port or table", |(p, t, _)| p.is_some()
                || t.is_some())
            .prop_map(|(port, table, ct)| Action::Resubmit {
                port,
                table,
                ct: ct && table.is_some() && port.is_none()
            }),
        (0u16..4096).prop_map(Action::ModVlanVid),
        (0u8..8).prop_map(Action::ModVlanPcp),
        Just(Action::StripVlan),
        Just(Action::PushVlan(0x8100)),
        any::<u64>().prop_map(|id| Action::SetTunnel {
            id,
            is64: id > u32::MAX as u64
        }),
        (field_ref(), any::<u32>()).prop_map(|(dst, v)| Action::Load {
            dst,
            value: v as u128 & ((1u128 << dst.nbits) - 1)
        }),
        (field_ref(), 0u8..16).prop_map(|(src, r)| Action::Move {
            src,
            dst: FieldRef {
                field: Field::Reg(r),
                ..src
            }
        }),
        (any::<u32>(), any::<u32>()).prop_map(|(v, m)| Action::SetField {
            field: Field::Reg(3),
            value: (v & m) as u128,
            mask: m as u128
        }),
        (0u8..64, any::<u64>()).prop_map(|(n, v)| Action::SetField {
            field: Field::TunMetadata(n),
            value: v as u128,
            mask: u64::MAX as u128
        }),
        (0u8..64, 0u8..64, 1u8..=64).prop_map(|(n, ofs, k)| Action::Load {
            dst: FieldRef {
                field: Field::TunMetadata(n),
                ofs,
                nbits: k.min(64 - ofs)
            },
            value: 1
        }),
        mac().prop_map(|v| Action::SetField {
            field: Field::DlDst,
            value: v,
            mask: 0xffff_ffff_ffff
        }),
        any::<u32>().prop_map(Action::ModNwSrc),
        (0u8..64).prop_map(|d| Action::ModNwTos(d << 2)),
        any::<u16>().prop_map(Action::ModTpDst),
        Just(Action::DecTtl),
        any::<u32>().prop_map(Action::Meter),
        any::<u32>().prop_map(Action::SetQueue),
        Just(Action::CtClear),
        (
            any::<bool>(),
            proptest::option::of(any::<u16>()),
            proptest::option::of(0u8..254)
        )
            .prop_map(|(commit, zone, table)| {
                Action::Ct(Box::new(CtAction {
                    commit,
                    zone: zone.map(CtZone::Imm),
                    table,
                    ..CtAction::default()
                }))
            }),
        (0u8..254, any::<u16>(), 0u16..600).prop_map(|(table, priority, hard_timeout)| {
            Action::Learn(Box::new(LearnAction {
                table,
                priority,
                hard_timeout,
                specs: vec![
                    LearnSpec::Match {
                        dst: FieldRef {
                            field: Field::VlanTci,
                            ofs: 0,
                            nbits: 12,
                        },
                        src: Src::Field(FieldRef {
                            field: Field::VlanTci,
                            ofs: 0,
                            nbits: 12,
                        }),
                    },
                    LearnSpec::Match {
                        dst: FieldRef::whole(Field::DlDst),
                        src: Src::Field(FieldRef::whole(Field::DlSrc)),
                    },
                    LearnSpec::Load {
                        dst: FieldRef::whole(Field::TunId),
                        src: Src::Field(FieldRef::whole(Field::TunId)),
                    },
                    LearnSpec::Load {
                        dst: FieldRef::whole(Field::VlanTci),
                        src: Src::Imm(0),
                    },
                    LearnSpec::Output {
                        src: FieldRef::whole(Field::InPort),
                    },
                ],
                ..LearnAction::default()
            }))
        }),
    ]
}

prop_compose! {
    fn flow_mod()(
        table in 0u8..254, priority in any::<u16>(), cookie in any::<u64>(),
        idle in 0u16..100, hard in 0u16..100,
        in_port in proptest::option::of(1u128..0xff00),
        src in proptest::option::of((mac(), mac())),
        vlan in 0u8..4, vid in 0u128..4096, tci_m in any::<u16>(),
        (dl_type, proto) in l3(),
        nw in proptest::option::of((any::<u32>(), any::<u32>())),
        tp in proptest::option::of((any::<u16>(), any::<u16>())),
        dscp in proptest::option::of(0u128..64),
        tun in proptest::option::of((any::<u64>(), any::<u64>())),
        reg in proptest::option::of((0u8..16, any::<u32>(), any::<u32>())),
        ct in proptest::option::of((0u128..256, 0u128..256)),
        tmd in proptest::option::of((0u8..64, any::<u64>(), any::<u64>(), 0u128..2)),
        actions in proptest::collection::vec(action(), 0..5),
    ) -> FlowMod {
        let mut m = Match::catchall();
        if let Some(p) = in_port { m.set(Field::InPort, p); }
        if let Some((v, mk)) = src { m.set_masked(Field::DlSrc, v & mk, mk); }
        match vlan {
            1 => m.set_masked(Field::VlanTci, VLAN_CFI as u128 | vid, 0x1fff),
            2 => m.set_masked(Field::VlanTci, 0, 0xffff),
            3 if tci_m != 0 => m.set_masked(Field::VlanTci, (vid | 0x1000) & tci_m as u128, tci_m as u128),
            _ => {}
        }
        if dl_type != 0 { m.set(Field::DlType, dl_type as u128); }
        if let Some(p) = proto { m.set(Field::NwProto, p as u128); }
        if let Some((v, mk)) = nw { m.set_masked(Field::NwSrc, (v & mk) as u128, mk as u128); }
        if let (Some((v, mk)), Some(6 | 17)) = (tp, proto) { m.set_masked(Field::TpDst, (v & mk) as u128, mk as u128); }
        if let Some(d) = dscp { m.set(Field::IpDscp, d); }
        if let Some((v, mk)) = tun { m.set_masked(Field::TunId, (v & mk) as u128, mk as u128); }
        if let Some((r, v, mk)) = reg { m.set_masked(Field::Reg(r), (v & mk) as u128, mk as u128); }
        if let Some((v, mk)) = ct { m.set_masked(Field::CtState, v & mk, mk); }
        if let Some((n, v, mk, oam)) = tmd {
            if mk != 0 { m.set_masked(Field::TunMetadata(n), (v & mk) as u128, mk as u128); }
            m.set_masked(Field::TunFlags, oam, 1);
        }
        m.normalize();
        let actions = actions.into_iter().filter(|a| !matches!(a, Action::Resubmit { port: None, table: Some(t), .. } if *t == 255)).collect();
        FlowMod { table, priority, cookie, idle_timeout: idle, hard_timeout: hard, matches: m, actions, ..FlowMod::default() }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Hostile text never panics; it parses or names a token.
    #[test]
    fn garbage_never_panics(s in "[a-z_0-9=:,()\\[\\]./+\\->é ]{0,60}") {
        let _ = flow::parse_flow(&s);
        let _ = flow::parse_packet(&s);
        let _ = flow::parse_flow(&format!("in_port=1 actions={s}"));
        let _ = flow::parse_flow(&format!("actions=learn({s})"));
        let _ = flow::parse_flow(&format!("actions=ct({s})"));
    }

    #[test]
    fn parse_of_print_is_identity(
        mut f in flow_mod(),
        conj in proptest::option::of(proptest::collection::vec((any::<u32>(), 2u8..=64, any::<u8>()), 1..3)),
        conj_id in proptest::option::of(any::<u32>()),
    ) {
        // Conjunctive flows carry only conjunction actions; others may
        // match conj_id.
        if let Some(cs) = conj {
            f.actions = cs.into_iter().map(|(id, n, k)| Action::Conjunction(Conjunction {
                id, clause: k % n + 1, n_clauses: n,
            })).collect();
        } else if let Some(id) = conj_id {
            f.matches.set(Field::ConjId, id as u128);
        }
        let text = flow::format_flow(&f, None);
        let back = flow::parse_flow(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&back.flow, &f, "{}", text);
        prop_assert!(back.warnings.is_empty());
    }
}

// ---- cached verdict == uncached verdict ----

fn small_rule() -> impl Strategy<Value = FlowMod> {
    let acts = prop_oneof![
        (1u32..5).prop_map(Action::Output),
        (1u8..4).prop_map(|t| Action::Resubmit {
            port: None,
            table: Some(t),
            ct: false
        }),
        (1u32..4, 0u8..4).prop_map(|(p, t)| Action::Resubmit {
            port: Some(p),
            table: Some(t),
            ct: false
        }),
        (0u128..4).prop_map(|v| Action::Load {
            dst: FieldRef {
                field: Field::Reg(0),
                ofs: 0,
                nbits: 8
            },
            value: v
        }),
        Just(Action::Move {
            src: FieldRef {
                field: Field::InPort,
                ofs: 0,
                nbits: 8
            },
            dst: FieldRef {
                field: Field::Reg(0),
                ofs: 8,
                nbits: 8
            }
        }),
        Just(Action::OutputReg(FieldRef {
            field: Field::Reg(0),
            ofs: 0,
            nbits: 8
        })),
        (1u16..4).prop_map(Action::ModVlanVid),
        Just(Action::StripVlan),
        (1u64..3).prop_map(|id| Action::SetTunnel { id, is64: false }),
        Just(Action::DecTtl),
        Just(Action::ModNwSrc(0x0a00_0001)),
        Just(Action::SetField {
            field: Field::DlDst,
            value: 0x0200_0000_0001,
            mask: 0xffff_ffff_ffff
        }),
        Just(Action::Output(port::IN_PORT)),
        Just(Action::Output(port::FLOOD)),
    ];
    (
        0u8..4,
        0u16..4,
        proptest::option::of(1u128..4),
        proptest::option::of(prop_oneof![
            Just((0u128, 1u128 << 40)),
            Just((1u128 << 40, 1u128 << 40)),
            Just((0x0200_0000_0001, 0xffff_ffff_ffff))
        ]),
        proptest::option::of(1u128..4),
        any::<bool>(),
        proptest::option::of((0u128..4, 0u8..=32)),
        proptest::option::of((0u128..4, 0u128..4)),
        proptest::option::of(0u128..4),
        proptest::collection::vec(acts, 0..4),
    )
        .prop_map(
            |(table, priority, in_port, dst, vlan, ip, nw, tp, reg0, actions)| {
                let mut m = Match::catchall();
                if let Some(p) = in_port {
                    m.set(Field::InPort, p);
                }
                if let Some((v, mk)) = dst {
                    m.set_masked(Field::DlDst, v, mk);
                }
                if let Some(v) = vlan {
                    m.set_masked(Field::VlanTci, VLAN_CFI as u128 | v, 0x1fff);
                }
                if ip || nw.is_some() || tp.is_some() {
                    m.set(Field::DlType, 0x0800);
                    if let Some((v, plen)) = nw {
                        let mk = if plen == 0 {
                            0
                        } else {
                            (u32::MAX << (32 - plen as u32)) as u128
                        };
                        m.set_masked(Field::NwSrc, (0x0a00_0000 | v) & mk, mk);
                    }
                    if let Some((v, mk)) = tp {
                        m.set(Field::NwProto, 6);
                        m.set_masked(Field::TpDst, v & mk, mk);
                    }
                }
                if let Some(r) = reg0 {
                    m.set_masked(Field::Reg(0), r, 0xff);
                }
                let actions = actions
                    .into_iter()
                    .filter(|a| match a {
                        Action::Resubmit { table: Some(t), .. } => *t > table,
                        _ => true,
                    })
                    .collect();
                FlowMod {
                    table,
                    priority,
                    matches: m,
                    actions,
                    ..FlowMod::default()
                }
            },
        )
}

/// A small rule, turned into a conjunctive clause or a `conj_id` flow now
/// and then.
fn small_rule_or_conj() -> impl Strategy<Value = FlowMod> {
    let n = prop_oneof![4 => Just(2u8), 1 => Just(3u8)];
    (small_rule(), 0u8..6, 1u32..3, n, 0u8..4).prop_map(|(mut f, kind, id, n, k)| {
        match kind {
            0 | 1 | 3 => {
                // In table 0 at a high priority, so that clauses meet and
                // are not all outranked.
                f.table = 0;
                f.priority = 3;
                f.actions = vec![Action::Conjunction(Conjunction {
                    id,
                    clause: k % n + 1,
                    n_clauses: n,
                })];
                if kind == 1 {
                    // Often part of two conjunctions at once.
                    f.actions.push(Action::Conjunction(Conjunction {
                        id: id % 2 + 1,
                        clause: 1,
                        n_clauses: 2,
                    }));
                }
            }
            2 => {
                f.table = 0;
                f.matches.set(Field::ConjId, id as u128);
            }
            _ => {}
        }
        f
    })
}

fn small_packet() -> impl Strategy<Value = Packet> {
    (
        1u32..4,
        0u8..3,
        prop_oneof![
            Just(0x0200_0000_0001u64),
            Just(0x0200_0000_0002),
            Just(0x0100_0000_0001),
            Just(0xffff_ffff_ffff)
        ],
        any::<bool>(),
        0u32..6,
        0u16..4,
        0u8..3,
        0u32..3,
    )
        .prop_map(|(in_port, vlan, dst, ip, src_lo, tp_dst, ttl, reg0)| {
            let mut p = Packet::default();
            p.meta.in_port = in_port;
            p.meta.regs[0] = reg0;
            p.key.dl_dst = dst.to_be_bytes()[2..].try_into().unwrap();
            p.key.dl_src = [2, 0, 0, 0, 0, 9];
            if vlan > 0 {
                p.key.vlan_tci = VLAN_CFI | vlan as u16;
            }
            if ip {
                p.key.dl_type = 0x0800;
                p.key.nw_src = 0x0a00_0000 | src_lo;
                p.key.nw_proto = 6;
                p.key.tp_dst = tp_dst;
                p.key.nw_ttl = ttl;
            } else {
                p.key.dl_type = 0x0806;
            }
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn cached_verdict_equals_uncached(
        rules in proptest::collection::vec(small_rule_or_conj(), 0..24),
        later in proptest::collection::vec(small_rule_or_conj(), 0..4),
        packets in proptest::collection::vec(small_packet(), 1..40),
        tries in any::<bool>(),
    ) {
        let t = FlowTables::new();
        if tries {
            for table in 0..4 {
                t.set_prefixes(table, &[Field::NwSrc, Field::NwDst]).unwrap();
            }
        }
        t.transaction(rules.into_iter().map(FlowOp::Add).collect(), Duration::ZERO).unwrap();
        let mut cache = FlowCache::new(64, 16);
        let half = packets.len() / 2;
        // Each packet twice (so hits happen), the table changing half way.
        // Each packet is followed by near neighbours (one field changed), so
        // that megaflows too wide would be caught.
        let mut seq = Vec::new();
        for p in packets.iter().chain(packets.iter()) {
            seq.push(*p);
            let mut q = *p;
            q.key.vlan_tci = if q.key.vlan_tci == 0 { VLAN_CFI | 1 } else { 0 };
            seq.push(q);
            let mut q = *p;
            q.meta.tun_id ^= 1;
            seq.push(q);
            let mut q = *p;
            q.meta.in_port = q.meta.in_port % 3 + 1;
            seq.push(q);
        }
        // Some verdicts are held across later misses and flushes, as the
        // switch holds one while executing it: the cache recycles only
        // entries nobody holds, so these must stay as they were.
        let mut held = Vec::new();
        for (i, p) in seq.iter().enumerate() {
            if i == half * 4 {
                t.transaction(later.iter().cloned().map(FlowOp::Add).collect(), Duration::ZERO).unwrap();
            }
            let cached = process(&t, &mut cache, p, 64, Duration::ZERO);
            let slow = process_uncached(&t, p);
            prop_assert_eq!(&cached.actions, &slow.actions, "packet {:?}", p);
            prop_assert_eq!(&cached.learns, &slow.learns, "packet {:?}", p);
            // The same flows matched (their counters depend on it).
            prop_assert_eq!(&cached.rules, &slow.rules, "packet {:?}", p);
            if i % 5 == 0 {
                held.push((cached, slow.actions));
            }
        }
        for (cached, actions) in &held {
            prop_assert_eq!(&cached.actions, actions);
        }
    }
}
