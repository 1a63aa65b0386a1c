//! Errors as Neutron reports them: each carries the HTTP status, the
//! `NeutronError.type` and the message Neutron uses for the same case
//! (neutron-lib `exceptions` module), so the API layer only renders them.

/// A failed request. Nothing is stored when an operation returns one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ModelError {
    /// HTTP status code (400, 403, 404, 409, 412).
    pub status: u16,
    /// `NeutronError.type`, e.g. `NetworkNotFound`.
    pub kind: String,
    /// `NeutronError.message`.
    pub message: String,
}

pub type Result<T> = std::result::Result<T, ModelError>;

impl ModelError {
    pub fn new(status: u16, kind: &str, message: impl Into<String>) -> Self {
        ModelError {
            status,
            kind: kind.to_string(),
            message: message.into(),
        }
    }

    /// 400 for one attribute: `Invalid input for ATTR. Reason: REASON.`
    pub fn attr(attr: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "HTTPBadRequest",
            format!("Invalid input for {attr}. Reason: {reason}."),
        )
    }

    /// 400 `InvalidInput`: `Invalid input for operation: MSG.`
    pub fn invalid(msg: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "InvalidInput",
            format!("Invalid input for operation: {msg}."),
        )
    }

    /// 400 for a body Neutron cannot read at all.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(400, "HTTPBadRequest", msg)
    }

    /// 404 `<Resource>NotFound`, e.g. `Network X could not be found.`
    pub fn not_found(resource: &str, id: &str) -> Self {
        let ty = format!("{}NotFound", resource.replace(' ', ""));
        Self::new(404, &ty, format!("{resource} {id} could not be found."))
    }

    /// 409 with the given type.
    pub fn conflict(kind: &str, msg: impl Into<String>) -> Self {
        Self::new(409, kind, msg)
    }

    /// 403 `PolicyNotAuthorized` for an action the caller's role may not do.
    pub fn forbidden(rule: &str) -> Self {
        Self::new(
            403,
            "PolicyNotAuthorized",
            format!("({rule}) is disallowed by policy."),
        )
    }

    /// 412 for a stale `If-Match: revision_number=N`.
    pub fn revision_mismatch(expected: u64, current: u64) -> Self {
        Self::new(
            412,
            "RevisionNumberConstraintFailed",
            format!("Constrained to {expected}, but current revision is {current}"),
        )
    }
}
