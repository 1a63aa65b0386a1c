//! Software segmentation (GSO/TSO/USO) and checksum completion for frames
//! that arrive from a TAP with offloads (`virtio_net_hdr`, virtio 1.x §5.1.6)
//! and leave through a tunnel or a port without them.
//!
//! TCP segmentation follows what a NIC's TSO and Linux's `tcp_gso_segment`
//! do: every segment gets a copy of the headers; IPv4 total length and a
//! per-segment incremented identification (RFC 6864 §4.1 permits it; Linux
//! does it unless `SKB_GSO_TCP_FIXEDID`) and a fresh header checksum;
//! the IPv6 payload length; the TCP sequence number advanced by the bytes
//! before it, FIN and PSH only on the last segment and CWR only on the first
//! (RFC 3168 §6.1.2: CWR is set on the first new data after a window
//! reduction); and a full TCP checksum. UDP segmentation (USO,
//! `VIRTIO_NET_HDR_GSO_UDP_L4`) makes each `gso_size` chunk a datagram of
//! its own, as `__udp_gso_segment` does.

use netio::vnet::{GsoType, VirtioNetHdr};
use packet::flowkey::ethertype;
use packet::ip_proto;
use packet::ipv4::Ipv4Packet;
use packet::ipv6::Ipv6Packet;
use packet::tcp::{flags, TcpPacket};
use packet::vlan;

use crate::error::GsoError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L4 {
    Tcp,
    Udp,
}

/// Splits one super-frame into wire-sized frames, each written into a
/// caller-provided buffer (no allocation). Obtain with [`Segmenter::new`],
/// then call [`next_into`](Segmenter::next_into) until it returns `None`.
#[derive(Debug, Clone)]
pub struct Segmenter<'a> {
    frame: &'a [u8],
    l4: L4,
    v6: bool,
    l3: usize,
    l4_at: usize,
    hdr_len: usize,
    mss: usize,
    next: usize,
    end: usize,
    index: u16,
    done: bool,
    ip_ident: u16,
    tcp_seq: u32,
    tcp_flags: u16,
}

