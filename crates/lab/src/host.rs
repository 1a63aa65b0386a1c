//! "Hosts": namespaces plugged into a shared underlay, the physical network
//! between hypervisors. The underlay is one namespace holding a kernel
//! bridge (`br0`); each host gets a veth whose inside end is `eth0` and whose
//! outside end, named after the host, is a port of that bridge.

use ipnet::IpNet;
use std::ops::Deref;

use crate::error::Result;
use crate::netns::Netns;

/// Name of a host's underlay NIC inside its namespace.
pub const HOST_NIC: &str = "eth0";
/// Name of the bridge inside the underlay namespace.
pub const UNDERLAY_BRIDGE: &str = "br0";

/// A host: its namespace (deleted on drop, which also removes its port on the
/// underlay bridge). Derefs to its [`Netns`].
#[derive(Debug)]
pub struct Host {
    ns: Netns,
    underlay_port: String,
    underlay_ips: Vec<IpNet>,
}

impl Host {
    /// Make `ns` a host: veth `eth0` (inside) ↔ `port` (in `underlay`,
    /// enslaved to its bridge), both up.
    pub(crate) fn attach(ns: Netns, underlay: &Netns, port: &str) -> Result<Host> {
        crate::names::check_ifname(port)?;
        ns.ip(&[
            "link",
            "add",
            "name",
            HOST_NIC,
            "type",
            "veth",
            "peer",
            "name",
            port,
            "netns",
            underlay.name(),
        ])?;
        underlay.ip(&["link", "set", "dev", port, "master", UNDERLAY_BRIDGE, "up"])?;
        ns.link_up(HOST_NIC)?;
        Ok(Host {
            ns,
            underlay_port: port.to_owned(),
            underlay_ips: Vec::new(),
        })
    }

    /// The host's namespace.
    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// Name of the host's port on the underlay bridge (in the underlay
    /// namespace).
    pub fn underlay_port(&self) -> &str {
        &self.underlay_port
    }

    /// Give the host an address on the underlay, e.g. `10.200.0.1/24`.
    pub fn set_underlay_ip(&mut self, addr: IpNet) -> Result<()> {
        self.ns.add_addr(HOST_NIC, addr)?;
        self.underlay_ips.push(addr);
        Ok(())
    }

    /// The underlay addresses given so far.
    pub fn underlay_ips(&self) -> &[IpNet] {
        &self.underlay_ips
    }

    /// The first underlay address, without prefix.
    pub fn underlay_ip(&self) -> Option<std::net::IpAddr> {
        self.underlay_ips().first().map(IpNet::addr)
    }
}

impl Deref for Host {
    type Target = Netns;

    fn deref(&self) -> &Netns {
        &self.ns
    }
}

/// Create the underlay namespace `name` with its bridge up.
pub(crate) fn create_underlay(name: &str) -> Result<Netns> {
    let ns = Netns::create(name)?;
    ns.ip(&["link", "add", "name", UNDERLAY_BRIDGE, "type", "bridge"])?;
    ns.link_up(UNDERLAY_BRIDGE)?;
    Ok(ns)
}
