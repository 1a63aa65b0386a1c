//! `cloudnet demo` end to end (root): the README's first command must build
//! its cloud, pass every check and exit 0.

use std::process::Command;

#[test]
fn demo_passes_its_checks() {
    if !lab::require_root("demo_passes_its_checks") {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_cloudnet"))
        .arg("demo")
        .output()
        .expect("run cloudnet demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cloudnet demo failed:\n{stdout}\n{stderr}"
    );
    let checks: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("[ check]"))
        .collect();
    assert_eq!(checks.len(), 5, "expected five checks:\n{stdout}");
    assert!(
        checks.iter().all(|l| l.ends_with(": ok")),
        "a check failed:\n{stdout}"
    );
    assert!(stdout.contains("5 passed, 0 failed"), "{stdout}");
}