impl<'a> Segmenter<'a> {
    /// Parses the headers of `frame` (Ethernet, up to two VLAN tags, IPv4
    /// or IPv6 without extension headers, TCP or UDP) as `vnet` describes.
    /// `vnet.hdr_len` is only a hint in virtio and is not trusted; the
    /// headers are measured here.
    pub fn new(frame: &'a [u8], vnet: &VirtioNetHdr) -> Result<Self, GsoError> {
        let (l4, want_v6) = match vnet.gso_type {
            GsoType::TcpV4 => (L4::Tcp, Some(false)),
            GsoType::TcpV6 => (L4::Tcp, Some(true)),
            GsoType::UdpL4 => (L4::Udp, None),
            other => return Err(GsoError::Unsupported(other)),
        };
        if vnet.gso_size == 0 {
            return Err(GsoError::ZeroGsoSize);
        }
        let (et, l3) = l3_offset(frame)?;
        let (v6, l4_at, end, proto) = match et {
            ethertype::IPV4 => {
                let ip = Ipv4Packet::new_checked(&frame[l3..])?;
                if ip.is_fragment() {
                    return Err(GsoError::Fragment);
                }
                (
                    false,
                    l3 + ip.header_len(),
                    l3 + usize::from(ip.total_len()),
                    ip.protocol(),
                )
            }
            ethertype::IPV6 => {
                let ip = Ipv6Packet::new_checked(&frame[l3..])?;
                let nh = ip.next_header();
                if nh != ip_proto::TCP && nh != ip_proto::UDP {
                    return Err(GsoError::Ipv6Extension { next_header: nh });
                }
                (
                    true,
                    l3 + packet::ipv6::HEADER_LEN,
                    l3 + packet::ipv6::HEADER_LEN + usize::from(ip.payload_len()),
                    nh,
                )
            }
            other => return Err(GsoError::NotIp { ethertype: other }),
        };
        if want_v6.is_some_and(|w| w != v6) {
            return Err(GsoError::WrongIpVersion);
        }
        let expected = match l4 {
            L4::Tcp => ip_proto::TCP,
            L4::Udp => ip_proto::UDP,
        };
        if proto != expected {
            return Err(GsoError::WrongProtocol {
                expected,
                found: proto,
            });
        }
        let (hdr_len, tcp_seq, tcp_flags) = match l4 {
            L4::Tcp => {
                let tcp = TcpPacket::new_checked(&frame[l4_at..end])?;
                (l4_at + tcp.header_len(), tcp.seq(), tcp.flags())
            }
            L4::Udp => {
                let need = l4_at + packet::udp::HEADER_LEN;
                if need > end {
                    return Err(packet::Error::Truncated {
                        layer: "udp",
                        need,
                        have: end,
                    }
                    .into());
                }
                (need, 0, 0)
            }
        };
        let ip_ident = if v6 {
            0
        } else {
            u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]])
        };
        Ok(Self {
            frame,
            l4,
            v6,
            l3,
            l4_at,
            hdr_len,
            mss: usize::from(vnet.gso_size),
            next: hdr_len,
            end,
            index: 0,
            done: false,
            ip_ident,
            tcp_seq,
            tcp_flags,
        })
    }

    /// Number of segments the frame yields.
    pub fn segment_count(&self) -> usize {
        let payload = self.end - self.hdr_len;
        payload.div_ceil(self.mss).max(1)
    }

    /// Length of the largest segment: size output buffers with this.
    pub fn max_segment_len(&self) -> usize {
        self.hdr_len + self.mss.min(self.end - self.hdr_len)
    }

    /// Length of the copied headers (Ethernet through L4).
    pub fn header_len(&self) -> usize {
        self.hdr_len
    }

    /// Writes the next segment at the start of `out` and returns its
    /// length; `None` once all segments are out. On
    /// [`GsoError::BufferTooSmall`] nothing advances: retry with a larger
    /// buffer.
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<Result<usize, GsoError>> {
        if self.done {
            return None;
        }
        let seg_len = self.hdr_len + self.mss.min(self.end - self.next);
        if out.len() < seg_len {
            return Some(Err(GsoError::BufferTooSmall {
                need: seg_len,
                have: out.len(),
            }));
        }
        let (hdr, body) = out[..seg_len].split_at_mut(self.hdr_len);
        Some(self.next_headers_into(hdr)?.map(|payload| {
            body.copy_from_slice(&self.frame[payload]);
            seg_len
        }))
    }

    /// Writes only the headers of the next segment ([`header_len`] bytes,
    /// checksums included) at the start of `out` and returns where its
    /// payload lies in the super-frame: the segment is `out[..header_len]`
    /// followed by `frame[range]`, for a vectored send (`sendmsg(2)` with
    /// two iovecs per segment) that copies no payload in user space. The
    /// checksum is the same as [`next_into`]'s: the one's-complement sum
    /// of the headers and of the payload may be added separately because
    /// the L4 header length is even (RFC 1071 §2 (B), byte-order and
    /// split independence). `None` once all segments are out; on
    /// [`GsoError::BufferTooSmall`] nothing advances.
    ///
    /// [`header_len`]: Segmenter::header_len
    /// [`next_into`]: Segmenter::next_into
    pub fn next_headers_into(
        &mut self,
        out: &mut [u8],
    ) -> Option<Result<core::ops::Range<usize>, GsoError>> {
        if self.done {
            return None;
        }
        if out.len() < self.hdr_len {
            return Some(Err(GsoError::BufferTooSmall {
                need: self.hdr_len,
                have: out.len(),
            }));
        }
        let chunk = self.mss.min(self.end - self.next);
        let hdr = &mut out[..self.hdr_len];
        hdr.copy_from_slice(&self.frame[..self.hdr_len]);
        let payload = self.next..self.next + chunk;
        let first = self.index == 0;
        let last = self.next + chunk >= self.end;
        let offset = (self.next - self.hdr_len) as u32;
        let res = self.fix_headers(hdr, &self.frame[payload.clone()], first, last, offset);
        self.next += chunk;
        self.index = self.index.wrapping_add(1);
        self.done = last;
        Some(res.map(|()| payload))
    }

    /// Rewrites the copied headers `hdr` (exactly `hdr_len` bytes) for a
    /// segment carrying `payload`.
    fn fix_headers(
        &self,
        hdr: &mut [u8],
        payload: &[u8],
        first: bool,
        last: bool,
        offset: u32,
    ) -> Result<(), GsoError> {
        let l3_len = hdr.len() + payload.len() - self.l3;
        if self.v6 {
            let len = (l3_len - packet::ipv6::HEADER_LEN) as u16;
            hdr[self.l3 + 4..self.l3 + 6].copy_from_slice(&len.to_be_bytes());
        } else {
            // Total length, identification, then the header checksum over
            // the header alone (RFC 791 §3.1); the checked view would bound
            // the buffer by the total length, which covers the payload too.
            let ip = &mut hdr[self.l3..self.l4_at];
            ip[2..4].copy_from_slice(&(l3_len as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&self.ip_ident.wrapping_add(self.index).to_be_bytes());
            ip[10..12].fill(0);
            let c = packet::checksum::ipv4_header(ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let (src4, dst4, src6, dst6) = addrs(&hdr[self.l3..], self.v6);
        let l4_len = hdr.len() - self.l4_at + payload.len();
        let (proto, csum_at) = match self.l4 {
            L4::Tcp => {
                let mut tcp = TcpPacket::new_checked(&mut hdr[self.l4_at..])?;
                tcp.set_seq(self.tcp_seq.wrapping_add(offset));
                let mut f = self.tcp_flags;
                if !last {
                    f &= !(flags::FIN | flags::PSH);
                }
                if !first {
                    f &= !flags::CWR;
                }
                tcp.set_flags(f);
                (ip_proto::TCP, self.l4_at + 16)
            }
            L4::Udp => {
                hdr[self.l4_at + 4..self.l4_at + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                (ip_proto::UDP, self.l4_at + 6)
            }
        };
        hdr[csum_at..csum_at + 2].fill(0);
        let pseudo = if self.v6 {
            packet::checksum::pseudo_header_v6(&src6, &dst6, proto, l4_len as u32)
        } else {
            packet::checksum::pseudo_header_v4(src4, dst4, proto, l4_len as u16)
        };
        use packet::checksum::{add, sum};
        let mut c = !add(add(pseudo, sum(&hdr[self.l4_at..])), sum(payload));
        if c == 0 && self.l4 == L4::Udp {
            // RFC 768 / RFC 8200 §8.1: a computed zero is sent as all ones.
            c = 0xffff;
        }
        hdr[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }
}

fn addrs(
    ip: &[u8],
    v6: bool,
) -> (
    core::net::Ipv4Addr,
    core::net::Ipv4Addr,
    core::net::Ipv6Addr,
    core::net::Ipv6Addr,
) {
    let mut s4 = [0u8; 4];
    let mut d4 = [0u8; 4];
    let mut s6 = [0u8; 16];
    let mut d6 = [0u8; 16];
    if v6 {
        s6.copy_from_slice(&ip[8..24]);
        d6.copy_from_slice(&ip[24..40]);
    } else {
        s4.copy_from_slice(&ip[12..16]);
        d4.copy_from_slice(&ip[16..20]);
    }
    (s4.into(), d4.into(), s6.into(), d6.into())
}

/// Ethertype after up to two VLAN tags, and the L3 offset.
pub(crate) fn l3_offset(frame: &[u8]) -> Result<(u16, usize), GsoError> {
    let eth = packet::ethernet::EthernetFrame::new_checked(frame)?;
    let mut et = eth.ethertype();
    let mut at = packet::ethernet::HEADER_LEN;
    for _ in 0..2 {
        if !vlan::is_tpid(et) {
            break;
        }
        let tag = vlan::VlanTag::new_checked(&frame[at..])?;
        et = tag.ethertype();
        at += vlan::HEADER_LEN;
    }
    Ok((et, at))
}

/// Completes a `NEEDS_CSUM` frame in place: the one's-complement sum from
/// `csum_start` to the end of the frame (whose checksum field holds the
/// pseudo-header sum the sender put there) is stored at `csum_start +
/// csum_offset`, 0 sent as 0xffff, as Linux's `skb_checksum_help`. Returns
/// `false` (and touches nothing) when the frame did not need it; clear
/// `F_NEEDS_CSUM` in the header afterwards.
pub fn complete_checksum(frame: &mut [u8], vnet: &VirtioNetHdr) -> Result<bool, GsoError> {
    if !vnet.needs_csum() {
        return Ok(false);
    }
    let start = usize::from(vnet.csum_start);
    let at = start + usize::from(vnet.csum_offset);
    if at + 2 > frame.len() {
        return Err(GsoError::CsumOutOfRange {
            start,
            offset: usize::from(vnet.csum_offset),
            len: frame.len(),
        });
    }
    let c = packet::checksum::checksum(&frame[start..]);
    let c = if c == 0 { 0xffff } else { c };
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Ok(true)
}

/// Segments `frame` into `scratch` one segment at a time and hands each to
/// `emit` (e.g. encapsulate and send). The whole GSO path in one call, with
/// one reusable buffer.
pub fn for_each_segment<F>(
    frame: &[u8],
    vnet: &VirtioNetHdr,
    scratch: &mut [u8],
    mut emit: F,
) -> Result<usize, GsoError>
where
    F: FnMut(&[u8]),
{
    let mut seg = Segmenter::new(frame, vnet)?;
    let mut n = 0;
    while let Some(r) = seg.next_into(scratch) {
        let len = r?;
        emit(&scratch[..len]);
        n += 1;
    }
    Ok(n)
}
