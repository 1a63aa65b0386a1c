//! The switch daemon alone: `cloudnet-vswitchd [--run-dir DIR]
//! [--persist-flows] [--dp-threads N] [--detach] [--pidfile F] [--log-file F]`, the same
//! daemon as `cloudnet vswitchd`. It exists so that this crate's end-to-end
//! tests can start (and kill) real daemon processes.

use std::path::PathBuf;

use vswitch::daemon::{DaemonOptions, DEFAULT_RUN_DIR};

fn main() {
    let mut o = DaemonOptions {
        switch: vswitch::Options {
            run_dir: PathBuf::from(DEFAULT_RUN_DIR),
            persist_flows: false,
            dp_threads: 0,
        },
        detach: false,
        pidfile: None,
        log_file: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| match args.next() {
            Some(v) => PathBuf::from(v),
            None => {
                eprintln!("cloudnet-vswitchd: {name} needs a value");
                std::process::exit(2)
            }
        };
        match a.as_str() {
            "--run-dir" => o.switch.run_dir = value("--run-dir"),
            "--pidfile" => o.pidfile = Some(value("--pidfile")),
            "--log-file" => o.log_file = Some(value("--log-file")),
            "--persist-flows" => o.switch.persist_flows = true,
            "--dp-threads" => {
                let v = value("--dp-threads");
                match v.to_str().and_then(|s| s.parse::<usize>().ok()) {
                    Some(n) if (1..=vswitch::dp::worker::MAX_THREADS).contains(&n) => {
                        o.switch.dp_threads = n
                    }
                    _ => {
                        eprintln!(
                            "cloudnet-vswitchd: --dp-threads {}: not a number from 1 to {}",
                            v.display(),
                            vswitch::dp::worker::MAX_THREADS
                        );
                        std::process::exit(2)
                    }
                }
            }
            "--detach" => o.detach = true,
            other => {
                eprintln!("cloudnet-vswitchd: unknown argument {other:?}");
                std::process::exit(2)
            }
        }
    }
    if let Err(e) = vswitch::daemon::run(o) {
        eprintln!("cloudnet-vswitchd: {e}");
        std::process::exit(1);
    }
}
