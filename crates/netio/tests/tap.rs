//! TAP devices against the real kernel (needs root). Each test works in its
//! own network namespace, named `cntap<pid><n>`, removed by a guard even when
//! the test panics; nothing is created in the host's namespace.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use netio::tap::{Offloads, Tap, TapOptions, VirtioNetHdr, VnetHdrLen};

/// True when the test may run; under CI=true a missing root is a failure.
fn root_or_skip(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{test}: needs root (TAP devices, network namespaces); CI=true so this is a failure"
        );
    }
    eprintln!("skipping {test}: needs root");
    false
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace removed on drop.
struct Ns(String);

impl Ns {
    fn new() -> Ns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "cntap{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        sh(&["ip", "netns", "add", &name]);
        let ns = Ns(name);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.0];
        v.extend_from_slice(args);
        sh(&v)
    }

    fn exec(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", &self.0];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Open a TAP inside this namespace: TUNSETIFF creates the netdev in the
    /// namespace of the calling thread, so do it on a thread that entered it.
    fn tap(&self, name: &str, opts: TapOptions) -> Tap {
        let path = format!("/run/netns/{}", self.0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let f = std::fs::File::open(&path).expect("open netns");
                nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                Tap::open(name, &opts).expect("open tap")
            })
            .join()
            .expect("tap thread")
        })
    }

    fn counter(&self, dev: &str, which: &str) -> u64 {
        self.exec(&["cat", &format!("/sys/class/net/{dev}/statistics/{which}")])
            .trim()
            .parse()
            .expect("counter")
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Poll `f` until it yields a value or `limit` passes.
fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An Ethernet frame with the local experimental EtherType 0x88b5
/// (IEEE 802 local use): the kernel counts it and drops it.
fn experimental_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5]);
    f.extend_from_slice(&[0xab; 46]);
    f
}

/// Read frames until an ARP request for `target` shows up.
fn await_arp_request(tap: &Tap, hdr: usize, target: [u8; 4]) -> (Vec<u8>, Vec<u8>) {
    let mut buf = vec![0u8; 65536];
    poll(Duration::from_secs(5), || {
        if !tap.wait_readable(Duration::from_millis(100)).expect("poll") {
            return None;
        }
        let n = tap.read(&mut buf).expect("read");
        let (h, f) = buf[..n].split_at(hdr);
        let is_arp_req = f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 1];
        (is_arp_req && f[38..42] == target).then(|| (h.to_vec(), f.to_vec()))
    })
    .expect("no ARP request read from the TAP within 5 s")
}

#[test]
fn written_frame_is_received_by_the_netdev() {
    if !root_or_skip("written_frame_is_received_by_the_netdev") {
        return;
    }
    let ns = Ns::new();
    let tap = ns.tap("tap0", TapOptions::default());
    assert_eq!(tap.name(), "tap0");
    ns.ip(&["link", "set", "tap0", "up"]);
    let before = ns.counter("tap0", "rx_packets");
    let frame = experimental_frame();
    assert_eq!(tap.write(&frame).expect("write"), frame.len());
    // writev of the same frame in two pieces counts as one more frame.
    let n = tap
        .writev(&[IoSlice::new(&frame[..14]), IoSlice::new(&frame[14..])])
        .expect("writev");
    assert_eq!(n, frame.len());
    let got = poll(Duration::from_secs(2), || {
        let c = ns.counter("tap0", "rx_packets");
        (c >= before + 2).then_some(c)
    });
    assert_eq!(
        got,
        Some(before + 2),
        "rx_packets of tap0 did not grow by 2"
    );
}

