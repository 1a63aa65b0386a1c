//! DHCPv4 server for known ports (RFC 2131, options from RFC 2132 and
//! RFC 3442), as OVN's `put_dhcp_opts` / Neutron's DHCP agent: each port's
//! MAC maps to its fixed IP; nothing is allocated dynamically.
//!
//! | client sends | server answers |
//! |---|---|
//! | DISCOVER | OFFER of the bound address |
//! | REQUEST, SELECTING (server id ours, requested IP ours) | ACK |
//! | REQUEST, INIT-REBOOT / RENEWING / REBINDING for the bound address | ACK |
//! | REQUEST for another address | NAK |
//! | REQUEST with another server's identifier | nothing: the client chose another server (RFC 2131 §4.3.2) |
//! | INFORM | ACK without lease or `yiaddr` (§4.3.5) |
//! | RELEASE, DECLINE | nothing (fixed bindings stay; §4.3.3-4.3.4) |
//! | anything from an unknown MAC | nothing ([`NoReply::UnknownMac`]) |
//!
//! Replies go per RFC 2131 §4.1: to `ciaddr` when the client has one, else
//! broadcast when the client sets the BROADCAST flag, else unicast to
//! `yiaddr` at `chaddr`; NAKs are broadcast. Relayed messages (`giaddr`
//! set) are not for this local server.

mod config;
mod optcheck;
mod wire;

use core::net::Ipv4Addr;
use std::collections::HashMap;

use dhcproto::v4::{DhcpOption, DhcpOptions, HType, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};
use ipnet::Ipv4Net;

pub use config::{fmt_mac, Binding, ConfigError, SubnetOptions};
pub use wire::{is_dhcp_server_reply, CLIENT_PORT, MIN_BOOTP_LEN, SERVER_PORT};

use crate::{Mac, NoReply};

/// Room for any reply the server writes (Ethernet + IPv4 + UDP + a DHCP
/// message with every option it sends, 121 routes included).
pub const MAX_REPLY_LEN: usize = 1514;

const BROADCAST_MAC: Mac = [0xff; 6];

/// The DHCP server of one switch: bindings by MAC.
#[derive(Debug, Clone, Default)]
pub struct DhcpServer {
    bindings: HashMap<Mac, Binding>,
}

/// What the server decided, before encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Offer,
    Ack,
    InformAck,
    Nak,
}

impl DhcpServer {
    /// A server with no bindings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `mac` to `binding` (replacing any previous one) after checking
    /// it.
    pub fn insert(&mut self, mac: Mac, binding: Binding) -> Result<(), ConfigError> {
        if mac[0] & 1 == 1 {
            return Err(ConfigError::Mac(fmt_mac(&mac)));
        }
        binding.validate()?;
        self.bindings.insert(mac, binding);
        Ok(())
    }

    /// Removes the binding of `mac`, returning it.
    pub fn remove(&mut self, mac: &Mac) -> Option<Binding> {
        self.bindings.remove(mac)
    }

    /// The binding of `mac`.
    pub fn get(&self, mac: &Mac) -> Option<&Binding> {
        self.bindings.get(mac)
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// `true` with no bindings.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// Answers the DHCP client message in `frame`, writing the reply frame
    /// into `out` (give it [`MAX_REPLY_LEN`] bytes) and returning its length.
    pub fn respond(&self, frame: &[u8], out: &mut [u8]) -> Result<usize, NoReply> {
        respond_with(frame, |mac| self.bindings.get(mac), out)
    }
}

/// Answers the DHCP client message in `frame` for one client whose binding
/// the caller already knows (the switch's stateless `cloudnet:dhcp4` local
/// action, where the flow matched the port and MAC and carries the
/// binding, as OVN's `put_dhcp_opts`): as [`DhcpServer::respond`] with
/// `binding` as the only binding, for the frame's MAC.
pub fn respond_for(frame: &[u8], binding: &Binding, out: &mut [u8]) -> Result<usize, NoReply> {
    respond_with(frame, |_| Some(binding), out)
}

fn respond_with<'b>(
    frame: &[u8],
    lookup: impl FnOnce(&Mac) -> Option<&'b Binding>,
    out: &mut [u8],
) -> Result<usize, NoReply> {
    let client = wire::client_message(frame)?;
    optcheck::check(client.payload)?;
    let req =
        Message::from_bytes(client.payload).map_err(|e| NoReply::DhcpDecode(e.to_string()))?;
    if req.opcode() != Opcode::BootRequest || req.htype() != HType::Eth || req.hlen() != 6 {
        return Err(NoReply::NotForUs);
    }
    if !req.giaddr().is_unspecified() {
        return Err(NoReply::NotForUs);
    }
    let chaddr: Mac = req
        .chaddr()
        .get(..6)
        .and_then(|c| c.try_into().ok())
        .ok_or(NoReply::NotForUs)?;
    if chaddr != client.eth_src {
        return Err(NoReply::ChaddrMismatch);
    }
    let msg_type = req.opts().msg_type().ok_or(NoReply::NotForUs)?;
    let binding = lookup(&chaddr).ok_or(NoReply::UnknownMac)?;
    let verdict = decide(&req, msg_type, binding)?;
    let reply = build(&req, verdict, binding)?;
    let bytes = reply
        .to_vec()
        .map_err(|e| NoReply::DhcpDecode(format!("encoding reply: {e}")))?;
    let addrs = reply_addrs(&req, verdict, binding, chaddr);
    wire::write_reply(&addrs, &bytes, out)
}

