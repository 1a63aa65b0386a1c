//! Classifier semantics, batches, timeouts, counters, translation details
//! and cache behaviour.

use flow::actions::{ControllerAction, ControllerReason, DpAction};
use flow::cache::{process, process_uncached, FlowCache};
use flow::{parse_filter, parse_flow, parse_packet, FlowOp, FlowTables, TableError};
use std::time::Duration;

mod common;
use common::{failing_batch, tables, verdict, T0};

#[test]
fn highest_priority_wins_across_subtables() {
    let t = tables(&[
        "priority=10,in_port=1 actions=output:10",
        "priority=20,ip,nw_dst=10.0.0.0/8 actions=output:20",
        "priority=30,ip,nw_dst=10.1.0.0/16 actions=output:30",
        "priority=5 actions=output:5",
    ]);
    assert_eq!(
        verdict(&t, "in_port=1,ip,nw_dst=10.1.2.3"),
        [DpAction::Output(30)]
    );
    assert_eq!(
        verdict(&t, "in_port=1,ip,nw_dst=10.2.2.3"),
        [DpAction::Output(20)]
    );
    assert_eq!(
        verdict(&t, "in_port=1,ip,nw_dst=11.0.0.1"),
        [DpAction::Output(10)]
    );
    assert_eq!(verdict(&t, "in_port=2,arp"), [DpAction::Output(5)]);
}

#[test]
fn equal_priority_overlap_prefers_the_older_flow() {
    let t = tables(&[
        "priority=7,in_port=1 actions=output:2",
        "priority=7,ip actions=output:3",
    ]);
    assert_eq!(verdict(&t, "in_port=1,ip"), [DpAction::Output(2)]);
    let t = tables(&[
        "priority=7,ip actions=output:3",
        "priority=7,in_port=1 actions=output:2",
    ]);
    assert_eq!(verdict(&t, "in_port=1,ip"), [DpAction::Output(3)]);
    // check_overlap refuses the second one.
    let e = t.add_flow(
        parse_flow("check_overlap,priority=7,in_port=1,ip actions=output:4")
            .unwrap()
            .flow,
        T0,
    );
    assert_eq!(
        e,
        Err(TableError::Overlap {
            table: 0,
            priority: 7
        })
    );
}

#[test]
fn same_match_and_priority_replaces() {
    let t = tables(&[
        "priority=7,in_port=1 actions=output:2",
        "priority=7,in_port=1 actions=output:3",
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(verdict(&t, "in_port=1"), [DpAction::Output(3)]);
}

#[test]
fn failed_batch_changes_nothing() {
    let t = tables(&["priority=1,in_port=1 actions=output:2"]);
    let gen = t.generation();
    assert!(matches!(
        t.transaction(failing_batch(), T0),
        Err(TableError::Inconsistent(_))
    ));
    assert_eq!(t.generation(), gen);
    assert_eq!(t.len(), 1);
    assert_eq!(verdict(&t, "in_port=1"), [DpAction::Output(2)]);
}

#[test]
fn delete_and_modify_strict_and_not() {
    let t = tables(&[
        "cookie=0x1,priority=5,in_port=1 actions=output:2",
        "cookie=0x2,priority=6,in_port=1,ip actions=output:3",
        "cookie=0x2,priority=6,in_port=2 actions=output:3",
    ]);
    // Non-strict: every flow at least as specific as in_port=1.
    let f = parse_filter("in_port=1").unwrap().flow;
    assert_eq!(t.dump(&f, false, T0).len(), 2);
    // Strict needs the same priority too.
    let f = parse_filter("priority=5,in_port=1").unwrap().flow;
    assert_eq!(t.dump(&f, true, T0).len(), 1);
    // cookie/mask and out_port filters.
    let f = parse_filter("table=255,cookie=0x2/-1").unwrap().flow;
    assert_eq!(t.dump(&f, false, T0).len(), 2);
    let mut f = parse_filter("table=255").unwrap().flow;
    f.out_port = Some(2);
    assert_eq!(t.dump(&f, false, T0).len(), 1);
    let mut m = parse_flow("in_port=1 actions=output:7").unwrap().flow;
    m.priority = 6;
    t.transaction(
        vec![FlowOp::Modify {
            filter: m,
            strict: false,
        }],
        T0,
    )
    .unwrap();
    assert_eq!(verdict(&t, "in_port=1,ip"), [DpAction::Output(7)]);
    assert_eq!(verdict(&t, "in_port=1,arp"), [DpAction::Output(7)]);
    let removed = t
        .transaction(
            vec![FlowOp::Delete {
                filter: parse_filter("in_port=1").unwrap().flow,
                strict: false,
            }],
            T0,
        )
        .unwrap();
    assert_eq!(removed.len(), 2);
    assert_eq!(t.len(), 1);
}

#[test]
fn idle_and_hard_timeouts_in_injected_time() {
    let t = tables(&[
        "idle_timeout=10,in_port=1 actions=output:2",
        "hard_timeout=15,in_port=2 actions=output:1",
    ]);
    let mut cache = FlowCache::default();
    let p1 = parse_packet("in_port=1").unwrap();
    // Used at t=8 s: the idle flow lives until 18 s.
    process(&t, &mut cache, &p1, 60, Duration::from_secs(8));
    cache.sync_stats();
    assert!(t.expire(Duration::from_secs(14)).is_empty());
    let gone = t.expire(Duration::from_secs(15));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].flow.hard_timeout, 15);
    let gone = t.expire(Duration::from_secs(18));
    assert_eq!(
        (gone.len(), gone[0].stats.n_packets, gone[0].stats.n_bytes),
        (1, 1, 60)
    );
    assert!(t.is_empty());
}

