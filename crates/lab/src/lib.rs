//! The test bench of cloudnet: network namespaces, veth pairs, TAP-backed
//! "VMs" and underlay "hosts", all torn down even when a test panics.
//!
//! Every end-to-end test builds its little world with a [`Lab`]. The lab
//! picks a name prefix unique to the test (`cn` + 4 hex digits + `-`, see
//! [`names`]), names everything it creates in the host's namespace with it,
//! and removes all of it when dropped — in reverse order of creation, then by
//! a sweep over the prefix, also while unwinding from a panic. Leftovers of a
//! killed test process are removed with `cloudnet lab clean`.
//!
//! The kernel is configured with iproute2 (`ip`), which keeps the lab simple
//! and its errors readable; code that must run inside a namespace (opening a
//! socket or a TAP) runs on a thread that entered it ([`Netns::run`]),
//! because `setns(2)` acts on one thread only. The lab holds no `unsafe`.
//!
//! Tests that need root call [`Lab::new_or_skip`]: without root it skips the
//! test, saying why — or, under `CI=true`, fails it ([`require_root`]).
//!
//! # What there is
//!
//! - [`Lab::netns`] → [`Netns`]: `ip`, `exec` (with timeout), `spawn`
//!   ([`Background`], killed on drop), `run` (Rust code inside), sockets
//!   inside ([`Netns::udp_socket`], [`Netns::tcp_listener`],
//!   [`Netns::tcp_connect`]), addresses, routes, MTU, MAC, sysctls, link
//!   counters.
//! - [`Lab::veth`] → [`VethPair`] between two namespaces.
//! - [`Lab::vm`] → [`Vm`] whose `eth0` is a TAP held by this process
//!   ([`Vm::tap`]); [`Lab::vm_on_tap`] / [`Lab::vm_on_tap_from`] wrap a TAP
//!   made by someone else (the switch), named e.g. with [`Lab::tap_name`].
//! - [`Lab::host`] / [`Lab::host_with_ip`] → [`Host`] on the shared underlay
//!   bridge ([`Lab::underlay`]).
//! - [`etcd::Cluster`]: etcd members on loopback for store tests
//!   (`start_or_skip(test, n)`, `endpoints()`, `kill(i)`, `restart(i)`).
//! - Checks: [`ping`], [`tcp_check`], [`udp_check`] (and `_timeout`
//!   variants to assert that something is blocked), [`wait_until`] /
//!   [`wait_for`] to poll a condition with a deadline instead of sleeping.
//!
//! Addresses: use 10.0.0.0/8 inside test namespaces, and 198.51.100.0/24 or
//! 203.0.113.0/24 (RFC 5737) for "the internet". Traffic never leaves the
//! lab's namespaces: the host's own interfaces and routes are not touched.
//!
//! # Example
//!
//! Two namespaces on a veth pair exchange ping and TCP:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! #[test]
//! fn veth_ping() {
//!     let Some(lab) = lab::Lab::new_or_skip("veth_ping") else { return };
//!     let a = lab.netns("a").unwrap();
//!     let b = lab.netns("b").unwrap();
//!     let _link = lab.veth(&a, "eth0", &b, "eth0").unwrap();
//!     a.add_addr("eth0", "10.0.0.1/24".parse().unwrap()).unwrap();
//!     b.add_addr("eth0", "10.0.0.2/24".parse().unwrap()).unwrap();
//!     a.link_up("eth0").unwrap();
//!     b.link_up("eth0").unwrap();
//!
//!     let stats = a.ping("10.0.0.2".parse().unwrap(), 3).unwrap();
//!     assert!(stats.all_received(), "{stats:?}");
//!     lab::tcp_check(&a, &b, "10.0.0.2:7".parse().unwrap(), 100_000).unwrap();
//!
//!     // A VM: its eth0 is a TAP whose fd this process holds.
//!     let vm = lab
//!         .vm("vm1", lab::VmConfig::new("10.1.0.5/24".parse().unwrap()))
//!         .unwrap();
//!     let tap = vm.tap().unwrap();
//!     let _readable = tap.wait_readable(Duration::from_secs(1)).unwrap();
//! } // everything is removed here, even if an assertion failed
//! ```

mod checks;
mod cmd;
pub mod dhcp;
mod error;
pub mod etcd;
mod host;
mod mac;
pub mod names;
mod netns;
mod vm;

use std::sync::{Mutex, OnceLock};

pub use checks::{
    accept_within, ping, ping_with, tcp_check, tcp_check_peer, tcp_check_timeout, udp_check,
    udp_check_timeout, PingOptions, PingStats, CHECK_TIMEOUT, PING_REPLY_TIMEOUT,
};
pub use cmd::{run, run_ok, wait_for, wait_until, Output, EXEC_TIMEOUT, IP_TIMEOUT};
pub use error::{LabError, Result};
pub use host::{Host, HOST_NIC, UNDERLAY_BRIDGE};
pub use mac::Mac;
pub use names::{clean, find_leftovers, Leftovers};
pub use netio::tap::{Offloads, Tap, TapOptions, VirtioNetHdr, VnetHdrLen};
pub use netns::{Background, Netns};
pub use vm::{Vm, VmConfig, VM_NIC};

