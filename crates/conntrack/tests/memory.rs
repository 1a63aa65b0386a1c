//! Bounded memory: issue 6 asks for ≤ 256 bytes per connection and
//! 1 M connections in ≤ 256 MB.

mod common;

use common::*;
use conntrack::*;

#[test]
fn one_million_connections_fit_in_256_mb() {
    let (mut ct, _) = tracker_with(Config {
        max_conns: 2_000_000,
        ..Config::default()
    });
    let n: u32 = 1_000_000;
    ct.reserve(n as usize);
    for i in 0..n {
        let src = std::net::IpAddr::from((0x0a00_0000u32 | (i >> 8)).to_be_bytes());
        let pkt = CtPacket::udp(src, ip("198.51.100.9"), 1024 + (i & 0xff) as u16, 53);
        assert_eq!(ct.process(&pkt, &COMMIT).refused, None);
    }
    assert_eq!(ct.len(), n as usize);
    let bytes = ct.memory_bytes();
    assert!(bytes <= 256 << 20, "{bytes} bytes for 1 M connections");
    assert!(
        bytes / n as usize <= 256,
        "{} bytes per connection",
        bytes / n as usize
    );
}
