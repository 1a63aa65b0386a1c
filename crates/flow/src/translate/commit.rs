//! The commit before an output (OVS's `commit_odp_actions`): the header
//! rewrites that make the frame look like the translation's working copy,
//! and the megaflow bits those rewrites depend on.

use super::Ctx;
use crate::actions::DpAction;
use crate::fields::Field;
use crate::flowvec::*;
use packet::flowkey::VLAN_CFI;
use std::sync::LazyLock;

impl Ctx<'_, '_, '_> {
    fn unwildcard_written(&mut self) {
        let Some(written) = &self.written else {
            return;
        };
        if !overlaps(written, &COMMITTED) {
            return;
        }
        for g in GROUPS {
            if g.iter().any(|f| f.get(written) != 0) {
                for f in g {
                    f.unwildcard(&mut self.x.mask, f.full_mask());
                }
            }
        }
        // `SetTunMetadata` carries the whole area.
        if crate::tun_md::touched(written) {
            crate::tun_md::unwildcard_all(&mut self.x.mask);
        }
    }

    /// Emits the header rewrites that make the frame look like `flow`.
    ///
    /// Only the [`COMMITTED`] bits of `base` are ever compared, so `base`
    /// is brought up to date by a commit that emits something and left
    /// as it is otherwise: a commit after writes to registers or metadata
    /// alone (one per output of most misses) copies nothing.
    pub(super) fn commit(&mut self) {
        // Nothing but registers written (`written` is None), or only
        // metadata and the like: nothing to emit or unwildcard.
        if !self
            .written
            .as_ref()
            .is_some_and(|w| overlaps(w, &COMMITTED))
        {
            return;
        }
        let (f, b) = (&self.x.final_flow, self.base.as_ref().unwrap_or(self.pkt));
        let get = |w: &Words, fld: Field| fld.get(w);
        // One XOR per word, then one field extraction per test (instead of
        // two): this runs on every output of every miss.
        let mut diff = [0u64; NW];
        for ((d, c), (x, y)) in diff
            .iter_mut()
            .zip(COMMITTED.iter())
            .zip(f.iter().zip(b.iter()))
        {
            *d = (x ^ y) & c;
        }
        if diff.iter().all(|&d| d == 0) {
            // Unchanged only because the written values equal the
            // original ones: that equality is part of the verdict.
            self.unwildcard_written();
            return;
        }
        self.unwildcard_written();
        let (f, b) = (&self.x.final_flow, self.base.as_ref().unwrap_or(self.pkt));
        let changed = |fld: Field| fld.get(&diff) != 0;
        let mut out = Vec::new();
        if changed(Field::TunId) || changed(Field::TunSrc) || changed(Field::TunDst) {
            out.push(DpAction::SetTunnel {
                id: get(f, Field::TunId) as u64,
                src: get(f, Field::TunSrc) as u32,
                dst: get(f, Field::TunDst) as u32,
            });
        }
        if crate::tun_md::touched(&diff) {
            out.push(DpAction::SetTunMetadata(crate::TunMetadata::from_words(f)));
        }
        if changed(Field::PktMark) {
            out.push(DpAction::SetPktMark(get(f, Field::PktMark) as u32));
        }
        let (ft, bt) = (get(f, Field::VlanTci) as u16, get(b, Field::VlanTci) as u16);
        if ft != bt {
            out.push(match (bt & VLAN_CFI != 0, ft & VLAN_CFI != 0) {
                (true, false) => DpAction::PopVlan,
                (false, true) => DpAction::PushVlan {
                    tpid: 0x8100,
                    tci: ft,
                },
                _ => DpAction::SetVlan { tci: ft },
            });
        }
        if changed(Field::DlSrc) {
            out.push(DpAction::SetEthSrc(to_mac(get(f, Field::DlSrc))));
        }
        if changed(Field::DlDst) {
            out.push(DpAction::SetEthDst(to_mac(get(f, Field::DlDst))));
        }
        let dl_type = get(f, Field::DlType) as u16;
        use packet::flowkey::ethertype as et;
        if dl_type == et::IPV4 {
            if changed(Field::NwSrc) {
                out.push(DpAction::SetIpv4Src(get(f, Field::NwSrc) as u32));
            }
            if changed(Field::NwDst) {
                out.push(DpAction::SetIpv4Dst(get(f, Field::NwDst) as u32));
            }
        }
        if dl_type == et::IPV6 {
            if changed(Field::Ipv6Src) {
                out.push(DpAction::SetIpv6Src(get(f, Field::Ipv6Src).to_be_bytes()));
            }
            if changed(Field::Ipv6Dst) {
                out.push(DpAction::SetIpv6Dst(get(f, Field::Ipv6Dst).to_be_bytes()));
            }
        }
        if dl_type == et::ARP {
            commit_arp(f, &diff, &mut out, &mut self.x.mask);
        }
        if dl_type == et::IPV6 {
            commit_nd(f, &diff, &mut out, &mut self.x.mask);
        }
        if dl_type == et::IPV4 || dl_type == et::IPV6 {
            if changed(Field::NwTos) {
                out.push(DpAction::SetIpTos(get(f, Field::NwTos) as u8));
            }
            if changed(Field::NwTtl) {
                out.push(DpAction::SetIpTtl(get(f, Field::NwTtl) as u8));
            }
            if changed(Field::TpSrc) {
                out.push(DpAction::SetTpSrc(get(f, Field::TpSrc) as u16));
            }
            if changed(Field::TpDst) {
                out.push(DpAction::SetTpDst(get(f, Field::TpDst) as u16));
            }
        }
        // What the emitted rewrites depend on is part of the verdict.
        self.x.mask[W_DL_DST] |= 0xffff << 48;
        self.x.actions.extend(out);
        self.base = Some(self.x.final_flow);
    }
}

