//! MAC addresses as the lab writes and reads them.

use std::fmt;
use std::str::FromStr;

use crate::error::LabError;

/// An Ethernet MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// A locally administered unicast address (`02:..`) made from `n`, handy
    /// for giving each VM of a test a distinct, recognisable MAC.
    pub const fn local(n: u32) -> Mac {
        let b = n.to_be_bytes();
        Mac([0x02, 0x00, b[0], b[1], b[2], b[3]])
    }

    /// The six bytes.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for Mac {
    type Err = LabError;

    fn from_str(s: &str) -> Result<Mac, LabError> {
        let bad = || LabError::Parse {
            cmd: "MAC address".into(),
            detail: s.to_owned(),
        };
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in out.iter_mut() {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Mac(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m: Mac = "02:00:0a:0B:ff:01".parse().unwrap();
        assert_eq!(m.0, [2, 0, 10, 11, 255, 1]);
        assert_eq!(m.to_string(), "02:00:0a:0b:ff:01");
        assert_eq!(Mac::local(0x0102_0304).to_string(), "02:00:01:02:03:04");
        for bad in [
            "",
            "02:00:0a:0b:ff",
            "02:00:0a:0b:ff:01:02",
            "2:00:0a:0b:ff:01",
            "zz:00:0a:0b:ff:01",
        ] {
            let e = bad.parse::<Mac>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
