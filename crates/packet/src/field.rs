//! Big-endian field access on byte slices. Callers index only within lengths
//! their view's constructor has checked, so these never go out of bounds.

#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
pub(crate) fn set_be16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn set_be32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    // The slice has exactly N bytes, so the conversion cannot fail; the
    // fallback only keeps this free of `unwrap` and compiles away. Unlike
    // zero-filling a local and copying into it, this lets the optimiser load
    // straight into the destination (no store-forwarding stall).
    b[at..at + N].try_into().unwrap_or([0; N])
}
