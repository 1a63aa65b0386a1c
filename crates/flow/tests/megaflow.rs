//! Megaflow width: staged lookup and prefix tries keep the megaflow mask to
//! the bits the verdict depended on (lib/classifier.c), and the verdict
//! stays the classifier's.

use flow::fields::Field;
use flow::{parse_packet, trace, FlowOp, FlowTables};
use std::time::Duration;

mod common;

/// Tables with prefix tries on nw_src and nw_dst in table 0.
fn tables(flows: &[&str]) -> FlowTables {
    let t = common::tables(flows);
    t.set_prefixes(0, &[Field::NwSrc, Field::NwDst]).unwrap();
    t
}

/// (value, mask) of `field` in the megaflow the cache would install.
fn megaflow(t: &FlowTables, pkt: &str, field: Field) -> (u128, u128) {
    trace(t, &parse_packet(pkt).unwrap()).megaflow().get(field)
}

const ROUTES: [&str; 3] = [
    "priority=10,ip,nw_dst=10.0.0.0/8 actions=output:1",
    "priority=20,ip,nw_dst=10.1.0.0/16 actions=output:2",
    "priority=0 actions=drop",
];

#[test]
fn prefix_trie_unwildcards_only_the_deciding_bits() {
    let t = tables(&ROUTES);
    // 192.168.0.1 leaves the trie at its first bit.
    assert_eq!(
        megaflow(&t, "ip,nw_dst=192.168.0.1", Field::NwDst),
        (0x8000_0000, 0x8000_0000)
    );
    // 10.2.0.1 matches the /8; telling it from 10.1/16 takes 15 bits.
    assert_eq!(
        megaflow(&t, "ip,nw_dst=10.2.0.1", Field::NwDst),
        (0x0a02_0000, 0xfffe_0000)
    );
    // 10.1.2.3 matches the /16: the whole /16 is in the mask.
    assert_eq!(
        megaflow(&t, "ip,nw_dst=10.1.2.3", Field::NwDst),
        (0x0a01_0000, 0xffff_0000)
    );
}

#[test]
fn without_tries_every_probed_prefix_is_unwildcarded() {
    let t = tables(&ROUTES);
    t.set_prefixes(0, &[]).unwrap();
    assert_eq!(
        megaflow(&t, "ip,nw_dst=192.168.0.1", Field::NwDst),
        (0xc0a8_0000, 0xffff_0000)
    );
    t.set_prefixes(0, &[Field::NwDst, Field::NwSrc]).unwrap();
    assert_eq!(
        megaflow(&t, "ip,nw_dst=192.168.0.1", Field::NwDst).1,
        0x8000_0000
    );
    let e = t.set_prefixes(0, &[Field::TpDst]).unwrap_err();
    assert!(e.to_string().contains("tp_dst"), "{e}");
}

#[test]
fn staged_lookup_stops_at_the_first_stage_that_misses() {
    let t = tables(&[
        "priority=10,in_port=1,tcp,tp_dst=80 actions=output:2",
        "priority=0 actions=drop",
    ]);
    // in_port (metadata stage) misses: L2..L4 stay wildcarded.
    let pkt = "in_port=2,tcp,nw_src=10.0.0.1,tp_dst=80";
    assert_eq!(megaflow(&t, pkt, Field::InPort), (2, 0xffff_ffff));
    assert_eq!(megaflow(&t, pkt, Field::TpDst).1, 0);
    assert_eq!(megaflow(&t, pkt, Field::DlType).1, 0);
    // in_port matches, the L2 stage (dl_type) misses on ARP.
    let pkt = "in_port=1,arp";
    assert_eq!(megaflow(&t, pkt, Field::DlType).1, 0xffff);
    assert_eq!(megaflow(&t, pkt, Field::NwProto).1, 0);
    // All stages match: the whole mask.
    let pkt = "in_port=1,tcp,tp_dst=80";
    assert_eq!(megaflow(&t, pkt, Field::TpDst).1, 0xffff);
}

#[test]
fn removing_flows_updates_tries_and_stages() {
    let t = tables(&ROUTES);
    t.transaction(
        vec![FlowOp::Delete {
            filter: flow::parse_filter("priority=20,ip,nw_dst=10.1.0.0/16")
                .unwrap()
                .flow,
            strict: true,
        }],
        Duration::ZERO,
    )
    .unwrap();
    // Only the /8 is left: 10.2.0.1 now needs just the 8 bits.
    assert_eq!(
        megaflow(&t, "ip,nw_dst=10.2.0.1", Field::NwDst),
        (0x0a00_0000, 0xff00_0000)
    );
    let r = trace(&t, &parse_packet("ip,nw_dst=10.1.2.3").unwrap());
    assert_eq!(flow::trace::format_dp_actions(&r.xlate.actions), "1");
}
