//! `cloudnet demo` end to end (root): the README's first command builds the
//! seeds' cloud, passes every check, prints its report and removes
//! everything; `--keep` leaves it up and `--clean` removes it later.
//!
//! One test, since every demo uses the same fixed names (`cnd-*`).

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cloudnet");
const PREFIX: &str = "cnd-";

fn demo(args: &[&str]) -> (Output, String) {
    let out = Command::new(BIN)
        .arg("demo")
        .args(args)
        .output()
        .expect("run cloudnet demo");
    let text = format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// Runs `cloudnet demo --clean` when dropped, so a failing assertion after
/// `--keep` does not leave the fixed `cnd-*` names behind for the next run.
struct CleanOnDrop;

impl Drop for CleanOnDrop {
    fn drop(&mut self) {
        if !nothing_left() {
            let _ = demo(&["--clean"]);
        }
    }
}

fn nothing_left() -> bool {
    lab::find_leftovers(Some(PREFIX)).is_ok_and(|l| l.is_empty())
        && !Path::new("/run/cloudnet-demo").exists()
}

#[test]
fn demo_builds_checks_reports_and_cleans() {
    if !lab::require_root("demo_builds_checks_reports_and_cleans") {
        return;
    }
    // The names are fixed, so a demo left up (a kept one, or a run that was
    // killed) would make the first run refuse. Remove it first and say so.
    if !nothing_left() {
        let (out, text) = demo(&["--clean"]);
        eprintln!("a demo was left up; removed it first:\n{text}");
        assert!(
            out.status.success(),
            "cloudnet demo --clean failed:\n{text}"
        );
        assert!(nothing_left(), "--clean left something:\n{text}");
    }
    let _clean = CleanOnDrop;
    let (out, text) = demo(&[]);
    assert!(out.status.success(), "cloudnet demo failed:\n{text}");
    for want in [
        "What was built",
        "project alpha: network net-a 10.0.0.0/24",
        "project beta: network net-b 10.0.0.0/24",
        "Topology",
        "┌─ host cnd-host",
        "internet cnd-inet",
        "VXLAN",
        "Checks",
        "✓ pass no ping b1 → a-cli",
        "✓ pass HTTP internet → floating IP of a-web",
        "✓ pass SG B drops 3306 from others",
        "✓ pass iperf3 TCP v1 → v2 over VXLAN",
        "✓ pass QoS queue 1 alone",
        "✓ pass 3:1:6 QoS port",
    ] {
        assert!(text.contains(want), "no {want:?} in the report:\n{text}");
    }
    let checks = text.lines().filter(|l| l.starts_with("  ✓ pass ")).count();
    assert!(checks >= 17, "{checks} passing checks:\n{text}");
    assert!(!text.contains("✗"), "a step or check failed:\n{text}");
    assert!(
        text.contains(&format!("{checks} passed, 0 failed")),
        "{text}"
    );
    assert!(nothing_left(), "the demo left namespaces or files behind");

    // --keep leaves it up with directions; --clean removes it.
    let (out, text) = demo(&["--keep", "--quick"]);
    assert!(out.status.success(), "cloudnet demo --keep failed:\n{text}");
    assert!(
        text.contains("cloudnet demo --clean") || text.contains("demo --clean"),
        "{text}"
    );
    let left = lab::find_leftovers(Some(PREFIX)).expect("list namespaces");
    assert!(
        left.netns.iter().any(|n| n == "cnd-host"),
        "kept demo has no host namespace: {left:?}"
    );
    let (again, text2) = demo(&["--quick"]);
    assert!(
        !again.status.success() && text2.contains("--clean"),
        "a second demo must refuse while one is kept:\n{text2}"
    );
    let (out, text) = demo(&["--clean"]);
    assert!(
        out.status.success(),
        "cloudnet demo --clean failed:\n{text}"
    );
    assert!(nothing_left(), "--clean left something:\n{text}");
}
