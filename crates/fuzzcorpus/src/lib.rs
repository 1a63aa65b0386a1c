//! Replays a committed cargo-fuzz corpus in a normal `cargo test`.
//!
//! Each fuzzed crate keeps its target bodies in the crate (a `fuzzing`
//! module) and its corpus in `fuzz/corpus/<target>/`: `seed-*` files it
//! generates and `crash-*` regression inputs the fuzzer found. Replaying
//! the corpus through the same body on the stable toolchain makes every
//! fixed crash a regression test, without nightly or libFuzzer in CI.
//!
//! ```no_run
//! // tests/fuzz_corpus.rs of a crate
//! let n = fuzzcorpus::replay(env!("CARGO_MANIFEST_DIR"), "parse", |data| {
//!     let _ = std::str::from_utf8(data);
//! });
//! assert!(n >= 1);
//! ```
#![forbid(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};

/// `fuzz/corpus/<target>` under the crate at `manifest_dir`.
pub fn corpus_dir(manifest_dir: &str, target: &str) -> PathBuf {
    Path::new(manifest_dir).join("fuzz/corpus").join(target)
}

/// Runs `run` on every file of `corpus_dir(manifest_dir, target)`, in name
/// order (so a failure reproduces the same way), and returns how many ran.
///
/// Panics naming the file when the directory cannot be read, and prints
/// each file's name before running it so that the panic a target raises
/// is attributed to its input.
pub fn replay(manifest_dir: &str, target: &str, run: impl Fn(&[u8])) -> usize {
    let dir = corpus_dir(manifest_dir, target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for path in &paths {
        let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("replay {target}: {}", path.display());
        run(&data);
    }
    paths.len()
}

/// Writes `seed-<name>` files into the corpus of `target` (creating it),
/// for a crate's ignored `write_seeds` test. Fuzzer-found inputs beside
/// them are left alone.
pub fn write_seeds<N: AsRef<str>>(
    manifest_dir: &str,
    target: &str,
    seeds: impl IntoIterator<Item = (N, Vec<u8>)>,
) {
    let dir = corpus_dir(manifest_dir, target);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for (name, bytes) in seeds {
        let path = dir.join(format!("seed-{}", name.as_ref()));
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn replays_every_file_in_name_order() {
        let tmp = std::env::temp_dir().join(format!("fuzzcorpus-test-{}", std::process::id()));
        let root = tmp.to_str().expect("utf-8 temp dir").to_owned();
        write_seeds(&root, "t", [("b", vec![2u8]), ("a", vec![1u8])]);
        fs::create_dir_all(corpus_dir(&root, "t").join("subdir")).unwrap();
        let seen = RefCell::new(Vec::new());
        let n = replay(&root, "t", |d| seen.borrow_mut().push(d.to_vec()));
        fs::remove_dir_all(&tmp).unwrap();
        assert_eq!(n, 2);
        assert_eq!(seen.into_inner(), vec![vec![1u8], vec![2u8]]);
    }

    #[test]
    #[should_panic(expected = "fuzz/corpus/missing")]
    fn a_missing_corpus_is_an_error() {
        replay("/nonexistent-crate", "missing", |_| {});
    }
}
