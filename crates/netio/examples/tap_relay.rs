//! Throughput of a userspace wire between two TAPs, with and without
//! offloads (root): how much TSO pass-through buys the switch.
//!
//! Two namespaces, each with a TAP `eth0`; one thread per direction copies
//! frames (virtio header included) from one TAP to the other, as the switch
//! does; a TCP stream of 1 GiB runs between the namespaces.
//!
//! `cargo run --release -p netio --example tap_relay`

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netio::tap::{Offloads, Tap, TapOptions, VnetHdrLen};

const TOTAL: usize = 1 << 30;

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("run ip");
    assert!(st.success(), "ip {args:?} failed");
}

struct Ns(String);

impl Ns {
    fn new(name: &str) -> Ns {
        ip(&["netns", "add", name]);
        Ns(name.to_owned())
    }

    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("open netns");
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .expect("setns");
                f()
            })
            .join()
            .expect("thread")
        })
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn measure(offloads: bool) -> (f64, u64) {
    let pid = std::process::id();
    let (na, nb) = (
        Ns::new(&format!("cntr{pid}a")),
        Ns::new(&format!("cntr{pid}b")),
    );
    let opts = TapOptions {
        vnet_hdr: Some(VnetHdrLen::V12),
        offloads: if offloads {
            Offloads::ALL
        } else {
            Offloads::default()
        },
        ..TapOptions::default()
    };
    let ta = na.run(|| Tap::open("eth0", &opts)).expect("tap a");
    let tb = nb.run(|| Tap::open("eth0", &opts)).expect("tap b");
    for (ns, addr) in [(&na, "10.9.2.1/24"), (&nb, "10.9.2.2/24")] {
        ip(&["-n", &ns.0, "addr", "add", addr, "dev", "eth0"]);
        ip(&["-n", &ns.0, "link", "set", "eth0", "up"]);
    }
    let stop = AtomicBool::new(false);
    let frames = AtomicU64::new(0);
    let relay = |from: &Tap, to: &Tap| {
        let mut buf = vec![0u8; 65536 + 12];
        while !stop.load(Ordering::Relaxed) {
            if !from.wait_readable(Duration::from_millis(20)).expect("poll") {
                continue;
            }
            while let Ok(n) = from.read(&mut buf) {
                frames.fetch_add(1, Ordering::Relaxed);
                let _ = to.write(&buf[..n]);
            }
        }
    };
    let listener = nb
        .run(|| std::net::TcpListener::bind("10.9.2.2:5001"))
        .expect("bind");
    let secs = std::thread::scope(|s| {
        let (ra, rb, relay) = (&ta, &tb, &relay);
        s.spawn(move || relay(ra, rb));
        s.spawn(move || relay(rb, ra));
        let server = s.spawn(move || {
            let (mut c, _) = listener.accept().expect("accept");
            let mut buf = vec![0u8; 1 << 20];
            let mut n = 0;
            while n < TOTAL {
                match c.read(&mut buf).expect("read") {
                    0 => break,
                    k => n += k,
                }
            }
            n
        });
        let mut c = na
            .run(|| {
                std::net::TcpStream::connect_timeout(
                    &"10.9.2.2:5001".parse().expect("addr"),
                    Duration::from_secs(5),
                )
            })
            .expect("connect");
        let chunk = vec![0x5au8; 1 << 20];
        let t0 = Instant::now();
        for _ in 0..TOTAL / chunk.len() {
            c.write_all(&chunk).expect("write");
        }
        let got = server.join().expect("server");
        let secs = t0.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        assert_eq!(got, TOTAL);
        secs
    });
    (
        TOTAL as f64 * 8.0 / secs / 1e9,
        frames.load(Ordering::Relaxed),
    )
}

fn main() {
    for offloads in [true, false] {
        let (gbps, frames) = measure(offloads);
        println!(
            "offloads {:<3}: {gbps:6.2} Gbit/s TCP through a 2-TAP relay, {frames} frames relayed",
            if offloads { "on" } else { "off" }
        );
    }
}
