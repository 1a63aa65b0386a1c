//! ICMPv6 (RFC 4443) and the Neighbor Discovery messages the switch answers
//! and matches on (RFC 4861 §4.3-4.4): Neighbor Solicitation and Neighbor
//! Advertisement with source/target link-layer address options (§4.6.1).

use core::net::Ipv6Addr;

use crate::checksum;
use crate::error::Error;
use crate::field::{array, be16, be32, set_be16, set_be32};
use crate::ip_proto;
use crate::Mac;

/// Type, code and checksum: all every ICMPv6 message has (OVS extracts
/// type/code from these 4 bytes).
pub const HEADER_LEN: usize = 4;
/// NS/NA: header, 4-byte flags/reserved word, 16-byte target.
pub const ND_LEN: usize = 24;

/// Message types.
pub mod msg_type {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

/// ND option types (RFC 4861 §4.6).
pub mod nd_opt {
    pub const SOURCE_LL_ADDR: u8 = 1;
    pub const TARGET_LL_ADDR: u8 = 2;
    pub const PREFIX_INFO: u8 = 3;
    pub const MTU: u8 = 5;
}

/// NA flags in the first byte of the message body (RFC 4861 §4.4).
pub mod na_flags {
    pub const ROUTER: u8 = 0x80;
    pub const SOLICITED: u8 = 0x40;
    pub const OVERRIDE: u8 = 0x20;
}

/// A checked view of an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps `buf` after checking it holds type, code and checksum.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        Error::need("icmpv6", HEADER_LEN, buf.as_ref().len())?;
        Ok(Self { buf })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buf.as_ref()[0]
    }

    /// Message code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buf.as_ref()[1]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }

    /// Message body after the 4-byte header.
    #[inline]
    pub fn body(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }

    /// Verifies the checksum with the IPv6 pseudo-header (RFC 4443 §2.3).
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let msg = self.buf.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, ip_proto::ICMPV6, msg.len() as u32);
        checksum::add(pseudo, checksum::sum(msg)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Sets the type.
    #[inline]
    pub fn set_msg_type(&mut self, t: u8) {
        self.buf.as_mut()[0] = t;
    }

    /// Sets the code.
    #[inline]
    pub fn set_code(&mut self, c: u8) {
        self.buf.as_mut()[1] = c;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        set_be16(self.buf.as_mut(), 2, c);
    }

    /// Mutable body.
    #[inline]
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[HEADER_LEN..]
    }

    /// Fills the checksum over the whole buffer with the IPv6 pseudo-header.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::l4_ipv6(src, dst, ip_proto::ICMPV6, self.buf.as_ref());
        self.set_checksum(c);
    }
}

/// A checked view of a Neighbor Solicitation or Advertisement (the whole
/// ICMPv6 message, header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdMessage<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> NdMessage<T> {
    /// Checks the length and that the message is an NS or NA with code 0
    /// (RFC 4861 §7.1.1-7.1.2: anything else is not valid ND).
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        Error::need("nd", ND_LEN, b.len())?;
        if !matches!(b[0], msg_type::NEIGHBOR_SOLICIT | msg_type::NEIGHBOR_ADVERT) {
            return Err(Error::malformed("nd", "type"));
        }
        if b[1] != 0 {
            return Err(Error::malformed("nd", "code"));
        }
        Ok(Self { buf })
    }

    /// `true` for a solicitation, `false` for an advertisement.
    #[inline]
    pub fn is_solicit(&self) -> bool {
        self.buf.as_ref()[0] == msg_type::NEIGHBOR_SOLICIT
    }

    /// NA flags (R, S, O) — see [`na_flags`]; reserved (zero) in an NS.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buf.as_ref()[4]
    }

    /// Target address.
    #[inline]
    pub fn target(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.target_bytes())
    }

    /// Target address octets.
    #[inline]
    pub fn target_bytes(&self) -> [u8; 16] {
        array(self.buf.as_ref(), 8)
    }

    /// Iterator over the options after the target.
    #[inline]
    pub fn options(&self) -> NdOptions<'_> {
        NdOptions {
            rest: &self.buf.as_ref()[ND_LEN..],
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NdMessage<T> {
    /// Sets the NA flags byte (and clears the reserved bytes after it).
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        set_be32(self.buf.as_mut(), 4, u32::from(flags) << 24);
    }

    /// Sets the target address.
    #[inline]
    pub fn set_target(&mut self, ip: Ipv6Addr) {
        self.buf.as_mut()[8..24].copy_from_slice(&ip.octets());
    }
}

/// One ND option: its type and its data (without the 2-byte type/length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdOption<'a> {
    pub kind: u8,
    pub data: &'a [u8],
}

impl NdOption<'_> {
    /// The link-layer address of an SLL/TLL option for Ethernet (length 1,
    /// i.e. 8 bytes, RFC 4861 §4.6.1), `None` for anything else.
    #[inline]
    pub fn ll_addr(&self) -> Option<Mac> {
        let is_ll = matches!(self.kind, nd_opt::SOURCE_LL_ADDR | nd_opt::TARGET_LL_ADDR);
        (is_ll && self.data.len() == 6).then(|| array(self.data, 0))
    }
}

