//! The SSO area's values and rules without storage: what an IdP asserted,
//! how a flow ends, the sign-in in flight and the console user it links,
//! the connection form's checks, and the stored enums with their decoding
//! (an unknown stored value is an error).

use super::store::ConnRow;
use super::{saml, Refusal, MAX_DOMAINS, MAX_MAPPINGS};
use crate::actor::{Actor, Permission};
use crate::console::NewSession;
use crate::error::{Error, Result};
use portcullis_types::{
    ConsoleUserStatus, FieldError, OidcSettings, Role, RoleMapping, SamlSettings, SsoConnectionId,
    SsoConnectionInput, SsoKind, SsoTestId,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;

/// What an IdP asserted about the person, after the protocol checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asserted {
    /// OIDC `sub` or SAML NameID.
    pub subject: String,
    pub email: Option<String>,
    /// OIDC `email_verified`; SAML assertions count as verified.
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// Every claim or attribute as received, for "Test connection".
    pub claims: Vec<(String, String)>,
}

impl ConnRow {
    pub(super) fn kind(&self) -> Result<SsoKind> {
        self.kind.parse().map_err(Error::Internal)
    }
    pub(super) fn oidc(&self) -> Result<OidcSettings> {
        serde_json::from_str(&self.config).map_err(|e| Error::Internal(format!("oidc config: {e}")))
    }
    pub(super) fn saml(&self) -> Result<SamlSettings> {
        serde_json::from_str(&self.config).map_err(|e| Error::Internal(format!("saml config: {e}")))
    }
}

/// The sealed-secret purpose of a connection's client secret.
pub(super) fn secret_purpose(id: &str) -> String {
    format!("sso_client_secret:{id}")
}

/// URLs of a connection under the console's public URL.
pub fn redirect_uri(public_url: &str, slug: &str) -> String {
    format!("{public_url}/sso/oidc/{slug}/callback")
}
/// The SAML SP entity id (also the metadata URL).
pub fn sp_metadata_url(public_url: &str, slug: &str) -> String {
    format!("{public_url}/sso/saml/{slug}/metadata")
}
/// The SAML assertion consumer service.
pub fn acs_url(public_url: &str, slug: &str) -> String {
    format!("{public_url}/sso/saml/{slug}/acs")
}

/// A local path to go to after sign-in; anything else becomes `/`.
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\')
        && next.len() <= 1000;
    if ok {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

/// A sign-in handed to the browser: go to `redirect`, holding `browser`
/// in the binding cookie.
#[derive(Debug)]
pub struct Started {
    pub redirect: String,
    pub browser: String,
}

/// How a finished flow ends.
#[derive(Debug)]
pub enum Finished {
    /// Signed in: set the session cookie, go to `next`.
    SignedIn { session: NewSession, next: String },
    /// A test run: show the result on the connection's page.
    Tested {
        connection_id: SsoConnectionId,
        test_id: SsoTestId,
    },
    /// Refused: show the sign-in page with the reason.
    Refused(Refusal),
    /// An employee signed in for an MCP client (OAuth): set the person
    /// cookie (never a console session), go to `next`.
    Person { session: String, next: String },
    /// An employee refused for an MCP client: show the reason (not the
    /// console's sign-in page).
    PersonRefused(Refusal),
}

/// Why a sign-in runs (`sso_requests.purpose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    /// A console sign-in.
    SignIn,
    /// "Test connection" by an admin: reports, signs nobody in.
    Test,
    /// An employee signing in for an MCP client.
    OAuth,
}

impl Purpose {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Purpose::SignIn => "signin",
            Purpose::Test => "test",
            Purpose::OAuth => "oauth",
        }
    }
}

impl std::str::FromStr for Purpose {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "signin" => Ok(Purpose::SignIn),
            "test" => Ok(Purpose::Test),
            "oauth" => Ok(Purpose::OAuth),
            other => Err(format!("sso_requests.purpose: unknown value `{other}`")),
        }
    }
}