#[test]
fn translation_details_follow_ovs() {
    // Output to the ingress port is skipped; in_port sends it back.
    let t = tables(&["in_port=1 actions=output:1,output:2,in_port"]);
    assert_eq!(
        verdict(&t, "in_port=1"),
        [DpAction::Output(2), DpAction::OutputInPort]
    );
    // dec_ttl at TTL 1 sends an invalid_ttl packet-in and ends its own
    // action list, while the resubmitting list resumes; rewrites are
    // committed before output.
    let t = tables(&["ip actions=dec_ttl,mod_nw_dst:10.0.0.9,output:2"]);
    let invalid_ttl = DpAction::Controller {
        action: ControllerAction {
            reason: ControllerReason::InvalidTtl,
            ..ControllerAction::default()
        },
        regs: [0; 16],
        metadata: 0,
    };
    assert_eq!(
        verdict(&t, "ip,nw_ttl=1"),
        std::slice::from_ref(&invalid_ttl)
    );
    let nested = tables(&[
        "ip actions=mod_dl_src:02:00:00:00:00:01,resubmit(,1),output:3",
        "table=1,ip actions=dec_ttl,output:2",
    ]);
    assert_eq!(
        verdict(&nested, "ip,nw_ttl=1"),
        [
            DpAction::SetEthSrc([2, 0, 0, 0, 0, 1]),
            invalid_ttl,
            DpAction::Output(3)
        ]
    );
    assert_eq!(
        verdict(&t, "ip,nw_ttl=64"),
        [
            DpAction::SetIpv4Dst(0x0a00_0009),
            DpAction::SetIpTtl(63),
            DpAction::Output(2)
        ]
    );
    // Set-field changes are seen by later tables; registers carry state.
    let t = tables(&[
        "actions=load:0x2a->NXM_NX_REG0[],mod_vlan_vid:5,resubmit(,1)",
        "table=1,reg0=0x2a,dl_vlan=5 actions=move:NXM_NX_REG0[0..7]->NXM_NX_REG1[8..15],goto_table:2",
        "table=2,reg1=0x2a00 actions=output:3",
    ]);
    assert_eq!(
        verdict(&t, "in_port=1"),
        [
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 0x1005
            },
            DpAction::Output(3)
        ]
    );
    // A resubmit loop is cut off and drops.
    let t = tables(&["actions=output:4,resubmit(,0)"]);
    assert_eq!(verdict(&t, "in_port=1"), []);
}

#[test]
fn ct_emits_a_typed_action_and_recirculation_starts_at_its_table() {
    let t = tables(&[
        "table=0,ip actions=ct(commit,zone=NXM_NX_REG6[0..15],table=5,exec(set_field:0x7->ct_mark))",
        "table=5,ct_state=+trk+new,ip actions=output:2",
        "table=5,ct_state=+trk+est,ip actions=output:3",
    ]);
    let mut p = parse_packet("ip,in_port=1,reg6=0x9").unwrap();
    let acts = process_uncached(&t, &p).actions;
    assert_eq!(acts.len(), 1);
    let DpAction::Ct {
        zone,
        commit,
        set_mark,
        recirc_table,
        regs,
        ..
    } = &acts[0]
    else {
        panic!("{acts:?}")
    };
    assert_eq!(
        (*zone, *commit, *set_mark, *recirc_table),
        (9, true, Some((7, u32::MAX)), Some(5))
    );
    assert_eq!(regs[6], 9, "registers are recorded for the recirculation");
    // The switch runs conntrack, then re-enters with the result.
    p.meta.recirc_id = flow::recirc_id_for_table(5);
    p.meta.ct_state = flow::fields::ct_state::TRK | flow::fields::ct_state::NEW;
    assert_eq!(process_uncached(&t, &p).actions, [DpAction::Output(2)]);
    p.meta.ct_state = flow::fields::ct_state::TRK | flow::fields::ct_state::EST;
    assert_eq!(process_uncached(&t, &p).actions, [DpAction::Output(3)]);
}

