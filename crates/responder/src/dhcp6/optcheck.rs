//! DHCPv6 option lengths checked before `dhcproto` decodes a client
//! message.
//!
//! dhcproto 0.14 (`v6/options.rs`, `DhcpOption::decode`) subtracts a fixed
//! field size from the length of a Status Code (`len - 2`), Vendor Class
//! and Vendor-specific Information (`len - 4`) and Authentication
//! (`len - 11`) option without a check, so a short one panics a build with
//! overflow checks; and it recurses, with no depth bound, into the options
//! of every container it knows. The `ipv6` fuzz target found three such
//! panics, each now a regression input in `fuzz/corpus/ipv6/`:
//! `crash-status_code_len` and `crash-vendor_class_len` (top level) and
//! `crash-status_code_nested_len` (a Status Code of length 0 inside a
//! Vendor-specific Information option, which the first version of this
//! check did not descend into).
//!
//! So the walk below follows dhcproto's decoder arm by arm, rather than
//! the options a server cares about. [`shape`] lists every code dhcproto
//! decodes other than as opaque bytes (`read_slice(len)`), which is safe
//! for any length; the table is exhaustive for dhcproto 0.14:
//!
//! | code | option (RFC 8415 §21 unless noted) | dhcproto reads | required here |
//! |---|---|---|---|
//! | 3, 25 | IA_NA, IA_PD (§21.4, §21.21) | 12 bytes, then options | container, 12 fixed |
//! | 4 | IA_TA (§21.5) | 4 bytes, then options | container, 4 fixed |
//! | 5 | IAADDR (§21.6) | 24 bytes, then options | container, 24 fixed |
//! | 26 | IAPREFIX (§21.22) | 25 bytes, then options | container, 25 fixed |
//! | 17 | Vendor-specific Information (§21.17) | 4 bytes, then `len - 4` as options | container, 4 fixed |
//! | 9 | Relay Message (§21.10) | a relay message | refused (no relays are served) |
//! | 13 | Status Code (§21.13) | 2 bytes, then `len - 2` | ≥ 2 |
//! | 16 | Vendor Class (§21.16) | 4 bytes, then `len - 4` | ≥ 4 |
//! | 11 | Authentication (§21.11) | 11 bytes, then `len - 11` | ≥ 11 |
//! | 7, 19 | Preference, Reconfigure Message (§21.8, §21.19) | 1 byte, whatever `len` says | = 1 |
//! | 8 | Elapsed Time (§21.9) | 2 bytes, whatever `len` says | = 2 |
//! | 12 | Server Unicast (§21.12) | 16 bytes, whatever `len` says | = 16 |
//! | 14, 20 | Rapid Commit, Reconfigure Accept (§21.14, §21.20) | nothing, whatever `len` says | = 0 |
//! | 23 | DNS servers (RFC 3646 §3) | `len` bytes of 16-byte addresses | multiple of 16 |
//! | 6 | Option Request (§21.7) | `len` bytes of 2-byte codes | even |
//! | 32 | Information Refresh Time (§21.23) | `len` bytes (opaque to dhcproto) | = 4 |
//!
//! The exact lengths matter beyond the RFC: where dhcproto reads a fixed
//! size whatever `len` says, a different `len` would make it frame the
//! following bytes differently from this walk, and the walk would then
//! vouch for options dhcproto never sees. Containers nest at most
//! [`MAX_DEPTH`] deep (IA_NA → IAADDR → Status Code is two), which also
//! bounds dhcproto's recursion on a jumbo frame.

/// How deep containers may nest: options inside a container inside a
/// container... RFC 8415's deepest is an IA's address's Status Code (2);
/// one more level leaves room for a Vendor-specific Information option
/// inside an address.
pub(crate) const MAX_DEPTH: u8 = 3;

/// What dhcproto 0.14 needs of an option's length (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `fixed` bytes of fields, then options, decoded recursively.
    Container { fixed: usize },
    /// Exactly this many bytes.
    Exact(usize),
    /// At least this many bytes.
    AtLeast(usize),
    /// A whole number of items of this size.
    MultipleOf(usize),
    /// Never accepted.
    Refused,
    /// Read as `len` opaque bytes.
    Opaque,
}

/// The [`Shape`] dhcproto's decoder gives option `code`.
fn shape(code: u16) -> Shape {
    match code {
        3 | 25 => Shape::Container { fixed: 12 },
        4 | 17 => Shape::Container { fixed: 4 },
        5 => Shape::Container { fixed: 24 },
        26 => Shape::Container { fixed: 25 },
        9 => Shape::Refused,
        13 => Shape::AtLeast(2),
        16 => Shape::AtLeast(4),
        11 => Shape::AtLeast(11),
        7 | 19 => Shape::Exact(1),
        8 => Shape::Exact(2),
        12 => Shape::Exact(16),
        14 | 20 => Shape::Exact(0),
        32 => Shape::Exact(4),
        23 => Shape::MultipleOf(16),
        6 => Shape::MultipleOf(2),
        _ => Shape::Opaque,
    }
}

/// Why a message's options were refused: the first offending option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadOption {
    /// Its code (0 when the option header itself is cut short).
    pub code: u16,
    /// Its length field.
    pub len: usize,
    /// How many containers it is nested in.
    pub depth: u8,
}

impl core::fmt::Display for BadOption {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "DHCPv6 option {} of length {} at depth {} malformed",
            self.code, self.len, self.depth
        )
    }
}

/// Checks the options of a client message (the bytes after its 4-byte
/// type and transaction ID), descending into every container.
pub(crate) fn check(options: &[u8]) -> Result<(), BadOption> {
    walk(options, 0)
}

