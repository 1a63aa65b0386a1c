use super::microflow::Microflow;
use super::passes::{next_flow, parse_pass};
use super::verdict::split_actions;
use super::CtAssume;

const TRACE: &str = "Flow: in_port=1,tcp

bridge
------
 0. in_port=1, priority 100, cookie 0x300000000000002a
    set_field:0x1->reg14
    resubmit(,8)
     8. reg14=0x1, priority 50, cookie 0x300000000000002a
        resubmit(,12)
        12. priority 0
            ct(table=13,zone=NXM_NX_REG13[0..15],nat(dst=10.0.0.5))
    set_field:0x2->reg15
    10. No match.
        drop

Final flow: in_port=1,tcp,reg14=0x1,recirc_id=0x10c,ct_state=+trk
Megaflow: recirc_id=0,in_port=1
Datapath actions: ct(commit,zone=3),ct(zone=4,nat),recirc(0x10d)
";

#[test]
fn trace_text_becomes_hits_with_their_own_actions() {
    let (p, fin) = parse_pass(TRACE, "in_port=1,tcp", None);
    let tables: Vec<u8> = p.hits.iter().map(|h| h.table).collect();
    assert_eq!(tables, [0, 8, 12, 10]);
    assert_eq!(p.hits[0].cookie, 0x3000_0000_0000_002a);
    assert_eq!(p.hits[0].priority, Some(100));
    assert_eq!(
        p.hits[0].actions,
        [
            "set_field:0x1->reg14",
            "resubmit(,8)",
            "set_field:0x2->reg15"
        ]
    );
    assert_eq!(p.hits[1].matches, "reg14=0x1");
    assert_eq!(p.hits[2].matches, "");
    assert_eq!(p.hits[2].cookie, 0);
    assert_eq!(p.hits[3].priority, None);
    assert!(p.hits[3].drops());
    assert!(!p.hits[0].drops());
    assert_eq!(fin, "in_port=1,tcp,reg14=0x1,recirc_id=0x10c,ct_state=+trk");
    let (next, note) = next_flow(&p, &fin, CtAssume::New).expect("recirculates");
    let m = Microflow::parse(&next);
    assert_eq!(m.get("recirc_id"), Some("0x10d"));
    assert_eq!(m.get("ct_state"), Some("+trk+new"));
    assert_eq!(
        m.get("ct_zone"),
        Some("4"),
        "the zone of the recirculating ct"
    );
    assert_eq!(
        m.get("nw_dst"),
        Some("10.0.0.5"),
        "DNAT of a new connection"
    );
    assert_eq!(note, "+trk+new in zone 4");
    let (next, _) = next_flow(&p, &fin, CtAssume::Est).expect("recirculates");
    assert!(!next.contains("nw_dst"), "no NAT assumed for est: {next}");
}

#[test]
fn actions_split_at_top_level_commas_only() {
    assert_eq!(
        split_actions("ct(commit,zone=3),2, userspace(controller,local(x))"),
        ["ct(commit,zone=3)", "2", "userspace(controller,local(x))"]
    );
    assert!(split_actions("").is_empty());
}

#[test]
fn microflow_folds_synonyms_and_keeps_user_values() {
    let mut m = Microflow::parse("tcp, ip_dst=10.0.0.5,tcp_dst=22");
    assert_eq!(m.protocol(), Some("tcp"));
    assert_eq!(m.get("nw_dst"), Some("10.0.0.5"));
    assert_eq!(m.get("tp_dst"), Some("22"));
    m.default("tp_dst", "80");
    m.default("nw_ttl", "64");
    m.remove("nw_dst");
    assert_eq!(m.to_string(), "tcp,tp_dst=22,nw_ttl=64");
}
