//! Bodies of the cargo-fuzz targets, kept in the crate so that the corpus
//! replay test (`tests/fuzz_corpus.rs`) runs exactly the code the fuzzer
//! runs. Each checks invariants and panics when one breaks — that panic is
//! the fuzzer's signal, never reachable from production callers.

use crate::extract::extract;
use crate::geneve::{GeneveHeader, GeneveRepr};
use crate::gre::{GrePacket, GreRepr};
use crate::vxlan::{VxlanHeader, VxlanRepr};
use crate::FlowKey;

/// Target `extract`: extraction never panics, offsets stay inside the frame
/// and ordered, and a dirty reused key gives the same result as a fresh one.
pub fn extract_target(data: &[u8]) {
    let mut fresh = FlowKey::default();
    let first = extract(data, &mut fresh);
    let mut reused = FlowKey {
        dl_type: 0xffff,
        nw_src: u32::MAX,
        tp_src: 0xffff,
        arp_sha: [0xff; 6],
        ..FlowKey::default()
    };
    let second = extract(data, &mut reused);
    assert_eq!(first, second, "extract is not deterministic");
    assert_eq!(fresh, reused, "extract did not reset a reused key");
    if let Ok(off) = first {
        let len = data.len() as u32;
        let order = [off.vlan, off.l3, off.l4, off.payload];
        let mut last = 0;
        for o in order.into_iter().flatten() {
            assert!(o >= last && o <= len, "offsets out of order: {off:?}");
            last = o;
        }
        if let (Some(end), Some(l3)) = (off.l3_end, off.l3) {
            assert!(end >= l3 && end <= len, "l3_end out of range: {off:?}");
        }
    }
}

/// Target `tunnel`: the first byte picks VXLAN, Geneve or GRE; a header that
/// parses must re-emit to bytes that parse to the same repr.
pub fn tunnel_target(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let mut out = [0u8; 512];
    match which % 3 {
        0 => {
            if let Ok(h) = VxlanHeader::new_checked(rest) {
                let repr = VxlanRepr::parse(&h);
                let _ = h.payload();
                if repr.emit(&mut out).is_ok() {
                    let again = VxlanHeader::new_checked(&out[..]).map(|h| VxlanRepr::parse(&h));
                    assert_eq!(again, Ok(repr));
                }
            }
        }
        1 => {
            if let Ok(h) = GeneveHeader::new_checked(rest) {
                let repr = GeneveRepr::parse(&h);
                let mut total = 0;
                for opt in h.options() {
                    match opt {
                        Ok(o) => total += o.wire_len(),
                        Err(_) => break,
                    }
                }
                assert!(total <= h.options_len());
                let _ = h.payload();
                if repr.emit(&mut out).is_ok() {
                    let again = GeneveHeader::new_checked(&out[..]).map(|h| GeneveRepr::parse(&h));
                    assert_eq!(again, Ok(repr));
                }
            }
        }
        _ => {
            if let Ok(p) = GrePacket::new_checked(rest) {
                let repr = GreRepr::parse(&p);
                let _ = (p.verify_checksum(), p.payload());
                if repr.emit(&mut out).is_ok() {
                    let again = GrePacket::new_checked(&out[..]).map(|p| GreRepr::parse(&p));
                    assert_eq!(again, Ok(repr));
                }
            }
        }
    }
}
