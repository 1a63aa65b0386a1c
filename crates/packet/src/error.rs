//! The error every checked view constructor returns.

/// Why a buffer cannot be viewed as a given header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the header (or than a length field in it says).
    #[error("{layer}: truncated, need {need} bytes but have {have}")]
    Truncated {
        /// Protocol whose header is cut short, e.g. `"ipv4"`.
        layer: &'static str,
        /// Bytes the header needs.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A field holds a value the protocol forbids (bad version, IHL < 5, ...).
    #[error("{layer}: malformed {field}")]
    Malformed {
        /// Protocol of the bad header.
        layer: &'static str,
        /// The offending field, e.g. `"version"`.
        field: &'static str,
    },
}

impl Error {
    /// Fails with [`Error::Truncated`] unless `have >= need`.
    #[inline]
    pub(crate) fn need(layer: &'static str, need: usize, have: usize) -> Result<(), Error> {
        if have >= need {
            Ok(())
        } else {
            Err(Error::Truncated { layer, need, have })
        }
    }

    #[inline]
    pub(crate) fn malformed(layer: &'static str, field: &'static str) -> Error {
        Error::Malformed { layer, field }
    }
}
