//! The `virtio_net_hdr` that prefixes every frame on a TAP opened with
//! `IFF_VNET_HDR` (virtio 1.x spec §5.1.6 "Device Operation"; Linux
//! `include/uapi/linux/virtio_net.h`).
//!
//! The header is how a guest (or the kernel) hands over a frame whose
//! checksum is still to be filled in (`NEEDS_CSUM`, with `csum_start` and
//! `csum_offset`) or a 64 KB TCP/UDP super-frame to be segmented later
//! (`gso_type`, `gso_size`, `hdr_len`). The switch passes such frames through
//! whole and re-emits the header on the egress TAP: that is the TSO
//! pass-through of the design.
//!
//! Fields are little-endian as in virtio 1.x. On the little-endian hosts we
//! run on that is also the TAP's native order, so no `TUNSETVNETLE` is needed.
//! The header is 10 bytes, or 12 with the trailing `num_buffers` (the size
//! used with mergeable receive buffers and by virtio 1.x devices); the length
//! is set per TAP with `TUNSETVNETHDRSZ`.

use thiserror::Error;

/// Size of a `virtio_net_hdr` on a TAP, set with `TUNSETVNETHDRSZ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VnetHdrLen {
    /// `struct virtio_net_hdr` (legacy, 10 bytes).
    V10,
    /// `struct virtio_net_hdr_mrg_rxbuf` / virtio 1.x (12 bytes, adds
    /// `num_buffers`).
    V12,
}

impl VnetHdrLen {
    /// Length in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            VnetHdrLen::V10 => 10,
            VnetHdrLen::V12 => 12,
        }
    }
}

/// Segmentation offload type (`VIRTIO_NET_HDR_GSO_*`, without the ECN bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum GsoType {
    /// Not a GSO frame (`VIRTIO_NET_HDR_GSO_NONE`, 0).
    #[default]
    None,
    /// TCP over IPv4 (`VIRTIO_NET_HDR_GSO_TCPV4`, 1).
    TcpV4,
    /// UDP fragmentation offload (`VIRTIO_NET_HDR_GSO_UDP`, 3; UFO, legacy).
    Udp,
    /// TCP over IPv6 (`VIRTIO_NET_HDR_GSO_TCPV6`, 4).
    TcpV6,
    /// UDP segmentation offload, either IP version
    /// (`VIRTIO_NET_HDR_GSO_UDP_L4`, 5; USO).
    UdpL4,
}

impl GsoType {
    fn from_wire(v: u8) -> Result<Self, VnetHdrError> {
        Ok(match v {
            0 => GsoType::None,
            1 => GsoType::TcpV4,
            3 => GsoType::Udp,
            4 => GsoType::TcpV6,
            5 => GsoType::UdpL4,
            other => return Err(VnetHdrError::UnknownGsoType(other)),
        })
    }

    /// Wire value without the ECN bit.
    pub const fn to_wire(self) -> u8 {
        match self {
            GsoType::None => 0,
            GsoType::TcpV4 => 1,
            GsoType::Udp => 3,
            GsoType::TcpV6 => 4,
            GsoType::UdpL4 => 5,
        }
    }
}

/// Errors from [`VirtioNetHdr::parse`] and [`VirtioNetHdr::emit`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VnetHdrError {
    /// The buffer is shorter than the header.
    #[error("virtio_net_hdr truncated: need {need} bytes, got {got}")]
    Truncated {
        /// Header length required.
        need: usize,
        /// Bytes available.
        got: usize,
    },
    /// `gso_type` (ECN bit masked) is none of the values of virtio 1.x.
    #[error("virtio_net_hdr: unknown gso_type {0:#04x}")]
    UnknownGsoType(u8),
}

/// A parsed `virtio_net_hdr`: a plain copyable value, cheap enough for the
/// hot path (no allocation; parse and emit are a few loads and stores).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VirtioNetHdr {
    /// `VIRTIO_NET_HDR_F_*` bits ([`Self::F_NEEDS_CSUM`], ...).
    pub flags: u8,
    /// Segmentation type.
    pub gso_type: GsoType,
    /// `VIRTIO_NET_HDR_GSO_ECN`: the super-frame had CWR set.
    pub gso_ecn: bool,
    /// Length of the headers to copy into every segment (Ethernet + IP + L4).
    pub hdr_len: u16,
    /// Payload bytes per segment (the MSS for TCP).
    pub gso_size: u16,
    /// Offset from the start of the frame where checksumming starts.
    pub csum_start: u16,
    /// Offset after `csum_start` where the checksum is stored.
    pub csum_offset: u16,
    /// Number of merged receive buffers (12-byte header only; 0 otherwise).
    pub num_buffers: u16,
}

impl VirtioNetHdr {
    /// The checksum from `csum_start` to the end is still to be computed and
    /// stored at `csum_start + csum_offset` (`VIRTIO_NET_HDR_F_NEEDS_CSUM`).
    pub const F_NEEDS_CSUM: u8 = 1;
    /// The checksum has been validated (`VIRTIO_NET_HDR_F_DATA_VALID`).
    pub const F_DATA_VALID: u8 = 2;
    /// Coalescing info is present (`VIRTIO_NET_HDR_F_RSC_INFO`).
    pub const F_RSC_INFO: u8 = 4;
    const GSO_ECN: u8 = 0x80;

