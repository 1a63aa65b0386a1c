//! A plain packet handle for simulations, tests and benchmarks (the switch
//! implements [`Packet`] for its own buffer type instead).

use crate::qdisc::Packet;

/// A packet reduced to what the schedulers look at, plus a sequence number
/// so a simulation can check ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimPacket {
    /// Length in bytes.
    pub len: u32,
    /// Flow hash.
    pub flow: u32,
    /// TOS byte.
    pub tos: u8,
    /// OpenFlow queue id (`set_queue`), if any.
    pub queue: Option<u32>,
    /// Caller's sequence number.
    pub seq: u64,
}

impl SimPacket {
    /// A packet of `len` bytes in `flow`.
    pub fn new(len: u32, flow: u32) -> Self {
        Self {
            len,
            flow,
            ..Self::default()
        }
    }

    /// The same packet bound for OpenFlow queue `q`.
    pub fn with_queue(mut self, q: u32) -> Self {
        self.queue = Some(q);
        self
    }

    /// The same packet with TOS `tos`.
    pub fn with_tos(mut self, tos: u8) -> Self {
        self.tos = tos;
        self
    }

    /// The same packet with sequence number `seq`.
    pub fn with_seq(mut self, seq: u64) -> Self {
        self.seq = seq;
        self
    }
}

impl Packet for SimPacket {
    fn len(&self) -> usize {
        self.len as usize
    }

    fn flow_hash(&self) -> u32 {
        self.flow
    }

    fn tos(&self) -> u8 {
        self.tos
    }

    fn queue_id(&self) -> Option<u32> {
        self.queue
    }
}