/// A sign-in about to leave for the IdP: why, where it goes back to, who
/// tests, and the browser it is bound to.
pub(super) struct Flight<'a> {
    pub purpose: Purpose,
    pub next: &'a str,
    pub tester: Option<&'a Actor>,
    pub browser: &'a str,
}

/// A sign-in in flight (a row of `sso_requests`) taken for use.
#[derive(Clone, Debug)]
pub(super) struct InFlight {
    pub purpose: Purpose,
    pub browser_hash: String,
    pub nonce: Option<String>,
    pub pkce_verifier: Option<String>,
    pub next_path: String,
    pub started_by: Option<String>,
    pub outcome: Option<String>,
}

/// Where a console user's role comes from (`console_users.role_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RoleSource {
    /// Given by an owner (or set-up): SSO leaves it.
    Manual,
    /// Follows the connection's group mappings at every sign-in.
    Sso,
}

impl std::str::FromStr for RoleSource {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "manual" => Ok(RoleSource::Manual),
            "sso" => Ok(RoleSource::Sso),
            other => Err(format!(
                "console_users.role_source: unknown value `{other}`"
            )),
        }
    }
}

/// The console user an assertion resolves to.
#[derive(Clone, Debug)]
pub(super) struct LinkedUser {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub role_source: RoleSource,
    pub status: ConsoleUserStatus,
}

/// The admission decision for an assertion (no writes).
#[derive(Clone, Debug)]
pub(super) struct Evaluation {
    /// Console user it resolves to.
    pub user: Option<LinkedUser>,
    /// How: `identity`, `scim_external_id`, `verified_email` or `created`.
    pub linked_by: &'static str,
    pub groups: Vec<String>,
    pub mapped_role: Option<Role>,
    pub role: std::result::Result<Role, Refusal>,
    pub email: Option<String>,
}

impl Evaluation {
    /// The decision for a sign-in refused before anything was asserted.
    pub(super) fn refused(refusal: Refusal) -> Self {
        Evaluation {
            user: None,
            linked_by: "none",
            groups: Vec::new(),
            mapped_role: None,
            role: Err(refusal),
            email: None,
        }
    }
}

/// Whether `email`'s domain is one of `domains`.
pub(super) fn in_domains(email: &str, domains: &[String]) -> bool {
    email
        .rsplit_once('@')
        .is_some_and(|(_, d)| domains.iter().any(|x| x == d))
}

/// The checked form.
pub(super) struct Checked {
    pub name: String,
    pub slug: String,
    pub kind: SsoKind,
    pub domains: Vec<String>,
    pub mappings: Vec<RoleMapping>,
    pub config: String,
    pub client_secret: Option<String>,
    pub idp_metadata: Option<String>,
    pub allow_idp_initiated: bool,
    pub enabled: bool,
    pub directory_id: Option<String>,
    pub jit_people: bool,
    pub accept_id_jag: bool,
}

impl Checked {
    pub(super) fn audit_details(&self) -> serde_json::Value {
        json!({
            "jit_people": self.jit_people,
            "accept_id_jag": self.accept_id_jag,
            "slug": self.slug,
            "kind": self.kind.as_str(),
            "enabled": self.enabled,
            "domains": self.domains,
            "role_mappings": self.mappings.iter().map(|m| json!({"group": m.group, "role": m.role.as_str()})).collect::<Vec<_>>(),
            "allow_idp_initiated": self.allow_idp_initiated,
        })
    }
}

/// The fields of the form every connection has, checked.
pub(super) struct Basics {
    pub name: String,
    pub slug: String,
    pub kind: SsoKind,
    pub domains: Vec<String>,
    pub mappings: Vec<RoleMapping>,
}

/// Notes that `field` is at fault.
pub(super) fn add(errors: &mut Vec<FieldError>, field: &str, message: String) {
    errors.push(FieldError {
        field: field.to_owned(),
        message,
    });
}

