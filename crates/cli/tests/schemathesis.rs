//! schemathesis (PyPI) against `cloudnet serve`'s `/openapi.json`, through
//! scripts/schemathesis.sh: no 5xx, responses match the documented schemas,
//! every error body is a NeutronError. A short run (20 cases per operation,
//! fixed seed); RELIABILITY.md has the long-run command.

use std::path::{Path, PathBuf};
use std::process::Command;

fn venv_ready() -> bool {
    let venv = std::env::var("SCHEMATHESIS_VENV")
        .unwrap_or_else(|_| "/var/cache/cloudnet/schemathesis-venv".into());
    PathBuf::from(venv).join("bin/st").exists()
}

#[test]
fn schemathesis_finds_nothing() {
    if !venv_ready() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the schemathesis venv is missing: run scripts/deps.sh");
        }
        eprintln!(
            "skipping: schemathesis venv missing (run scripts/schemathesis.sh --install-only)"
        );
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/schemathesis.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("CLOUDNET_BIN", env!("CARGO_BIN_EXE_cloudnet"))
        .env("ST_MAX_EXAMPLES", "20")
        .output()
        .expect("run scripts/schemathesis.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    // The run really tested something: a summary with passed cases.
    assert!(
        stdout.contains("passed") && stdout.contains("generated"),
        "no test cases in the output:\n{stdout}"
    );
}
