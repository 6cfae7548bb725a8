//! SSO connections (OIDC and SAML) as the console shows and edits them.

use crate::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The protocol of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SsoKind {
    Oidc,
    Saml,
}

impl SsoKind {
    /// Stable lowercase name (storage, URLs).
    pub fn as_str(self) -> &'static str {
        match self {
            SsoKind::Oidc => "oidc",
            SsoKind::Saml => "saml",
        }
    }

    /// Label shown in the console.
    pub fn label(self) -> &'static str {
        match self {
            SsoKind::Oidc => "OpenID Connect",
            SsoKind::Saml => "SAML 2.0",
        }
    }
}

impl std::str::FromStr for SsoKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "oidc" => Ok(SsoKind::Oidc),
            "saml" => Ok(SsoKind::Saml),
            other => Err(format!("unknown SSO kind {other:?}")),
        }
    }
}

/// An IdP group that gives a console role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleMapping {
    /// The group as the IdP sends it (claim or attribute value), or a SCIM
    /// group's display name in the connection's directory. Exact match.
    pub group: String,
    pub role: Role,
}

/// OIDC settings (everything but the client secret).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OidcSettings {
    /// Issuer URL; discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Space-separated; always includes `openid`.
    pub scopes: String,
    /// Claim with the email address (`email`).
    pub email_claim: String,
    /// Claim with the display name (`name`).
    pub name_claim: String,
    /// Claim with the groups (`groups`); empty: no group claim.
    pub groups_claim: String,
}

/// SAML settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SamlSettings {
    /// Where the IdP metadata was fetched from (empty: uploaded).
    pub metadata_url: String,
    /// The IdP's entity id, from its metadata.
    pub idp_entity_id: String,
    /// Attribute with the email address (empty: the NameID).
    pub email_attribute: String,
    /// Attribute with the display name.
    pub name_attribute: String,
    /// Attribute with the groups.
    pub groups_attribute: String,
}

/// What the form sends to create or change a connection (the admin API
/// takes the same body; fields left out take their defaults, so a caller
/// sends only the settings of its connection's kind).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SsoConnectionInput {
    pub name: String,
    /// Lowercase letters, digits and hyphens; used in the connection's URLs.
    pub slug: String,
    pub kind: Option<SsoKind>,
    pub enabled: bool,
    /// Email domains this connection serves, one per line or comma-separated.
    pub domains: String,
    pub oidc: OidcSettings,
    /// New client secret; empty when editing keeps the stored one.
    pub client_secret: String,
    pub saml: SamlSettings,
    /// IdP metadata XML pasted or uploaded (SAML); empty: fetch `metadata_url`.
    pub idp_metadata_xml: String,
    /// Allow sign-in started at the IdP (SAML; off by default).
    pub allow_idp_initiated: bool,
    /// The SCIM directory whose users and groups this IdP provisions.
    pub directory_id: Option<String>,
    pub role_mappings: Vec<RoleMapping>,
    /// People signing in for MCP clients who are not in the directory are
    /// created there on their first sign-in (just in time), with the IdP's
    /// groups; for IdPs that do not push SCIM. Off by default.
    #[serde(default)]
    pub jit_people: bool,
    /// Accept the IdP's ID-JAGs (enterprise-managed authorization): an MCP
    /// client presents one at the token endpoint and gets a token for the
    /// person it names, without a consent screen. OIDC connections only;
    /// checked with the connection's issuer and its discovered keys. Off by
    /// default.
    #[serde(default)]
    pub accept_id_jag: bool,
}

/// A connection as listed on Settings → Single sign-on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoConnectionSummary {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub kind: SsoKind,
    pub enabled: bool,
    pub domains: Vec<String>,
    pub mappings: usize,
    /// People who signed in through it at least once.
    pub identities: i64,
    pub last_signin_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// One connection with everything the edit page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoConnectionDetail {
    pub summary: SsoConnectionSummary,
    pub oidc: OidcSettings,
    /// A client secret is stored (never shown).
    pub has_client_secret: bool,
    pub saml: SamlSettings,
    pub allow_idp_initiated: bool,
    pub jit_people: bool,
    /// The IdP's ID-JAGs are accepted (see [`SsoConnectionInput::accept_id_jag`]).
    #[serde(default)]
    pub accept_id_jag: bool,
    pub directory_id: Option<String>,
    pub directory_name: Option<String>,
    pub role_mappings: Vec<RoleMapping>,
    /// OIDC redirect URI to register at the IdP.
    pub redirect_uri: String,
    /// SAML: SP entity id, ACS URL and metadata URL to give the IdP.
    pub sp_entity_id: String,
    pub acs_url: String,
    pub sp_metadata_url: String,
    /// SAML: the IdP signing certificates' SHA-256 fingerprints and expiry.
    pub idp_certificates: Vec<String>,
}

/// The settings page: connections and the directories one may link.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoView {
    pub connections: Vec<SsoConnectionSummary>,
    /// (id, name) of SCIM directories.
    pub directories: Vec<(String, String)>,
    /// The caller may create and change connections.
    pub can_manage: bool,
    /// The caller may map groups to the owner role.
    pub can_map_owner: bool,
}

