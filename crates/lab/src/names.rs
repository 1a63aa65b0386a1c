//! Lab name prefixes, and finding or removing what a lab left behind.
//!
//! Every namespace and every link a lab creates in the host's namespace is
//! named `cn` + 4 hex digits + `-` + a short name, e.g. `cn3f2a-vm1`. The
//! prefix is unique per [`crate::Lab`] (tests run in parallel), it leaves 8
//! bytes for the short name within the kernel's 15-byte link names
//! (`IFNAMSIZ`), and its fixed shape lets `cloudnet lab clean` remove
//! leftovers of killed test processes without touching anything else (a
//! plain `cn` prefix would also match e.g. a CNI bridge `cni0`).
//!
//! A lab claims its prefix by creating `/run/cloudnet-lab/<prefix>`
//! exclusively (pid and test name inside), so prefixes stay unique across the
//! processes of a run (nextest runs each test in its own process); the claim
//! is removed with the lab, or by `cloudnet lab clean`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cmd::{self, IP_TIMEOUT};
use crate::error::{LabError, Result};

/// First letters of every lab name.
pub const BASE_PREFIX: &str = "cn";
/// Length of a lab prefix: `cn` + 4 hex digits + `-`.
pub const PREFIX_LEN: usize = 7;
/// Longest short name after the prefix (15 - 7).
pub const MAX_SHORT_LEN: usize = netio::tap::MAX_IFNAME_LEN - PREFIX_LEN;

/// Where labs claim their prefixes: one file per prefix, created
/// atomically, holding the owner's pid and test name. This keeps prefixes
/// unique across the processes of a test run (nextest runs each test in its
/// own process).
pub const CLAIM_DIR: &str = "/run/cloudnet-lab";

/// True if `name` has the shape of a lab name: `cn` + 4 lowercase hex
/// digits + `-` (+ anything).
pub fn is_lab_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= PREFIX_LEN
        && name.starts_with(BASE_PREFIX)
        && b[2..6]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        && b[6] == b'-'
}

/// Check a short name: 1..=8 bytes of `[a-z0-9]`, so that prefix + name is a
/// valid link name.
pub fn check_short(short: &str) -> Result<()> {
    let bad = |why: String| {
        Err(LabError::BadName {
            name: short.to_owned(),
            why,
        })
    };
    if short.is_empty() {
        return bad("empty".into());
    }
    if short.len() > MAX_SHORT_LEN {
        return bad(format!(
            "{} bytes; at most {MAX_SHORT_LEN} fit after the {PREFIX_LEN}-byte lab prefix \
             in a 15-byte kernel link name",
            short.len()
        ));
    }
    if !short
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return bad("only a-z and 0-9 are allowed".into());
    }
    Ok(())
}

/// Check a link name used inside a namespace (any valid kernel name).
pub fn check_ifname(name: &str) -> Result<()> {
    netio::tap::check_ifname(name).map_err(|e| LabError::BadName {
        name: name.to_owned(),
        why: e.to_string(),
    })
}

/// Reserve a fresh prefix for a lab: claimed by no other lab (a claim file
/// in [`CLAIM_DIR`] created with `O_EXCL`) and used by no namespace or host
/// link that exists now.
pub(crate) fn reserve_prefix(label: &str) -> Result<String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(CLAIM_DIR)
        .map_err(|e| LabError::io(format!("mkdir {CLAIM_DIR}"), e))?;
    let existing = list_netns()?
        .into_iter()
        .chain(list_links()?)
        .collect::<Vec<_>>();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let seed = u64::from(std::process::id()) << 32 ^ nanos;
    for _ in 0..1000 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = format!("{BASE_PREFIX}{:04x}-", splitmix64(seed ^ n) & 0xffff);
        if existing.iter().any(|e| e.starts_with(&p)) {
            continue;
        }
        let claim = Path::new(CLAIM_DIR).join(&p);
        match OpenOptions::new().write(true).create_new(true).open(&claim) {
            Ok(mut f) => {
                let _ = writeln!(f, "{} {label}", std::process::id());
                return Ok(p);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(LabError::io(format!("create {}", claim.display()), e)),
        }
    }
    Err(LabError::BadName {
        name: BASE_PREFIX.into(),
        why: "no free lab prefix after 1000 tries; run `cloudnet lab clean`".into(),
    })
}