/// RFC 2131 §4.3: what to answer to `msg_type` from a bound client.
fn decide(req: &Message, msg_type: MessageType, binding: &Binding) -> Result<Verdict, NoReply> {
    let ours = binding.subnet.server_ip;
    let server_id = match req.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    };
    let requested = match req.opts().get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
        _ => None,
    };
    match msg_type {
        MessageType::Discover => Ok(Verdict::Offer),
        MessageType::Request => {
            if let Some(id) = server_id {
                // SELECTING: our offer accepted, or another server chosen.
                if id != ours {
                    return Err(NoReply::OtherServer);
                }
                return Ok(if requested == Some(binding.ip) {
                    Verdict::Ack
                } else {
                    Verdict::Nak
                });
            }
            // INIT-REBOOT carries the requested address; RENEWING and
            // REBINDING carry it in ciaddr.
            let asked = requested.unwrap_or(req.ciaddr());
            Ok(if asked == binding.ip {
                Verdict::Ack
            } else {
                Verdict::Nak
            })
        }
        MessageType::Inform => Ok(Verdict::InformAck),
        MessageType::Release | MessageType::Decline => Err(NoReply::NoReplyNeeded),
        _ => Err(NoReply::NotForUs),
    }
}

/// The reply message (RFC 2131 table 3 for the fixed fields).
fn build(req: &Message, verdict: Verdict, binding: &Binding) -> Result<Message, NoReply> {
    let subnet = &binding.subnet;
    let mut m = Message::default();
    m.set_opcode(Opcode::BootReply)
        .set_htype(HType::Eth)
        .set_xid(req.xid())
        .set_flags(req.flags())
        .set_chaddr(req.chaddr().get(..6).unwrap_or(&[]));
    let mut opts = DhcpOptions::new();
    let kind = match verdict {
        Verdict::Offer => MessageType::Offer,
        Verdict::Ack | Verdict::InformAck => MessageType::Ack,
        Verdict::Nak => MessageType::Nak,
    };
    opts.insert(DhcpOption::MessageType(kind));
    opts.insert(DhcpOption::ServerIdentifier(subnet.server_ip));
    match verdict {
        Verdict::Nak => {
            opts.insert(DhcpOption::Message(
                "requested address not available".into(),
            ));
        }
        Verdict::Offer | Verdict::Ack => {
            m.set_yiaddr(binding.ip);
            if verdict == Verdict::Ack {
                m.set_ciaddr(req.ciaddr());
            }
            let lease = subnet.lease_time;
            opts.insert(DhcpOption::AddressLeaseTime(lease));
            if lease != u32::MAX {
                opts.insert(DhcpOption::Renewal(lease / 2));
                opts.insert(DhcpOption::Rebinding((u64::from(lease) * 7 / 8) as u32));
            }
            config_options(subnet, &mut opts)?;
        }
        Verdict::InformAck => {
            // §4.3.5: no lease time, no yiaddr; ciaddr as the client sent it.
            m.set_ciaddr(req.ciaddr());
            config_options(subnet, &mut opts)?;
        }
    }
    m.set_opts(opts);
    Ok(m)
}

/// The subnet's configuration options (RFC 2132 §3, §5; RFC 3442).
fn config_options(subnet: &SubnetOptions, opts: &mut DhcpOptions) -> Result<(), NoReply> {
    let mask = subnet
        .netmask()
        .map_err(|e| NoReply::DhcpDecode(e.to_string()))?;
    opts.insert(DhcpOption::SubnetMask(mask));
    if let Ok(net) = subnet.subnet() {
        opts.insert(DhcpOption::BroadcastAddr(net.broadcast()));
    }
    if let Some(router) = subnet.router {
        opts.insert(DhcpOption::Router(vec![router]));
    }
    if !subnet.dns_servers.is_empty() {
        opts.insert(DhcpOption::DomainNameServer(subnet.dns_servers.clone()));
    }
    if let Some(name) = &subnet.domain_name {
        opts.insert(DhcpOption::DomainName(name.clone()));
    }
    if let Some(mtu) = subnet.mtu {
        opts.insert(DhcpOption::InterfaceMtu(mtu));
    }
    if !subnet.routes.is_empty() {
        // RFC 3442: a client given option 121 MUST ignore option 3, so the
        // default route goes into 121 as well.
        let mut routes = Vec::with_capacity(subnet.routes.len() + 1);
        let has_default = subnet.routes.iter().any(|(n, _)| n.prefix_len() == 0);
        if let (Some(router), false) = (subnet.router, has_default) {
            routes.push((Ipv4Net::default(), router));
        }
        routes.extend(subnet.routes.iter().copied());
        opts.insert(DhcpOption::ClasslessStaticRoute(routes));
    }
    Ok(())
}

/// RFC 2131 §4.1, "If the 'giaddr' field is zero ...".
fn reply_addrs(
    req: &Message,
    verdict: Verdict,
    binding: &Binding,
    chaddr: Mac,
) -> wire::ReplyAddrs {
    let subnet = &binding.subnet;
    let broadcast = (BROADCAST_MAC, Ipv4Addr::BROADCAST);
    let (eth_dst, ip_dst) = if verdict == Verdict::Nak {
        broadcast
    } else if !req.ciaddr().is_unspecified() {
        (chaddr, req.ciaddr())
    } else if req.flags().broadcast() || verdict == Verdict::InformAck {
        broadcast
    } else {
        (chaddr, binding.ip)
    };
    wire::ReplyAddrs {
        eth_src: subnet.server_mac,
        eth_dst,
        ip_src: subnet.server_ip,
        ip_dst,
    }
}
