//! DHCPv6 server for one known port (RFC 8415), as OVN's `put_dhcpv6_opts`
//! answers in `pinctrl` and Neutron's dnsmasq does for subnets with
//! `ipv6_address_mode` `dhcpv6-stateful` (an IA_NA with the port's fixed
//! address) or `dhcpv6-stateless` (other configuration only: DNS servers,
//! RFC 3646). The switch's flow matched the port and its MAC and carries
//! the [`Dhcp6Config`], so the server keeps no state.
//!
//! | client message | answer |
//! |---|---|
//! | Solicit | Advertise with the IA_NA (Reply if it asked for Rapid Commit, §18.3.1); NoAddrsAvail when stateless |
//! | Request, Renew | Reply with the IA_NA, if it names this server (§18.3.2, §18.3.4) |
//! | Rebind | Reply with the IA_NA (§18.3.5) |
//! | Confirm | Reply, Success when its addresses are the port's, else NotOnLink (§18.3.3) |
//! | Release, Decline | Reply with Success (§18.3.7, §18.3.8) |
//! | Information-request | Reply with the other configuration (§18.3.6) |
//!
//! Messages without a Client Identifier, or a Solicit/Rebind/Confirm with
//! a Server Identifier, are discarded (§16); a Request, Renew, Release or
//! Decline naming another server is not ours to answer.
//! The server's DUID is DUID-LL (§11.4) of its MAC, and it answers from
//! that MAC's link-local address to the client's, UDP 547 → 546.

use core::net::Ipv6Addr;

use dhcproto::v6::{
    DhcpOption, DhcpOptions, IAAddr, Message, MessageType, OptionCode, Status, StatusCode, IANA,
};
use dhcproto::{Decodable, Encodable};
use packet::ethernet::EthernetFrame;
use packet::flowkey::ethertype;
use packet::ip_proto;
use packet::ipv6::{self, Ipv6Packet, Ipv6Repr};
use packet::udp::{self, UdpPacket, UdpRepr};

use crate::frame::{need, write_eth, ETH_LEN};
use crate::nd::link_local;
use crate::{Mac, NoReply};

mod optcheck;

/// Server port (RFC 8415 §7.2).
pub const SERVER_PORT: u16 = 547;
/// Client port.
pub const CLIENT_PORT: u16 = 546;
/// Valid and preferred lifetime of an assigned address (Neutron's default
/// `dhcp_lease_duration`, seconds).
pub const LIFETIME: u32 = 86400;

/// What the server tells one port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dhcp6Config {
    /// The server's MAC (its DUID and link-local address derive from it).
    pub server_mac: Mac,
    /// The port's address for IA_NA (stateful), `None` when stateless.
    pub addr: Option<Ipv6Addr>,
    /// DNS recursive name servers (option 23, RFC 3646).
    pub dns: Vec<Ipv6Addr>,
}

impl Dhcp6Config {
    /// The server's DUID-LL (RFC 8415 §11.4: type 3, hardware type 1).
    pub fn duid(&self) -> Vec<u8> {
        let mut d = vec![0, 3, 0, 1];
        d.extend_from_slice(&self.server_mac);
        d
    }
}

/// A DHCPv6 client message found in a frame.
struct Client<'a> {
    eth_src: Mac,
    ip_src: Ipv6Addr,
    payload: &'a [u8],
}

/// Finds a client message (IPv6/UDP to port 547, no extension headers)
/// in `frame`, checksum verified.
fn client_message(frame: &[u8]) -> Result<Client<'_>, NoReply> {
    let eth = EthernetFrame::new_checked(frame)?;
    if eth.ethertype() != ethertype::IPV6 {
        return Err(NoReply::NotForUs);
    }
    let ip = Ipv6Packet::new_checked(eth.payload())?;
    if ip.next_header() != ip_proto::UDP {
        return Err(NoReply::NotForUs);
    }
    let u = UdpPacket::new_checked(ip.payload())?;
    if u.dst_port() != SERVER_PORT {
        return Err(NoReply::NotForUs);
    }
    if !u.verify_checksum_v6(&ip.src(), &ip.dst()) {
        return Err(NoReply::BadChecksum("udp"));
    }
    let start = ETH_LEN + ipv6::HEADER_LEN + udp::HEADER_LEN;
    let len = u.payload().len();
    Ok(Client {
        eth_src: eth.src(),
        ip_src: ip.src(),
        payload: frame.get(start..start + len).ok_or(NoReply::NotForUs)?,
    })
}

