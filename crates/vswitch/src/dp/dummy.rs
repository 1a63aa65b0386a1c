//! In-memory ports, as OVS's `netdev-dummy` (the ports its own testsuite
//! drives with `ovs-appctl netdev-dummy/receive`): a frame handed to
//! [`Datapath::receive`] runs through the real pipeline — flow tables,
//! cache, conntrack, NAT, the local responder, NORMAL — and whatever the
//! datapath sends out of a dummy port is kept until
//! [`Datapath::take_sent`] collects it. Property tests (the controller's
//! isolation oracle) use them to run thousands of frames through the
//! switch without a netdev, a namespace or root.
//!
//! Dummy ports live outside the switch configuration: a later
//! [`Datapath::reconcile`] closes them like any port it does not know.

use super::port::{PortIo, HDR};
use super::{Datapath, DpPort};
use crate::schema::{IfaceType, Interface};

/// Most frames a dummy port keeps before counting `tx_dropped`.
pub const MAX_QUEUED: usize = 4096;

/// Frames a dummy port has sent, Ethernet header first.
#[derive(Debug, Default)]
pub struct DummyIo {
    /// Sent frames, oldest first, without the virtio header.
    pub sent: Vec<Vec<u8>>,
}

impl DummyIo {
    /// Keep `frame` (virtio header first, as every port sends); false when
    /// the queue is full.
    pub(super) fn push(&mut self, frame: &[&[u8]]) -> bool {
        if self.sent.len() >= MAX_QUEUED {
            return false;
        }
        let mut v: Vec<u8> = frame.concat();
        v.drain(..HDR.min(v.len()));
        self.sent.push(v);
        true
    }
}

/// Errors of the dummy-port calls, naming what was not found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DummyError {
    /// No bridge of that name.
    #[error("no bridge named {0}")]
    NoBridge(String),
    /// No dummy port of that name.
    #[error("no dummy port named {0}")]
    NoPort(String),
    /// A port of that name already exists.
    #[error("a port named {0} already exists")]
    Exists(String),
}

impl Datapath {
    /// Add dummy port `name` with OpenFlow port `ofport` to `bridge`.
    pub fn add_dummy_port(
        &mut self,
        bridge: &str,
        name: &str,
        ofport: u16,
    ) -> Result<(), DummyError> {
        let bi = self
            .bridge_index(bridge)
            .ok_or_else(|| DummyError::NoBridge(bridge.to_owned()))?;
        if self.port_slot(name).is_some() {
            return Err(DummyError::Exists(name.to_owned()));
        }
        let slot = self.free_slot();
        let iface = Interface {
            name: name.to_owned(),
            kind: IfaceType::Internal,
            ofport: Some(ofport),
            ..Interface::default()
        };
        self.ports[slot] = Some(DpPort::new(bi, &iface, PortIo::Dummy(DummyIo::default())));
        if let Some(Some(b)) = self.bridges.get_mut(bi) {
            b.ports.push(slot);
            let ports = &self.ports;
            b.ports
                .sort_by_key(|&s| ports[s].as_ref().map(|p| p.ofport).unwrap_or(0));
        }
        Ok(())
    }

    fn dummy_slot(&self, name: &str) -> Result<usize, DummyError> {
        self.port_slot(name)
            .filter(|&s| {
                self.ports[s]
                    .as_ref()
                    .is_some_and(|p| matches!(p.io, PortIo::Dummy(_)))
            })
            .ok_or_else(|| DummyError::NoPort(name.to_owned()))
    }

    /// Run Ethernet frame `eth` through the datapath as if dummy port
    /// `name` had received it.
    pub fn receive(&mut self, name: &str, eth: &[u8]) -> Result<(), DummyError> {
        let slot = self.dummy_slot(name)?;
        let mut buf = vec![0u8; HDR + eth.len()];
        buf[HDR..].copy_from_slice(eth);
        self.input(slot, &mut buf, 0);
        self.flush_tx();
        Ok(())
    }

    /// The frames dummy port `name` sent since the last call.
    pub fn take_sent(&mut self, name: &str) -> Result<Vec<Vec<u8>>, DummyError> {
        let slot = self.dummy_slot(name)?;
        match self.ports[slot].as_mut().map(|p| &mut p.io) {
            Some(PortIo::Dummy(d)) => Ok(std::mem::take(&mut d.sent)),
            _ => Err(DummyError::NoPort(name.to_owned())),
        }
    }
}