#[test]
fn reads_the_arp_request_the_kernel_sends() {
    if !root_or_skip("reads_the_arp_request_the_kernel_sends") {
        return;
    }
    let ns = Ns::new();
    let tap = ns.tap("tap0", TapOptions::default());
    ns.ip(&["addr", "add", "10.9.0.1/24", "dev", "tap0"]);
    ns.ip(&["link", "set", "tap0", "address", "02:00:00:00:09:01", "up"]);
    // Any datagram to a neighbour makes the kernel resolve it first.
    ns.exec(&["bash", "-c", "echo x > /dev/udp/10.9.0.2/9"]);
    let (_, f) = await_arp_request(&tap, 0, [10, 9, 0, 2]);
    assert_eq!(f[0..6], [0xff; 6], "ARP request is broadcast");
    assert_eq!(f[6..12], [2, 0, 0, 0, 9, 1], "source MAC is the TAP's");
    assert_eq!(f[28..32], [10, 9, 0, 1], "sender IP is the TAP's address");
}

#[test]
fn vnet_header_and_offloads() {
    if !root_or_skip("vnet_header_and_offloads") {
        return;
    }
    let ns = Ns::new();
    let opts = TapOptions {
        vnet_hdr: Some(VnetHdrLen::V12),
        offloads: Offloads::ALL,
        ..TapOptions::default()
    };
    let tap = ns.tap("tap0", opts);
    assert_eq!(tap.vnet_hdr(), Some(VnetHdrLen::V12));
    let got = tap.offloads();
    assert!(
        got.csum && got.tso4 && got.tso6,
        "offloads in force: {got:?}"
    );
    ns.ip(&["addr", "add", "10.9.0.1/24", "dev", "tap0"]);
    ns.ip(&["link", "set", "tap0", "up"]);

    ns.exec(&["bash", "-c", "echo x > /dev/udp/10.9.0.2/9"]);
    let (h, f) = await_arp_request(&tap, 12, [10, 9, 0, 2]);
    let hdr = VirtioNetHdr::parse(&h, VnetHdrLen::V12).expect("header");
    assert_eq!(hdr.gso_size, 0, "an ARP request is no GSO frame: {hdr:?}");
    assert_eq!(f[28..32], [10, 9, 0, 1]);

    // Write: header and frame gathered with writev, then read back counters.
    let before = ns.counter("tap0", "rx_packets");
    let mut hbuf = [0u8; 12];
    VirtioNetHdr::default()
        .emit(&mut hbuf, VnetHdrLen::V12)
        .expect("emit");
    let frame = experimental_frame();
    let n = tap
        .writev(&[IoSlice::new(&hbuf), IoSlice::new(&frame)])
        .expect("writev");
    assert_eq!(n, 12 + frame.len());
    let grown = poll(Duration::from_secs(2), || {
        (ns.counter("tap0", "rx_packets") > before).then_some(())
    });
    assert!(grown.is_some(), "frame with virtio header not received");

    // readv splits header and frame.
    ns.exec(&["bash", "-c", "echo x > /dev/udp/10.9.0.3/9"]);
    let mut h2 = [0u8; 12];
    let mut f2 = vec![0u8; 2048];
    let seen = poll(Duration::from_secs(5), || {
        if !tap.wait_readable(Duration::from_millis(100)).expect("poll") {
            return None;
        }
        let n = tap
            .readv(&mut [IoSliceMut::new(&mut h2), IoSliceMut::new(&mut f2)])
            .expect("readv");
        (n >= 12 + 42 && f2[12..14] == [8, 6] && f2[38..42] == [10, 9, 0, 3]).then_some(())
    });
    assert!(seen.is_some(), "no ARP request for 10.9.0.3 via readv");
}

