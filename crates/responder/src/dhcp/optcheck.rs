//! Option lengths checked before `dhcproto` decodes a client message.
//!
//! dhcproto 0.14 asserts (`debug_assert!`) the length of a few fixed-size
//! options and subtracts from the length of two others without a check, so
//! a client sending, say, a 2-byte option 152 panics the decoder in a build
//! with debug assertions or overflow checks (found by the `dhcp` fuzz
//! target; regression input `fuzz/corpus/dhcp/crash-blq_base_time_len`).
//! These options are malformed for their RFCs anyway, so such a message
//! gets no reply, whatever the build.
//!
//! The walk mirrors dhcproto's: options start after the 236-byte BOOTP
//! header and the 4-byte magic cookie; consecutive instances of one code
//! are concatenated first (RFC 3396), so the length checked is the sum.

use crate::NoReply;

/// Offset of the first option: the fixed BOOTP fields, then the magic
/// cookie (RFC 2131 §3).
const OPTIONS_OFFSET: usize = 240;
const PAD: u8 = 0;
const END: u8 = 255;

/// What length an option code needs, where dhcproto relies on it.
fn length_ok(code: u8, len: usize) -> bool {
    match code {
        80 => len == 0,        // Rapid Commit, RFC 4039 §4
        81 => len >= 3,        // Client FQDN, RFC 4702 §2
        94 => len == 3,        // Client Network Interface, RFC 4578 §2.2
        151 => len >= 1,       // BLQ status code, RFC 6926 §6.2.2
        152..=155 => len == 4, // BLQ times, RFC 6926 §6.2.3-6.2.6
        _ => true,
    }
}

/// Rejects a message whose options dhcproto cannot decode safely.
pub(crate) fn check(msg: &[u8]) -> Result<(), NoReply> {
    let mut rest = msg.get(OPTIONS_OFFSET..).unwrap_or(&[]);
    // The option being concatenated: (code, total length).
    let mut run: Option<(u8, usize)> = None;
    let bad = |code: u8, len: usize| {
        NoReply::DhcpDecode(format!("option {code} with invalid length {len}"))
    };
    while let Some((&code, tail)) = rest.split_first() {
        if code == PAD || code == END {
            if let Some((c, l)) = run.take() {
                if !length_ok(c, l) {
                    return Err(bad(c, l));
                }
            }
            if code == END {
                return Ok(());
            }
            rest = tail;
            continue;
        }
        // A truncated option is dhcproto's own decode error.
        let Some((&len, tail)) = tail.split_first() else {
            break;
        };
        let len = usize::from(len);
        run = match run {
            Some((c, l)) if c == code => Some((c, l + len)),
            Some((c, l)) => {
                if !length_ok(c, l) {
                    return Err(bad(c, l));
                }
                Some((code, len))
            }
            None => Some((code, len)),
        };
        rest = tail.get(len..).unwrap_or(&[]);
    }
    match run {
        Some((c, l)) if !length_ok(c, l) => Err(bad(c, l)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(opts: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; OPTIONS_OFFSET];
        m[236..240].copy_from_slice(&[99, 130, 83, 99]);
        m.extend_from_slice(opts);
        m
    }

    #[test]
    fn wrong_fixed_lengths_are_rejected() {
        for opts in [
            &[152u8, 2, 0, 0, 255][..],
            &[80, 1, 0, 255],
            &[94, 2, 1, 2, 255],
            &[81, 0, 255],
            &[151, 0, 255],
            // Concatenated (RFC 3396): 2 + 3 bytes of option 153.
            &[153, 2, 0, 0, 153, 3, 0, 0, 0, 255],
            // Unterminated: the last option still counts.
            &[155, 1, 0],
        ] {
            let e = check(&msg(opts)).unwrap_err();
            assert!(
                matches!(e, NoReply::DhcpDecode(ref m) if m.contains("invalid length")),
                "{opts:?}: {e}"
            );
        }
    }

    #[test]
    fn well_formed_and_unknown_options_pass() {
        for opts in [
            &[53u8, 1, 1, 152, 4, 0, 0, 0, 1, 80, 0, 255][..],
            // 2 + 2 bytes concatenate to a valid 4-byte option 154.
            &[154, 2, 0, 0, 154, 2, 0, 1, 0, 255],
            // An unknown option may have any length.
            &[200, 0, 0, 200, 7, 1, 2, 3, 4, 5, 6, 7, 255],
            // Truncated: left to dhcproto's own error.
            &[53, 9, 1],
            &[],
        ] {
            assert_eq!(check(&msg(opts)), Ok(()), "{opts:?}");
        }
        assert_eq!(check(&[1, 2, 3]), Ok(()));
    }
}
