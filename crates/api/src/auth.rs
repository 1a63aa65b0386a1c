//! Authentication: `noauth` (every request is admin; allowed only on a
//! loopback address) or a token file mapping `X-Auth-Token` values to a
//! project and roles, in the spirit of keystonemiddleware's auth_token.

use std::collections::HashMap;
use std::path::Path;

use axum::http::HeaderMap;
use model::Ctx;
use serde::Deserialize;

use crate::error::ApiError;

/// Project used in noauth mode when the request names none (`X-Project-Id`).
pub const NOAUTH_PROJECT: &str = "admin";

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TokenInfo {
    pub project_id: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    NoAuth,
    /// token → project and roles.
    Tokens(HashMap<String, TokenInfo>),
}

#[derive(Debug, Deserialize)]
struct TokenFile {
    tokens: HashMap<String, TokenInfo>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("reading token file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("parsing token file {path}: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

impl AuthMode {
    /// Load a token file: `{"tokens": {"TOKEN": {"project_id": "p", "roles": ["admin"]}}}`.
    pub fn from_token_file(path: &Path) -> Result<AuthMode, AuthError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
            path: p.clone(),
            source,
        })?;
        let f: TokenFile =
            serde_json::from_str(&text).map_err(|source| AuthError::Parse { path: p, source })?;
        Ok(AuthMode::Tokens(f.tokens))
    }

    /// The caller's context from the request headers.
    pub fn context(&self, headers: &HeaderMap) -> Result<Ctx, ApiError> {
        match self {
            AuthMode::NoAuth => {
                let project = headers
                    .get("x-project-id")
                    .and_then(|v| v.to_str().ok())
                    .filter(|s| !s.is_empty())
                    .unwrap_or(NOAUTH_PROJECT);
                Ok(Ctx::admin(project))
            }
            AuthMode::Tokens(tokens) => {
                let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
                let info = token.and_then(|t| tokens.get(t)).ok_or_else(|| {
                    ApiError::new(401, "HTTPUnauthorized", "Authentication required")
                })?;
                let is_admin = info.roles.iter().any(|r| r == "admin");
                Ok(Ctx {
                    project_id: info.project_id.clone(),
                    is_admin,
                })
            }
        }
    }
}