#[test]
fn persist_and_multi_queue() {
    if !root_or_skip("persist_and_multi_queue") {
        return;
    }
    let ns = Ns::new();
    let mq = TapOptions {
        multi_queue: true,
        ..TapOptions::default()
    };
    let q0 = ns.tap("mq0", mq);
    let q1 = ns.tap("mq0", mq);
    assert_eq!(q0.name(), q1.name());
    drop(q0);
    assert!(
        ns.ip(&["link", "show", "mq0"]).contains("mq0"),
        "netdev gone with one queue left"
    );
    drop(q1);
    assert!(
        poll(Duration::from_secs(2), || (!ns
            .ip(&["-o", "link"])
            .contains("mq0"))
        .then_some(()))
        .is_some(),
        "transient TAP outlived its last fd"
    );

    let p = ns.tap(
        "per0",
        TapOptions {
            persist: Some(true),
            ..TapOptions::default()
        },
    );
    drop(p);
    assert!(
        ns.ip(&["-o", "link"]).contains("per0"),
        "persistent TAP vanished"
    );
    let p = ns.tap("per0", TapOptions::default());
    p.set_persist(false).expect("unpersist");
    drop(p);
    assert!(
        poll(Duration::from_secs(2), || (!ns
            .ip(&["-o", "link"])
            .contains("per0"))
        .then_some(()))
        .is_some(),
        "TAP made transient again outlived its fd"
    );
}

/// Run `f` on a thread inside namespace `ns`.
fn in_ns<T: Send>(ns: &Ns, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{}", ns.0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&path).expect("open netns");
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("ns thread")
    })
}

/// Two namespaces joined by two TAPs and this test as the wire between
/// them, passing every frame through with its virtio header — what the
/// switch does. With offloads on, the TCP sender's kernel hands over 64 KB
/// TSO super-frames (`gso_type` TCPv4, far above the MTU), and writing them
/// whole into the other TAP delivers the stream intact.
#[test]
fn tso_frames_pass_through_two_taps() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    if !root_or_skip("tso_frames_pass_through_two_taps") {
        return;
    }
    let opts = TapOptions {
        vnet_hdr: Some(VnetHdrLen::V12),
        offloads: Offloads::ALL,
        ..TapOptions::default()
    };
    let (na, nb) = (Ns::new(), Ns::new());
    let ta = na.tap("eth0", opts);
    let tb = nb.tap("eth0", opts);
    for (ns, addr) in [(&na, "10.9.1.1/24"), (&nb, "10.9.1.2/24")] {
        ns.ip(&["addr", "add", addr, "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
    }
    let stop = AtomicBool::new(false);
    let gso_frames = AtomicUsize::new(0);
    let biggest = AtomicUsize::new(0);
    const LEN: usize = 4 << 20;
    let deadline = Instant::now() + Duration::from_secs(20);

    let relay = |from: &Tap, to: &Tap| {
        let mut buf = vec![0u8; 65536 + 12];
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            if !from.wait_readable(Duration::from_millis(20)).expect("poll") {
                continue;
            }
            let n = match from.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("read: {e}"),
            };
            let hdr = VirtioNetHdr::parse(&buf[..n], VnetHdrLen::V12).expect("vnet hdr");
            if hdr.gso_type == netio::tap::GsoType::TcpV4 {
                gso_frames.fetch_add(1, Ordering::Relaxed);
            }
            biggest.fetch_max(n - 12, Ordering::Relaxed);
            // A full TAP queue drops, like a wire would; TCP recovers.
            let _ = to.write(&buf[..n]);
        }
    };
    let received = std::thread::scope(|s| {
        let (ra, rb, relay) = (&ta, &tb, &relay);
        s.spawn(move || relay(ra, rb));
        s.spawn(move || relay(rb, ra));

        let listener = in_ns(&nb, || std::net::TcpListener::bind("10.9.1.2:5001")).expect("bind");
        let server = s.spawn(move || {
            let (mut c, _) = listener.accept().expect("accept");
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut n = 0usize;
            let mut buf = vec![0u8; 65536];
            loop {
                match c.read(&mut buf).expect("server read") {
                    0 => break n,
                    k => n += k,
                }
            }
        });
        let mut client = in_ns(&na, || {
            std::net::TcpStream::connect_timeout(
                &"10.9.1.2:5001".parse().unwrap(),
                Duration::from_secs(5),
            )
        })
        .expect("connect");
        client
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let chunk = vec![0x5au8; 256 * 1024];
        for _ in 0..LEN / chunk.len() {
            client.write_all(&chunk).expect("client write");
        }
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let got = server.join().expect("server");
        stop.store(true, Ordering::Relaxed);
        got
    });
    assert_eq!(
        received, LEN,
        "stream through the two TAPs arrived incomplete"
    );
    let big = biggest.load(Ordering::Relaxed);
    eprintln!(
        "{} TSO frames relayed, largest {big} bytes",
        gso_frames.load(Ordering::Relaxed)
    );
    assert!(
        gso_frames.load(Ordering::Relaxed) > 0 && big > 1514,
        "no TSO super-frame seen (largest frame {big} bytes)"
    );
}

