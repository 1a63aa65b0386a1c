//! Replays the committed `dhcp` fuzz corpus (`fuzz/corpus/dhcp/*`: seeds
//! plus any crash inputs the fuzzer found) through the exact code the
//! cargo-fuzz target runs (`responder::fuzzing`), so CI catches regressions
//! on stable.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType};
use dhcproto::Encodable;
use responder::dhcp::{is_dhcp_server_reply, MAX_REPLY_LEN};
use responder::fuzzing::{client_frame, dhcp_target, server, MAC_FULL, MAC_MINIMAL};

#[test]
fn dhcp_corpus_replays() {
    let n = fuzzcorpus::replay(env!("CARGO_MANIFEST_DIR"), "dhcp", dhcp_target);
    assert!(n >= 10, "dhcp corpus unexpectedly small: {n} files");
}

/// The wrapped seeds reach the reply checks: a bound client's DISCOVER,
/// wrapped as the target wraps it, gets an OFFER from the target's server
/// (so the corpus exercises more than the decoder).
#[test]
fn wrapped_seeds_are_answered() {
    for mac in [MAC_FULL, MAC_MINIMAL] {
        let discover = message(MessageType::Discover, mac, &[], false);
        let frame = client_frame(mac, &discover).expect("frame");
        let mut out = vec![0u8; MAX_REPLY_LEN];
        let len = server().respond(&frame, &mut out).expect("an offer");
        assert!(is_dhcp_server_reply(&out[..len]));
    }
}

fn message(kind: MessageType, mac: [u8; 6], opts: &[DhcpOption], broadcast: bool) -> Vec<u8> {
    let mut m = Message::default();
    m.set_xid(0x1234_5678).set_chaddr(&mac);
    if broadcast {
        m.set_flags(Flags::default().set_broadcast());
    }
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    for o in opts {
        m.opts_mut().insert(o.clone());
    }
    m.to_vec().expect("encodable seed")
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let ours = DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 2));
    let other = DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 99));
    let want = DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 5));
    let wrong = DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 0, 6));
    let msgs: Vec<(&str, Vec<u8>)> = vec![
        (
            "discover",
            message(MessageType::Discover, MAC_FULL, &[], false),
        ),
        (
            "discover_bcast",
            message(MessageType::Discover, MAC_FULL, &[], true),
        ),
        (
            "request_selecting",
            message(
                MessageType::Request,
                MAC_FULL,
                &[ours.clone(), want.clone()],
                false,
            ),
        ),
        (
            "request_other_server",
            message(
                MessageType::Request,
                MAC_FULL,
                &[other, want.clone()],
                false,
            ),
        ),
        (
            "request_init_reboot",
            message(MessageType::Request, MAC_FULL, &[want], false),
        ),
        (
            "request_nak",
            message(MessageType::Request, MAC_FULL, &[wrong], false),
        ),
        ("inform", message(MessageType::Inform, MAC_FULL, &[], false)),
        (
            "release",
            message(
                MessageType::Release,
                MAC_FULL,
                std::slice::from_ref(&ours),
                false,
            ),
        ),
        (
            "decline",
            message(MessageType::Decline, MAC_FULL, &[ours], false),
        ),
    ];
    let mut out = Vec::new();
    for (name, msg) in msgs {
        // Full subnet, minimal subnet, unbound MAC, and a small buffer.
        for (tag, sel) in [
            ("full", 1u8),
            ("minimal", 2),
            ("unbound", 3),
            ("small", 1 | (4 << 2)),
        ] {
            out.push((format!("{name}-{tag}"), [&[sel][..], &msg].concat()));
        }
    }
    let raw = client_frame(
        MAC_MINIMAL,
        &message(MessageType::Discover, MAC_MINIMAL, &[], false),
    )
    .expect("frame");
    out.push(("raw_frame".into(), [&[0u8][..], &raw].concat()));
    out
}

/// Regenerates the seed files: `cargo test -p responder --test fuzz_corpus
/// -- --ignored write_seeds`. Fuzzer-found inputs (`crash-*`) live beside
/// them.
#[test]
#[ignore]
fn write_seeds() {
    fuzzcorpus::write_seeds(env!("CARGO_MANIFEST_DIR"), "dhcp", seeds());
}