/// True if this process may build labs (it runs as root). Otherwise, under
/// `CI=true` this *panics* with a clear message — CI must never pass by
/// skipping the data-path tests — and elsewhere it prints why `test` is
/// skipped and returns false.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: needs root (network namespaces, veth, TAP); CI=true, so this is a \
             failure, not a skip. Run the tests as root."
        );
    }
    eprintln!("skipping {test}: needs root (network namespaces, veth, TAP)");
    false
}

/// Short name of the underlay namespace.
const UNDERLAY: &str = "ul";

fn reject_reserved(short: &str) -> Result<()> {
    if short == UNDERLAY {
        return Err(LabError::BadName {
            name: short.into(),
            why: "`ul` is the underlay's name".into(),
        });
    }
    Ok(())
}

/// Something a lab created, remembered for teardown.
#[derive(Debug)]
enum Made {
    Netns(String),
    Link { ns: Option<String>, name: String },
}

/// A test's lab: creates namespaces, links, VMs and hosts under a unique
/// prefix and removes them all when dropped. See the crate docs.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    label: String,
    made: Mutex<Vec<Made>>,
    underlay: OnceLock<Netns>,
    underlay_init: Mutex<()>,
}

impl Lab {
    /// Start a lab for test `label` (used in messages only).
    pub fn new(label: &str) -> Result<Lab> {
        Ok(Lab {
            prefix: names::reserve_prefix(label)?,
            label: label.to_owned(),
            made: Mutex::new(Vec::new()),
            underlay: OnceLock::new(),
            underlay_init: Mutex::new(()),
        })
    }

    /// The lab for a test that needs root: `None` (skip) without root, see
    /// [`require_root`]; panics with the reason if the lab cannot start.
    ///
    /// `let Some(lab) = lab::Lab::new_or_skip("my_test") else { return };`
    pub fn new_or_skip(label: &str) -> Option<Lab> {
        if !require_root(label) {
            return None;
        }
        match Lab::new(label) {
            Ok(lab) => Some(lab),
            Err(e) => panic!("{label}: cannot start a lab: {e}"),
        }
    }

    /// A lab under a fixed prefix instead of a random one (e.g. `cnd-` for
    /// `cloudnet demo`), so that a later process can find what it left by
    /// name ([`clean`] with that prefix). Fails if the prefix is in use.
    pub fn with_prefix(prefix: &str, label: &str) -> Result<Lab> {
        names::claim_fixed_prefix(prefix, label)?;
        Ok(Lab {
            prefix: prefix.to_owned(),
            label: label.to_owned(),
            made: Mutex::new(Vec::new()),
            underlay: OnceLock::new(),
            underlay_init: Mutex::new(()),
        })
    }

    /// Leave everything this lab made in place, claim included (a demo kept
    /// up for exploring); [`clean`] with its prefix removes it later.
    /// Namespaces and guards the caller holds must be kept too
    /// (`std::mem::forget`), since they delete themselves when dropped.
    pub fn keep(self) {
        std::mem::forget(self);
    }

    /// The prefix of every name this lab gives (e.g. `cn3f2a-`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full name for short name `short`: prefix + `short`, at most 15
    /// bytes (`short` is 1..=8 bytes of `[a-z0-9]`).
    pub fn name(&self, short: &str) -> Result<String> {
        names::check_short(short)?;
        Ok(format!("{}{short}", self.prefix))
    }

    fn remember(&self, m: Made) {
        self.made.lock().unwrap_or_else(|p| p.into_inner()).push(m);
    }

    /// A new namespace named prefix + `short`, loopback up. `ul` is taken
    /// by [`Self::underlay`].
    pub fn netns(&self, short: &str) -> Result<Netns> {
        reject_reserved(short)?;
        self.new_netns(short)
    }

    fn new_netns(&self, short: &str) -> Result<Netns> {
        let name = self.name(short)?;
        self.remember(Made::Netns(name.clone()));
        Netns::create(&name)
    }

    /// A veth pair: `a_dev` in `a` ↔ `b_dev` in `b` (both down; names are
    /// local to their namespaces). Deleted when the guard drops.
    pub fn veth(&self, a: &Netns, a_dev: &str, b: &Netns, b_dev: &str) -> Result<VethPair> {
        names::check_ifname(a_dev)?;
        names::check_ifname(b_dev)?;
        self.remember(Made::Link {
            ns: Some(a.name().to_owned()),
            name: a_dev.to_owned(),
        });
        a.ip(&[
            "link",
            "add",
            "name",
            a_dev,
            "type",
            "veth",
            "peer",
            "name",
            b_dev,
            "netns",
            b.name(),
        ])?;
        Ok(VethPair {
            a_ns: a.name().to_owned(),
            a_dev: a_dev.to_owned(),
            b_ns: b.name().to_owned(),
            b_dev: b_dev.to_owned(),
        })
    }

