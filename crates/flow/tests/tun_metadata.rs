//! Tunnel metadata fields (`tun_metadata0..63`, `tun_flags`, ovs-fields(7)
//! "Tunnel Fields"): syntax, presence semantics, the datapath action that
//! carries them to a Geneve output, and their place in megaflow masks.

use flow::actions::DpAction;
use flow::fields::Field;
use flow::{format_flow, parse_flow, parse_packet, trace, TunMetadata};

mod common;

#[test]
fn match_and_actions_round_trip_as_ovs_prints_them() {
    let text = "tun_id=0x5,tun_flags=+oam,tun_metadata0=0x1234,tun_metadata9=0x5/0xff,in_port=1 \
                actions=set_field:0xabcd->tun_metadata1,\
                load:0x7->NXM_NX_TUN_METADATA2[0..7],\
                move:NXM_NX_TUN_METADATA0[0..15]->NXM_NX_TUN_METADATA3[16..31],output:2";
    let f = parse_flow(text).unwrap().flow;
    let printed = format_flow(&f, None);
    assert!(
        printed.contains(
            "tun_id=0x5,tun_flags=+oam,tun_metadata0=0x1234,tun_metadata9=0x5/0xff,in_port=1"
        ),
        "{printed}"
    );
    assert!(
        printed.contains("set_field:0xabcd->tun_metadata1"),
        "{printed}"
    );
    assert!(
        printed.contains("NXM_NX_TUN_METADATA3[16..31]"),
        "{printed}"
    );
    let again = parse_flow(&printed).unwrap().flow;
    assert_eq!(again.matches, f.matches);
    assert_eq!(again.actions, f.actions);
}

#[test]
fn bad_tokens_are_named() {
    let e = parse_flow("tun_metadata64=1 actions=drop")
        .unwrap_err()
        .to_string();
    assert!(e.contains("tun_metadata64"), "{e}");
    let e = parse_flow("tun_metadata0=1,tun_metadata8=2 actions=drop")
        .unwrap_err()
        .to_string();
    assert!(e.contains("tun_metadata8") && e.contains("slot"), "{e}");
    let e = parse_flow("tun_metadata0=0x1ffffffffffffffff actions=drop")
        .unwrap_err()
        .to_string();
    assert!(e.contains("0x1ffffffffffffffff"), "{e}");
    let e = parse_flow("tun_flags=+bogus actions=drop")
        .unwrap_err()
        .to_string();
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn a_match_requires_presence_not_just_the_value() {
    let t = common::tables(&[
        "priority=10,tun_metadata0=0 actions=output:1",
        "priority=0 actions=drop",
    ]);
    // No option at all: the zero value does not count.
    assert!(common::verdict(&t, "in_port=3").is_empty());
    // The option present with value 0 matches.
    assert_eq!(
        common::verdict(&t, "in_port=3,tun_metadata0=0"),
        vec![DpAction::Output(1)]
    );
    // tun_metadata8 shares tun_metadata0's slot but is another field.
    assert!(common::verdict(&t, "in_port=3,tun_metadata8=0").is_empty());
}

#[test]
fn set_field_carries_the_metadata_to_the_output() {
    let t = common::tables(&[
        "in_port=1 actions=set_field:0x1234->tun_metadata0,load:0x9->NXM_NX_TUN_METADATA5[0..3],output:2",
    ]);
    let mut want = TunMetadata::default();
    want.set(0, 0x1234);
    want.set(5, 0x9);
    assert_eq!(
        common::verdict(&t, "in_port=1"),
        vec![DpAction::SetTunMetadata(want), DpAction::Output(2)]
    );
    // A packet that arrived with the same values needs no rewrite.
    let v = common::verdict(&t, "in_port=1,tun_metadata0=0x1234,tun_metadata5=0x9");
    assert_eq!(v, vec![DpAction::Output(2)]);
}

#[test]
fn megaflows_include_the_metadata_only_when_consulted() {
    // A flow matching the field: its value and presence join the megaflow.
    let t = common::tables(&[
        "priority=10,in_port=1,tun_metadata0=0x1234 actions=output:2",
        "priority=5,in_port=2 actions=output:1",
    ]);
    let mf = trace(&t, &parse_packet("in_port=1,tun_metadata0=0x1234").unwrap()).megaflow();
    assert!(mf.has(Field::TunMetadata(0)), "{mf:?}");
    assert_eq!(mf.get(Field::TunMetadata(0)), (0x1234, u64::MAX as u128));
    // Tables that never look at it: a packet carrying it gets a megaflow
    // without it, so packets with other values share the entry.
    let t2 = common::tables(&["in_port=2 actions=output:1"]);
    let mf = trace(&t2, &parse_packet("in_port=2,tun_metadata0=0x1").unwrap()).megaflow();
    assert!(!mf.has(Field::TunMetadata(0)), "{mf:?}");
    assert_eq!(mf.get(Field::TunMetadata(0)).1, 0);
}

#[test]
fn trace_packets_take_tunnel_metadata() {
    let t = common::tables(&["tun_metadata3=0xbeef actions=output:7"]);
    let r = trace(&t, &parse_packet("in_port=1,tun_metadata3=0xbeef").unwrap());
    assert_eq!(r.xlate.actions, vec![DpAction::Output(7)]);
    assert_eq!(r.packet.meta.tun_md.get(3), Some(0xbeef));
    assert!(parse_packet("in_port=1,tun_metadata3=0xbeef/0xff").is_err());
}
