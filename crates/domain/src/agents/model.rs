//! The agents area's values and rules without storage: what registering
//! an agent needs, checked, and a stored row as the caller sees it.

use super::store::AgentRow;
use crate::error::{Error, Result};
use crate::oauth::assertion;
use chrono::{DateTime, Utc};
use portcullis_types::{
    AgentCredentialKind, AgentId, AgentInput, AgentOwner, AgentStatus, AgentSummary, FieldError,
};

pub use crate::checks::MAX_EXPIRES_DAYS;

/// How a new agent authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A client secret, made by the console and shown once.
    Secret,
    /// `private_key_jwt` with these public keys (a JWKS document).
    Jwks(String),
    /// `private_key_jwt` with keys fetched from this https URL.
    JwksUri(String),
}

impl Credential {
    /// `credential` (`client_secret`, `jwks` or `jwks_uri`) with the keys
    /// or URL it needs, checked; what is wrong goes into `errors`, naming
    /// the field.
    pub fn parse(
        credential: &str,
        jwks: Option<&str>,
        jwks_uri: Option<&str>,
        errors: &mut Vec<FieldError>,
    ) -> Option<Credential> {
        match credential.trim() {
            "client_secret" => Some(Credential::Secret),
            "jwks" => {
                let text = jwks.unwrap_or("").trim();
                match assertion::parse_jwks(text) {
                    Ok(_) => Some(Credential::Jwks(text.to_owned())),
                    Err(m) => {
                        errors.push(FieldError::new("jwks", m));
                        None
                    }
                }
            }
            "jwks_uri" => match check_jwks_uri(jwks_uri.unwrap_or("")) {
                Ok(u) => Some(Credential::JwksUri(u)),
                Err(m) => {
                    errors.push(FieldError::new("jwks_uri", m));
                    None
                }
            },
            _ => {
                errors.push(FieldError::new(
                    "credential",
                    "use client_secret, jwks or jwks_uri",
                ));
                None
            }
        }
    }
}

/// Who answers for an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerKind {
    User,
    Group,
}

impl OwnerKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            OwnerKind::User => "user",
            OwnerKind::Group => "group",
        }
    }
}

/// A checked [`AgentInput`] (the owner's existence is the service's check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAgent {
    pub name: String,
    pub description: String,
    pub owner_kind: OwnerKind,
    pub owner_id: String,
    pub credential: Credential,
    pub expires_at: Option<DateTime<Utc>>,
}

/// An https URL of at most 500 characters serving public keys: the rule
/// for every `jwks_uri` (agents and pre-registered clients).
pub fn check_jwks_uri(uri: &str) -> std::result::Result<String, String> {
    let uri = uri.trim();
    match url::Url::parse(uri) {
        Ok(p) if p.scheme() == "https" && p.host_str().is_some() && uri.len() <= 500 => {
            Ok(uri.to_owned())
        }
        _ => Err("an https URL (at most 500 characters) serving the public keys".to_owned()),
    }
}

impl NewAgent {
    /// Checks every field at once; `now` dates the expiry.
    pub fn parse(input: &AgentInput, now: DateTime<Utc>) -> Result<Self> {
        let mut errors = Vec::new();
        let name = crate::checks::name(&input.name, &mut errors);
        let description = input.description.trim().to_owned();
        if description.chars().count() > 500 {
            errors.push(FieldError::new("description", "at most 500 characters"));
        }
        let owner_kind = match input.owner_kind.trim() {
            "user" => Some(OwnerKind::User),
            "group" => Some(OwnerKind::Group),
            _ => {
                errors.push(FieldError::new(
                    "owner_kind",
                    "the owner is a person (user) or a group",
                ));
                None
            }
        };
        let owner_id = input.owner_id.trim().to_owned();
        if owner_id.is_empty() {
            errors.push(FieldError::new(
                "owner_id",
                "choose the person or group who answers for this agent",
            ));
        }
        let credential = Credential::parse(
            &input.credential,
            input.jwks.as_deref(),
            input.jwks_uri.as_deref(),
            &mut errors,
        );
        let expires_at = crate::checks::expiry(input.expires_days, now, &mut errors);
        match (errors.is_empty(), owner_kind, credential) {
            (true, Some(owner_kind), Some(credential)) => Ok(NewAgent {
                name,
                description,
                owner_kind,
                owner_id,
                credential,
                expires_at,
            }),
            _ => Err(Error::Invalid(errors)),
        }
    }
}

