//! What the DHCP server hands out: per-subnet options and per-port
//! bindings (Neutron: a port's fixed IP on a subnet with `enable_dhcp`).

use core::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;

use crate::Mac;

/// A configuration the server refuses, naming the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("prefix length {0} is not in 0..=32")]
    PrefixLen(u8),
    #[error("address {ip} is not in subnet {subnet}")]
    OutsideSubnet { ip: Ipv4Addr, subnet: Ipv4Net },
    #[error("lease time 0 is not allowed (use u32::MAX for infinite, RFC 2131 §3.3)")]
    ZeroLease,
    #[error("MTU {0} is below the IPv4 minimum of 68 (RFC 2132 §5.1)")]
    Mtu(u16),
    #[error("domain name {0:?} is empty or longer than 255 bytes")]
    DomainName(String),
    #[error("{0} is not a unicast MAC")]
    Mac(String),
}

/// Options shared by every port of one subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetOptions {
    /// Server identifier (option 54) and IP source of replies: the subnet's
    /// DHCP port address.
    pub server_ip: Ipv4Addr,
    /// Ethernet source of replies.
    pub server_mac: Mac,
    /// Subnet prefix length; sent as the subnet mask (option 1).
    pub prefix_len: u8,
    /// Default gateway (option 3, and 0.0.0.0/0 in option 121).
    pub router: Option<Ipv4Addr>,
    /// DNS servers (option 6).
    pub dns_servers: Vec<Ipv4Addr>,
    /// Domain name (option 15).
    pub domain_name: Option<String>,
    /// Interface MTU (option 26): the network's MTU, overlay overhead
    /// already subtracted by the caller.
    pub mtu: Option<u16>,
    /// Classless static routes (option 121, RFC 3442), e.g. a subnet's
    /// `host_routes`.
    pub routes: Vec<(Ipv4Net, Ipv4Addr)>,
    /// Lease time in seconds (option 51); T1 and T2 are 1/2 and 7/8 of it
    /// (RFC 2131 §4.4.5).
    pub lease_time: u32,
}

impl SubnetOptions {
    /// Options with only the required values; the rest empty, a lease of a
    /// day (Neutron's `dhcp_lease_duration` default: 86400 s).
    pub fn new(server_ip: Ipv4Addr, server_mac: Mac, prefix_len: u8) -> Self {
        Self {
            server_ip,
            server_mac,
            prefix_len,
            router: None,
            dns_servers: Vec::new(),
            domain_name: None,
            mtu: None,
            routes: Vec::new(),
            lease_time: 86_400,
        }
    }

    /// The subnet, from the server address and prefix length.
    pub fn subnet(&self) -> Result<Ipv4Net, ConfigError> {
        Ipv4Net::new(self.server_ip, self.prefix_len)
            .map(|n| n.trunc())
            .map_err(|_| ConfigError::PrefixLen(self.prefix_len))
    }

    /// The subnet mask (option 1).
    pub fn netmask(&self) -> Result<Ipv4Addr, ConfigError> {
        Ok(self.subnet()?.netmask())
    }

    /// Checks the values a client would choke on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let subnet = self.subnet()?;
        if self.server_mac[0] & 1 == 1 {
            return Err(ConfigError::Mac(fmt_mac(&self.server_mac)));
        }
        if let Some(r) = self.router {
            if !subnet.contains(&r) {
                return Err(ConfigError::OutsideSubnet { ip: r, subnet });
            }
        }
        if self.lease_time == 0 {
            return Err(ConfigError::ZeroLease);
        }
        if let Some(mtu) = self.mtu {
            if mtu < 68 {
                return Err(ConfigError::Mtu(mtu));
            }
        }
        if let Some(d) = &self.domain_name {
            if d.is_empty() || d.len() > 255 {
                return Err(ConfigError::DomainName(d.clone()));
            }
        }
        Ok(())
    }
}

/// One port's lease: its fixed IP on a subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The port's fixed IP.
    pub ip: Ipv4Addr,
    /// The subnet's options (shared by its ports).
    pub subnet: Arc<SubnetOptions>,
}

impl Binding {
    /// Checks the subnet options and that `ip` is inside the subnet.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.subnet.validate()?;
        let subnet = self.subnet.subnet()?;
        if !subnet.contains(&self.ip) {
            return Err(ConfigError::OutsideSubnet {
                ip: self.ip,
                subnet,
            });
        }
        Ok(())
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn fmt_mac(mac: &Mac) -> String {
    let m = mac;
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}