/// Iterator over ND options; yields an error and stops on a zero-length or
/// overrunning option (RFC 4861 §4.6: "nodes MUST silently discard an ND
/// packet that contains an option with length zero").
#[derive(Debug, Clone)]
pub struct NdOptions<'a> {
    rest: &'a [u8],
}

impl<'a> NdOptions<'a> {
    /// The options in `rest` (the bytes after a message's fixed part: 8
    /// for a Router Solicitation, 16 for an Advertisement, RFC 4861 §4.1-4.2).
    #[inline]
    pub fn new(rest: &'a [u8]) -> Self {
        NdOptions { rest }
    }
}

impl<'a> Iterator for NdOptions<'a> {
    type Item = Result<NdOption<'a>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        if rest.len() < 2 {
            self.rest = &[];
            return Some(Err(Error::Truncated {
                layer: "nd-option",
                need: 2,
                have: rest.len(),
            }));
        }
        let len = usize::from(rest[1]) * 8;
        if len == 0 {
            self.rest = &[];
            return Some(Err(Error::malformed("nd-option", "length")));
        }
        if len > rest.len() {
            self.rest = &[];
            return Some(Err(Error::Truncated {
                layer: "nd-option",
                need: len,
                have: rest.len(),
            }));
        }
        self.rest = &rest[len..];
        Some(Ok(NdOption {
            kind: rest[0],
            data: &rest[2..len],
        }))
    }
}

/// Owned NS or NA with at most one link-layer address option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdRepr {
    /// Neighbor Solicitation, optionally with a source link-layer address.
    Solicit { target: Ipv6Addr, sll: Option<Mac> },
    /// Neighbor Advertisement with its R/S/O flags, optionally with a target
    /// link-layer address.
    Advert {
        flags: u8,
        target: Ipv6Addr,
        tll: Option<Mac>,
    },
}

impl NdRepr {
    /// Reads an NS/NA; the first SLL (for NS) or TLL (for NA) option wins.
    pub fn parse<T: AsRef<[u8]>>(m: &NdMessage<T>) -> Result<Self, Error> {
        let want = if m.is_solicit() {
            nd_opt::SOURCE_LL_ADDR
        } else {
            nd_opt::TARGET_LL_ADDR
        };
        let mut lla = None;
        for opt in m.options() {
            let opt = opt?;
            if opt.kind == want && lla.is_none() {
                lla = opt.ll_addr();
            }
        }
        Ok(if m.is_solicit() {
            NdRepr::Solicit {
                target: m.target(),
                sll: lla,
            }
        } else {
            NdRepr::Advert {
                flags: m.flags(),
                target: m.target(),
                tll: lla,
            }
        })
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        let has_lla = match self {
            NdRepr::Solicit { sll, .. } => sll.is_some(),
            NdRepr::Advert { tll, .. } => tll.is_some(),
        };
        ND_LEN + if has_lla { 8 } else { 0 }
    }

    /// Writes the whole ICMPv6 message into `buf` (exactly
    /// [`buffer_len`](Self::buffer_len) bytes are used) and fills the
    /// checksum for the given IPv6 addresses.
    pub fn emit(&self, buf: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<(), Error> {
        let len = self.buffer_len();
        Error::need("nd", len, buf.len())?;
        let buf = &mut buf[..len];
        let (kind, flags, target, lla, opt) = match *self {
            NdRepr::Solicit { target, sll } => (
                msg_type::NEIGHBOR_SOLICIT,
                0,
                target,
                sll,
                nd_opt::SOURCE_LL_ADDR,
            ),
            NdRepr::Advert { flags, target, tll } => (
                msg_type::NEIGHBOR_ADVERT,
                flags,
                target,
                tll,
                nd_opt::TARGET_LL_ADDR,
            ),
        };
        buf[0] = kind;
        buf[1] = 0;
        if let Some(mac) = lla {
            buf[ND_LEN] = opt;
            buf[ND_LEN + 1] = 1;
            buf[ND_LEN + 2..ND_LEN + 8].copy_from_slice(&mac);
        }
        let mut m = NdMessage::new_checked(&mut *buf)?;
        m.set_flags(flags);
        m.set_target(target);
        Icmpv6Packet::new_checked(buf)?.fill_checksum(src, dst);
        Ok(())
    }
}

/// Owned ICMPv6 header: type, code and the 4-byte type-specific word
/// (echo identifier/sequence, MTU, pointer). The rest of the message stays
/// in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmpv6Repr {
    pub msg_type: u8,
    pub code: u8,
    pub word: u32,
}

impl Icmpv6Repr {
    /// Reads type, code and the type-specific word (zero if absent).
    pub fn parse<T: AsRef<[u8]>>(p: &Icmpv6Packet<T>) -> Self {
        let body = p.body();
        Self {
            msg_type: p.msg_type(),
            code: p.code(),
            word: if body.len() >= 4 { be32(body, 0) } else { 0 },
        }
    }

    /// Writes the 8-byte header into `buf` (the data after it already in
    /// place) and fills the checksum over all of `buf`.
    pub fn emit(&self, buf: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<(), Error> {
        Error::need("icmpv6", HEADER_LEN + 4, buf.len())?;
        buf[0] = self.msg_type;
        buf[1] = self.code;
        set_be32(buf, 4, self.word);
        Icmpv6Packet::new_checked(buf)?.fill_checksum(src, dst);
        Ok(())
    }
}