/// An agent's status at `now`, from its stored status and expiry.
pub fn status_at(
    stored: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<AgentStatus> {
    match stored {
        "disabled" => Ok(AgentStatus::Disabled),
        "active" if expires_at.is_some_and(|e| e <= now) => Ok(AgentStatus::Expired),
        "active" => Ok(AgentStatus::Active),
        other => Err(Error::Internal(format!(
            "stored agent status {other:?} is not one of active, disabled"
        ))),
    }
}

impl AgentRow {
    pub(super) fn into_summary(self, now: DateTime<Utc>) -> Result<AgentSummary> {
        let credential = match (self.auth_method.as_str(), &self.jwks_uri) {
            ("private_key_jwt", Some(_)) => AgentCredentialKind::JwksUri,
            ("private_key_jwt", None) => AgentCredentialKind::Jwks,
            ("client_secret_basic" | "client_secret_post", _) => AgentCredentialKind::ClientSecret,
            (other, _) => {
                return Err(Error::Internal(format!(
                    "agent {} authenticates with {other:?}, which agents cannot use",
                    self.id
                )))
            }
        };
        Ok(AgentSummary {
            status: status_at(&self.status, self.expires_at, now)?,
            owner: AgentOwner {
                display: self.owner_display.unwrap_or_else(|| self.owner_id.clone()),
                kind: self.owner_kind,
                id: self.owner_id,
            },
            id: AgentId(self.id),
            name: self.name,
            description: self.description,
            status_reason: self.status_reason,
            credential,
            jwks_uri: self.jwks_uri,
            created_by: self.created_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_token_at: self.last_token_at,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn input() -> AgentInput {
        AgentInput {
            name: " Triage bot ".into(),
            description: "Labels new issues every night".into(),
            owner_kind: "group".into(),
            owner_id: "grp_eng".into(),
            credential: "client_secret".into(),
            jwks: None,
            jwks_uri: None,
            expires_days: Some(30),
        }
    }

    #[test]
    fn a_good_input_is_trimmed_and_dated() {
        let now = Utc::now();
        let a = NewAgent::parse(&input(), now).unwrap();
        assert_eq!(a.name, "Triage bot");
        assert_eq!(a.owner_kind, OwnerKind::Group);
        assert_eq!(a.credential, Credential::Secret);
        assert_eq!(a.expires_at, Some(now + Duration::days(30)));
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let bad = AgentInput {
            name: String::new(),
            description: "x".repeat(501),
            owner_kind: "robot".into(),
            owner_id: " ".into(),
            credential: "jwks_uri".into(),
            jwks: None,
            jwks_uri: Some("http://keys.example/jwks.json".into()),
            expires_days: Some(0),
        };
        let Err(Error::Invalid(errors)) = NewAgent::parse(&bad, Utc::now()) else {
            panic!("expected field errors");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "description",
                "owner_kind",
                "owner_id",
                "jwks_uri",
                "expires_days"
            ]
        );
        let mut jwks = input();
        jwks.credential = "jwks".into();
        jwks.jwks = Some("{\"keys\":[]}".into());
        let Err(Error::Invalid(errors)) = NewAgent::parse(&jwks, Utc::now()) else {
            panic!("expected a jwks error");
        };
        assert_eq!(errors[0].field, "jwks");
    }

    #[test]
    fn status_reads_the_kill_switch_and_the_expiry() {
        let now = Utc::now();
        let past = Some(now - Duration::seconds(1));
        assert_eq!(status_at("active", None, now).unwrap(), AgentStatus::Active);
        assert_eq!(
            status_at("active", past, now).unwrap(),
            AgentStatus::Expired
        );
        assert_eq!(
            status_at("disabled", past, now).unwrap(),
            AgentStatus::Disabled
        );
        assert!(status_at("paused", None, now).is_err());
    }
}
