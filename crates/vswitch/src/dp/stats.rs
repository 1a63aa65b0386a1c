//! Counters: per port (as `ovs-ofctl dump-ports` and the Interface
//! `statistics` column report them, ovs-vswitchd.conf.db(5)) and per bridge
//! drop reasons.

use std::collections::BTreeMap;

/// Why the datapath dropped a frame. Counted per bridge; `ofctl dump-ports`
/// shows the port-level totals, `ofctl dump-tables` the reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    Malformed,
    /// A tagged frame on an access port, or a VLAN the trunk does not carry.
    VlanNotAllowed,
    /// No flow matched (OpenFlow table miss without a controller).
    TableMiss,
    /// A flow's action list is empty (`actions=drop`).
    ActionDrop,
    /// NORMAL found the destination on the input port itself.
    SameSegment,
    /// Patch ports chained deeper than the loop guard allows.
    PatchLoop,
    /// The output port's queue was full.
    TxFull,
    /// The output port failed (closed netdev, bad frame for the kernel).
    TxError,
    /// The output port is not open (creation failed, peer missing).
    PortDown,
    /// Over the port's `ingress_policing_rate`.
    Policed,
    /// A flow asked for an action this datapath does not execute yet
    /// (tunnels, SCTP port rewrites).
    Unsupported,
    /// `ct(commit)` refused a new connection: the tracker's or the zone's
    /// connection limit is reached (ovs-vswitchd.conf.db(5) CT_Zone
    /// `limit`, `dpctl/ct-set-limits`).
    CtLimit,
    /// `ct(commit,nat(...))` found no free translated tuple, or the reply
    /// tuple clashes with another connection (netfilter drops these too).
    CtNat,
    /// More `ct(table=T)` recirculations than `dp::ct::MAX_RECIRC`.
    RecircLimit,
    /// A packet-in for an OpenFlow controller (`controller` without a
    /// `cloudnet:` local action): there is none on the data path.
    NoController,
    /// `dec_ttl` found TTL 0 or 1: the packet-in with reason `invalid_ttl`
    /// (ovs-actions(7)) has no controller to go to.
    InvalidTtl,
    /// A `cloudnet:` local action whose userdata does not parse
    /// (LOCAL_ACTIONS.md).
    LocalActionError,
    /// A local action had no answer for the packet (not the kind of packet
    /// the op answers, malformed, an ICMP error that must not be sent).
    LocalNoReply,
    /// Too big for the tunnel's underlay path MTU (answered with ICMP
    /// frag-needed / Packet Too Big when the frame allows).
    TunnelTooBig,
    /// A tunnel output without a destination (`remote_ip=flow` and no
    /// `tun_dst`) or that failed to encapsulate.
    TunnelError,
    /// A tunnel packet whose outer header says CE (congestion experienced)
    /// around an inner packet that is not ECN-capable (RFC 6040 §4.2).
    TunnelEcn,
    /// A shaped port's scheduler was at its queue limit.
    QosQueueFull,
    /// A shaped port's buffer pool was empty.
    QosNoBuffer,
    /// A `learn(limit=N)` found N flows with its cookie already and learned
    /// nothing (the packet itself goes on; e.g. a router's MAC bindings
    /// are full, PIPELINE.md).
    LearnLimit,
    /// A local action's generated packet would re-enter the pipeline
    /// deeper than the loop guard allows (LOCAL_ACTIONS.md `table=`).
    LocalLoop,
    /// A broadcast or multicast frame over its input port's storm-control
    /// rate (Interface `other_config:storm-control-pps`, see `dp::storm`).
    StormControl,
    /// `ct(commit)` of a new connection over its input port's rate
    /// (Interface `other_config:ct-new-pps`, see `dp::ct`).
    CtNewRate,
    /// A flow-cache miss over its input port's upcall rate (Interface
    /// `other_config:upcall-pps`): not translated, dropped.
    UpcallLimit,
    /// A Geneve packet with a critical option (type bit 0x80) its bridge's
    /// TLV map does not know: RFC 8926 §3.5 requires the drop.
    GeneveCriticalOption,
    /// Dropped unread (not parsed) because its input port is held after
    /// one of its own rate limits (`ct-new-pps`, `upcall-pps`) refused a
    /// frame (see `dp::admit`).
    PortHeld,
}

