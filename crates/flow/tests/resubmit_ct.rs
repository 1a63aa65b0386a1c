//! `resubmit(,T,ct)` (ovs-actions(7), "resubmit"): table T is searched with
//! the connection's original-direction tuple in place of the packet's
//! addresses, protocol and ports, so a reply is admitted by the flow that
//! admitted its connection; the actions then act on the packet as it is.

use flow::actions::DpAction;
use flow::fields::Field;
use flow::{parse_packet, trace};

mod common;

/// Table 1 admits TCP from 10.0.0.1 to 10.0.0.2 port 80, and nothing else.
const FLOWS: [&str; 4] = [
    "table=0,priority=10,ip,ct_state=+trk actions=resubmit(,1,ct)",
    "table=0,priority=0 actions=drop",
    "table=1,priority=10,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=80 actions=output:2",
    "table=1,priority=0 actions=drop",
];

/// The reply of 10.0.0.1:33000 → 10.0.0.2:80.
const REPLY: &str = "in_port=1,tcp,nw_src=10.0.0.2,nw_dst=10.0.0.1,tp_src=80,tp_dst=33000,\
                     ct_state=+trk+est+rpl,ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,\
                     ct_nw_proto=6,ct_tp_src=33000,ct_tp_dst=80";

#[test]
fn reply_is_looked_up_by_its_original_tuple() {
    let t = common::tables(&FLOWS);
    // Only the output: the packet's own fields are not rewritten.
    assert_eq!(common::verdict(&t, REPLY), vec![DpAction::Output(2)]);
    let r = trace(&t, &parse_packet(REPLY).unwrap());
    // The fields are exchanged for the lookup only.
    assert_eq!(Field::NwSrc.get(&r.xlate.final_flow), 0x0a00_0002);
    assert_eq!(Field::CtNwSrc.get(&r.xlate.final_flow), 0x0a00_0001);
    // The verdict depended on the ct tuple: its bits are in the megaflow,
    // under the ct_* names.
    let m = r.megaflow();
    assert_eq!(m.get(Field::CtNwSrc), (0x0a00_0001, 0xffff_ffff));
    assert_eq!(m.get(Field::CtTpDst), (80, 0xffff));
}

#[test]
fn a_reply_of_another_connection_is_not_admitted() {
    let t = common::tables(&FLOWS);
    let other = REPLY.replace("ct_tp_dst=80", "ct_tp_dst=81");
    assert_eq!(common::verdict(&t, &other), vec![]);
    // Without `ct` the reply's own tuple misses table 1.
    let plain = FLOWS.map(|f| f.replace("resubmit(,1,ct)", "resubmit(,1)"));
    let plain = common::tables(&plain.each_ref().map(String::as_str));
    assert_eq!(common::verdict(&plain, REPLY), vec![]);
}

#[test]
fn untracked_or_non_ip_packets_are_not_resubmitted() {
    let t = common::tables(&[
        "table=0,priority=10 actions=resubmit(,1,ct),output:3",
        "table=1,priority=0 actions=output:2",
    ]);
    // Tracked: table 1 runs, then output:3.
    assert_eq!(
        common::verdict(&t, REPLY),
        vec![DpAction::Output(2), DpAction::Output(3)]
    );
    // No tuple (ct_nw_proto=0) or ARP: resubmit(ct) is skipped.
    let untracked = "in_port=1,tcp,nw_src=10.0.0.2,nw_dst=10.0.0.1";
    assert_eq!(common::verdict(&t, untracked), vec![DpAction::Output(3)]);
    assert_eq!(
        common::verdict(&t, "in_port=1,arp"),
        vec![DpAction::Output(3)]
    );
}

#[test]
fn ipv6_uses_the_ipv6_tuple() {
    let t = common::tables(&[
        "table=0,priority=10,ipv6 actions=resubmit(,1,ct)",
        "table=1,priority=10,tcp6,ipv6_src=2001:db8::1,tp_dst=22 actions=output:2",
    ]);
    let reply = "in_port=1,tcp6,ipv6_src=2001:db8::2,ipv6_dst=2001:db8::1,tp_src=22,tp_dst=40000,\
                 ct_state=+trk+est+rpl,ct_ipv6_src=2001:db8::1,ct_ipv6_dst=2001:db8::2,\
                 ct_nw_proto=6,ct_tp_src=40000,ct_tp_dst=22";
    assert_eq!(common::verdict(&t, reply), vec![DpAction::Output(2)]);
}
