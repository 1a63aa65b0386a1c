//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Sums are kept as 16-bit one's-complement values in *network* interpretation
//! (the value a big-endian reader sees), so they can be combined with [`add`]
//! and compared with the header field read through a view.
//!
//! [`sum`] is on the hot path (tunnel encapsulation, TSO finishing): it adds
//! 64-bit native-endian words into split 32-bit halves, which RFC 1071 §2(B)
//! ("byte order independence") allows, and byte-swaps once at the end.

use core::net::{Ipv4Addr, Ipv6Addr};

/// Folds a wide one's-complement accumulator to 16 bits (RFC 1071 §4.1).
#[inline(always)]
fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// One's-complement sum of `data` as big-endian 16-bit words, an odd final
/// byte padded with zero (RFC 1071 §2). Returns the folded, *uncomplemented*
/// sum; complement it (or use [`checksum`]) to get a header field value.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    // Four independent accumulators per 32-byte block let the CPU overlap the
    // adds; each 32-bit half added is < 2^32, so a u64 cannot overflow for
    // any buffer shorter than 2^34 bytes.
    let mut acc = [0u64; 4];
    let mut blocks = data.chunks_exact(32);
    for block in &mut blocks {
        for (i, word) in block.chunks_exact(8).enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let v = u64::from_ne_bytes(w);
            acc[i] += (v & 0xffff_ffff) + (v >> 32);
        }
    }
    let mut total = acc[0] + acc[1] + acc[2] + acc[3];
    let rest = blocks.remainder();
    let mut words = rest.chunks_exact(2);
    for word in &mut words {
        total += u64::from(u16::from_ne_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        total += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    // Native-order words give the byte-swapped sum on little-endian hosts;
    // `from_be` swaps there and is a no-op on big-endian ones.
    u16::from_be(fold(total))
}

/// One's-complement addition of two folded sums.
#[inline(always)]
pub fn add(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// The checksum field value for `data` alone: `!sum(data)`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Sum of the IPv4 pseudo-header (RFC 793 §3.1, RFC 768) for an upper-layer
/// segment of `len` bytes carrying protocol `proto`.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) -> u16 {
    let s = u32::from(src);
    let d = u32::from(dst);
    fold(
        u64::from(s >> 16)
            + u64::from(s & 0xffff)
            + u64::from(d >> 16)
            + u64::from(d & 0xffff)
            + u64::from(proto)
            + u64::from(len),
    )
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1): addresses, 32-bit
/// upper-layer length and next header.
#[inline]
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, proto: u8, len: u32) -> u16 {
    let mut acc = u64::from(sum(&src.octets())) + u64::from(sum(&dst.octets()));
    acc += u64::from(len >> 16) + u64::from(len & 0xffff) + u64::from(proto);
    fold(acc)
}

/// Checksum of an IPv4 header whose checksum field is zero (RFC 791 §3.1).
#[inline]
pub fn ipv4_header(header: &[u8]) -> u16 {
    checksum(header)
}

/// TCP/UDP/other upper-layer checksum over IPv4: `segment` is the whole
/// L4 header plus payload with its checksum field zeroed. For UDP, callers
/// map a result of 0 to 0xffff (RFC 768); [`udp`](crate::udp) does.
#[inline]
pub fn l4_ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, segment: &[u8]) -> u16 {
    let pseudo = pseudo_header_v4(src, dst, proto, segment.len() as u16);
    !add(pseudo, sum(segment))
}

/// Upper-layer checksum over IPv6 (TCP, UDP, ICMPv6 — RFC 8200 §8.1,
/// RFC 4443 §2.3), `segment` with its checksum field zeroed.
#[inline]
pub fn l4_ipv6(src: &Ipv6Addr, dst: &Ipv6Addr, proto: u8, segment: &[u8]) -> u16 {
    let pseudo = pseudo_header_v6(src, dst, proto, segment.len() as u32);
    !add(pseudo, sum(segment))
}

/// ICMPv4 checksum (RFC 792): no pseudo-header, `message` with the field zeroed.
#[inline]
pub fn icmpv4(message: &[u8]) -> u16 {
    checksum(message)
}

/// New checksum after a 16-bit field changed from `old` to `new`
/// (RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`). Unlike eqn. 2 it never yields
/// 0x0000 for a non-zero sum (the flaw RFC 1624 §3 describes).
#[inline]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!csum) + u64::from(!old) + u64::from(new))
}

/// [`update16`] for a 32-bit field (an IPv4 address, a TCP sequence number):
/// both halves are updated in one fold.
#[inline]
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let acc = u64::from(!csum)
        + u64::from(!(old >> 16) as u16)
        + u64::from(!(old as u16))
        + u64::from(new >> 16)
        + u64::from(new & 0xffff);
    !fold(acc)
}

/// [`update16`] for a 128-bit field (an IPv6 address in a TCP/UDP/ICMPv6
/// pseudo-header).
#[inline]
pub fn update128(csum: u16, old: &[u8; 16], new: &[u8; 16]) -> u16 {
    let acc = u64::from(!csum) + u64::from(!sum(old)) + u64::from(sum(new));
    !fold(acc)
}
