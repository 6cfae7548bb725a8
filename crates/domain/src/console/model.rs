//! The console area's values and rules without storage: a new session,
//! what an email address and a display name must look like, and the stored
//! rows of users, links and the Admins page as callers see them.

use super::store::{AdminRow, LinkRow, UserRow};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use portcullis_types::{
    AdminSummary, ConsoleUserId, ConsoleUserStatus, LinkInfo, Me, OneTimeLink, Role,
};

/// A freshly created session: the secret goes into the cookie, once.
#[derive(Debug)]
pub struct NewSession {
    pub secret: String,
    pub me: Me,
}

/// Normalises and checks an email address; names the field on error.
pub fn normalize_email(field: &str, email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    if valid {
        Ok(e)
    } else {
        Err(Error::invalid(
            field,
            "enter an email address like alice@example.com",
        ))
    }
}

pub(super) fn check_display_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(Error::invalid(
            "display_name",
            "use at most 100 characters, no control characters",
        ));
    }
    Ok(n.to_owned())
}

/// The name a new user is stored with: the one given, else the email.
pub(super) fn name_or_email(display_name: String, email: &str) -> String {
    if display_name.is_empty() {
        email.to_owned()
    } else {
        display_name
    }
}

/// An email typed at sign-in, clipped for the audit log (it is untrusted).
pub(super) fn audit_email(email: &str) -> String {
    email.chars().take(254).collect()
}

/// A stored role, refusing a value this code does not know.
pub(super) fn stored_role(role: &str) -> Result<Role> {
    role.parse().map_err(Error::Internal)
}

/// A stored user status, refusing a value this code does not know.
pub(super) fn stored_status(status: &str) -> Result<ConsoleUserStatus> {
    status.parse().map_err(Error::Internal)
}

/// The error for a link that is unknown, used or expired.
pub(super) fn invalid_link() -> Error {
    Error::invalid(
        "token",
        "this link is invalid, used or expired; ask an owner for a new one",
    )
}

/// The set-up link for user `user_id` with token `token`.
pub(super) fn one_time_link(
    user_id: String,
    email: String,
    token: &str,
    expires_at: DateTime<Utc>,
) -> OneTimeLink {
    OneTimeLink {
        user_id: ConsoleUserId(user_id),
        email,
        path: format!("/setup?token={token}"),
        expires_at,
    }
}

impl UserRow {
    pub(super) fn role(&self) -> Result<Role> {
        stored_role(&self.role)
    }
    pub(super) fn status(&self) -> Result<ConsoleUserStatus> {
        stored_status(&self.status)
    }
    pub(super) fn me(&self) -> Result<Me> {
        Ok(Me {
            id: ConsoleUserId(self.id.clone()),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            role: self.role()?,
        })
    }
}

impl LinkRow {
    pub(super) fn into_info(self) -> Result<LinkInfo> {
        Ok(LinkInfo {
            email: self.email,
            display_name: self.display_name,
            role: stored_role(&self.role)?,
            purpose: self.purpose,
        })
    }
}

impl AdminRow {
    pub(super) fn into_summary(self) -> Result<AdminSummary> {
        Ok(AdminSummary {
            id: ConsoleUserId(self.id),
            email: self.email,
            display_name: self.display_name,
            role: stored_role(&self.role)?,
            status: stored_status(&self.status)?,
            created_at: self.created_at,
            last_signin_at: self.last_signin_at,
            active_sessions: self.active_sessions,
        })
    }
}