/// Answers the DHCPv6 client message in `frame` for the port `cfg`
/// describes, writing the reply frame into `out` and returning its length.
pub fn respond(frame: &[u8], cfg: &Dhcp6Config, out: &mut [u8]) -> Result<usize, NoReply> {
    let c = client_message(frame)?;
    // Relay messages (types 12, 13) are not served; the options of the
    // rest are checked where dhcproto 0.14 cannot take any length
    // ([`optcheck`]) before it decodes them.
    match (c.payload.first(), c.payload.get(4..)) {
        (Some(1..=11), Some(opts)) => {
            optcheck::check(opts).map_err(|e| NoReply::DhcpDecode(e.to_string()))?
        }
        _ => return Err(NoReply::DhcpDecode("malformed DHCPv6 message".into())),
    }
    let req = Message::from_bytes(c.payload).map_err(|e| NoReply::DhcpDecode(e.to_string()))?;
    let reply = build(&req, cfg)?;
    let bytes = reply
        .to_vec()
        .map_err(|e| NoReply::DhcpDecode(format!("encoding reply: {e}")))?;
    write_reply(cfg.server_mac, &c, &bytes, out)
}

/// RFC 8415 §16 and §18.3: the reply to `req`, if any.
fn build(req: &Message, cfg: &Dhcp6Config) -> Result<Message, NoReply> {
    let opts = req.opts();
    let Some(DhcpOption::ClientId(client_id)) = opts.get(OptionCode::ClientId) else {
        return Err(NoReply::NotForUs);
    };
    let server_id = match opts.get(OptionCode::ServerId) {
        Some(DhcpOption::ServerId(s)) => Some(s.as_slice()),
        _ => None,
    };
    let ours = cfg.duid();
    let ty = req.msg_type();
    match (ty, server_id) {
        // Must not carry a Server Identifier (§16.2, §16.7, §16.5).
        (MessageType::Solicit | MessageType::Rebind | MessageType::Confirm, Some(_)) => {
            return Err(NoReply::NotForUs)
        }
        // Must name the server (§16.4, §16.6, §16.8, §16.9).
        (
            MessageType::Request | MessageType::Renew | MessageType::Release | MessageType::Decline,
            s,
        ) if s != Some(ours.as_slice()) => return Err(NoReply::OtherServer),
        (MessageType::InformationRequest, Some(s)) if s != ours.as_slice() => {
            return Err(NoReply::OtherServer)
        }
        _ => {}
    }
    let rapid = ty == MessageType::Solicit && opts.get(OptionCode::RapidCommit).is_some();
    let reply_ty = match ty {
        MessageType::Solicit if !rapid || cfg.addr.is_none() => MessageType::Advertise,
        MessageType::Solicit
        | MessageType::Request
        | MessageType::Renew
        | MessageType::Rebind
        | MessageType::Confirm
        | MessageType::Release
        | MessageType::Decline
        | MessageType::InformationRequest => MessageType::Reply,
        _ => return Err(NoReply::NotForUs),
    };
    let mut out = Message::new_with_id(reply_ty, req.xid());
    let o = out.opts_mut();
    o.insert(DhcpOption::ServerId(ours));
    o.insert(DhcpOption::ClientId(client_id.clone()));
    match ty {
        MessageType::Solicit | MessageType::Request | MessageType::Renew | MessageType::Rebind => {
            if ty == MessageType::Solicit && cfg.addr.is_none() {
                // §18.3.9: no addresses for any IA: only a status code.
                o.insert(status(Status::NoAddrsAvail, "stateless subnet"));
            } else {
                for iaid in ia_ids(opts) {
                    o.insert(DhcpOption::IANA(ia_na(iaid, cfg.addr)));
                }
                if rapid {
                    o.insert(DhcpOption::RapidCommit);
                }
            }
        }
        MessageType::Confirm => {
            let on_link = ia_addrs(opts).all(|a| Some(a) == cfg.addr);
            o.insert(if on_link {
                status(Status::Success, "")
            } else {
                status(Status::NotOnLink, "not this link's address")
            });
        }
        MessageType::Release | MessageType::Decline => o.insert(status(Status::Success, "")),
        _ => {}
    }
    if !cfg.dns.is_empty() && matches!(reply_ty, MessageType::Advertise | MessageType::Reply) {
        o.insert(DhcpOption::DomainNameServers(cfg.dns.clone()));
    }
    Ok(out)
}