/// Checks name, slug, kind, domains and role mappings (`existing`: the
/// connection being changed). Every problem names its field.
pub(super) fn check_basics(
    actor: &Actor,
    input: &SsoConnectionInput,
    existing: Option<&ConnRow>,
    errors: &mut Vec<FieldError>,
) -> Result<Basics> {
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        add(
            errors,
            "name",
            "enter a name of at most 100 characters".into(),
        );
    }
    let slug = input.slug.trim().to_lowercase();
    let slug_ok = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-');
    if !slug_ok {
        add(
            errors,
            "slug",
            "use 1–63 lowercase letters, digits and hyphens (it appears in the connection's URLs)"
                .into(),
        );
    }
    let kind = match (existing, input.kind) {
        (Some(e), Some(k)) if e.kind()? != k => {
            add(
                errors,
                "kind",
                "the protocol of a connection cannot change; create a new connection".into(),
            );
            k
        }
        (Some(e), _) => e.kind()?,
        (None, Some(k)) => k,
        (None, None) => {
            add(errors, "kind", "choose OpenID Connect or SAML".into());
            SsoKind::Oidc
        }
    };
    let mut domains = BTreeSet::new();
    for raw in input
        .domains
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let d = raw.trim().trim_start_matches('@').to_lowercase();
        let ok = d.len() <= 253
            && d.contains('.')
            && !d.starts_with('.')
            && !d.ends_with('.')
            && !d.contains("..")
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !ok {
            add(
                errors,
                "domains",
                format!("{raw:?} is not an email domain like example.com"),
            );
        } else {
            domains.insert(d);
        }
    }
    if domains.len() > MAX_DOMAINS {
        add(errors, "domains", format!("at most {MAX_DOMAINS} domains"));
    }
    if input.enabled && domains.is_empty() {
        add(
            errors,
            "domains",
            "list at least one email domain, or leave the connection disabled".into(),
        );
    }
    let mut mappings = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, m) in input.role_mappings.iter().enumerate() {
        let group = m.group.trim().to_owned();
        if group.is_empty() {
            continue;
        }
        let field = format!("role_mappings[{i}].group");
        if group.chars().count() > 256 || group.chars().any(char::is_control) {
            add(
                errors,
                &field,
                "use at most 256 characters, no control characters".into(),
            );
        } else if !seen.insert(group.clone()) {
            add(errors, &field, format!("{group:?} is mapped twice"));
        } else if m.role == Role::Owner && actor.require(Permission::AdminsManage).is_err() {
            add(
                errors,
                &format!("role_mappings[{i}].role"),
                "only an owner may map a group to the owner role".into(),
            );
        } else {
            mappings.push(RoleMapping {
                group,
                role: m.role,
            });
        }
    }
    if mappings.len() > MAX_MAPPINGS {
        add(
            errors,
            "role_mappings",
            format!("at most {MAX_MAPPINGS} mappings"),
        );
    }
    Ok(Basics {
        name,
        slug,
        kind,
        domains: domains.into_iter().collect(),
        mappings,
    })
}

