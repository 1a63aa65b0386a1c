//! OpenFlow actions as written in flows (ovs-actions(7)), the flow
//! modification they live in, and the datapath actions translation produces.

use crate::fields::{Field, FieldRef};
use crate::matching::Match;
use std::net::IpAddr;

/// Reserved OpenFlow port numbers (OpenFlow 1.1+ 32-bit space; ovs-ofctl(8)
/// prints them by name).
pub mod port {
    pub const MAX: u32 = 0xffff_ff00;
    pub const IN_PORT: u32 = 0xffff_fff8;
    pub const TABLE: u32 = 0xffff_fff9;
    pub const NORMAL: u32 = 0xffff_fffa;
    pub const FLOOD: u32 = 0xffff_fffb;
    pub const ALL: u32 = 0xffff_fffc;
    pub const CONTROLLER: u32 = 0xffff_fffd;
    pub const LOCAL: u32 = 0xffff_fffe;
    pub const NONE: u32 = 0xffff_ffff;
}

/// Why a packet is sent to the controller (ovs-actions(7), `controller`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControllerReason {
    Action,
    NoMatch,
    InvalidTtl,
}

/// `controller(...)` parameters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ControllerAction {
    pub max_len: u16,
    pub reason: ControllerReason,
    pub controller_id: u16,
    pub userdata: Vec<u8>,
    pub pause: bool,
}

impl Default for ControllerAction {
    fn default() -> Self {
        ControllerAction {
            max_len: u16::MAX,
            reason: ControllerReason::Action,
            controller_id: 0,
            userdata: Vec::new(),
            pause: false,
        }
    }
}

/// Source of a value: an immediate or a field range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Src {
    Imm(u128),
    Field(FieldRef),
}

/// One `learn` specification (ovs-actions(7), "The learn action").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LearnSpec {
    /// `dst[..]=src` (or `dst[..]` alone, meaning `dst[..]=dst[..]`): the
    /// learned flow matches `dst` against the value of `src` now.
    Match { dst: FieldRef, src: Src },
    /// `load:src->dst[..]`: the learned flow gets a `load` of the value now.
    Load { dst: FieldRef, src: Src },
    /// `output:src[..]`: the learned flow outputs to the port value now.
    Output { src: FieldRef },
}

/// The `learn(...)` action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LearnAction {
    pub table: u8,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub fin_idle_timeout: u16,
    pub fin_hard_timeout: u16,
    pub cookie: u64,
    pub send_flow_rem: bool,
    pub delete_learned: bool,
    /// `limit=N` (0: none): learn nothing new while the target table
    /// already holds `N` flows with this action's cookie (OVS bounds the
    /// flows one learn action installs the same way; refusals are
    /// counted by the switch).
    pub limit: u32,
    pub specs: Vec<LearnSpec>,
}

impl Default for LearnAction {
    fn default() -> Self {
        LearnAction {
            table: 1,
            priority: crate::DEFAULT_PRIORITY,
            idle_timeout: 0,
            hard_timeout: 0,
            fin_idle_timeout: 0,
            fin_hard_timeout: 0,
            cookie: 0,
            send_flow_rem: false,
            delete_learned: false,
            limit: 0,
            specs: Vec::new(),
        }
    }
}

/// `nat(...)` inside `ct` (ovs-actions(7), "The ct action").
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct NatSpec {
    /// `Some(true)` for `src`, `Some(false)` for `dst`, `None` for plain `nat`
    /// (apply the existing connection's NAT).
    pub src: Option<bool>,
    pub addr_min: Option<IpAddr>,
    pub addr_max: Option<IpAddr>,
    pub port_min: Option<u16>,
    pub port_max: Option<u16>,
    pub persistent: bool,
    pub random: bool,
    pub hash: bool,
}

/// Zone of a `ct` action: a constant or read from a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtZone {
    Imm(u16),
    Field(FieldRef),
}

/// The `ct(...)` action.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct CtAction {
    pub commit: bool,
    pub force: bool,
    pub zone: Option<CtZone>,
    /// Table where the packet re-enters after conntrack (`table=`).
    pub table: Option<u8>,
    pub alg: Option<String>,
    pub nat: Option<NatSpec>,
    /// `exec(...)`: only `set_field`/`load` to `ct_mark`/`ct_label`.
    pub exec: Vec<Action>,
}

/// One action of a flow (ovs-actions(7)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `output:N` and the reserved ports (`in_port`, `normal`, `flood`, `all`,
    /// `local`) — `port` may be any of [`port`].
    Output(u32),
    /// `output:field[..]`.
    OutputReg(FieldRef),
    Controller(ControllerAction),
    Enqueue {
        port: u32,
        queue: u32,
    },
    Resubmit {
        port: Option<u32>,
        table: Option<u8>,
        ct: bool,
    },
    GotoTable(u8),
    ModVlanVid(u16),
    ModVlanPcp(u8),
    PushVlan(u16),
    StripVlan,
    /// `set_tunnel:ID` (`is64 == false`) or `set_tunnel64:ID`.
    SetTunnel {
        id: u64,
        is64: bool,
    },
    SetField {
        field: Field,
        value: u128,
        mask: u128,
    },
    Load {
        dst: FieldRef,
        value: u128,
    },
    Move {
        src: FieldRef,
        dst: FieldRef,
    },
    ModDlSrc([u8; 6]),
    ModDlDst([u8; 6]),
    ModNwSrc(u32),
    ModNwDst(u32),
    ModNwTos(u8),
    ModTpSrc(u16),
    ModTpDst(u16),
    DecTtl,
    Learn(Box<LearnAction>),
    SetQueue(u32),
    Meter(u32),
    Note(Vec<u8>),
    Ct(Box<CtAction>),
    CtClear,
    /// `conjunction(id, k/n)`: this flow is dimension `k` of conjunctive
    /// match `id` (ovs-fields(7), "Conjunctive Match Fields"); see
    /// [`crate::conj`].
    Conjunction(Conjunction),
}

