//! The seed's flows (chapters 3 and 4 of 000_3b707646e20ca90b.txt): parse,
//! print back normalized, and trace to the verdicts the seed describes.

use flow::actions::DpAction;
use flow::cache::{process, FlowCache};
use flow::{parse_flow, parse_packet, FlowOp, FlowTables};
use std::time::Duration;

fn fixture(name: &str) -> String {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn seed_lines() -> Vec<String> {
    fixture("seed_flows.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The br1 flows of chapter 4 (the first three lines are br0's QoS flows).
fn br1() -> FlowTables {
    let t = FlowTables::new();
    let ops = seed_lines()[3..]
        .iter()
        .map(|l| FlowOp::Add(parse_flow(l).unwrap().flow))
        .collect();
    t.transaction(ops, Duration::ZERO).unwrap();
    t
}

const VM_A: &str = "fa:16:3e:00:00:0a";
const VM_B: &str = "fa:16:3e:00:00:0b";

fn tables_visited(t: &FlowTables, pkt: &str) -> (Vec<u8>, Vec<DpAction>, Vec<flow::Learned>) {
    let r = flow::trace(t, &parse_packet(pkt).unwrap());
    let tables = r.xlate.rules.iter().map(|r| r.table).collect();
    (tables, r.xlate.actions, r.xlate.learns)
}

#[test]
fn every_seed_flow_parses_and_prints_normalized() {
    let lines = seed_lines();
    let expected: Vec<String> = fixture("seed_flows.expected")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), expected.len());
    for (line, want) in lines.iter().zip(&expected) {
        let p = parse_flow(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let printed = flow::format_flow(&p.flow, None);
        assert_eq!(&printed, want, "for {line}");
        // Round trip: the printed form parses back to the same flow.
        assert_eq!(parse_flow(&printed).unwrap().flow, p.flow);
    }
}

#[test]
fn qos_flows_without_ip_lose_nw_src_with_a_warning_as_ovs() {
    let p = parse_flow(&seed_lines()[0]).unwrap();
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].contains("nw_src"));
    // With the prerequisite, nw_src is kept.
    let p = parse_flow("in_port=6,ip,nw_src=192.168.100.100 actions=enqueue:5:0").unwrap();
    assert!(p.warnings.is_empty());
    assert_eq!(
        flow::format_flow(&p.flow, None),
        " ip,in_port=6,nw_src=192.168.100.100 actions=enqueue:5:0"
    );
}

#[test]
fn qos_flow_enqueues() {
    let t = FlowTables::new();
    for l in &seed_lines()[..3] {
        t.add_flow(parse_flow(l).unwrap().flow, Duration::ZERO)
            .unwrap();
    }
    let (tables, acts, _) = tables_visited(&t, "in_port=7,ip,nw_src=192.168.100.101");
    assert_eq!(tables, [0]);
    assert_eq!(acts, [DpAction::Enqueue { port: 5, queue: 1 }]);
}

#[test]
fn unspaced_seed_form_is_an_error_naming_the_token() {
    let e = parse_flow(
        "hard_timeout=0 idle_timeout=0 priority=1table=21dl_vlan=1 actions=strip_vlan,set_tunnel:0x1,output:2,output:3",
    )
    .unwrap_err();
    assert_eq!(e.token, "priority=1table=21dl_vlan=1");
    assert!(e.to_string().contains("priority=1table=21dl_vlan=1"));
}

#[test]
fn unknown_unicast_from_port_1_floods_to_tunnels() {
    let t = br1();
    let (tables, acts, learns) = tables_visited(
        &t,
        &format!("in_port=1,dl_vlan=1,dl_src={VM_A},dl_dst={VM_B}"),
    );
    assert_eq!(tables, [0, 1, 20, 21]);
    assert_eq!(
        acts,
        [
            DpAction::SetTunnel {
                id: 1,
                src: 0,
                dst: 0
            },
            DpAction::PopVlan,
            DpAction::Output(2),
            DpAction::Output(3)
        ]
    );
    assert!(learns.is_empty());
}

#[test]
fn multicast_from_port_1_goes_straight_to_table_21() {
    let t = br1();
    let (tables, acts, _) = tables_visited(
        &t,
        &format!("in_port=1,dl_vlan=2,dl_src={VM_A},dl_dst=ff:ff:ff:ff:ff:ff"),
    );
    assert_eq!(tables, [0, 1, 21]);
    assert!(acts.contains(&DpAction::SetTunnel {
        id: 2,
        src: 0,
        dst: 0
    }));
    // A VLAN without a flow is dropped by table 21's default.
    let (tables, acts, _) = tables_visited(
        &t,
        &format!("in_port=1,dl_vlan=3,dl_src={VM_A},dl_dst=ff:ff:ff:ff:ff:ff"),
    );
    assert_eq!(tables, [0, 1, 21]);
    assert!(acts.is_empty());
}

