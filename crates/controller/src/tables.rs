//! Table numbers, registers and priorities of the br-int pipeline. The
//! stages and their order are OVN's (ovn-northd(8), "Logical Flow Table
//! Structure"); PIPELINE.md is the reference for what each table does.

/// Physical ingress: tap ofport or uplink → logical datapath and inport.
pub const PHY_IN: u8 = 0;

// Logical switch, ingress pipeline.
pub const LS_IN_PORT_SEC_L2: u8 = 8;
pub const LS_IN_PORT_SEC_IP: u8 = 9;
pub const LS_IN_PORT_SEC_ND: u8 = 10;
pub const LS_IN_PRE_ACL: u8 = 11;
pub const LS_IN_PRE_STATEFUL: u8 = 12;
pub const LS_IN_ACL: u8 = 13;
pub const LS_IN_ARP_ND_RSP: u8 = 14;
pub const LS_IN_DHCP: u8 = 15;
pub const LS_IN_L2_LKP: u8 = 16;

// Logical router, ingress then egress.
pub const LR_IN_ADMISSION: u8 = 20;
pub const LR_IN_IP_INPUT: u8 = 21;
pub const LR_IN_UNSNAT: u8 = 22;
pub const LR_IN_DNAT: u8 = 23;
pub const LR_IN_IP_ROUTING: u8 = 24;
pub const LR_IN_ARP_RESOLVE: u8 = 25;
pub const LR_OUT_UNDNAT: u8 = 26;
pub const LR_OUT_SNAT: u8 = 27;
pub const LR_OUT_DELIVERY: u8 = 28;
/// lr_in_arp_request (OVN's stage after ARP resolve; numbered after the
/// egress stages because 26–28 were taken): a next hop ARP resolve did not
/// know → `cloudnet:arp-request`, the packet is consumed.
pub const LR_IN_ARP_REQUEST: u8 = 29;
/// MAC bindings learned from ARP on a router's gateway port (`learn`, like
/// OVN's MAC_Binding table consulted by `get_arp`): `metadata`, `reg15`,
/// `reg0` → `eth_dst`. No compiled flows live here.
pub const MAC_BINDING: u8 = 30;

// Logical switch, egress pipeline.
pub const LS_OUT_PRE_ACL: u8 = 40;
pub const LS_OUT_PRE_STATEFUL: u8 = 41;
pub const LS_OUT_ACL: u8 = 42;
pub const LS_OUT_PORT_SEC: u8 = 43;

/// Physical egress: outport → tap ofport, uplink, or a router datapath.
pub const PHY_OUT: u8 = 64;

/// Priority of the router stages' drop of packets conntrack marked invalid
/// (above every routing, NAT and delivery flow).
pub const CT_INVALID: u16 = 65000;

/// Every table the compiler writes, in pipeline order (for default flows
/// and documentation tests).
pub const ALL: [u8; 25] = [
    PHY_IN,
    LS_IN_PORT_SEC_L2,
    LS_IN_PORT_SEC_IP,
    LS_IN_PORT_SEC_ND,
    LS_IN_PRE_ACL,
    LS_IN_PRE_STATEFUL,
    LS_IN_ACL,
    LS_IN_ARP_ND_RSP,
    LS_IN_DHCP,
    LS_IN_L2_LKP,
    LR_IN_ADMISSION,
    LR_IN_IP_INPUT,
    LR_IN_UNSNAT,
    LR_IN_DNAT,
    LR_IN_IP_ROUTING,
    LR_IN_ARP_RESOLVE,
    LR_OUT_UNDNAT,
    LR_OUT_SNAT,
    LR_OUT_DELIVERY,
    LR_IN_ARP_REQUEST,
    LS_OUT_PRE_ACL,
    LS_OUT_PRE_STATEFUL,
    LS_OUT_ACL,
    LS_OUT_PORT_SEC,
    PHY_OUT,
];

/// Registers (OVN's assignment where OVN has one).
pub mod reg {
    /// Next-hop IPv4 address chosen by routing (OVN: reg0).
    pub const NEXTHOP: &str = "reg0";
    /// Flags: bit 0 "ingress needs conntrack", bit 1 "egress needs
    /// conntrack" (OVN: reg0 bits / `reg10` flags).
    pub const FLAGS: &str = "reg10";
    /// Conntrack zone of the logical switch the packet is in (low 16 bits).
    pub const ZONE: &str = "reg13";
    /// Logical input port key (OVN: reg14).
    pub const INPORT: &str = "reg14";
    /// Logical output port key (OVN: reg15).
    pub const OUTPORT: &str = "reg15";
    /// `ct` zone operand reading [`ZONE`].
    pub const ZONE_FIELD: &str = "NXM_NX_REG13[0..15]";
    pub const FLAG_IN_CT: u32 = 1;
    pub const FLAG_OUT_CT: u32 = 2;
    /// Set in the router for a packet from the fixed address of a floating
    /// IP served on this chassis (distributed NAT): the redirect to the
    /// gateway chassis skips it, it is routed and NATed here.
    pub const FLAG_DNAT_LOCAL: u32 = 4;
}

/// Learned MAC bindings (table [`MAC_BINDING`]).
pub mod mac_binding {
    /// Most bindings one router learns (`learn(limit=…)`); beyond it the
    /// switch counts `learn_limit` and the next hop stays unresolved.
    pub const LIMIT: u32 = 1024;
    /// A binding no packet used for this long is forgotten (seconds);
    /// every ARP from the neighbour re-learns it.
    pub const IDLE_TIMEOUT: u16 = 300;
}

/// Priorities inside the ACL tables.
pub mod acl {
    /// Established / related traffic, and invalid drops.
    pub const CT_STATE: u16 = 3000;
    /// Conjunctive allow rules (all dimensions and the `conj_id` flow share
    /// one priority, as ovs-fields(7) "Conjunctive Match Fields" requires).
    /// Hard flows at this priority would win over the conjunctions, so
    /// none are put here.
    pub const ALLOW_CONJ: u16 = 2000;
    /// Default drop of new connections for ports with security groups.
    pub const DEFAULT_DROP: u16 = 1000;
}
