//! Replays the committed `ipv6` fuzz corpus (`fuzz/corpus/ipv6/*`) through
//! the exact code the cargo-fuzz target runs (`responder::fuzzing6`), and
//! checks that the seeds reach the answering paths.

use dhcproto::v6::{DhcpOption, Message, MessageType, OptionCode, IANA, ORO};
use dhcproto::Encodable;
use responder::fuzzing6::ipv6_target;

#[test]
fn ipv6_corpus_replays() {
    let n = fuzzcorpus::replay(env!("CARGO_MANIFEST_DIR"), "ipv6", ipv6_target);
    assert!(n >= 6, "ipv6 corpus unexpectedly small: {n} files");
}

fn dhcp6(ty: MessageType, server: bool) -> Vec<u8> {
    let mut m = Message::new_with_id(ty, [9, 8, 7]);
    let o = m.opts_mut();
    o.insert(DhcpOption::ClientId(vec![0, 3, 0, 1, 2, 0xaa, 0, 0, 0, 5]));
    if server {
        o.insert(DhcpOption::ServerId(vec![0, 3, 0, 1, 2, 0xaa, 0, 0, 0, 1]));
    }
    if ty != MessageType::InformationRequest {
        o.insert(DhcpOption::IANA(IANA {
            id: 1,
            t1: 0,
            t2: 0,
            opts: Default::default(),
        }));
    }
    o.insert(DhcpOption::ORO(ORO {
        opts: vec![OptionCode::DomainNameServers],
    }));
    m.to_vec().expect("encodable seed")
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let with = |sel: u8, body: Vec<u8>| {
        let mut v = vec![sel];
        v.extend(body);
        v
    };
    let rs = vec![133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0xaa, 0, 0, 0, 5];
    vec![
        (
            "solicit".into(),
            with(1, dhcp6(MessageType::Solicit, false)),
        ),
        ("request".into(), with(1, dhcp6(MessageType::Request, true))),
        ("renew".into(), with(1, dhcp6(MessageType::Renew, true))),
        ("rebind".into(), with(1, dhcp6(MessageType::Rebind, false))),
        (
            "confirm".into(),
            with(1, dhcp6(MessageType::Confirm, false)),
        ),
        ("release".into(), with(1, dhcp6(MessageType::Release, true))),
        (
            "info_stateless".into(),
            with(2, dhcp6(MessageType::InformationRequest, false)),
        ),
        (
            "solicit_stateless".into(),
            with(2, dhcp6(MessageType::Solicit, false)),
        ),
        ("rs".into(), with(3, rs.clone())),
        ("rs_small_buffer".into(), with(3 | (10 << 2), rs)),
    ]
}

/// The seeds are answered (so the corpus exercises the reply checks).
#[test]
fn seeds_are_answered() {
    let all_dhcp = "ff02::1:2".parse().expect("ip");
    for (name, s) in seeds() {
        if name.contains("small") || name == "rs" {
            continue;
        }
        let frame = responder::fuzzing6::vm_frame(all_dhcp, 17, 1, &s[1..]).expect("frame");
        let cfg = responder::dhcp6::Dhcp6Config {
            server_mac: [0x02, 0xaa, 0, 0, 0, 1],
            addr: (s[0] == 1).then(|| "2001:db8:1::5".parse().expect("ip")),
            dns: vec![],
        };
        let mut out = vec![0u8; 1514];
        assert!(
            responder::dhcp6::respond(&frame, &cfg, &mut out).is_ok(),
            "seed {name} not answered"
        );
    }
}

/// Regenerates the seed files: `cargo test -p responder --test
/// fuzz_corpus6 -- --ignored write_seeds`.
#[test]
#[ignore]
fn write_seeds() {
    fuzzcorpus::write_seeds(env!("CARGO_MANIFEST_DIR"), "ipv6", seeds());
}