/// One `conjunction(id, k/n)` action: `clause` is `k` (1-based) of
/// `n_clauses` (2..=64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conjunction {
    pub id: u32,
    pub clause: u8,
    pub n_clauses: u8,
}

/// Flags of a flow (ovs-ofctl(8), "Flow Syntax").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowFlags {
    pub send_flow_rem: bool,
    pub check_overlap: bool,
    pub reset_counts: bool,
    pub no_packet_counts: bool,
    pub no_byte_counts: bool,
}

/// A parsed flow: what `ovs-ofctl add-flow` takes (and, without actions,
/// what `del-flows` / `dump-flows` take as a filter).
///
/// Laid out in declaration order (`repr(C)`): the action list's header and
/// then the match, so that an installed flow ([`crate::Rule`]) has what a
/// lookup and a translation read of it — its own header, the action list's
/// header and the first words of the match value — in its first cache line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct FlowMod {
    pub actions: Vec<Action>,
    pub matches: Match,
    pub table: u8,
    pub priority: u16,
    pub cookie: u64,
    /// Cookie mask for filtering (`cookie=V/M` in del/mod/dump); 0 otherwise.
    pub cookie_mask: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub importance: u16,
    pub flags: FlowFlags,
    /// `out_port=` filter of del-flows/dump-flows.
    pub out_port: Option<u32>,
}

impl Default for FlowMod {
    fn default() -> Self {
        FlowMod {
            table: 0,
            priority: crate::DEFAULT_PRIORITY,
            cookie: 0,
            cookie_mask: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            importance: 0,
            flags: FlowFlags::default(),
            out_port: None,
            matches: Match::catchall(),
            actions: Vec::new(),
        }
    }
}

/// Datapath actions: what translation hands to the switch to execute on the
/// frame, in order. Header rewrites are committed lazily just before each
/// output, as OVS's `commit_odp_actions` does, so a frame is rewritten only
/// when something leaves.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DpAction {
    PopVlan,
    /// Push a tag with this TPID and TCI (CFI bit included).
    PushVlan {
        tpid: u16,
        tci: u16,
    },
    /// Rewrite the existing outer tag's TCI.
    SetVlan {
        tci: u16,
    },
    SetEthSrc([u8; 6]),
    SetEthDst([u8; 6]),
    SetIpv4Src(u32),
    SetIpv4Dst(u32),
    SetIpv6Src([u8; 16]),
    SetIpv6Dst([u8; 16]),
    SetIpTos(u8),
    SetIpTtl(u8),
    SetTpSrc(u16),
    SetTpDst(u16),
    /// Rewrite the ARP header, all of it at once as OVS's datapath
    /// `set(arp(sip=,tip=,op=,sha=,tha=))` (OVS_KEY_ATTR_ARP) does: what
    /// `set_field`/`load`/`move` on `arp_op`, `arp_spa`, `arp_tpa`,
    /// `arp_sha`, `arp_tha` commit to (ovs-fields(7), "ARP Fields").
    SetArp {
        op: u16,
        sha: [u8; 6],
        spa: u32,
        tha: [u8; 6],
        tpa: u32,
    },
    /// Rewrite a Neighbor Solicitation/Advertisement: the target address
    /// and the link-layer address options the packet carries (OVS's
    /// `set(nd(target=,sll=,tll=))`, OVS_KEY_ATTR_ND); an option the packet
    /// lacks is not added.
    SetNd {
        target: [u8; 16],
        sll: [u8; 6],
        tll: [u8; 6],
    },
    /// Tunnel metadata for a subsequent output on a tunnel port.
    SetTunnel {
        id: u64,
        src: u32,
        dst: u32,
    },
    /// Geneve option values for a subsequent output on a Geneve port: the
    /// packet's whole `tun_metadata` (ovs-fields(7)) after the actions.
    SetTunMetadata(crate::tun_md::TunMetadata),
    SetPktMark(u32),
    SetQueue(u32),
    Output(u32),
    /// Send back out of the ingress port (`in_port` action).
    OutputInPort,
    Flood,
    All,
    Local,
    /// The switch's NORMAL L2 learning pipeline.
    Normal,
    Enqueue {
        port: u32,
        queue: u32,
    },
    Meter(u32),
    /// A packet-in. Like OVS's NXT_PACKET_IN2, it carries the pipeline
    /// state at the action — registers and `metadata` — so whoever handles
    /// it can resume the pipeline with that state (OVN's `pinctrl`
    /// re-injects packets it builds this way).
    Controller {
        action: ControllerAction,
        regs: [u32; 16],
        metadata: u64,
    },
    /// Run the packet through conntrack (zone resolved), then, when
    /// `recirc_table` is set, re-enter translation at that table with the
    /// new ct_* metadata and `recirc_id` = [`crate::recirc_id_for_table`].
    Ct {
        zone: u16,
        commit: bool,
        force: bool,
        nat: Option<NatSpec>,
        alg: Option<String>,
        set_mark: Option<(u32, u32)>,
        set_label: Option<(u128, u128)>,
        recirc_table: Option<u8>,
        /// Registers and `metadata` as they are at the `ct` action: the
        /// recirculated packet carries them into table T (OVS freezes the
        /// pipeline state at `ct(table=T)`).
        regs: [u32; 16],
        metadata: u64,
    },
    CtClear,
}