/// The fields a commit can rewrite, grouped as the rewrites carry them: a
/// write to one field of a group makes the whole group part of the verdict.
const GROUPS: [&[Field]; 12] = [
    &[Field::TunId, Field::TunSrc, Field::TunDst],
    &[Field::PktMark],
    &[Field::VlanTci],
    &[Field::DlSrc],
    &[Field::DlDst],
    &[Field::NwSrc, Field::NwDst],
    &[Field::Ipv6Src, Field::Ipv6Dst],
    &[Field::NwTos, Field::NwTtl],
    &[Field::TpSrc, Field::TpDst],
    // ARP and ND rewrites commit whole headers (`SetArp`, `SetNd`).
    &[Field::ArpOp],
    &[Field::ArpSha, Field::ArpTha],
    &[Field::NdTarget],
];

/// Every bit a commit turns into a datapath rewrite (the groups above,
/// plus the fields only compared: ARP addresses and ND link-layer
/// addresses). Writes elsewhere (registers, metadata) never produce one,
/// so a commit after them alone has nothing to emit or unwildcard.
static COMMITTED: LazyLock<Words> = LazyLock::new(|| {
    let mut m = [0; NW];
    let extra = [Field::ArpSpa, Field::ArpTpa, Field::NdSll, Field::NdTll];
    for f in GROUPS.iter().flat_map(|g| g.iter()).chain(extra.iter()) {
        f.unwildcard(&mut m, f.full_mask());
    }
    crate::tun_md::unwildcard_all(&mut m);
    m
});

/// Whether two word arrays share a set bit: an OR over all words, which
/// compiles to vector instructions (an early exit would not), as every
/// commit asks it at least once.
#[inline]
fn overlaps(a: &Words, b: &Words) -> bool {
    a.iter().zip(b.iter()).fold(0, |acc, (x, y)| acc | (x & y)) != 0
}

/// The ARP header rewrite, if any ARP field changed (`diff` holds the
/// changed bits). It carries every field, the unwritten ones copied from
/// the packet, so all of them join the megaflow `mask`.
fn commit_arp(f: &Words, diff: &Words, out: &mut Vec<DpAction>, mask: &mut Words) {
    let fields = [
        Field::ArpOp,
        Field::ArpSpa,
        Field::ArpTpa,
        Field::ArpSha,
        Field::ArpTha,
    ];
    if fields.iter().all(|fld| fld.get(diff) == 0) {
        return;
    }
    for fld in fields {
        fld.unwildcard(mask, fld.full_mask());
    }
    out.push(DpAction::SetArp {
        op: Field::ArpOp.get(f) as u16,
        sha: to_mac(Field::ArpSha.get(f)),
        spa: Field::ArpSpa.get(f) as u32,
        tha: to_mac(Field::ArpTha.get(f)),
        tpa: Field::ArpTpa.get(f) as u32,
    });
}

/// The ND rewrite, if `nd_target`, `nd_sll` or `nd_tll` changed on an
/// NS/NA (the only packets those fields exist in); like [`commit_arp`] it
/// carries all three, so all join the megaflow `mask`.
fn commit_nd(f: &Words, diff: &Words, out: &mut Vec<DpAction>, mask: &mut Words) {
    const ICMPV6: u128 = 58;
    let fields = [Field::NdTarget, Field::NdSll, Field::NdTll];
    Field::NwProto.unwildcard(mask, Field::NwProto.full_mask());
    if Field::NwProto.get(f) != ICMPV6 || fields.iter().all(|fld| fld.get(diff) == 0) {
        return;
    }
    for fld in fields {
        fld.unwildcard(mask, fld.full_mask());
    }
    out.push(DpAction::SetNd {
        target: Field::NdTarget.get(f).to_be_bytes(),
        sll: to_mac(Field::NdSll.get(f)),
        tll: to_mac(Field::NdTll.get(f)),
    });
}

fn to_mac(v: u128) -> [u8; 6] {
    let b = (v as u64).to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}
