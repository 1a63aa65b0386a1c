//! The agent's copy of the intent (loaded and watched from the store, as
//! the API server loads it) and the persisted compiler keys.

use std::path::Path;

use controller::keys::Snapshot;
use controller::Changed;
use model::{Change, Kind, Resource, State};
use store::{Event, Store};

use crate::AgentError;

/// Decode a stored resource; `version` (the store's) becomes its
/// `revision_number`.
pub(crate) fn decode(
    kind: Kind,
    id: &str,
    v: &[u8],
    version: Option<u64>,
) -> Result<Resource, AgentError> {
    let mut r = Resource::from_json(kind, v).map_err(|e| AgentError::Decode {
        kind: kind.store_name().to_owned(),
        id: id.to_owned(),
        why: e.to_string(),
    })?;
    if let Some(v) = version {
        r.meta_mut().revision_number = v;
    }
    Ok(r)
}

/// Every resource and the revision they are at. Events after that
/// revision are replayed by the watch (idempotently).
pub fn load(store: &dyn Store) -> Result<(State, u64), AgentError> {
    load_where(store, |_, _| Ok(true), |_| {})
}

/// [`load`] of the records `keep` accepts (judged before decoding); the
/// others are handed to `left`, undecoded.
pub fn load_where(
    store: &dyn Store,
    mut keep: impl FnMut(Kind, &store::Record) -> Result<bool, AgentError>,
    mut left: impl FnMut(store::Record),
) -> Result<(State, u64), AgentError> {
    let rev = store.revision()?;
    let mut st = State::default();
    for kind in Kind::ALL {
        for rec in store.list(kind.store_name())? {
            if keep(kind, &rec)? {
                st.put(decode(kind, &rec.id, &rec.value, Some(rec.version))?);
            } else {
                left(rec);
            }
        }
    }
    Ok((st, rev))
}

/// Apply one store event; the compiler change it is.
pub fn apply_event(st: &mut State, ev: &Event) -> Result<Option<Changed>, AgentError> {
    let Some(kind) = Kind::from_store_name(&ev.kind) else {
        return Ok(None);
    };
    match &ev.value {
        Some(v) => st.apply(&[Change::Put(decode(kind, &ev.id, v, None)?)]),
        None => st.apply(&[Change::Delete(kind, ev.id.clone())]),
    }
    Ok(Some(Changed::Resource(kind, ev.id.clone())))
}

/// The persisted keys (empty when the file does not exist yet).
pub fn load_keys(path: &Path) -> Result<Snapshot, AgentError> {
    let err = |why: String| AgentError::Keys {
        path: path.to_owned(),
        why,
    };
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Snapshot::new()),
        Err(e) => Err(err(e.to_string())),
    }
}

/// Write the keys atomically (temporary file, then rename).
pub fn save_keys(path: &Path, snap: &Snapshot) -> Result<(), AgentError> {
    let err = |why: String| AgentError::Keys {
        path: path.to_owned(),
        why,
    };
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec(snap).map_err(|e| err(e.to_string()))?;
    std::fs::write(&tmp, body).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}

/// Port status written straight to the store, for an agent without an API
/// server in its process (`cloudnet agent`): read, change `status`, write
/// back if the port's version is unchanged (a concurrent API write wins;
/// the agent writes again at its next round).
pub struct StoreStatus(pub std::sync::Arc<dyn Store>);

impl crate::StatusSink for StoreStatus {
    fn set_status(&self, port_id: &str, status: &str) -> Result<(), String> {
        let kind = Kind::Port.store_name();
        let Some(rec) = self.0.get(kind, port_id).map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let mut v: serde_json::Value =
            serde_json::from_slice(&rec.value).map_err(|e| format!("port {port_id}: {e}"))?;
        if v.get("status").and_then(|s| s.as_str()) == Some(status) {
            return Ok(());
        }
        v["status"] = serde_json::Value::from(status);
        let cmp = store::Compare {
            kind: kind.into(),
            id: port_id.into(),
            version: rec.version,
        };
        let op = store::Op::Put {
            kind: kind.into(),
            id: port_id.into(),
            value: serde_json::to_vec(&v).map_err(|e| e.to_string())?,
        };
        self.0
            .commit(&[cmp], &[op])
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
