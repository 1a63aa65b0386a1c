//! "VMs": namespaces whose `eth0` is a TAP netdev, as a qemu guest's NIC.
//!
//! A frame written to the TAP's fd arrives on the VM's `eth0` as if from the
//! wire, and what the VM's kernel sends on `eth0` is read from the fd: the
//! namespace plays the guest, whoever holds the fd (the test, or the switch)
//! plays qemu.

use std::net::IpAddr;
use std::ops::Deref;

use ipnet::IpNet;
use netio::tap::{Tap, TapOptions};

use crate::error::Result;
use crate::netns::Netns;
use crate::Mac;

/// Name of the VM's NIC inside its namespace.
pub const VM_NIC: &str = "eth0";

/// How to configure a VM's `eth0`.
#[derive(Debug, Clone, Default)]
pub struct VmConfig {
    /// MAC address; `None` keeps the kernel's random one.
    pub mac: Option<Mac>,
    /// Addresses, e.g. `10.0.0.5/24` (IPv4 and/or IPv6).
    pub addrs: Vec<IpNet>,
    /// Default gateways (at most one per address family).
    pub gateways: Vec<IpAddr>,
    /// MTU; `None` keeps 1500.
    pub mtu: Option<u32>,
    /// Options of the TAP the lab opens ([`crate::Lab::vm`] only).
    pub tap: TapOptions,
}

impl VmConfig {
    /// A VM with one address and nothing else.
    pub fn new(addr: IpNet) -> VmConfig {
        VmConfig {
            addrs: vec![addr],
            ..VmConfig::default()
        }
    }

    /// Set the MAC address.
    pub fn mac(mut self, mac: Mac) -> Self {
        self.mac = Some(mac);
        self
    }

    /// Add an address.
    pub fn addr(mut self, addr: IpNet) -> Self {
        self.addrs.push(addr);
        self
    }

    /// Add a default gateway.
    pub fn gateway(mut self, gw: IpAddr) -> Self {
        self.gateways.push(gw);
        self
    }

    /// Set the MTU.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Set the options of the TAP the lab opens.
    pub fn tap_options(mut self, opts: TapOptions) -> Self {
        self.tap = opts;
        self
    }
}

/// A VM: its namespace (deleted on drop) and, when the lab opened it, the
/// TAP fd. Derefs to its [`Netns`], so `vm.ping(..)`, `vm.exec(..)` work.
#[derive(Debug)]
pub struct Vm {
    // Field order matters: the TAP fd closes before the namespace goes.
    tap: Option<Tap>,
    mac: Mac,
    config: VmConfig,
    ns: Netns,
}

impl Vm {
    /// Create a VM in a new namespace `ns` whose `eth0` is a TAP opened by
    /// this process (the TAP is created inside the namespace directly).
    pub(crate) fn with_own_tap(ns: Netns, config: VmConfig) -> Result<Vm> {
        let tap = ns.run(|| Tap::open(VM_NIC, &config.tap))??;
        Self::configure(ns, Some(tap), config)
    }

    /// Create a VM in a new namespace `ns` around the existing TAP netdev
    /// `tap_name` of namespace `from` (`None`: this process's namespace),
    /// created and held by someone else, e.g. the switch: it is moved in and
    /// renamed `eth0`.
    pub(crate) fn with_foreign_tap(
        ns: Netns,
        from: Option<&Netns>,
        tap_name: &str,
        config: VmConfig,
    ) -> Result<Vm> {
        crate::names::check_ifname(tap_name)?;
        let mv = ["link", "set", "dev", tap_name, "netns", ns.name()];
        match from {
            Some(f) => f.ip(&mv)?,
            None => crate::cmd::ip(&mv)?,
        };
        ns.ip(&["link", "set", "dev", tap_name, "name", VM_NIC])?;
        Self::configure(ns, None, config)
    }

    fn configure(ns: Netns, tap: Option<Tap>, config: VmConfig) -> Result<Vm> {
        if let Some(mac) = config.mac {
            ns.set_mac(VM_NIC, mac)?;
        }
        if let Some(mtu) = config.mtu {
            ns.set_mtu(VM_NIC, mtu)?;
        }
        for a in &config.addrs {
            ns.add_addr(VM_NIC, *a)?;
        }
        ns.link_up(VM_NIC)?;
        for gw in &config.gateways {
            ns.default_route(*gw)?;
        }
        let mac = ns.mac(VM_NIC)?;
        Ok(Vm {
            tap,
            mac,
            config,
            ns,
        })
    }

    /// The VM's namespace.
    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// The TAP fd, if the lab opened it ([`crate::Lab::vm`]).
    pub fn tap(&self) -> Option<&Tap> {
        self.tap.as_ref()
    }

    /// Take the TAP fd out, e.g. to hand it to an in-process switch.
    pub fn take_tap(&mut self) -> Option<Tap> {
        self.tap.take()
    }

    /// MAC address of `eth0`.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// The first configured address of the given family, without prefix.
    /// (Not named `ip`: that is [`Netns::ip`], reached through `Deref`.)
    pub fn addr(&self, v6: bool) -> Option<IpAddr> {
        self.config
            .addrs
            .iter()
            .map(IpNet::addr)
            .find(|a| a.is_ipv6() == v6)
    }

    /// The first IPv4 address, without prefix.
    pub fn ipv4(&self) -> Option<IpAddr> {
        self.addr(false)
    }

    /// The first IPv6 address, without prefix.
    pub fn ipv6(&self) -> Option<IpAddr> {
        self.addr(true)
    }

    /// The configuration the VM was made with.
    pub fn config(&self) -> &VmConfig {
        &self.config
    }
}

impl Deref for Vm {
    type Target = Netns;

    fn deref(&self) -> &Netns {
        &self.ns
    }
}
