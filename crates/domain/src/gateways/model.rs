//! The gateways area's values and rules without storage: who a credential
//! names, how a gateway stands against the current revision, and what a
//! registration, a status report and a decision batch must hold.

use super::store::GatewayRow;
use super::{MAX_DECISIONS, STALE_AFTER};
use crate::actor::{Actor, RequestMeta};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use portcullis_types::gateway_api::{DecisionBatch, StatusReport};
use portcullis_types::{FieldError, GatewayInput, GatewayServer, GatewayState, GatewaySummary};

/// A gateway as the policy API knows it after authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayIdentity {
    pub id: String,
    pub name: String,
}

impl GatewayIdentity {
    /// The audit actor for this gateway.
    pub fn actor(&self, meta: RequestMeta) -> Actor {
        Actor::gateway(&self.id.as_str().into(), &self.name, meta)
    }
}

fn field(errors: &mut Vec<FieldError>, field: impl Into<String>, message: impl Into<String>) {
    errors.push(FieldError {
        field: field.into(),
        message: message.into(),
    });
}

/// `Ok` when no field is at fault, else every fault at once.
pub(super) fn refuse_if_any(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

/// A registration's name and description, trimmed and checked (the
/// servers are checked against the catalog by the service).
pub(super) fn name_and_description(
    input: &GatewayInput,
    errors: &mut Vec<FieldError>,
) -> (String, String) {
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        field(errors, "name", "enter a name of 1 to 100 characters");
    }
    let description = input.description.trim().to_owned();
    if description.chars().count() > 500 {
        field(errors, "description", "use at most 500 characters");
    }
    (name, description)
}

/// The error for a server id or slug the catalog does not have.
pub(super) fn unknown_server(errors: &mut Vec<FieldError>, server: &str) {
    field(errors, "server_ids", format!("no MCP server {server}"));
}

/// What a status report must hold.
pub(super) fn check_status(report: &StatusReport) -> Result<()> {
    let mut errors = Vec::new();
    if report.active_revision.is_some_and(|r| r < 0) {
        field(&mut errors, "active_revision", "must be 0 or more");
    }
    if report
        .last_error
        .as_ref()
        .is_some_and(|e| e.chars().count() > 2000)
    {
        field(&mut errors, "last_error", "use at most 2000 characters");
    }
    if report
        .software
        .as_ref()
        .is_some_and(|e| e.chars().count() > 200)
    {
        field(&mut errors, "software", "use at most 200 characters");
    }
    refuse_if_any(errors)
}

/// What a decision batch must hold: every decision is checked, and one bad
/// decision refuses the batch.
pub(super) fn check_decisions(batch: &DecisionBatch) -> Result<()> {
    let mut errors = Vec::new();
    if batch.decisions.len() > MAX_DECISIONS {
        field(
            &mut errors,
            "decisions",
            format!("send at most {MAX_DECISIONS} decisions a batch"),
        );
    }
    for (i, d) in batch.decisions.iter().enumerate() {
        for (name, value, max) in [
            ("user", d.user.as_str(), 320),
            ("server", d.server.as_str(), 200),
            ("tool", d.tool.as_str(), 200),
        ] {
            if value.trim().is_empty() || value.chars().count() > max {
                field(
                    &mut errors,
                    format!("decisions[{i}].{name}"),
                    format!("enter 1 to {max} characters"),
                );
            }
        }
        if d.revision < 0 {
            field(
                &mut errors,
                format!("decisions[{i}].revision"),
                "must be 0 or more",
            );
        }
        if d.id
            .as_ref()
            .is_some_and(|v| v.trim().is_empty() || v.chars().count() > 100)
        {
            field(
                &mut errors,
                format!("decisions[{i}].id"),
                "enter 1 to 100 characters",
            );
        }
        if d.act.as_ref().is_some_and(|a| {
            a.len() > portcullis_policy::MAX_DELEGATION_DEPTH + 1
                || a.iter()
                    .any(|s| s.trim().is_empty() || s.chars().count() > 200)
        }) {
            field(
                &mut errors,
                format!("decisions[{i}].act"),
                "list at most 4 agent ids of 1 to 200 characters",
            );
        }
        for (name, value) in [
            ("client", &d.client),
            ("reason", &d.reason),
            ("rule", &d.rule),
        ] {
            if value.as_ref().is_some_and(|v| v.chars().count() > 200) {
                field(
                    &mut errors,
                    format!("decisions[{i}].{name}"),
                    "use at most 200 characters",
                );
            }
        }
    }
    refuse_if_any(errors)
}

/// What the gateway enforces and how it stands, from its row.
fn state_of(r: &GatewayRow, current: i64, now: DateTime<Utc>) -> (GatewayState, Option<i64>) {
    let enforced = r.active_revision.or(r.served_revision);
    let lag = enforced.map(|e| (current - e).max(0));
    let last_seen = r.last_poll_at.max(r.reported_at);
    let state = if r.revoked_at.is_some() {
        GatewayState::Revoked
    } else if last_seen.is_none() {
        GatewayState::Never
    } else if r.last_error.is_some()
        && r.last_error_at.is_some()
        && r.last_error_at >= r.last_fetch_at
    {
        GatewayState::Error
    } else if last_seen.is_some_and(|t| now - t > STALE_AFTER) {
        GatewayState::Stale
    } else if lag == Some(0) {
        GatewayState::Current
    } else {
        GatewayState::Behind
    };
    (state, lag)
}

/// The Gateways page's line for a gateway fronting `servers`, against
/// revision `current` at `now`.
pub(super) fn summary(
    r: GatewayRow,
    servers: Vec<GatewayServer>,
    current: i64,
    now: DateTime<Utc>,
) -> GatewaySummary {
    let (state, lag) = state_of(&r, current, now);
    GatewaySummary {
        servers,
        id: r.id,
        name: r.name,
        description: r.description,
        token_hint: r.token_hint,
        created_at: r.created_at,
        created_by: r.created_by,
        revoked_at: r.revoked_at,
        last_poll_at: r.last_poll_at,
        served_revision: r.served_revision,
        active_revision: r.active_revision,
        reported_at: r.reported_at,
        last_fetch_at: r.last_fetch_at,
        last_error: r.last_error,
        last_error_at: r.last_error_at,
        software: r.software,
        lag,
        state,
    }
}