/// What a "Test connection" run saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoTestResult {
    pub id: String,
    pub connection_id: String,
    pub at: DateTime<Utc>,
    /// The sign-in would have succeeded.
    pub ok: bool,
    /// What would have happened, in a sentence.
    pub summary: String,
    pub subject: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub role: Option<Role>,
    /// Every claim or attribute as received: (name, value as JSON text).
    pub claims: Vec<(String, String)>,
}

/// Why a sign-in was refused. The code goes into the sign-in page's URL;
/// the page shows [`SsoRefusal::message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SsoRefusal {
    /// No console role for this person.
    NoRole,
    /// The IdP did not say the email is verified and nothing else links it.
    EmailUnverified,
    /// No usable email in the assertion.
    NoEmail,
    /// The email's domain is not one the connection serves.
    WrongDomain,
    /// The console account is disabled.
    Disabled,
    /// Deactivated in the connection's SCIM directory.
    Deprovisioned,
    /// The answer from the IdP did not verify.
    Invalid,
    /// The IdP reported an error or the person cancelled.
    IdpError,
    /// The sign-in expired, was already used, or started in another browser.
    Expired,
    /// No enabled connection serves the email's domain.
    NoConnection,
    /// Signing in for an MCP client: not a person of the connection's SCIM
    /// directory.
    NotProvisioned,
}

impl SsoRefusal {
    /// All codes (for parsing the sign-in page's query).
    pub const ALL: [SsoRefusal; 11] = [
        SsoRefusal::NoRole,
        SsoRefusal::EmailUnverified,
        SsoRefusal::NoEmail,
        SsoRefusal::WrongDomain,
        SsoRefusal::Disabled,
        SsoRefusal::Deprovisioned,
        SsoRefusal::Invalid,
        SsoRefusal::IdpError,
        SsoRefusal::Expired,
        SsoRefusal::NoConnection,
        SsoRefusal::NotProvisioned,
    ];

    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            SsoRefusal::NoRole => "no_role",
            SsoRefusal::EmailUnverified => "email_unverified",
            SsoRefusal::NoEmail => "no_email",
            SsoRefusal::WrongDomain => "wrong_domain",
            SsoRefusal::Disabled => "disabled",
            SsoRefusal::Deprovisioned => "deprovisioned",
            SsoRefusal::Invalid => "invalid_response",
            SsoRefusal::IdpError => "idp_error",
            SsoRefusal::Expired => "expired",
            SsoRefusal::NoConnection => "no_connection",
            SsoRefusal::NotProvisioned => "not_provisioned",
        }
    }

    /// Parses a code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Why, in a few words for the admin running "Test connection".
    pub fn label(self) -> &'static str {
        match self {
            SsoRefusal::NoRole => {
                "no role maps to this person's groups, and no owner gave them one"
            }
            SsoRefusal::EmailUnverified => "the IdP did not mark the email as verified",
            SsoRefusal::NoEmail => "the IdP sent no email address",
            SsoRefusal::WrongDomain => "the email is not in one of this connection's domains",
            SsoRefusal::Disabled => "the console account is disabled",
            SsoRefusal::Deprovisioned => "the person is deactivated in the SCIM directory",
            SsoRefusal::Invalid => "the IdP's answer did not verify",
            SsoRefusal::IdpError => "the IdP reported an error",
            SsoRefusal::Expired => "the sign-in expired or came back to another browser",
            SsoRefusal::NoConnection => "the connection is disabled",
            SsoRefusal::NotProvisioned => "not a person of the connection's directory",
        }
    }

    /// What the sign-in page says.
    pub fn message(self) -> &'static str {
        match self {
            SsoRefusal::NoRole => "Your identity provider signed you in, but you have no role in this console. Ask a Portcullis owner to give your group a role.",
            SsoRefusal::EmailUnverified => "Your identity provider did not confirm your email address, so it cannot be linked to a console account.",
            SsoRefusal::NoEmail => "Your identity provider did not send an email address.",
            SsoRefusal::WrongDomain => "Your email address is not in a domain this sign-in connection serves.",
            SsoRefusal::Disabled => "Your console account is disabled. Ask a Portcullis owner.",
            SsoRefusal::Deprovisioned => "Your account is deactivated in the company directory.",
            SsoRefusal::Invalid => "The answer from your identity provider could not be verified. Try again; if it keeps happening, tell your Portcullis admin.",
            SsoRefusal::IdpError => "Your identity provider did not complete the sign-in.",
            SsoRefusal::Expired => "This sign-in expired or was started in another browser. Start again.",
            SsoRefusal::NoConnection => "No single sign-on connection serves this email domain.",
            SsoRefusal::NotProvisioned => "Your company has not given you access to MCP servers through Portcullis yet (you are not in its directory). Ask your IT team.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refusal codes round-trip.
    #[test]
    fn sso_refusal_codes_round_trip() {
        for r in SsoRefusal::ALL {
            assert_eq!(SsoRefusal::from_code(r.code()), Some(r));
        }
        assert_eq!(SsoRefusal::from_code("nope"), None);
    }
}
