//! `translate_actions`: a packet-out's action list (ovs-ofctl(8)
//! `packet-out`) runs as a flow's actions would, from table 0.

use flow::actions::{port, DpAction};
use flow::parse_actions::parse_actions;
use flow::{parse_packet, translate_actions};

mod common;

fn run(flows: &[&str], pkt: &str, actions: &str) -> Vec<DpAction> {
    let t = common::tables(flows);
    let set = t.read();
    let acts = parse_actions(actions).expect("actions parse");
    let words = parse_packet(pkt).expect("packet parses").to_words();
    translate_actions(&set, &words, &acts, None).actions
}

#[test]
fn resubmit_looks_the_packet_up_in_the_named_table() {
    let flows = [
        "table=0,priority=0 actions=output:9",
        "table=5,priority=10,ip,nw_dst=10.0.0.2 actions=output:2",
        "table=5,priority=0 actions=drop",
    ];
    let pkt = "in_port=CONTROLLER,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2";
    assert_eq!(run(&flows, pkt, "resubmit(,5)"), vec![DpAction::Output(2)]);
    // Table 0 is not consulted by itself: the actions are the whole program.
    assert_eq!(run(&flows, pkt, "output:3"), vec![DpAction::Output(3)]);
    let other = pkt.replace("10.0.0.2", "10.0.0.3");
    assert_eq!(run(&flows, &other, "resubmit(,5)"), vec![]);
}

#[test]
fn registers_written_before_a_resubmit_select_the_flow() {
    let flows = [
        "table=3,priority=10,reg15=0x7 actions=output:7",
        "table=3,priority=0 actions=drop",
    ];
    let pkt = "in_port=CONTROLLER,arp";
    assert_eq!(
        run(&flows, pkt, "load:7->NXM_NX_REG15[],resubmit(,3)"),
        vec![DpAction::Output(7)]
    );
    assert_eq!(run(&flows, pkt, "resubmit(,3)"), vec![]);
}

#[test]
fn output_to_the_input_port_is_skipped_and_normal_passes_through() {
    let pkt = "in_port=4,arp";
    assert_eq!(run(&[], pkt, "output:4,NORMAL"), vec![DpAction::Normal]);
    let pkt = format!("in_port={},arp", port::CONTROLLER);
    assert_eq!(run(&[], &pkt, "output:4"), vec![DpAction::Output(4)]);
}
