//! Bodies of the cargo-fuzz targets (`crates/flow/fuzz`), kept in the crate
//! so that the corpus replay test (`tests/fuzz_corpus.rs`) runs exactly the
//! code the fuzzer runs, on the stable toolchain. Each checks invariants and
//! panics when one breaks — that panic is the fuzzer's signal; nothing here
//! is reachable from production callers.
//!
//! The invariants are the ones issue 3 states for the text syntax
//! (ovs-ofctl(8) "Flow Syntax"): a bad flow is an error, never a panic, and
//! `parse(print(f)) == f`; and for the cache: a cached verdict equals the
//! classifier's.

use crate::cache::{process, process_uncached, FlowCache};
use crate::classifier::FlowTables;
use crate::fields::Field;
use crate::flowvec::{Metadata, Packet};
use crate::parse::{parse_filter, parse_flow, parse_packet};
use crate::print::{format_flow, format_match};
use crate::trace::packet_match;
use std::time::Duration;

/// Target `parse_flow`: arbitrary text either fails with an error naming a
/// token, or parses to a flow whose printed form parses back to the same
/// flow, without warnings, and prints identically (printing is a fixpoint).
pub fn parse_flow_target(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match parse_flow(s) {
        Ok(p) => {
            let text = format_flow(&p.flow, None);
            let back = match parse_flow(&text) {
                Ok(b) => b,
                Err(e) => panic!("printed flow {text:?} (from {s:?}) does not parse: {e}"),
            };
            assert_eq!(back.flow, p.flow, "round trip changed {s:?} → {text:?}");
            assert!(
                back.warnings.is_empty(),
                "printed flow {text:?} gives warnings {:?}",
                back.warnings
            );
            assert_eq!(
                format_flow(&back.flow, None),
                text,
                "printing is not a fixpoint"
            );
        }
        Err(e) => check_error(s, &e),
    }
}

/// Target `parse_packet`: the text is tried as an `ofproto/trace` packet and
/// as a `dump-flows`/`del-flows` filter. A packet that parses prints (as
/// `trace` shows it) to text that parses to the same packet; a filter's
/// printed match parses to the same match.
pub fn parse_packet_target(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match parse_packet(s) {
        Ok(p) => {
            let w = p.to_words();
            let text = format_match(&packet_match(&w), None);
            let back = match parse_packet(&text) {
                Ok(b) => b,
                Err(e) => panic!("printed packet {text:?} (from {s:?}) does not parse: {e}"),
            };
            assert_eq!(
                back.to_words(),
                w,
                "packet round trip changed {s:?} → {text:?}"
            );
        }
        Err(e) => check_error(s, &e),
    }
    match parse_filter(s) {
        Ok(p) => {
            let text = format_match(&p.flow.matches, None);
            let back = match parse_filter(&text) {
                Ok(b) => b,
                Err(e) => panic!("printed filter {text:?} (from {s:?}) does not parse: {e}"),
            };
            assert_eq!(
                back.flow.matches, p.flow.matches,
                "filter round trip {s:?} → {text:?}"
            );
        }
        Err(e) => check_error(s, &e),
    }
}

/// An error must say why (issue 3: "names the offending token and why").
fn check_error(s: &str, e: &crate::ParseError) {
    assert!(
        !e.reason.is_empty(),
        "error without a reason for {s:?}: {e:?}"
    );
}

/// Most flows the `translate` target installs (keeps each run short).
const MAX_FLOWS: usize = 64;

/// Target `translate`. Input layout: byte 0 is the ingress port (mod 8;
/// bit 7 turns on the nw_src/nw_dst prefix tries of tables 0..8),
/// byte 1 selects which packet fields the follow-up variants perturb, then
/// flow lines (`add-flow` syntax, one per line) up to the first NUL byte,
/// then an Ethernet frame.
///
/// The flows that parse are installed (rejected ones are skipped), the frame
/// goes through [`packet::extract`], and the packet plus a few neighbours
/// (one field changed each, so that a megaflow wider than what translation
/// consulted would give a wrong verdict) go through [`process`] twice —
/// miss, then hit — and must get the verdict [`process_uncached`] gives.
/// Learned flows are applied between rounds, which also exercises the
/// generation-based invalidation.
pub fn translate_target(data: &[u8]) {
    let [port, sel, rest @ ..] = data else {
        return;
    };
    let nul = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let (text, frame) = (&rest[..nul], rest.get(nul + 1..).unwrap_or(&[]));
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let tables = FlowTables::new();
    if port & 0x80 != 0 {
        for t in 0..8 {
            let _ = tables.set_prefixes(t, &[Field::NwSrc, Field::NwDst]);
        }
    }
    for line in text.lines().take(MAX_FLOWS) {
        if let Ok(p) = parse_flow(line) {
            let _ = tables.add_flow(p.flow, Duration::ZERO);
        }
    }
    let mut key = packet::FlowKey::default();
    if packet::extract(frame, &mut key).is_err() {
        // A frame too short for Ethernet still has a (zero) key to look up.
        key = packet::FlowKey::default();
    }
    let pkt = Packet {
        key,
        meta: Metadata {
            in_port: u32::from(port % 8),
            ..Metadata::default()
        },
    };
    let mut cache = FlowCache::new(16, 8);
    let mut now = Duration::ZERO;
    for _round in 0..2 {
        for p in neighbours(&pkt, *sel) {
            for _twice in 0..2 {
                now += Duration::from_millis(1);
                let cached = process(&tables, &mut cache, &p, 64, now);
                let slow = process_uncached(&tables, &p);
                assert_eq!(
                    cached.actions, slow.actions,
                    "cached verdict differs for {p:?}"
                );
                assert_eq!(cached.learns, slow.learns, "cached learns differ for {p:?}");
                if !cached.learns.is_empty() {
                    tables.apply_learned(&cached.learns, now);
                }
            }
        }
    }
}

/// The packet and up to four neighbours, each differing in one field that
/// `sel`'s bits pick.
fn neighbours(p: &Packet, sel: u8) -> Vec<Packet> {
    let w = p.to_words();
    let mut out = vec![*p];
    let changes: [(Field, u128); 8] = [
        (Field::InPort, u128::from(sel % 5) + 1),
        (Field::VlanTci, if p.key.vlan_tci == 0 { 0x1001 } else { 0 }),
        (Field::TunId, 1),
        (Field::DlDst, 0x0200_0000_0001),
        (Field::NwSrc, u128::from(Field::NwSrc.get(&w) as u32 ^ 1)),
        (
            Field::TpDst,
            u128::from(Field::TpDst.get(&w) as u16 ^ 0x100),
        ),
        (Field::Reg(0), 1),
        (Field::DlSrc, Field::DlSrc.get(&w) ^ 0x0100_0000_0000),
    ];
    for (i, (f, v)) in changes.into_iter().enumerate() {
        if sel & (1 << i) != 0 && out.len() < 5 {
            let mut q = w;
            f.set(&mut q, v);
            out.push(Packet::from_words(&q));
        }
    }
    out
}