fn walk(mut rest: &[u8], depth: u8) -> Result<(), BadOption> {
    while !rest.is_empty() {
        let Some(&[c0, c1, l0, l1]) = rest.get(..4) else {
            return Err(BadOption {
                code: 0,
                len: rest.len(),
                depth,
            });
        };
        let code = u16::from_be_bytes([c0, c1]);
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let bad = BadOption { code, len, depth };
        let body = rest.get(4..4 + len).ok_or(bad)?;
        let ok = match shape(code) {
            Shape::Container { fixed } => {
                let inner = body.get(fixed..).ok_or(bad)?;
                if depth >= MAX_DEPTH {
                    return Err(bad);
                }
                walk(inner, depth + 1)?;
                true
            }
            Shape::Exact(n) => len == n,
            Shape::AtLeast(n) => len >= n,
            Shape::MultipleOf(n) => len % n == 0,
            Shape::Refused => false,
            Shape::Opaque => true,
        };
        if !ok {
            return Err(bad);
        }
        rest = &rest[4 + len..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::v6::Message;
    use dhcproto::Decodable;
    use proptest::prelude::*;

    fn opt(code: u16, body: &[u8]) -> Vec<u8> {
        let mut v = code.to_be_bytes().to_vec();
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// The `ipv6` fuzz target's input `crash-status_code_nested_len`
    /// (selector byte dropped): a Solicit whose Vendor-specific Information
    /// option holds a Status Code of length 0.
    const NESTED_STATUS: [u8; 18] = [
        0x01, 0x09, 0x04, 0x07, 0x00, 0x11, 0x00, 0x0a, 0x03, 0x00, 0x40, 0x01, 0x00, 0x0d, 0x00,
        0x00, 0x00, 0x00,
    ];

    #[test]
    fn nested_status_code_of_length_zero_is_refused() {
        assert_eq!(
            check(&NESTED_STATUS[4..]),
            Err(BadOption {
                code: 13,
                len: 0,
                depth: 1
            })
        );
    }

    #[test]
    fn short_fields_are_refused_in_every_container() {
        let short_status = opt(13, &[0]);
        for (code, fixed) in [
            (3u16, 12usize),
            (25, 12),
            (4, 4),
            (17, 4),
            (5, 24),
            (26, 25),
        ] {
            let mut body = vec![0u8; fixed];
            body.extend_from_slice(&short_status);
            let err = check(&opt(code, &body)).expect_err("short status in a container");
            assert_eq!((err.code, err.depth), (13, 1), "container {code}");
            // The same container with a well-formed status is fine.
            let mut body = vec![0u8; fixed];
            body.extend_from_slice(&opt(13, &[0, 0]));
            assert_eq!(check(&opt(code, &body)), Ok(()), "container {code}");
            // And shorter than its own fixed fields, refused.
            assert!(check(&opt(code, &vec![0; fixed - 1])).is_err());
        }
    }

    #[test]
    fn rfc_nesting_is_accepted_and_deeper_refused() {
        // IA_NA → IAADDR → Status Code: the deepest RFC 8415 nesting.
        let mut addr = vec![0u8; 24];
        addr.extend(opt(13, &[0, 0]));
        let mut ia = vec![0u8; 12];
        ia.extend(opt(5, &addr));
        assert_eq!(check(&opt(3, &ia)), Ok(()));
        // Vendor options nested MAX_DEPTH + 1 deep.
        let mut inner = opt(13, &[0, 0]);
        for _ in 0..=MAX_DEPTH {
            let mut body = vec![0u8; 4];
            body.extend(inner);
            inner = opt(17, &body);
        }
        assert_eq!(check(&inner).map_err(|e| e.depth), Err(MAX_DEPTH));
    }

    #[test]
    fn relay_messages_and_cut_headers_are_refused() {
        assert_eq!(check(&opt(9, &[0; 34])).map_err(|e| e.code), Err(9));
        assert!(check(&[0, 1, 0]).is_err());
        assert!(check(&[0, 1, 0, 5, 1, 2]).is_err());
    }

    /// A random option tree over every code in the table (and two opaque
    /// ones): each option's body is a fixed part whose size is drawn from
    /// the sizes the table names (so lengths are often exactly right, and
    /// often one off), then random bytes or nested options.
    fn option_tree() -> impl Strategy<Value = Vec<u8>> {
        let codes = prop::sample::select(vec![
            1u16, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 19, 20, 23, 25, 26, 32, 56,
        ]);
        let sizes = prop::sample::select(vec![0usize, 1, 2, 3, 4, 11, 12, 16, 24, 25]);
        let tail = prop::collection::vec(any::<u8>(), 0..3);
        let leaf = (codes.clone(), sizes.clone(), tail.clone()).prop_map(|(c, n, t)| {
            let mut body = vec![0u8; n];
            body.extend(t);
            opt(c, &body)
        });
        leaf.prop_recursive(4, 48, 3, move |inner| {
            (
                codes.clone(),
                sizes.clone(),
                prop::collection::vec(inner, 0..3),
            )
                .prop_map(|(c, n, kids)| {
                    let mut body = vec![0u8; n];
                    body.extend(kids.concat());
                    opt(c, &body)
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Whatever the walk accepts, dhcproto decodes without panicking
        /// (tests build with overflow checks, as the fuzz target does).
        #[test]
        fn accepted_options_decode_without_panic(
            opts in prop::collection::vec(option_tree(), 0..4),
            raw in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            for body in [opts.concat(), raw] {
                let mut msg = vec![1, 2, 3, 4];
                msg.extend(&body);
                if check(&body).is_ok() {
                    let _ = Message::from_bytes(&msg);
                }
            }
        }
    }
}