/// Claim a fixed prefix chosen by the caller (e.g. `cnd-` for `cloudnet
/// demo`, whose leftovers `cloudnet demo --clean` must find by name): at
/// most [`PREFIX_LEN`] bytes of `[a-z0-9-]`, claimed exclusively so two
/// users of it cannot overlap; fails when it is claimed already or when
/// namespaces or links with it exist.
pub(crate) fn claim_fixed_prefix(prefix: &str, label: &str) -> Result<()> {
    let bad = |why: &str| LabError::BadName {
        name: prefix.to_owned(),
        why: why.to_owned(),
    };
    if prefix.is_empty()
        || prefix.len() > PREFIX_LEN
        || !prefix
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        return Err(bad("a fixed prefix is 1-7 bytes of [a-z0-9-]"));
    }
    if !find_leftovers(Some(prefix))?.is_empty() {
        return Err(bad("namespaces or links with this prefix exist already"));
    }
    std::fs::create_dir_all(CLAIM_DIR)
        .map_err(|e| LabError::io(format!("mkdir {CLAIM_DIR}"), e))?;
    let claim = Path::new(CLAIM_DIR).join(prefix);
    match OpenOptions::new().write(true).create_new(true).open(&claim) {
        Ok(mut f) => {
            let _ = writeln!(f, "{} {label}", std::process::id());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(bad("claimed by another lab (see /run/cloudnet-lab)"))
        }
        Err(e) => Err(LabError::io(format!("create {}", claim.display()), e)),
    }
}

/// Give a prefix back (its lab is torn down).
pub(crate) fn release_prefix(p: &str) {
    let _ = std::fs::remove_file(Path::new(CLAIM_DIR).join(p));
}

/// Prefix claims matching `prefix` (or any lab prefix).
fn list_claims(prefix: Option<&str>) -> Vec<String> {
    let m = matcher(prefix);
    std::fs::read_dir(CLAIM_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| m(n))
        .collect()
}