/// Checks an OIDC connection's settings and the client secret (required
/// unless `has_stored_secret`); the secret is `None` when kept.
pub(super) fn check_oidc(
    input: &SsoConnectionInput,
    has_stored_secret: bool,
    errors: &mut Vec<FieldError>,
) -> (OidcSettings, Option<String>) {
    let o = &input.oidc;
    let issuer = o.issuer.trim().to_owned();
    match url::Url::parse(&issuer) {
        Ok(u)
            if matches!(u.scheme(), "https" | "http")
                && u.query().is_none()
                && u.fragment().is_none() => {}
        _ => add(
            errors,
            "issuer",
            "enter the issuer URL, like https://login.example.com".into(),
        ),
    }
    let client_id = o.client_id.trim().to_owned();
    if client_id.is_empty() || client_id.len() > 255 {
        add(
            errors,
            "client_id",
            "enter the client id the IdP gave Portcullis".into(),
        );
    }
    let mut client_secret = None;
    let secret = input.client_secret.trim();
    if secret.len() > 1024 {
        add(
            errors,
            "client_secret",
            "use at most 1024 characters".into(),
        );
    } else if !secret.is_empty() {
        client_secret = Some(secret.to_owned());
    } else if !has_stored_secret {
        add(
            errors,
            "client_secret",
            "enter the client secret the IdP gave Portcullis".into(),
        );
    }
    let scopes = if o.scopes.trim().is_empty() {
        "openid email profile".to_owned()
    } else {
        o.scopes.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    if !scopes.split(' ').any(|s| s == "openid") {
        add(errors, "scopes", "the scopes must include openid".into());
    }
    if scopes.len() > 500 || !scopes.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        add(
            errors,
            "scopes",
            "use scope names separated by spaces".into(),
        );
    }
    let claim = |errors: &mut Vec<FieldError>, field: &str, value: &str, default: &str| {
        let v = value.trim();
        let v = if v.is_empty() { default } else { v };
        if v.len() > 100 || !v.chars().all(|c| c.is_ascii_graphic()) {
            add(errors, field, "use a claim name without spaces".into());
        }
        v.to_owned()
    };
    let settings = OidcSettings {
        issuer,
        client_id,
        scopes,
        email_claim: claim(errors, "email_claim", &o.email_claim, "email"),
        name_claim: claim(errors, "name_claim", &o.name_claim, "name"),
        groups_claim: claim(errors, "groups_claim", &o.groups_claim, "groups"),
    };
    (settings, client_secret)
}

/// A SAML connection's settings from the form and the IdP metadata `xml`
/// (pasted, fetched from `metadata_url` or kept), which must parse.
pub(super) fn check_saml(
    input: &SsoConnectionInput,
    metadata_url: String,
    xml: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> SamlSettings {
    let s = &input.saml;
    let mut idp_entity_id = String::new();
    match xml {
        None => add(
            errors,
            "idp_metadata_xml",
            "paste the IdP's metadata XML or give its metadata URL".into(),
        ),
        Some(x) => match saml::IdpMetadata::parse(x) {
            Ok(m) => idp_entity_id = m.entity_id.clone(),
            Err(message) => {
                let field = if input.idp_metadata_xml.trim().is_empty() && !metadata_url.is_empty()
                {
                    "metadata_url"
                } else {
                    "idp_metadata_xml"
                };
                add(errors, field, message)
            }
        },
    }
    let attr = |v: &str, default: &str| {
        let v = v.trim();
        if v.is_empty() {
            default.to_owned()
        } else {
            v.chars().take(256).collect()
        }
    };
    SamlSettings {
        metadata_url,
        idp_entity_id,
        email_attribute: attr(&s.email_attribute, "email"),
        name_attribute: attr(&s.name_attribute, "name"),
        groups_attribute: attr(&s.groups_attribute, "groups"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only local paths survive as the place to go after sign-in.
    #[test]
    fn sso_safe_next_only_local_paths() {
        assert_eq!(safe_next("/catalog/servers?x=1"), "/catalog/servers?x=1");
        for bad in [
            "https://evil.test/",
            "//evil.test",
            "/\\evil.test",
            "javascript:alert(1)",
            "",
            "/a\r\nb",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }

    /// Stored purposes and role sources decode strictly.
    #[test]
    fn sso_stored_enums_decode_strictly() {
        for p in [Purpose::SignIn, Purpose::Test, Purpose::OAuth] {
            assert_eq!(p.as_str().parse::<Purpose>(), Ok(p));
        }
        assert!("login".parse::<Purpose>().is_err());
        assert_eq!("sso".parse::<RoleSource>(), Ok(RoleSource::Sso));
        assert_eq!("manual".parse::<RoleSource>(), Ok(RoleSource::Manual));
        assert!("scim".parse::<RoleSource>().is_err());
    }
}