impl DropReason {
    /// All reasons, in the order counters are kept.
    pub const ALL: [DropReason; 30] = [
        DropReason::Malformed,
        DropReason::VlanNotAllowed,
        DropReason::TableMiss,
        DropReason::ActionDrop,
        DropReason::SameSegment,
        DropReason::PatchLoop,
        DropReason::TxFull,
        DropReason::TxError,
        DropReason::PortDown,
        DropReason::Unsupported,
        DropReason::Policed,
        DropReason::CtLimit,
        DropReason::CtNat,
        DropReason::RecircLimit,
        DropReason::NoController,
        DropReason::InvalidTtl,
        DropReason::LocalActionError,
        DropReason::LocalNoReply,
        DropReason::TunnelTooBig,
        DropReason::TunnelError,
        DropReason::TunnelEcn,
        DropReason::QosQueueFull,
        DropReason::QosNoBuffer,
        DropReason::LearnLimit,
        DropReason::LocalLoop,
        DropReason::StormControl,
        DropReason::CtNewRate,
        DropReason::UpcallLimit,
        DropReason::GeneveCriticalOption,
        DropReason::PortHeld,
    ];

    /// Stable name used in output.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::VlanNotAllowed => "vlan_not_allowed",
            DropReason::TableMiss => "table_miss",
            DropReason::ActionDrop => "action_drop",
            DropReason::SameSegment => "same_segment",
            DropReason::PatchLoop => "patch_loop",
            DropReason::TxFull => "tx_full",
            DropReason::TxError => "tx_error",
            DropReason::PortDown => "port_down",
            DropReason::Unsupported => "unsupported_action",
            DropReason::Policed => "policed",
            DropReason::CtLimit => "ct_limit",
            DropReason::CtNat => "ct_nat",
            DropReason::RecircLimit => "recirc_limit",
            DropReason::NoController => "no_controller",
            DropReason::InvalidTtl => "invalid_ttl",
            DropReason::LocalActionError => "local_action_error",
            DropReason::LocalNoReply => "local_no_reply",
            DropReason::TunnelTooBig => "tunnel_too_big",
            DropReason::TunnelError => "tunnel_error",
            DropReason::TunnelEcn => "tunnel_ecn",
            DropReason::QosQueueFull => "qos_queue_full",
            DropReason::QosNoBuffer => "qos_no_buffer",
            DropReason::LearnLimit => "learn_limit",
            DropReason::LocalLoop => "local_loop",
            DropReason::StormControl => "storm_control",
            DropReason::CtNewRate => "ct_new_rate",
            DropReason::UpcallLimit => "upcall_limit",
            DropReason::GeneveCriticalOption => "geneve_critical_option",
            DropReason::PortHeld => "port_held",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Drop counters of one bridge.
#[derive(Clone, Debug, Default)]
pub struct DropCounters([u64; DropReason::ALL.len()]);

impl DropCounters {
    /// Count one drop.
    #[inline]
    pub fn bump(&mut self, r: DropReason) {
        self.0[r.index()] += 1;
    }

    /// Count `n` drops.
    #[inline]
    pub fn add(&mut self, r: DropReason, n: u64) {
        self.0[r.index()] += n;
    }

    /// The count for `r`.
    pub fn get(&self, r: DropReason) -> u64 {
        self.0[r.index()]
    }
}

/// Counters of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortStats {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received (Ethernet frame, no virtio header).
    pub rx_bytes: u64,
    /// Received frames dropped by the datapath.
    pub rx_dropped: u64,
    /// Receive errors (read failures, truncated frames).
    pub rx_errors: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames not sent because the port's queue was full.
    pub tx_dropped: u64,
    /// Send errors.
    pub tx_errors: u64,
}

impl PortStats {
    /// As the Interface `statistics` map.
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        [
            ("rx_packets", self.rx_packets),
            ("rx_bytes", self.rx_bytes),
            ("rx_dropped", self.rx_dropped),
            ("rx_errors", self.rx_errors),
            ("tx_packets", self.tx_packets),
            ("tx_bytes", self.tx_bytes),
            ("tx_dropped", self.tx_dropped),
            ("tx_errors", self.tx_errors),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}
