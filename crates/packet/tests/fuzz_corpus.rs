//! Replays the committed fuzz corpus (and any regression inputs) through the
//! exact code the cargo-fuzz targets run, so CI catches regressions without
//! a nightly toolchain.

mod common;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    fuzzcorpus::replay(env!("CARGO_MANIFEST_DIR"), target, run)
}

#[test]
fn extract_corpus_replays() {
    let n = replay("extract", packet::fuzzing::extract_target);
    assert!(n >= 10, "extract corpus unexpectedly small: {n} files");
}

#[test]
fn tunnel_corpus_replays() {
    let n = replay("tunnel", packet::fuzzing::tunnel_target);
    assert!(n >= 3, "tunnel corpus unexpectedly small: {n} files");
}

/// Tunnel seeds: selector byte (0 VXLAN, 1 Geneve, 2 GRE) + the header.
fn tunnel_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let inner = common::tcp_v4_frame();
    // Outer frame: 14 Ethernet + 20 IPv4 + 8 UDP, then the tunnel header.
    let vx = common::vxlan_frame(5000, &inner);
    let gn = common::geneve_frame(77, &inner);
    let gr = common::gre_frame(&inner);
    vec![
        ("vxlan", [&[0u8][..], &vx[42..]].concat()),
        ("geneve", [&[1u8][..], &gn[42..]].concat()),
        ("gre", [&[2u8][..], &gr[34..]].concat()),
    ]
}

/// Regenerates the seed files: `cargo test -p packet --test fuzz_corpus --
/// --ignored write_seeds`. Fuzzer-found inputs live beside them.
#[test]
#[ignore]
fn write_seeds() {
    for (target, seeds) in [("extract", common::samples()), ("tunnel", tunnel_seeds())] {
        fuzzcorpus::write_seeds(env!("CARGO_MANIFEST_DIR"), target, seeds);
    }
}
