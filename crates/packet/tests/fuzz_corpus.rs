//! Replays the committed fuzz corpus (and any regression inputs) through the
//! exact code the cargo-fuzz targets run, so CI catches regressions without
//! a nightly toolchain.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = corpus_dir(target);
    let mut n = 0;
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("readable corpus entry").path();
        if path.is_file() {
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            run(&data);
            n += 1;
        }
    }
    n
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
        let dir = corpus_dir(target);
        fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        }
    }
}
