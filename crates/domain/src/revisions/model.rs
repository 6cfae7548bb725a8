//! The revisions area's values without storage: the kinds of fact, the
//! facts' JSON forms as the bundle sees them, and their strict decoding.

use crate::error::{Error, Result};
use portcullis_policy::bundle::{Annotations, Rule};
use serde::{Deserialize, Serialize};

/// The kinds of fact (the `kind` column).
pub(super) mod kind {
    pub const SERVER: &str = "server";
    pub const TOOL: &str = "tool";
    pub const GROUP: &str = "group";
    pub const USER: &str = "user";
    pub const MEMBER: &str = "member";
    pub const GRANT: &str = "grant";
    /// A blocked OAuth client (k1 = its client_id).
    pub const CLIENT: &str = "client";
    /// An agent (k1 = its id), with its name and whether it is active.
    pub const AGENT: &str = "agent";
    /// A delegation (k1 = its id): which agent may act for whom where.
    pub const DELEGATION: &str = "delegation";
}

/// A server as the bundle sees it (its tools are facts of their own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFact {
    pub slug: String,
    pub resource: String,
    pub enabled: bool,
}

/// A tool as the bundle sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolFact {
    pub annotations: Annotations,
    pub approved: bool,
    pub definition_hash: String,
}

/// A person as the bundle sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFact {
    pub email: String,
    pub active: bool,
}

/// A grant: the rule the bundle carries plus what the console shows and
/// what a rollback needs to restore it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantFact {
    pub rule: Rule,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
}

pub(super) fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(format!("policy fact: {e}")))
}

pub(super) fn from_json<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::Internal(format!("policy fact: {e}")))
}

/// Decodes a stored fact strictly, naming it when it does not decode: the
/// bundle is then not built (the last good one stays served), rather than
/// built without, or with a default for, what could not be read.
pub(super) fn fact_value<T: for<'de> Deserialize<'de>>(
    kind: &str,
    k1: &str,
    k2: &str,
    s: &str,
) -> Result<T> {
    serde_json::from_str(s).map_err(|e| {
        Error::Internal(format!(
            "policy fact {kind} {k1:?}{} does not decode ({e}); the bundle is not built until it is fixed",
            if k2.is_empty() { String::new() } else { format!(" / {k2:?}") }
        ))
    })
}