/// io_uring bursts on a real TAP ([`netio::uring`]): a burst of writes
/// reaches the netdev, and a burst of reads returns the frames the kernel
/// sent — and returns at once, empty, when nothing is queued (a TAP read
/// must never be left waiting in the ring).
#[test]
fn uring_bursts_on_a_tap() {
    use netio::uring::{Batch, WriteReq};
    use std::os::fd::AsRawFd;

    if !root_or_skip("uring_bursts_on_a_tap") {
        return;
    }
    let Ok(mut batch) = Batch::new() else {
        eprintln!("skipping uring_bursts_on_a_tap: io_uring unavailable here");
        return;
    };
    let ns = Ns::new();
    let tap = ns.tap("tap0", TapOptions::default());
    ns.ip(&["addr", "add", "10.9.2.1/24", "dev", "tap0"]);
    ns.ip(&["link", "set", "tap0", "address", "02:00:00:00:09:01", "up"]);
    ns.ip(&[
        "neigh",
        "add",
        "10.9.2.2",
        "lladdr",
        "02:00:00:00:09:02",
        "dev",
        "tap0",
    ]);
    let mut bufs: Vec<Vec<u8>> = (0..8).map(|_| vec![0u8; 2048]).collect();
    let mut lens = [0usize; 8];
    // Drain what the kernel sent on link-up (IPv6 DAD, router solicits).
    while batch.read(tap.as_raw_fd(), &mut bufs, &mut lens).0 > 0 {}
    assert_eq!(
        batch.read(tap.as_raw_fd(), &mut bufs, &mut lens),
        (0, 0),
        "an empty TAP gives no frame and no error"
    );

    let before = ns.counter("tap0", "rx_packets");
    let frame = experimental_frame();
    let reqs: Vec<WriteReq> = (0..5)
        .map(|_| {
            (
                tap.as_raw_fd(),
                [&frame[..14], &frame[14..], &[][..], &[][..]],
            )
        })
        .collect();
    let mut written = 0;
    batch.write(&reqs, |_, r| {
        assert_eq!(r.expect("uring write"), frame.len());
        written += 1;
    });
    assert_eq!(written, 5);
    let got = poll(Duration::from_secs(2), || {
        let c = ns.counter("tap0", "rx_packets");
        (c >= before + 5).then_some(c)
    });
    assert_eq!(
        got,
        Some(before + 5),
        "rx_packets of tap0 did not grow by 5"
    );

    ns.exec(&[
        "bash",
        "-c",
        "for i in 1 2 3; do echo $i > /dev/udp/10.9.2.2/9; done",
    ]);
    let mut udp = 0;
    poll(Duration::from_secs(5), || {
        let (n, errors) = batch.read(tap.as_raw_fd(), &mut bufs, &mut lens);
        assert_eq!(errors, 0);
        udp += (0..n)
            .filter(|&i| lens[i] >= 42 && bufs[i][12..14] == [8, 0] && bufs[i][23] == 17)
            .count();
        (udp >= 3).then_some(())
    })
    .expect("three UDP frames read through io_uring within 5 s");
    assert_eq!(udp, 3);
}
