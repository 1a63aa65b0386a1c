//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`: seeds plus
//! any crash inputs the fuzzer found) through the exact code the cargo-fuzz
//! targets run (`flow::fuzzing`), so CI catches regressions on stable.

use std::fs;
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    fuzzcorpus::replay(env!("CARGO_MANIFEST_DIR"), target, run)
}

#[test]
fn parse_flow_corpus_replays() {
    let n = replay("parse_flow", flow::fuzzing::parse_flow_target);
    assert!(n >= 15, "parse_flow corpus unexpectedly small: {n} files");
}

#[test]
fn parse_packet_corpus_replays() {
    let n = replay("parse_packet", flow::fuzzing::parse_packet_target);
    assert!(n >= 5, "parse_packet corpus unexpectedly small: {n} files");
}

#[test]
fn translate_corpus_replays() {
    let n = replay("translate", flow::fuzzing::translate_target);
    assert!(n >= 4, "translate corpus unexpectedly small: {n} files");
}

/// The add-flow lines of the seed fixture (comments and blanks dropped).
fn fixture_flows() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed_flows.txt");
    fs::read_to_string(path)
        .expect("fixture")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Extra flows covering syntax the seed does not (masks, ct, NXM, errors).
const EXTRA_FLOWS: [&str; 10] = [
    "priority=32768,ip,nw_src=10.0.0.1/255.255.255.0,actions=output:1",
    "dl_type=0x0800,nw_proto=6,tp_dst=0x50/0xfff0,actions=drop",
    "in_port=LOCAL actions=IN_PORT",
    "vlan_tci=0x0000/0x1000,actions=drop",
    "ct_state=-new+est+trk,ip actions=ct(commit,zone=NXM_NX_REG6[0..15],table=3,exec(set_field:1->ct_mark))",
    "pkt_mark=0x7,reg3=0x5/0xff,tun_id=0x64,metadata=0x10 actions=load:0x5->NXM_NX_REG0[0..7],move:NXM_OF_IN_PORT[]->NXM_NX_REG1[]",
    "cookie=0x1f, table=2, idle_timeout=10, hard_timeout=20, send_flow_rem priority=7 actions=controller(reason=no_match,userdata=01.02),note:ab.cd",
    "ipv6,ipv6_src=2001:db8::/32,actions=set_field:02:00:00:00:00:01->dl_dst,dec_ttl,output:2",
    "tcp,tcp_flags=+syn-ack actions=enqueue:1:2,set_queue:3,meter:1,goto_table:4",
    "nw_src=10.0.0.300,actions=drop",
];

/// `ofproto/trace` packets and filters.
const PACKETS: [&str; 6] = [
    "in_port=3,dl_vlan=7,tcp,nw_src=10.0.0.1,tp_dst=22,tun_id=0x9",
    "ip,nw_src=10.0.0.0/8",
    "in_port=1,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff",
    "ip,in_port=1,reg6=0x9",
    "arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1",
    "icmp6,ipv6_src=2001:db8::1,icmp_type=135,nd_target=2001:db8::2",
];

/// A frame: Ethernet (`dst`, `src`, optional 802.1Q `vid`) + IPv4 + TCP to
/// port 80 (checksums left zero: extraction does not verify them).
fn tcp_frame(dst: [u8; 6], src: [u8; 6], vid: Option<u16>) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    if let Some(v) = vid {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(&[
        0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff,
    ]);
    f.extend_from_slice(&[0, 0, 0, 0]);
    f
}

/// Translate seeds: `[port, selector] ++ flows ++ NUL ++ frame`.
fn translate_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let seed = fixture_flows().join("\n");
    let extra = EXTRA_FLOWS.join("\n");
    let a = [2, 0, 0, 0, 0, 1];
    let b = [2, 0, 0, 0, 0, 2];
    let bcast = [0xff; 6];
    let mk = |port: u8, sel: u8, flows: &str, frame: Vec<u8>| {
        let mut v = vec![port, sel];
        v.extend_from_slice(flows.as_bytes());
        v.push(0);
        v.extend_from_slice(&frame);
        v
    };
    vec![
        (
            "seed_unknown_unicast",
            mk(1, 0x0f, &seed, tcp_frame(b, a, None)),
        ),
        (
            "seed_broadcast",
            mk(1, 0xf0, &seed, tcp_frame(bcast, a, None)),
        ),
        (
            "seed_tunnel_port",
            mk(2, 0x55, &seed, tcp_frame(a, b, Some(1))),
        ),
        ("extra_flows", mk(1, 0xaa, &extra, tcp_frame(b, a, Some(7)))),
        ("short_frame", mk(3, 0xff, &seed, vec![1, 2, 3])),
    ]
}

/// Regenerates the seed files: `cargo test -p flow --test fuzz_corpus --
/// --ignored write_seeds`. Fuzzer-found inputs (`crash-*`) live beside them.
#[test]
#[ignore]
fn write_seeds() {
    let flows: Vec<(String, Vec<u8>)> = fixture_flows()
        .into_iter()
        .chain(EXTRA_FLOWS.iter().map(|s| s.to_string()))
        .enumerate()
        .map(|(i, l)| (format!("{i:02}"), l.into_bytes()))
        .collect();
    let packets = PACKETS
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("{i:02}"), p.as_bytes().to_vec()))
        .collect();
    let xlate = translate_seeds()
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    for (target, seeds) in [
        ("parse_flow", flows),
        ("parse_packet", packets),
        ("translate", xlate),
    ] {
        fuzzcorpus::write_seeds(env!("CARGO_MANIFEST_DIR"), target, seeds);
    }
}