    /// A VM whose `eth0` is a TAP opened by this process: its namespace is
    /// prefix + `short`, the TAP fd is [`Vm::tap`].
    pub fn vm(&self, short: &str, config: VmConfig) -> Result<Vm> {
        Vm::with_own_tap(self.netns(short)?, config)
    }

    /// The host-namespace name to give a TAP that someone else (the switch)
    /// creates for VM `short`, so that the sweep finds it: prefix + `short`.
    pub fn tap_name(&self, short: &str) -> Result<String> {
        let name = self.name(short)?;
        self.remember(Made::Link {
            ns: None,
            name: name.clone(),
        });
        Ok(name)
    }

    /// A VM around the existing TAP netdev `tap_name` of the host namespace
    /// (created and held by someone else, e.g. the switch): the netdev moves
    /// into the new namespace prefix + `short` and becomes its `eth0`.
    pub fn vm_on_tap(&self, short: &str, tap_name: &str, config: VmConfig) -> Result<Vm> {
        Vm::with_foreign_tap(self.netns(short)?, None, tap_name, config)
    }

    /// [`Self::vm_on_tap`] for a TAP netdev living in namespace `from`, e.g.
    /// one made by a switch running inside a [`Host`].
    pub fn vm_on_tap_from(
        &self,
        short: &str,
        from: &Netns,
        tap_name: &str,
        config: VmConfig,
    ) -> Result<Vm> {
        Vm::with_foreign_tap(self.netns(short)?, Some(from), tap_name, config)
    }

    /// The underlay: namespace prefix + `ul` with bridge `br0`, made on first
    /// use and kept until the lab drops.
    pub fn underlay(&self) -> Result<&Netns> {
        if let Some(u) = self.underlay.get() {
            return Ok(u);
        }
        let _g = self.underlay_init.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = self.underlay.get() {
            return Ok(u);
        }
        let name = self.name(UNDERLAY)?;
        self.remember(Made::Netns(name.clone()));
        let ns = host::create_underlay(&name)?;
        Ok(self.underlay.get_or_init(|| ns))
    }

    /// A host: namespace prefix + `short` whose `eth0` is plugged into the
    /// underlay bridge (port `short` there).
    pub fn host(&self, short: &str) -> Result<Host> {
        names::check_short(short)?;
        reject_reserved(short)?;
        let underlay = self.underlay()?;
        Host::attach(self.netns(short)?, underlay, short)
    }

    /// [`Self::host`] with an underlay address, e.g. `10.200.0.1/24`.
    pub fn host_with_ip(&self, short: &str, addr: ipnet::IpNet) -> Result<Host> {
        let mut h = self.host(short)?;
        h.set_underlay_ip(addr)?;
        Ok(h)
    }

    /// What currently exists under this lab's prefix (for asserting a clean
    /// teardown).
    pub fn leftovers(&self) -> Result<Leftovers> {
        names::find_leftovers(Some(&self.prefix))
    }

    fn teardown(&mut self) {
        let made = std::mem::take(self.made.get_mut().unwrap_or_else(|p| p.into_inner()));
        for m in made.iter().rev() {
            let r = match m {
                Made::Netns(n) => names::delete_netns(n),
                Made::Link { ns, name } => names::delete_link(ns.as_deref(), name),
            };
            if let Err(e) = r {
                eprintln!("lab {}: teardown: {e}", self.label);
            }
        }
        drop(self.underlay.take());
        match names::clean(Some(&self.prefix)) {
            Ok(left) if !left.is_empty() => {
                eprintln!("lab {}: swept leftovers {left:?}", self.label)
            }
            Ok(_) => {}
            Err(e) => eprintln!("lab {}: sweep of {}: {e}", self.label, self.prefix),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
        names::release_prefix(&self.prefix);
    }
}

/// A veth pair made by [`Lab::veth`]; deleting one end (on drop) deletes
/// both.
#[derive(Debug)]
pub struct VethPair {
    a_ns: String,
    a_dev: String,
    b_ns: String,
    b_dev: String,
}

impl VethPair {
    /// (namespace, device) of the first end.
    pub fn a(&self) -> (&str, &str) {
        (&self.a_ns, &self.a_dev)
    }

    /// (namespace, device) of the second end.
    pub fn b(&self) -> (&str, &str) {
        (&self.b_ns, &self.b_dev)
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        if let Err(e) = names::delete_link(Some(&self.a_ns), &self.a_dev) {
            eprintln!("lab: cannot delete veth {}/{}: {e}", self.a_ns, self.a_dev);
        }
    }
}