/// SplitMix64 finalizer: spreads pid, time and counter over the 16 bits
/// kept. Only uniqueness matters here, not unpredictability.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Names of all named network namespaces (`ip netns list`).
pub fn list_netns() -> Result<Vec<String>> {
    let out = cmd::ip(&["netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Names of the links of the namespace this process runs in, or of `netns`.
pub fn list_links_in(netns: Option<&str>) -> Result<Vec<String>> {
    let out = match netns {
        Some(ns) => cmd::ip(&["-n", ns, "-o", "link", "show"])?,
        None => cmd::ip(&["-o", "link", "show"])?,
    };
    out.lines()
        .map(|l| parse_link_line(l).map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| LabError::Parse {
            cmd: "ip -o link show".into(),
            detail: out.lines().next().unwrap_or_default().to_owned(),
        })
}

fn list_links() -> Result<Vec<String>> {
    list_links_in(None)
}

/// `"7: eth0@if8: <BROADCAST..."` → `eth0`.
fn parse_link_line(line: &str) -> Option<&str> {
    let mut it = line.splitn(3, ": ");
    it.next()?;
    let name = it.next()?;
    Some(name.split('@').next().unwrap_or(name))
}

/// What matched a prefix: named namespaces and links of the host namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Namespace names.
    pub netns: Vec<String>,
    /// Link names in the namespace of this process.
    pub links: Vec<String>,
}

impl Leftovers {
    /// True if nothing matched.
    pub fn is_empty(&self) -> bool {
        self.netns.is_empty() && self.links.is_empty()
    }
}

fn matcher(prefix: Option<&str>) -> impl Fn(&str) -> bool + '_ {
    move |name: &str| match prefix {
        Some(p) => name.starts_with(p),
        None => is_lab_name(name),
    }
}

/// Namespaces and host links whose names start with `prefix`, or, with
/// `None`, that have the shape of any lab name ([`is_lab_name`]).
pub fn find_leftovers(prefix: Option<&str>) -> Result<Leftovers> {
    if prefix == Some("") {
        return Err(LabError::BadName {
            name: String::new(),
            why: "an empty prefix would match everything".into(),
        });
    }
    let m = matcher(prefix);
    Ok(Leftovers {
        netns: list_netns()?.into_iter().filter(|n| m(n)).collect(),
        links: list_links()?.into_iter().filter(|n| m(n)).collect(),
    })
}

/// Remove what [`find_leftovers`] finds: processes still running inside a
/// matching namespace are killed (they belong to the lab), then namespaces
/// and links are deleted. Returns what was removed.
pub fn clean(prefix: Option<&str>) -> Result<Leftovers> {
    let found = find_leftovers(prefix)?;
    for ns in &found.netns {
        delete_netns(ns)?;
    }
    for link in &found.links {
        delete_link(None, link)?;
    }
    for claim in list_claims(prefix) {
        release_prefix(&claim);
    }
    Ok(found)
}

/// Kill the processes inside namespace `name` and delete it; no error if it
/// is already gone.
pub(crate) fn delete_netns(name: &str) -> Result<()> {
    if !Path::new("/run/netns").join(name).exists() {
        return Ok(());
    }
    kill_pids_in(name)?;
    match cmd::ip(&["netns", "del", name]) {
        Ok(_) => Ok(()),
        Err(_) if !Path::new("/run/netns").join(name).exists() => Ok(()),
        Err(e) => Err(e),
    }
}

fn kill_pids_in(ns: &str) -> Result<()> {
    let pids = cmd::ip(&["netns", "pids", ns])?;
    let me = std::process::id().to_string();
    for pid in pids.split_whitespace() {
        // Never this process (should its main thread ever have entered the
        // namespace).
        if pid != me {
            if let Ok(n) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(n),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
    Ok(())
}

/// Delete link `name` (in `netns`, or in the host namespace); no error if it
/// is already gone.
pub(crate) fn delete_link(netns: Option<&str>, name: &str) -> Result<()> {
    let mut argv = vec!["ip"];
    if let Some(ns) = netns {
        if !Path::new("/run/netns").join(ns).exists() {
            return Ok(());
        }
        argv.extend(["-n", ns]);
    }
    argv.extend(["link", "del", "dev", name]);
    let out = cmd::run(&argv, IP_TIMEOUT)?;
    if out.success() || out.stderr.contains("Cannot find device") {
        Ok(())
    } else {
        Err(LabError::Command {
            cmd: cmd::cmdline(&argv),
            status: out.status.to_string(),
            stderr: out.stderr.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_name_shape() {
        assert!(is_lab_name("cn3f2a-vm1"));
        assert!(is_lab_name("cn0000-"));
        for n in ["cni0", "cn3f2a", "cn3F2a-x", "cn3f2g-x", "xcn3f2a-", "eth0"] {
            assert!(!is_lab_name(n), "{n}");
        }
    }

    #[test]
    fn short_names_fit_ifnamsiz() {
        assert_eq!(MAX_SHORT_LEN, 8);
        assert!(check_short("host1").is_ok());
        assert!(check_short("abcdefgh").is_ok());
        let err = check_short("abcdefghi").unwrap_err().to_string();
        assert!(err.contains("abcdefghi") && err.contains("15"), "{err}");
        assert!(check_short("").is_err());
        assert!(check_short("Vm1").is_err());
        assert!(check_short("a-b").is_err());
    }

    #[test]
    fn link_lines() {
        assert_eq!(
            parse_link_line("7: eth0@if8: <BROADCAST,MULTICAST> mtu 1500"),
            Some("eth0")
        );
        assert_eq!(parse_link_line("1: lo: <LOOPBACK,UP>"), Some("lo"));
        assert_eq!(parse_link_line("garbage"), None);
    }

    #[test]
    fn empty_prefix_is_refused() {
        assert!(find_leftovers(Some("")).is_err());
    }
}