#[test]
fn megaflow_covers_packets_that_differ_only_in_unconsulted_fields() {
    let t = tables(&[
        "priority=1,in_port=1 actions=output:2",
        "priority=0 actions=drop",
    ]);
    let mut cache = FlowCache::new(0, 100);
    for sport in 0..50u16 {
        let mut p = parse_packet("in_port=1,tcp,nw_src=10.0.0.1").unwrap();
        p.key.tp_src = sport;
        assert_eq!(
            process(&t, &mut cache, &p, 64, T0).actions,
            [DpAction::Output(2)]
        );
    }
    assert_eq!(cache.stats.misses, 1);
    assert_eq!(cache.stats.megaflow_hits, 49);
    // A table change invalidates.
    t.add_flow(
        parse_flow("priority=2,in_port=1,tcp actions=output:3")
            .unwrap()
            .flow,
        T0,
    )
    .unwrap();
    let p = parse_packet("in_port=1,tcp").unwrap();
    assert_eq!(
        process(&t, &mut cache, &p, 64, T0).actions,
        [DpAction::Output(3)]
    );
    assert_eq!(cache.stats.misses, 2);
}

#[test]
fn megaflow_cache_is_bounded() {
    let flows: Vec<String> = (1..=40)
        .map(|i| format!("in_port={i} actions=output:99"))
        .collect();
    let t = tables(&flows.iter().map(String::as_str).collect::<Vec<_>>());
    let mut cache = FlowCache::new(16, 8);
    for i in 1..=40 {
        let v = process(
            &t,
            &mut cache,
            &parse_packet(&format!("in_port={i}")).unwrap(),
            64,
            T0,
        );
        assert_eq!(v.actions, [DpAction::Output(99)]);
        assert!(cache.megaflows() <= 8);
    }
    assert!(cache.stats.flushes >= 4);
}

#[test]
fn a_packet_never_sees_half_a_batch() {
    fn version(v: u32) -> Vec<FlowOp> {
        vec![
            FlowOp::Add(
                parse_flow(&format!(
                    "priority=1 actions=load:{v}->NXM_NX_REG0[],resubmit(,1)"
                ))
                .unwrap()
                .flow,
            ),
            FlowOp::Delete {
                filter: parse_filter("table=1").unwrap().flow,
                strict: false,
            },
            FlowOp::Add(
                parse_flow(&format!("table=1,reg0={v} actions=output:{v}"))
                    .unwrap()
                    .flow,
            ),
        ]
    }
    let t = std::sync::Arc::new(FlowTables::new());
    t.transaction(version(1), T0).unwrap();
    let reader = {
        let t = t.clone();
        std::thread::spawn(move || {
            let p = parse_packet("in_port=9").unwrap();
            let mut cache = FlowCache::default();
            for _ in 0..20_000 {
                let v = process(&t, &mut cache, &p, 64, T0);
                // A mix of versions would match no flow in table 1: drop.
                assert_eq!(v.actions.len(), 1, "saw a half-applied batch");
            }
        })
    };
    for i in 0..2_000u32 {
        t.transaction(version(1 + i % 2), T0).unwrap();
    }
    reader.join().unwrap();
}