#[test]
fn tunnel_traffic_is_learned_and_then_unicast_goes_to_the_learned_port() {
    let t = br1();
    let now = Duration::from_secs(10);
    // VM_B's frame arrives from the tunnel on port 2 with tun_id 1.
    let (tables, acts, learns) = tables_visited(
        &t,
        &format!("in_port=2,tun_id=0x1,dl_src={VM_B},dl_dst={VM_A}"),
    );
    assert_eq!(tables, [0, 3, 10]);
    assert_eq!(
        acts,
        [
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 0x1001
            },
            DpAction::Output(1)
        ]
    );
    assert_eq!(learns.len(), 1);
    assert_eq!(
        flow::format_flow(&learns[0].flow, None),
        format!(
            " table=20, hard_timeout=300, priority=1,vlan_tci=0x0001/0x0fff,dl_dst={VM_B} \
             actions=load:0->NXM_OF_VLAN_TCI[],load:0x1->NXM_NX_TUN_ID[],output:2"
        )
    );
    t.apply_learned(&learns, now);
    // Now VM_A → VM_B is unicast out of port 2 only, untagged, tun_id 1.
    let (tables, acts, _) = tables_visited(
        &t,
        &format!("in_port=1,dl_vlan=1,dl_src={VM_A},dl_dst={VM_B}"),
    );
    assert_eq!(tables, [0, 1, 20]);
    assert_eq!(
        acts,
        [
            DpAction::SetTunnel {
                id: 1,
                src: 0,
                dst: 0
            },
            DpAction::PopVlan,
            DpAction::Output(2)
        ]
    );
    // The learned entry is per VLAN: VLAN 2 still floods.
    let (tables, _, _) = tables_visited(
        &t,
        &format!("in_port=1,dl_vlan=2,dl_src={VM_A},dl_dst={VM_B}"),
    );
    assert_eq!(tables, [0, 1, 20, 21]);
    // hard_timeout=300: gone 300 s after it was learned.
    assert!(t.expire(now + Duration::from_secs(299)).is_empty());
    assert_eq!(t.expire(now + Duration::from_secs(300)).len(), 1);
    let (tables, _, _) = tables_visited(
        &t,
        &format!("in_port=1,dl_vlan=1,dl_src={VM_A},dl_dst={VM_B}"),
    );
    assert_eq!(tables, [0, 1, 20, 21]);
}

#[test]
fn the_cached_path_learns_and_counts_like_the_slow_path() {
    let t = br1();
    let mut cache = FlowCache::default();
    let now = Duration::from_secs(1);
    let from_tunnel =
        parse_packet(&format!("in_port=2,tun_id=0x1,dl_src={VM_B},dl_dst={VM_A}")).unwrap();
    let to_b = parse_packet(&format!("in_port=1,dl_vlan=1,dl_src={VM_A},dl_dst={VM_B}")).unwrap();
    for _ in 0..3 {
        let v = process(&t, &mut cache, &from_tunnel, 100, now);
        assert_eq!(v.learns.len(), 1);
        t.apply_learned(&v.learns, now);
    }
    // The first learn changed the tables; the identical re-learns did not.
    assert_eq!(t.len(), 16);
    for _ in 0..5 {
        let v = process(&t, &mut cache, &to_b, 60, now);
        assert_eq!(v.actions.last(), Some(&DpAction::Output(2)));
    }
    assert!(cache.stats.emc_hits >= 4, "{:?}", cache.stats);
    cache.sync_stats();
    let dumped = t.dump(&flow::parse_filter("table=20").unwrap().flow, false, now);
    let learned = dumped
        .iter()
        .find(|(f, _)| f.priority == 1)
        .expect("learned flow");
    assert_eq!((learned.1.n_packets, learned.1.n_bytes), (5, 300));
}

#[test]
fn trace_report_shows_tables_megaflow_and_verdict() {
    let t = br1();
    let r = flow::trace(
        &t,
        &parse_packet(&format!("in_port=1,dl_vlan=1,dl_src={VM_A},dl_dst={VM_B}")).unwrap(),
    );
    let s = r.render();
    for want in [
        " 0. in_port=1, priority 1",
        " 1. dl_dst=00:00:00:00:00:00/01:00:00:00:00:00, priority 1",
        "20. priority 0",
        "21. dl_vlan=1, priority 1",
        "strip_vlan",
        "Datapath actions: set(tunnel(tun_id=0x1)),pop_vlan,2,3",
        "Megaflow: recirc_id=0,",
    ] {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
}

/// `learn(limit=N)`: at most N flows with the action's cookie in the
/// target table; a changed binding for a known key still replaces its
/// flow, and a refusal is reported to the caller (the switch counts it).
#[test]
fn learn_limit_bounds_the_learned_flows_per_cookie() {
    let t = FlowTables::new();
    let now = Duration::from_secs(1);
    let learn = "arp actions=learn(table=30,cookie=0x8,limit=2,\
                 NXM_NX_REG0[]=NXM_OF_ARP_SPA[],load:NXM_NX_ARP_SHA[]->NXM_OF_ETH_DST[])";
    t.add_flow(flow::parse_flow(learn).unwrap().flow, now)
        .unwrap();
    let printed = flow::format_flow(&t.read().table(0).rules()[0].flow, None);
    assert!(printed.contains("cookie=0x8,limit=2,"), "{printed}");
    let arp = |spa: &str, sha: &str| {
        let x = flow::trace(
            &t,
            &parse_packet(&format!("arp,arp_spa={spa},arp_sha={sha}")).unwrap(),
        )
        .xlate;
        t.apply_learned(&x.learns, now)
    };
    assert_eq!(arp("203.0.113.1", "02:00:00:00:00:01"), 0);
    assert_eq!(arp("203.0.113.2", "02:00:00:00:00:02"), 0);
    assert_eq!(arp("203.0.113.3", "02:00:00:00:00:03"), 1, "third refused");
    assert_eq!(arp("203.0.113.1", "02:00:00:00:00:09"), 0, "rebinding");
    let learned = t.dump(&flow::parse_filter("table=30").unwrap().flow, false, now);
    assert_eq!(learned.len(), 2);
    assert!(learned
        .iter()
        .any(|(f, _)| flow::format_flow(f, None).contains("load:0x20000000009->")));
}
