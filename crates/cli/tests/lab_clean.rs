//! `cloudnet lab list|clean` against leftovers made on purpose (root).

use std::process::Command;

fn cloudnet(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cloudnet"))
        .args(args)
        .output()
        .expect("run cloudnet");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn lab_clean_removes_leftovers_by_prefix() {
    if !lab::require_root("lab_clean_removes_leftovers_by_prefix") {
        return;
    }
    // Leftovers of a "killed" test: the guards never run.
    let l = lab::Lab::new("cli_clean").expect("lab");
    let prefix = l.prefix().to_owned();
    let ns = l.netns("left").expect("netns");
    std::mem::forget(ns);
    std::mem::forget(l);
    let ns_name = format!("{prefix}left");

    let (ok, out) = cloudnet(&["lab", "list", "--prefix", &prefix]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), format!("netns {ns_name}"));

    let (ok, out) = cloudnet(&["lab", "clean", "--prefix", &prefix, "--dry-run"]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("would remove netns {ns_name}")),
        "{out}"
    );
    assert_eq!(
        lab::find_leftovers(Some(&prefix)).unwrap().netns,
        vec![ns_name.clone()]
    );

    let (ok, out) = cloudnet(&["lab", "clean", "--prefix", &prefix]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("removed netns {ns_name}")), "{out}");
    assert!(lab::find_leftovers(Some(&prefix)).unwrap().is_empty());

    let (ok, out) = cloudnet(&["lab", "clean", "--prefix", &prefix]);
    assert!(ok && out.contains("nothing to remove"), "{out}");
}

#[test]
fn lab_clean_refuses_an_empty_prefix() {
    let (ok, out) = cloudnet(&["lab", "clean", "--prefix", ""]);
    assert!(!ok);
    assert!(out.contains("empty prefix"), "{out}");
}