#[test]
fn arp_and_nd_field_writes_commit_whole_header_rewrites() {
    // OVN's ARP responder for a router address (ovn-northd(8)).
    let t = tables(&["arp,arp_op=1,arp_tpa=10.0.0.1 actions=\
        move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:02:00:00:00:00:01,\
        load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],\
        load:0x020000000001->NXM_NX_ARP_SHA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],\
        load:0x0a000001->NXM_OF_ARP_SPA[],in_port"]);
    let req = "in_port=3,arp,dl_src=02:00:00:00:00:05,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,\
               arp_spa=10.0.0.5,arp_tpa=10.0.0.1,arp_sha=02:00:00:00:00:05";
    assert_eq!(
        verdict(&t, req),
        [
            DpAction::SetEthSrc([2, 0, 0, 0, 0, 1]),
            DpAction::SetEthDst([2, 0, 0, 0, 0, 5]),
            DpAction::SetArp {
                op: 2,
                sha: [2, 0, 0, 0, 0, 1],
                spa: 0x0a00_0001,
                tha: [2, 0, 0, 0, 0, 5],
                tpa: 0x0a00_0005,
            },
            DpAction::OutputInPort,
        ]
    );
    // A write of the value already there commits nothing.
    let t = tables(&["arp actions=load:0x1->NXM_OF_ARP_OP[],output:2"]);
    assert_eq!(verdict(&t, "arp,arp_op=1"), [DpAction::Output(2)]);
    // nd_target / nd_tll on a Neighbor Advertisement.
    let t = tables(
        &["icmp6,icmp_type=136 actions=set_field:fe80::1->nd_target,\
                      set_field:02:00:00:00:00:01->nd_tll,output:2"],
    );
    let target: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
    assert_eq!(
        verdict(&t, "icmp6,icmp_type=136,nd_target=fe80::9"),
        [
            DpAction::SetNd {
                target: target.octets(),
                sll: [0; 6],
                tll: [2, 0, 0, 0, 0, 1],
            },
            DpAction::Output(2),
        ]
    );
    // SetArp carries the unwritten fields too, so they are part of the
    // megaflow: a request from another address misses the cache.
    let t = tables(&["arp actions=load:0x2->NXM_OF_ARP_OP[],in_port"]);
    let mut cache = FlowCache::new(0, 100);
    for spa in ["10.0.0.5", "10.0.0.6"] {
        let p = parse_packet(&format!("arp,arp_op=1,arp_spa={spa}")).unwrap();
        let got = process(&t, &mut cache, &p, 64, T0).actions.clone();
        let want_spa = u32::from(spa.parse::<std::net::Ipv4Addr>().unwrap());
        assert!(
            matches!(got[0], DpAction::SetArp { op: 2, spa, .. } if spa == want_spa),
            "{got:?}"
        );
    }
    assert_eq!(cache.stats.misses, 2);
    // icmp_type/icmp_code writes are L4 rewrites of the first two bytes.
    let t = tables(&["icmp,icmp_type=8 actions=set_field:0->icmp_type,output:2"]);
    assert_eq!(
        verdict(&t, "icmp,icmp_type=8"),
        [DpAction::SetTpSrc(0), DpAction::Output(2)]
    );
}

/// What expiry removed, as a list of flows.
fn expired_walk(t: &FlowTables, now: Duration) -> Vec<flow::FlowMod> {
    (t.read().all_rules())
        .filter(|r| r.expired(now))
        .map(|r| r.flow.clone())
        .collect()
}

proptest::proptest! {
    /// Expiry looks only at the flows with a timeout, and removes what
    /// walking every flow would (same flows, same order), whatever adds,
    /// replacements, mod-flows, deletes and rolled-back batches came before.
    #[test]
    fn expiry_removes_what_walking_every_flow_would(
        ops in proptest::collection::vec((0u8..4, 0u8..3, 0u16..3, 0u8..4, 0u8..8), 1..80),
        at in 0u64..40,
    ) {
        let t = FlowTables::new();
        for (i, (kind, table, prio, timeout, port)) in ops.into_iter().enumerate() {
            let to = match timeout {
                0 => String::new(),
                1 => format!("idle_timeout={},", 5 + i % 20),
                2 => format!("hard_timeout={},", 5 + i % 20),
                _ => format!("idle_timeout={},hard_timeout={},", 5 + i % 10, 5 + i % 30),
            };
            let text = format!("table={table},priority={},{to}in_port={port} actions=drop", prio * 10);
            let f = parse_flow(&text).unwrap().flow;
            let now = Duration::from_secs(i as u64 / 4);
            let op = match kind {
                0 | 1 => FlowOp::Add(f),
                2 => FlowOp::Modify { filter: parse_flow(&format!("in_port={port} actions=output:1")).unwrap().flow, strict: false },
                _ => FlowOp::Delete { filter: parse_filter(&format!("table={table},in_port={port}")).unwrap().flow, strict: false },
            };
            if i % 7 == 6 {
                // A batch that fails after this op: rolled back.
                let mut batch = vec![op];
                batch.extend(failing_batch());
                proptest::prop_assert!(t.transaction(batch, now).is_err());
            } else {
                t.transaction(vec![op], now).unwrap();
            }
        }
        let now = Duration::from_secs(at);
        let want = expired_walk(&t, now);
        let got: Vec<flow::FlowMod> = t.expire(now).into_iter().map(|r| r.flow).collect();
        proptest::prop_assert_eq!(got, want);
        proptest::prop_assert!(expired_walk(&t, now).is_empty());
    }
}