    /// True when the checksum is to be completed (`F_NEEDS_CSUM`).
    pub const fn needs_csum(&self) -> bool {
        self.flags & Self::F_NEEDS_CSUM != 0
    }

    /// Parse the header at the start of `buf`.
    pub fn parse(buf: &[u8], len: VnetHdrLen) -> Result<Self, VnetHdrError> {
        let need = len.bytes();
        if buf.len() < need {
            return Err(VnetHdrError::Truncated {
                need,
                got: buf.len(),
            });
        }
        let le16 = |i: usize| u16::from_le_bytes([buf[i], buf[i + 1]]);
        Ok(VirtioNetHdr {
            flags: buf[0],
            gso_type: GsoType::from_wire(buf[1] & !Self::GSO_ECN)?,
            gso_ecn: buf[1] & Self::GSO_ECN != 0,
            hdr_len: le16(2),
            gso_size: le16(4),
            csum_start: le16(6),
            csum_offset: le16(8),
            num_buffers: match len {
                VnetHdrLen::V10 => 0,
                VnetHdrLen::V12 => le16(10),
            },
        })
    }

    /// Write the header at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8], len: VnetHdrLen) -> Result<usize, VnetHdrError> {
        let need = len.bytes();
        let Some(out) = buf.get_mut(..need) else {
            return Err(VnetHdrError::Truncated {
                need,
                got: buf.len(),
            });
        };
        out[0] = self.flags;
        out[1] = self.gso_type.to_wire() | if self.gso_ecn { Self::GSO_ECN } else { 0 };
        out[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        out[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        out[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        out[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        if len == VnetHdrLen::V12 {
            out[10..12].copy_from_slice(&self.num_buffers.to_le_bytes());
        }
        Ok(need)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TSO frame as the kernel hands it to a TAP reader: NEEDS_CSUM, TCPv4,
    /// 66 bytes of headers (14 + 20 + 32), MSS 1448, checksum at 34 + 16.
    const GOLDEN_TSO: [u8; 12] = [0x01, 0x01, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 1, 0];

    fn tso() -> VirtioNetHdr {
        VirtioNetHdr {
            flags: VirtioNetHdr::F_NEEDS_CSUM,
            gso_type: GsoType::TcpV4,
            gso_ecn: false,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
            num_buffers: 1,
        }
    }

    #[test]
    fn parse_golden() {
        let h = VirtioNetHdr::parse(&GOLDEN_TSO, VnetHdrLen::V12).unwrap();
        assert_eq!(h, tso());
        assert!(h.needs_csum());
        let h10 = VirtioNetHdr::parse(&GOLDEN_TSO, VnetHdrLen::V10).unwrap();
        assert_eq!(h10.num_buffers, 0);
        assert_eq!(h10.gso_size, 1448);
    }

    #[test]
    fn emit_golden() {
        let mut buf = [0xffu8; 12];
        assert_eq!(tso().emit(&mut buf, VnetHdrLen::V12), Ok(12));
        assert_eq!(buf, GOLDEN_TSO);
        let mut buf10 = [0xffu8; 11];
        assert_eq!(tso().emit(&mut buf10, VnetHdrLen::V10), Ok(10));
        assert_eq!(buf10[..10], GOLDEN_TSO[..10]);
        assert_eq!(buf10[10], 0xff, "emit must not write past the header");
    }

    #[test]
    fn ecn_bit_and_every_gso_type_round_trip() {
        for gso_type in [
            GsoType::None,
            GsoType::TcpV4,
            GsoType::Udp,
            GsoType::TcpV6,
            GsoType::UdpL4,
        ] {
            for gso_ecn in [false, true] {
                let h = VirtioNetHdr {
                    gso_type,
                    gso_ecn,
                    ..tso()
                };
                let mut buf = [0u8; 12];
                h.emit(&mut buf, VnetHdrLen::V12).unwrap();
                assert_eq!(VirtioNetHdr::parse(&buf, VnetHdrLen::V12), Ok(h));
            }
        }
    }

    #[test]
    fn errors_never_panic() {
        assert_eq!(
            VirtioNetHdr::parse(&GOLDEN_TSO[..9], VnetHdrLen::V10),
            Err(VnetHdrError::Truncated { need: 10, got: 9 })
        );
        assert_eq!(
            VirtioNetHdr::parse(&GOLDEN_TSO[..10], VnetHdrLen::V12),
            Err(VnetHdrError::Truncated { need: 12, got: 10 })
        );
        let mut bad = GOLDEN_TSO;
        bad[1] = 0x82;
        assert_eq!(
            VirtioNetHdr::parse(&bad, VnetHdrLen::V10),
            Err(VnetHdrError::UnknownGsoType(2))
        );
        let mut short = [0u8; 5];
        assert_eq!(
            tso().emit(&mut short, VnetHdrLen::V10),
            Err(VnetHdrError::Truncated { need: 10, got: 5 })
        );
    }
}