fn status(status: Status, msg: &str) -> DhcpOption {
    DhcpOption::StatusCode(StatusCode {
        status,
        msg: msg.to_owned(),
    })
}

/// The IAIDs of the request's IA_NA options.
fn ia_ids(opts: &DhcpOptions) -> impl Iterator<Item = u32> + '_ {
    opts.iter().filter_map(|o| match o {
        DhcpOption::IANA(ia) => Some(ia.id),
        _ => None,
    })
}

/// The addresses the request's IA_NA options carry.
fn ia_addrs(opts: &DhcpOptions) -> impl Iterator<Item = Ipv6Addr> + '_ {
    opts.iter()
        .filter_map(|o| match o {
            DhcpOption::IANA(ia) => Some(ia.opts.iter()),
            _ => None,
        })
        .flatten()
        .filter_map(|o| match o {
            DhcpOption::IAAddr(a) => Some(a.addr),
            _ => None,
        })
}

/// An IA_NA for `iaid` with the port's address (T1 = ½, T2 = 0.8 of the
/// preferred lifetime, RFC 8415 §21.4), or NoAddrsAvail without one.
fn ia_na(iaid: u32, addr: Option<Ipv6Addr>) -> IANA {
    let mut opts = DhcpOptions::new();
    match addr {
        Some(addr) => opts.insert(DhcpOption::IAAddr(IAAddr {
            addr,
            preferred_life: LIFETIME,
            valid_life: LIFETIME,
            opts: DhcpOptions::new(),
        })),
        None => opts.insert(status(Status::NoAddrsAvail, "stateless subnet")),
    }
    IANA {
        id: iaid,
        t1: LIFETIME / 2,
        t2: LIFETIME / 5 * 4,
        opts,
    }
}

/// Writes `dhcp` in Ethernet/IPv6/UDP 547 → 546 from the server's MAC and
/// link-local address to the client's.
fn write_reply(
    server_mac: Mac,
    c: &Client<'_>,
    dhcp: &[u8],
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let udp_len = udp::HEADER_LEN + dhcp.len();
    let total = ETH_LEN + ipv6::HEADER_LEN + udp_len;
    need(out, total)?;
    let payload_len = u16::try_from(udp_len).map_err(|_| NoReply::BufferTooSmall {
        need: total,
        have: out.len(),
    })?;
    let src = link_local(server_mac);
    write_eth(out, server_mac, c.eth_src, ethertype::IPV6)?;
    let ip_out = &mut out[ETH_LEN..total];
    Ipv6Repr {
        src,
        dst: c.ip_src,
        next_header: ip_proto::UDP,
        traffic_class: 0,
        flow_label: 0,
        hop_limit: 255,
        payload_len,
    }
    .emit(ip_out)?;
    let udp_out = &mut ip_out[ipv6::HEADER_LEN..];
    udp_out[udp::HEADER_LEN..].copy_from_slice(dhcp);
    UdpRepr {
        src_port: SERVER_PORT,
        dst_port: CLIENT_PORT,
        payload_len: dhcp.len() as u16,
    }
    .emit(udp_out)?;
    UdpPacket::new_checked(udp_out)?.fill_checksum_v6(&src, &c.ip_src);
    Ok(total)
}
