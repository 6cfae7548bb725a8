//! SSO: console sign-in through the company's identity provider, over OIDC
//! ([`oidc`]) or SAML ([`saml`]).
//!
//! A connection serves a list of email domains; the sign-in page asks for
//! the email and sends the admin to the connection of its domain. What the
//! IdP asserts (subject, email, name, groups) goes through one admission
//! step for both protocols ([`SsoService::evaluate`]):
//! - **Who it is.** The subject is looked up in `sso_identities`; else, when
//!   the connection names a SCIM directory, the directory user whose
//!   `externalId` is the subject; else a console user with the same
//!   **verified** email. Never by display name. An email outside the
//!   connection's domains links nothing, so one tenant's IdP cannot speak for
//!   another's people.
//! - **Which role.** A role given by an owner (`role_source = 'manual'`)
//!   stays. Otherwise the role is the highest one the connection's group
//!   mappings give for the IdP's groups and, when the person is provisioned
//!   in the connection's directory, their SCIM groups. No role → refused.
//!   People deactivated in that directory are refused.
//! - First sign-in creates the console user (`role_source = 'sso'`) when a
//!   mapping gives a role. A role that changed ends the user's other
//!   sessions.
//!
//! Invariants:
//! - Every sign-in in flight is a single-use row in `sso_requests`, bound to
//!   the browser that started it by a cookie (only its hash is stored), and
//!   expires after [`REQUEST_TTL_MINUTES`]. OIDC `state` and the SAML
//!   AuthnRequest ID are stored hashed; the PKCE verifier is sealed.
//! - Every sign-in, refusal and connection change is audited; no token,
//!   assertion or secret reaches the audit log.
//! - The OIDC client secret is sealed with the instance secret key.

pub mod oidc;
pub mod saml;

use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::console::{normalize_email, ConsoleService, NewSession};
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::{exec, fetch_all, fetch_optional, scalar, Core};
use chrono::{DateTime, Duration, Utc};
use portcullis_types::{
    FieldError, Me, OidcSettings, Outcome, Role, RoleMapping, SamlSettings, SsoConnectionDetail,
    SsoConnectionInput, SsoConnectionSummary, SsoKind, SsoTestResult, SsoView,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

/// How long a sign-in may take from the sign-in page back to the console.
pub const REQUEST_TTL_MINUTES: i64 = 10;
/// Most email domains one connection may serve.
pub const MAX_DOMAINS: usize = 50;
/// Most group → role mappings on one connection.
pub const MAX_MAPPINGS: usize = 100;
/// Most groups taken from one assertion (more are ignored and audited).
pub const MAX_GROUPS: usize = 500;
/// Refused SSO answers per source IP within the console's throttling
/// window before further ones are turned away unread (429) — so nobody can
/// fill the audit log with garbage callbacks.
pub const MAX_REFUSALS_PER_IP: i64 = 30;

pub use portcullis_types::SsoRefusal as Refusal;
pub use saml::AcsOutcome;

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

/// A connection as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct ConnRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub config: String,
    pub client_secret: Option<String>,
    pub idp_metadata: Option<String>,
    pub directory_id: Option<String>,
    pub allow_idp_initiated: bool,
    pub jit_people: bool,
    pub updated_at: DateTime<Utc>,
}

impl ConnRow {
    pub(crate) fn kind(&self) -> Result<SsoKind> {
        self.kind.parse().map_err(Error::Internal)
    }
    pub(crate) fn oidc(&self) -> Result<OidcSettings> {
        serde_json::from_str(&self.config).map_err(|e| Error::Internal(format!("oidc config: {e}")))
    }
    pub(crate) fn saml(&self) -> Result<SamlSettings> {
        serde_json::from_str(&self.config).map_err(|e| Error::Internal(format!("saml config: {e}")))
    }
}

const SELECT_CONN: &str =
    "SELECT id, slug, name, kind, enabled, config, client_secret, idp_metadata, \
     directory_id, allow_idp_initiated, jit_people, updated_at FROM sso_connections";

/// The sealed-secret purpose of a connection's client secret.
fn secret_purpose(id: &str) -> String {
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
        connection_id: String,
        test_id: String,
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

/// A row of `sso_requests` taken for use.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct RequestRow {
    pub purpose: String,
    pub browser_hash: String,
    pub nonce: Option<String>,
    pub pkce_verifier: Option<String>,
    pub next_path: String,
    pub started_by: Option<String>,
    pub outcome: Option<String>,
}

/// The admission decision for an assertion (no writes).
#[derive(Clone, Debug)]
struct Evaluation {
    /// Console user it resolves to, and how.
    user: Option<(String, String, Role, String, String)>, // id, email, role, role_source, status
    linked_by: &'static str,
    groups: Vec<String>,
    mapped_role: Option<Role>,
    role: std::result::Result<Role, Refusal>,
    email: Option<String>,
}

/// SSO connections and sign-in.
#[derive(Clone)]
pub struct SsoService {
    pub(crate) core: Arc<Core>,
    pub(crate) console: ConsoleService,
    pub(crate) guard: Arc<portcullis_discovery::Guard>,
    pub(crate) oidc_http: oidc::GuardedHttp,
    pub(crate) oidc: Arc<oidc::ProviderCache>,
}

impl SsoService {
    pub(crate) fn new(
        core: Arc<Core>,
        console: ConsoleService,
        guard: Arc<portcullis_discovery::Guard>,
    ) -> Result<Self> {
        let oidc_http = oidc::http_client(
            &core.settings.fetch_allowed_hosts,
            &core.settings.fetch_extra_roots_pem,
        )?;
        Ok(Self {
            core,
            console,
            guard,
            oidc_http,
            oidc: Arc::new(oidc::ProviderCache::default()),
        })
    }

    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    pub(crate) async fn conn_by_slug(&self, slug: &str) -> Result<ConnRow> {
        fetch_optional!(
            self.core.db.exec(),
            ConnRow,
            &format!("{SELECT_CONN} WHERE slug = $1"),
            slug
        )?
        .ok_or(Error::NotFound("SSO connection"))
    }

    /// The connection `slug` of protocol `kind` (else not found).
    pub(crate) async fn conn_of_kind(&self, slug: &str, kind: SsoKind) -> Result<ConnRow> {
        let conn = self.conn_by_slug(slug).await?;
        if conn.kind != kind.as_str() {
            return Err(Error::NotFound("SSO connection"));
        }
        Ok(conn)
    }

    async fn conn_by_id(&self, id: &str) -> Result<ConnRow> {
        fetch_optional!(
            self.core.db.exec(),
            ConnRow,
            &format!("{SELECT_CONN} WHERE id = $1"),
            id
        )?
        .ok_or(Error::NotFound("SSO connection"))
    }

    pub(crate) fn client_secret(&self, conn: &ConnRow) -> Result<String> {
        let sealed = conn
            .client_secret
            .as_deref()
            .ok_or_else(|| Error::Internal("connection has no client secret".into()))?;
        let plain = self
            .core
            .settings
            .secrets
            .open(&secret_purpose(&conn.id), sealed)?;
        String::from_utf8(plain).map_err(|_| Error::Internal("client secret is not UTF-8".into()))
    }

    // ---- settings page -------------------------------------------------

    /// Connections and linkable directories. **Permission:** `ConsoleRead`.
    pub async fn view(&self, actor: &Actor) -> Result<SsoView> {
        actor.require(Permission::ConsoleRead)?;
        let rows = fetch_all!(
            self.core.db.exec(),
            ConnRow,
            &format!("{SELECT_CONN} ORDER BY name, id")
        )?;
        let mut connections = Vec::with_capacity(rows.len());
        for r in &rows {
            connections.push(self.summary(r).await?);
        }
        let directories = fetch_all!(
            self.core.db.exec(),
            (String, String),
            "SELECT id, name FROM directories ORDER BY name_lower"
        )?;
        Ok(SsoView {
            connections,
            directories,
            can_manage: actor.require(Permission::SsoManage).is_ok(),
            can_map_owner: actor.require(Permission::AdminsManage).is_ok(),
        })
    }

    async fn summary(&self, r: &ConnRow) -> Result<SsoConnectionSummary> {
        let domains = fetch_all!(
            self.core.db.exec(),
            (String,),
            "SELECT domain FROM sso_domains WHERE connection_id = $1 ORDER BY domain",
            &r.id
        )?
        .into_iter()
        .map(|d| d.0)
        .collect();
        let mappings = scalar!(
            self.core.db.exec(),
            i64,
            "SELECT COUNT(*) FROM sso_role_mappings WHERE connection_id = $1",
            &r.id
        )?;
        let (identities, last) = fetch_optional!(
            self.core.db.exec(),
            (i64, Option<DateTime<Utc>>),
            "SELECT COUNT(*), MAX(last_signin_at) FROM sso_identities WHERE connection_id = $1",
            &r.id
        )?
        .unwrap_or((0, None));
        Ok(SsoConnectionSummary {
            id: r.id.clone(),
            slug: r.slug.clone(),
            name: r.name.clone(),
            kind: r.kind()?,
            enabled: r.enabled,
            domains,
            mappings: usize::try_from(mappings).unwrap_or(0),
            identities,
            last_signin_at: last,
            updated_at: r.updated_at,
        })
    }

    /// One connection with the URLs to give the IdP. **Permission:** `ConsoleRead`.
    pub async fn get(
        &self,
        actor: &Actor,
        id: &str,
        public_url: &str,
    ) -> Result<SsoConnectionDetail> {
        actor.require(Permission::ConsoleRead)?;
        let r = self.conn_by_id(id).await?;
        let summary = self.summary(&r).await?;
        let kind = r.kind()?;
        let role_mappings = self.mappings(&r.id).await?;
        let directory_name = match &r.directory_id {
            Some(d) => fetch_optional!(
                self.core.db.exec(),
                (String,),
                "SELECT name FROM directories WHERE id = $1",
                d
            )?
            .map(|n| n.0),
            None => None,
        };
        let (oidc, saml) = match kind {
            SsoKind::Oidc => (r.oidc()?, SamlSettings::default()),
            SsoKind::Saml => (OidcSettings::default(), r.saml()?),
        };
        let idp_certificates = match (kind, &r.idp_metadata) {
            (SsoKind::Saml, Some(xml)) => saml::IdpMetadata::parse(xml)
                .map(|m| m.certificate_labels())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Ok(SsoConnectionDetail {
            oidc,
            has_client_secret: r.client_secret.is_some(),
            saml,
            allow_idp_initiated: r.allow_idp_initiated,
            jit_people: r.jit_people,
            directory_id: r.directory_id.clone(),
            directory_name,
            role_mappings,
            redirect_uri: redirect_uri(public_url, &r.slug),
            sp_entity_id: sp_metadata_url(public_url, &r.slug),
            acs_url: acs_url(public_url, &r.slug),
            sp_metadata_url: sp_metadata_url(public_url, &r.slug),
            idp_certificates,
            summary,
        })
    }

    async fn mappings(&self, id: &str) -> Result<Vec<RoleMapping>> {
        fetch_all!(
            self.core.db.exec(),
            (String, String),
            "SELECT idp_group, role FROM sso_role_mappings WHERE connection_id = $1 ORDER BY idp_group",
            id
        )?
        .into_iter()
        .map(|(group, role)| {
            Ok(RoleMapping {
                group,
                role: role.parse().map_err(Error::Internal)?,
            })
        })
        .collect()
    }

    /// Creates a connection. OIDC: discovery runs first and must name the
    /// same issuer. SAML: the IdP metadata must parse and carry a signing
    /// certificate. Audited as `sso.connection.created`.
    /// **Permission:** `SsoManage` (mapping a group to owner: `AdminsManage`).
    pub async fn create(&self, actor: &Actor, input: &SsoConnectionInput) -> Result<String> {
        actor.require(Permission::SsoManage)?;
        let id = new_id("sso");
        let checked = self.check(actor, input, None).await?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let sealed = match &checked.client_secret {
            Some(s) => Some(
                self.core
                    .settings
                    .secrets
                    .seal(&secret_purpose(&id), s.as_bytes())?,
            ),
            None => None,
        };
        exec!(
            tx.exec(),
            "INSERT INTO sso_connections (id, slug, name, kind, enabled, config, client_secret, idp_metadata, \
             directory_id, allow_idp_initiated, created_at, updated_at, created_by, jit_people) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13)",
            &id,
            &checked.slug,
            &checked.name,
            checked.kind.as_str(),
            input.enabled,
            &checked.config,
            sealed,
            &checked.idp_metadata,
            &input.directory_id,
            checked.allow_idp_initiated,
            now,
            &actor.display,
            input.jit_people
        )?;
        Self::write_children(&mut tx, &id, &checked).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("sso.connection.created")
                .target(Target::new("sso_connection", &id, &checked.name))
                .details(checked.audit_details(input.enabled, input.jit_people)),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Changes a connection; an empty client secret keeps the stored one.
    /// Audited as `sso.connection.updated`. **Permission:** as [`Self::create`].
    pub async fn update(&self, actor: &Actor, id: &str, input: &SsoConnectionInput) -> Result<()> {
        actor.require(Permission::SsoManage)?;
        let existing = self.conn_by_id(id).await?;
        let checked = self.check(actor, input, Some(&existing)).await?;
        let now = self.now();
        let sealed = match &checked.client_secret {
            Some(s) => Some(
                self.core
                    .settings
                    .secrets
                    .seal(&secret_purpose(id), s.as_bytes())?,
            ),
            None => existing.client_secret.clone(),
        };
        let mut tx = self.core.db.begin().await?;
        exec!(
            tx.exec(),
            "UPDATE sso_connections SET slug = $2, name = $3, enabled = $4, config = $5, client_secret = $6, \
             idp_metadata = $7, directory_id = $8, allow_idp_initiated = $9, updated_at = $10, jit_people = $11 WHERE id = $1",
            id,
            &checked.slug,
            &checked.name,
            input.enabled,
            &checked.config,
            sealed,
            &checked.idp_metadata,
            &input.directory_id,
            checked.allow_idp_initiated,
            now,
            input.jit_people
        )?;
        exec!(
            tx.exec(),
            "DELETE FROM sso_domains WHERE connection_id = $1",
            id
        )?;
        exec!(
            tx.exec(),
            "DELETE FROM sso_role_mappings WHERE connection_id = $1",
            id
        )?;
        Self::write_children(&mut tx, id, &checked).await?;
        let mut details = checked.audit_details(input.enabled, input.jit_people);
        details["client_secret_changed"] = json!(checked.client_secret.is_some());
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("sso.connection.updated")
                .target(Target::new("sso_connection", id, &checked.name))
                .details(details),
        )
        .await?;
        tx.commit().await?;
        self.oidc.forget(id);
        Ok(())
    }

    /// Deletes a connection, its domains, mappings and identity links (the
    /// console users stay). Audited as `sso.connection.deleted`.
    /// **Permission:** `SsoManage`.
    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<()> {
        actor.require(Permission::SsoManage)?;
        let existing = self.conn_by_id(id).await?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        exec!(tx.exec(), "DELETE FROM sso_connections WHERE id = $1", id)?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("sso.connection.deleted")
                .target(Target::new("sso_connection", id, &existing.name))
                .details(json!({ "slug": existing.slug, "kind": existing.kind })),
        )
        .await?;
        tx.commit().await?;
        self.oidc.forget(id);
        Ok(())
    }

    async fn write_children(tx: &mut Tx, id: &str, checked: &Checked) -> Result<()> {
        for d in &checked.domains {
            let taken = fetch_optional!(
                tx.exec(),
                (String,),
                "SELECT c.name FROM sso_domains d JOIN sso_connections c ON c.id = d.connection_id \
                 WHERE d.domain = $1 AND d.connection_id <> $2",
                d,
                id
            )?;
            if let Some((other,)) = taken {
                return Err(Error::Conflict {
                    field: "domains".into(),
                    message: format!("{d} is already served by the connection “{other}”"),
                });
            }
            exec!(
                tx.exec(),
                "INSERT INTO sso_domains (domain, connection_id) VALUES ($1, $2)",
                d,
                id
            )?;
        }
        for m in &checked.mappings {
            exec!(
                tx.exec(),
                "INSERT INTO sso_role_mappings (connection_id, idp_group, role) VALUES ($1, $2, $3)",
                id,
                &m.group,
                m.role.as_str()
            )?;
        }
        Ok(())
    }

    /// Validates the form; every problem names its field.
    async fn check(
        &self,
        actor: &Actor,
        input: &SsoConnectionInput,
        existing: Option<&ConnRow>,
    ) -> Result<Checked> {
        let mut errors: Vec<FieldError> = Vec::new();
        fn add(errors: &mut Vec<FieldError>, field: &str, message: String) {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            });
        }
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            add(
                &mut errors,
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
            add(&mut errors,
                "slug",
                "use 1–63 lowercase letters, digits and hyphens (it appears in the connection's URLs)"
                    .into(),
            );
        }
        let kind = match (existing, input.kind) {
            (Some(e), Some(k)) if e.kind()? != k => {
                add(
                    &mut errors,
                    "kind",
                    "the protocol of a connection cannot change; create a new connection".into(),
                );
                k
            }
            (Some(e), _) => e.kind()?,
            (None, Some(k)) => k,
            (None, None) => {
                add(&mut errors, "kind", "choose OpenID Connect or SAML".into());
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
                    &mut errors,
                    "domains",
                    format!("{raw:?} is not an email domain like example.com"),
                );
            } else {
                domains.insert(d);
            }
        }
        if domains.len() > MAX_DOMAINS {
            add(
                &mut errors,
                "domains",
                format!("at most {MAX_DOMAINS} domains"),
            );
        }
        if input.enabled && domains.is_empty() {
            add(
                &mut errors,
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
                    &mut errors,
                    &field,
                    "use at most 256 characters, no control characters".into(),
                );
            } else if !seen.insert(group.clone()) {
                add(&mut errors, &field, format!("{group:?} is mapped twice"));
            } else if m.role == Role::Owner && actor.require(Permission::AdminsManage).is_err() {
                add(
                    &mut errors,
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
                &mut errors,
                "role_mappings",
                format!("at most {MAX_MAPPINGS} mappings"),
            );
        }
        if let Some(d) = &input.directory_id {
            let found = scalar!(
                self.core.db.exec(),
                i64,
                "SELECT COUNT(*) FROM directories WHERE id = $1",
                d
            )?;
            if found == 0 {
                add(
                    &mut errors,
                    "directory_id",
                    "this directory does not exist".into(),
                );
            }
        }
        let mut client_secret = None;
        let mut idp_metadata = None;
        let config: String;
        let mut allow_idp_initiated = false;
        match kind {
            SsoKind::Oidc => {
                let o = &input.oidc;
                let issuer = o.issuer.trim().to_owned();
                match url::Url::parse(&issuer) {
                    Ok(u)
                        if matches!(u.scheme(), "https" | "http")
                            && u.query().is_none()
                            && u.fragment().is_none() => {}
                    _ => add(
                        &mut errors,
                        "issuer",
                        "enter the issuer URL, like https://login.example.com".into(),
                    ),
                }
                let client_id = o.client_id.trim().to_owned();
                if client_id.is_empty() || client_id.len() > 255 {
                    add(
                        &mut errors,
                        "client_id",
                        "enter the client id the IdP gave Portcullis".into(),
                    );
                }
                let secret = input.client_secret.trim();
                if secret.len() > 1024 {
                    add(
                        &mut errors,
                        "client_secret",
                        "use at most 1024 characters".into(),
                    );
                } else if !secret.is_empty() {
                    client_secret = Some(secret.to_owned());
                } else if existing.is_none_or(|e| e.client_secret.is_none()) {
                    add(
                        &mut errors,
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
                    add(
                        &mut errors,
                        "scopes",
                        "the scopes must include openid".into(),
                    );
                }
                if scopes.len() > 500 || !scopes.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
                    add(
                        &mut errors,
                        "scopes",
                        "use scope names separated by spaces".into(),
                    );
                }
                let claim =
                    |errors: &mut Vec<FieldError>, field: &str, value: &str, default: &str| {
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
                    email_claim: claim(&mut errors, "email_claim", &o.email_claim, "email"),
                    name_claim: claim(&mut errors, "name_claim", &o.name_claim, "name"),
                    groups_claim: claim(&mut errors, "groups_claim", &o.groups_claim, "groups"),
                };
                config =
                    serde_json::to_string(&settings).map_err(|e| Error::Internal(e.to_string()))?;
                if errors.is_empty() {
                    // Discovery must work now, through the SSRF guard, and
                    // name the issuer as entered.
                    if let Err(message) = oidc::discover(&self.oidc_http, &settings.issuer).await {
                        add(&mut errors, "issuer", message);
                    }
                }
            }
            SsoKind::Saml => {
                let s = &input.saml;
                allow_idp_initiated = input.allow_idp_initiated;
                let metadata_url = s.metadata_url.trim().to_owned();
                let xml = if !input.idp_metadata_xml.trim().is_empty() {
                    Some(input.idp_metadata_xml.trim().to_owned())
                } else if !metadata_url.is_empty() {
                    match saml::fetch_metadata(&self.guard, &metadata_url).await {
                        Ok(x) => Some(x),
                        Err(message) => {
                            add(&mut errors, "metadata_url", message);
                            None
                        }
                    }
                } else {
                    existing.and_then(|e| e.idp_metadata.clone())
                };
                let mut idp_entity_id = String::new();
                match &xml {
                    None => add(
                        &mut errors,
                        "idp_metadata_xml",
                        "paste the IdP's metadata XML or give its metadata URL".into(),
                    ),
                    Some(x) => match saml::IdpMetadata::parse(x) {
                        Ok(m) => idp_entity_id = m.entity_id.clone(),
                        Err(message) => {
                            let field = if input.idp_metadata_xml.trim().is_empty()
                                && !metadata_url.is_empty()
                            {
                                "metadata_url"
                            } else {
                                "idp_metadata_xml"
                            };
                            add(&mut errors, field, message)
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
                let settings = SamlSettings {
                    metadata_url,
                    idp_entity_id,
                    email_attribute: attr(&s.email_attribute, "email"),
                    name_attribute: attr(&s.name_attribute, "name"),
                    groups_attribute: attr(&s.groups_attribute, "groups"),
                };
                config =
                    serde_json::to_string(&settings).map_err(|e| Error::Internal(e.to_string()))?;
                idp_metadata = xml;
            }
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        Ok(Checked {
            name,
            slug,
            kind,
            domains: domains.into_iter().collect(),
            mappings,
            config,
            client_secret,
            idp_metadata,
            allow_idp_initiated,
        })
    }

    // ---- sign-in -------------------------------------------------------

    /// Whether any connection is enabled (the sign-in page then asks for
    /// the email first). No permission: the sign-in page asks.
    pub async fn any_enabled(&self) -> Result<bool> {
        Ok(scalar!(
            self.core.db.exec(),
            i64,
            "SELECT COUNT(*) FROM sso_connections WHERE enabled = $1",
            true
        )? > 0)
    }

    /// The enabled connection serving `email`'s domain (slug and kind).
    pub async fn route(&self, email: &str) -> Result<Option<(String, SsoKind)>> {
        let email = normalize_email("email", email)?;
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        let found = fetch_optional!(
            self.core.db.exec(),
            (String, String),
            "SELECT c.slug, c.kind FROM sso_domains d JOIN sso_connections c ON c.id = d.connection_id \
             WHERE d.domain = $1 AND c.enabled = $2",
            domain,
            true
        )?;
        found
            .map(|(slug, kind)| Ok((slug, kind.parse().map_err(Error::Internal)?)))
            .transpose()
    }

    /// Starts a sign-in (or, with `tester`, a test run by that admin) at the
    /// connection `slug`. `browser` is the binding cookie the browser
    /// already holds, if any.
    pub async fn start(
        &self,
        slug: &str,
        next: &str,
        tester: Option<&Actor>,
        browser: Option<&str>,
        public_url: &str,
    ) -> Result<Started> {
        let purpose = if tester.is_some() { "test" } else { "signin" };
        self.start_as(slug, purpose, next, tester, browser, public_url)
            .await
    }

    /// Starts an employee's sign-in for an MCP client (the OAuth
    /// authorization step): the same IdP round trip, admitted as a person of
    /// the connection's SCIM directory, never as a console user.
    pub async fn start_for_person(
        &self,
        slug: &str,
        next: &str,
        browser: Option<&str>,
        public_url: &str,
    ) -> Result<Started> {
        self.start_as(slug, "oauth", next, None, browser, public_url)
            .await
    }

    async fn start_as(
        &self,
        slug: &str,
        purpose: &str,
        next: &str,
        tester: Option<&Actor>,
        browser: Option<&str>,
        public_url: &str,
    ) -> Result<Started> {
        let conn = self.conn_by_slug(slug).await?;
        if let Some(t) = tester {
            t.require(Permission::SsoManage)?;
        } else if !conn.enabled {
            return Err(Error::NotFound("SSO connection"));
        }
        let browser = match browser {
            Some(b) if b.len() >= 40 && b.len() <= 64 => b.to_owned(),
            _ => new_secret(),
        };
        let next = safe_next(next);
        let redirect = match conn.kind()? {
            SsoKind::Oidc => {
                self.start_oidc(&conn, purpose, &next, tester, &browser, public_url)
                    .await?
            }
            SsoKind::Saml => {
                self.start_saml(&conn, purpose, &next, tester, &browser, public_url)
                    .await?
            }
        };
        Ok(Started { redirect, browser })
    }

    /// Stores a sign-in in flight.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_request(
        &self,
        conn: &ConnRow,
        key: &str,
        purpose: &str,
        browser: &str,
        nonce: Option<&str>,
        pkce_verifier: Option<&str>,
        next: &str,
        tester: Option<&Actor>,
    ) -> Result<()> {
        let now = self.now();
        let sealed = match pkce_verifier {
            Some(v) => Some(self.core.settings.secrets.seal("sso_pkce", v.as_bytes())?),
            None => None,
        };
        exec!(
            self.core.db.exec(),
            "INSERT INTO sso_requests (id_hash, connection_id, purpose, browser_hash, nonce, pkce_verifier, \
             next_path, started_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            hash_secret(key),
            &conn.id,
            purpose,
            hash_secret(browser),
            nonce,
            sealed,
            next,
            tester.and_then(|t| t.id.clone()),
            now,
            now + Duration::minutes(REQUEST_TTL_MINUTES)
        )?;
        Ok(())
    }

    /// Takes a sign-in in flight for use, once: it must exist for this
    /// connection, be unused and unexpired, and belong to this browser.
    /// The row is used up whatever the outcome.
    pub(crate) async fn take_request(
        &self,
        conn: &ConnRow,
        key: &str,
        browser: Option<&str>,
        need_outcome: bool,
    ) -> Result<std::result::Result<RequestRow, &'static str>> {
        let now = self.now();
        let row = fetch_optional!(
            self.core.db.exec(),
            RequestRow,
            "UPDATE sso_requests SET used_at = $3 \
             WHERE id_hash = $1 AND connection_id = $2 AND used_at IS NULL AND expires_at > $3 \
             RETURNING purpose, browser_hash, nonce, pkce_verifier, next_path, started_by, outcome",
            hash_secret(key),
            &conn.id,
            now
        )?;
        let Some(row) = row else {
            return Ok(Err("unknown, used or expired sign-in request"));
        };
        if need_outcome != row.outcome.is_some() {
            return Ok(Err("sign-in request in the wrong step"));
        }
        match browser {
            Some(b) if hash_secret(b) == row.browser_hash => Ok(Ok(row)),
            Some(_) => Ok(Err("sign-in request started in another browser")),
            None => Ok(Err("no sign-in cookie in this browser")),
        }
    }

    pub(crate) fn open_verifier(&self, row: &RequestRow) -> Result<Option<String>> {
        row.pkce_verifier
            .as_deref()
            .map(|s| {
                let plain = self.core.settings.secrets.open("sso_pkce", s)?;
                String::from_utf8(plain).map_err(|_| Error::Internal("pkce verifier".into()))
            })
            .transpose()
    }

    /// Refuses to look at SSO answers from an IP that sent too many bad ones.
    pub(crate) async fn check_throttle(&self, meta: &RequestMeta) -> Result<()> {
        let Some(ip) = &meta.source_ip else {
            return Ok(());
        };
        let since = self.now() - Duration::minutes(crate::console::THROTTLE_WINDOW_MINUTES);
        if self
            .console
            .count_failures(&format!("sso-ip:{ip}"), since)
            .await?
            >= MAX_REFUSALS_PER_IP
        {
            return Err(Error::RateLimited {
                retry_after_secs: (crate::console::THROTTLE_WINDOW_MINUTES * 60) as u64,
            });
        }
        Ok(())
    }

    /// Counts a refusal against its source IP (in the refusal's transaction).
    async fn note_refusal(tx: &mut Tx, meta: &RequestMeta, now: DateTime<Utc>) -> Result<()> {
        if let Some(ip) = &meta.source_ip {
            exec!(
                tx.exec(),
                "INSERT INTO signin_failures (key, at) VALUES ($1, $2)",
                format!("sso-ip:{ip}"),
                now
            )?;
        }
        Ok(())
    }

    /// Audits a sign-in refused before anything was asserted (bad state,
    /// IdP error, failed verification). `detail` is for the audit log only.
    /// A test run ends with the reason shown to the admin who ran it.
    pub(crate) async fn refuse_early(
        &self,
        conn: &ConnRow,
        request: Option<&RequestRow>,
        meta: &RequestMeta,
        refusal: Refusal,
        detail: &str,
    ) -> Result<Finished> {
        if let Some(r) = request.filter(|r| r.purpose == "test") {
            let failed = Asserted::default();
            let eval = Evaluation {
                user: None,
                linked_by: "none",
                groups: Vec::new(),
                mapped_role: None,
                role: Err(refusal),
                email: None,
            };
            return self
                .record_test(conn, r, &failed, &eval, meta.clone(), Some(detail))
                .await;
        }
        let now = self.now();
        let person = request.is_some_and(|r| r.purpose == "oauth");
        let mut tx = self.core.db.begin().await?;
        audit::append(
            &mut tx,
            now,
            &Actor::anonymous(meta.clone()),
            NewEvent::success(if person {
                "oauth.signin.refused"
            } else {
                "console.signin.refused"
            })
            .outcome(Outcome::Denied)
            .target(Target::new("sso_connection", &conn.id, &conn.name))
            .details(json!({
                "method": conn.kind,
                "reason": refusal.code(),
                "detail": detail.chars().take(500).collect::<String>(),
            })),
        )
        .await?;
        Self::note_refusal(&mut tx, meta, now).await?;
        tx.commit().await?;
        Ok(if person {
            Finished::PersonRefused(refusal)
        } else {
            Finished::Refused(refusal)
        })
    }

    /// The email domains connection `id` serves.
    async fn domains(&self, id: &str) -> Result<Vec<String>> {
        Ok(fetch_all!(
            self.core.db.exec(),
            (String,),
            "SELECT domain FROM sso_domains WHERE connection_id = $1",
            id
        )?
        .into_iter()
        .map(|d| d.0)
        .collect())
    }

    /// Decides who the asserted person is and which role they get (no writes).
    async fn evaluate(&self, conn: &ConnRow, a: &Asserted) -> Result<Evaluation> {
        let domains = self.domains(&conn.id).await?;
        let email = a
            .email
            .as_deref()
            .and_then(|e| normalize_email("email", e).ok());
        let in_domain = email.as_deref().is_some_and(|e| {
            e.rsplit_once('@')
                .is_some_and(|(_, d)| domains.iter().any(|x| x == d))
        });
        #[derive(sqlx::FromRow)]
        struct U {
            id: String,
            email: String,
            role: String,
            role_source: String,
            status: String,
        }
        const SELECT_U: &str =
            "SELECT u.id, u.email, u.role, u.role_source, u.status FROM console_users u";
        // 1. A subject seen before.
        let mut linked_by = "identity";
        let mut user = fetch_optional!(
            self.core.db.exec(),
            U,
            &format!("{SELECT_U} JOIN sso_identities i ON i.user_id = u.id WHERE i.connection_id = $1 AND i.subject = $2"),
            &conn.id,
            &a.subject
        )?;
        // The person in the connection's directory: by externalId, else by
        // email (userName or primary email).
        #[derive(sqlx::FromRow)]
        struct D {
            id: String,
            email: Option<String>,
            user_name_lower: String,
            active: bool,
            deleted: bool,
        }
        let mut dir_user: Option<D> = None;
        if let Some(dir) = &conn.directory_id {
            dir_user = fetch_optional!(
                self.core.db.exec(),
                D,
                "SELECT id, email, user_name_lower, active, deleted_at IS NOT NULL AS deleted FROM directory_users \
                 WHERE directory_id = $1 AND external_id = $2 ORDER BY deleted_at IS NOT NULL, created_at LIMIT 1",
                dir,
                &a.subject
            )?;
            if dir_user.is_none() {
                if let Some(e) = email.as_deref().filter(|_| in_domain && a.email_verified) {
                    dir_user = fetch_optional!(
                        self.core.db.exec(),
                        D,
                        "SELECT id, email, user_name_lower, active, deleted_at IS NOT NULL AS deleted FROM directory_users \
                         WHERE directory_id = $1 AND (user_name_lower = $2 OR lower(email) = $2) \
                         ORDER BY deleted_at IS NOT NULL, created_at LIMIT 1",
                        dir,
                        e
                    )?;
                }
            }
        }
        // 2. By SCIM externalId: the directory user's own email.
        if user.is_none() {
            if let Some(d) = &dir_user {
                let by = d.email.clone().unwrap_or_else(|| d.user_name_lower.clone());
                if let Ok(e) = normalize_email("email", &by) {
                    user = fetch_optional!(
                        self.core.db.exec(),
                        U,
                        &format!("{SELECT_U} WHERE u.email = $1"),
                        &e
                    )?;
                    linked_by = "scim_external_id";
                }
            }
        }
        // 3. By verified email in one of the connection's domains.
        if user.is_none() && in_domain && a.email_verified {
            if let Some(e) = &email {
                user = fetch_optional!(
                    self.core.db.exec(),
                    U,
                    &format!("{SELECT_U} WHERE u.email = $1"),
                    e
                )?;
                linked_by = "verified_email";
            }
        }
        // A person provisioned by SCIM is known by the directory's email
        // (the IdP may send another address, or none).
        let (email, in_domain) = match dir_user
            .as_ref()
            .and_then(|d| d.email.clone().or_else(|| Some(d.user_name_lower.clone())))
            .and_then(|e| normalize_email("email", &e).ok())
        {
            Some(e) => {
                let ok = e
                    .rsplit_once('@')
                    .is_some_and(|(_, d)| domains.iter().any(|x| x == d));
                (Some(e), ok)
            }
            None => (email, in_domain),
        };
        let verified = a.email_verified || dir_user.is_some();
        // Groups: the IdP's and, for a provisioned person, their SCIM groups.
        let mut groups: BTreeSet<String> = a.groups.iter().take(MAX_GROUPS).cloned().collect();
        if let Some(d) = &dir_user {
            let scim = fetch_all!(
                self.core.db.exec(),
                (String,),
                "SELECT g.display_name FROM directory_group_members m \
                 JOIN directory_groups g ON g.id = m.group_id WHERE m.member_id = $1",
                &d.id
            )?;
            groups.extend(scim.into_iter().map(|g| g.0));
        }
        let mappings = self.mappings(&conn.id).await?;
        let mapped_role = mappings
            .iter()
            .filter(|m| groups.contains(&m.group))
            .map(|m| m.role)
            .max();
        let role = match &user {
            _ if dir_user.as_ref().is_some_and(|d| !d.active || d.deleted) => {
                Err(Refusal::Deprovisioned)
            }
            Some(u) if u.status == "disabled" => Err(Refusal::Disabled),
            Some(u) if u.role_source == "manual" => u.role.parse().map_err(|_| Refusal::NoRole),
            Some(_) => mapped_role.ok_or(Refusal::NoRole),
            None if email.is_none() => Err(Refusal::NoEmail),
            None if !in_domain => Err(Refusal::WrongDomain),
            None if !verified => Err(Refusal::EmailUnverified),
            None => mapped_role.ok_or(Refusal::NoRole),
        };
        let user = user.map(|u| {
            let role = u.role.parse().unwrap_or(Role::Auditor);
            (u.id, u.email, role, u.role_source, u.status)
        });
        if user.is_none() {
            linked_by = "created";
        }
        Ok(Evaluation {
            user,
            linked_by,
            groups: groups.into_iter().collect(),
            mapped_role,
            role,
            email,
        })
    }

    /// Ends a flow with what the IdP asserted: a test result, a refusal or a
    /// session.
    pub(crate) async fn finish(
        &self,
        conn: &ConnRow,
        request: &RequestRow,
        asserted: &Asserted,
        meta: RequestMeta,
    ) -> Result<Finished> {
        let eval = self.evaluate(conn, asserted).await?;
        let now = self.now();
        if request.purpose == "test" {
            return self
                .record_test(conn, request, asserted, &eval, meta, None)
                .await;
        }
        if request.purpose == "oauth" {
            return self.finish_person(conn, request, asserted, meta).await;
        }
        let mut tx = self.core.db.begin().await?;
        let (user_id, email, role) = match (&eval.role, &eval.user) {
            (Err(refusal), _) => {
                let mut event = NewEvent::success("console.signin.refused")
                    .outcome(Outcome::Denied)
                    .details(json!({
                        "method": conn.kind,
                        "connection": conn.slug,
                        "reason": refusal.code(),
                        "subject": asserted.subject,
                        "email": eval.email,
                        "groups": eval.groups,
                    }));
                if let Some((id, email, ..)) = &eval.user {
                    event = event.target(Target::new("console_user", id, email));
                } else {
                    event = event.target(Target::new("sso_connection", &conn.id, &conn.name));
                }
                Self::note_refusal(&mut tx, &meta, now).await?;
                audit::append(&mut tx, now, &Actor::anonymous(meta), event).await?;
                tx.commit().await?;
                return Ok(Finished::Refused(*refusal));
            }
            (Ok(role), Some((id, email, old_role, source, status))) => {
                let role_changed = source == "sso" && role != old_role;
                if role_changed {
                    exec!(
                        tx.exec(),
                        "UPDATE console_users SET role = $2, updated_at = $3 WHERE id = $1",
                        id,
                        role.as_str(),
                        now
                    )?;
                    // A new role: the old sessions end (W2).
                    exec!(tx.exec(), "DELETE FROM sessions WHERE user_id = $1", id)?;
                    audit::append(
                        &mut tx,
                        now,
                        &Actor::system("sso"),
                        NewEvent::success("console.user.role_changed")
                            .target(Target::new("console_user", id, email))
                            .details(json!({ "from": old_role.as_str(), "to": role.as_str(), "source": "sso", "connection": conn.slug })),
                    )
                    .await?;
                }
                if status == "invited" {
                    exec!(
                        tx.exec(),
                        "UPDATE console_users SET status = 'active', updated_at = $2 WHERE id = $1",
                        id,
                        now
                    )?;
                }
                (id.clone(), email.clone(), *role)
            }
            (Ok(role), None) => {
                let email = eval
                    .email
                    .clone()
                    .ok_or_else(|| Error::Internal("admitted without email".into()))?;
                let id = new_id("usr");
                let display: String = asserted
                    .name
                    .as_deref()
                    .unwrap_or(&email)
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(100)
                    .collect();
                exec!(
                    tx.exec(),
                    "INSERT INTO console_users (id, email, display_name, role, status, created_at, updated_at, role_source) \
                     VALUES ($1, $2, $3, $4, 'active', $5, $5, 'sso')",
                    &id,
                    &email,
                    display.trim(),
                    role.as_str(),
                    now
                )?;
                audit::append(
                    &mut tx,
                    now,
                    &Actor::system("sso"),
                    NewEvent::success("console.user.created")
                        .target(Target::new("console_user", &id, &email))
                        .details(json!({ "role": role.as_str(), "source": "sso", "connection": conn.slug })),
                )
                .await?;
                (id, email, *role)
            }
        };
        let updated = exec!(
            tx.exec(),
            "UPDATE sso_identities SET last_signin_at = $3, user_id = $4 WHERE connection_id = $1 AND subject = $2",
            &conn.id,
            &asserted.subject,
            now,
            &user_id
        )?;
        if updated == 0 {
            exec!(
                tx.exec(),
                "INSERT INTO sso_identities (connection_id, subject, user_id, created_at, last_signin_at) \
                 VALUES ($1, $2, $3, $4, $4)",
                &conn.id,
                &asserted.subject,
                &user_id,
                now
            )?;
        }
        let secret = self
            .console
            .insert_session(&mut tx, &user_id, &meta, now)
            .await?;
        exec!(
            tx.exec(),
            "UPDATE console_users SET last_signin_at = $2 WHERE id = $1",
            &user_id,
            now
        )?;
        let display = fetch_optional!(
            tx.exec(),
            (String,),
            "SELECT display_name FROM console_users WHERE id = $1",
            &user_id
        )?
        .map(|d| d.0)
        .unwrap_or_default();
        let actor = Actor::console_user(&user_id, &email, Some(role), meta);
        audit::append(
            &mut tx,
            now,
            &actor,
            NewEvent::success("console.signin.succeeded")
                .target(Target::new("console_user", &user_id, &email))
                .details(json!({
                    "method": conn.kind,
                    "connection": conn.slug,
                    "linked_by": eval.linked_by,
                    "role": role.as_str(),
                    "mapped_role": eval.mapped_role.map(Role::as_str),
                    "groups": eval.groups,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(Finished::SignedIn {
            session: NewSession {
                secret,
                me: Me {
                    id: portcullis_types::ConsoleUserId(user_id),
                    email,
                    display_name: display,
                    role,
                },
            },
            next: request.next_path.clone(),
        })
    }

    /// Admits an employee signing in for an MCP client: only an active
    /// person of the connection's SCIM directory, found by the IdP subject
    /// (`externalId`) or by a verified email in one of the connection's
    /// domains. Starts a person session (never a console session). Audited
    /// as `oauth.signin.succeeded` / `oauth.signin.refused`.
    async fn finish_person(
        &self,
        conn: &ConnRow,
        request: &RequestRow,
        a: &Asserted,
        meta: RequestMeta,
    ) -> Result<Finished> {
        let now = self.now();
        let mut person = self.find_person(conn, a).await?;
        if conn.jit_people {
            match &person {
                None => person = self.admit_jit(conn, a).await?,
                Some((id, _, true)) => self.refresh_jit_groups(conn, id, a).await?,
                Some(_) => {}
            }
        }
        let admitted = match &person {
            None => Err(Refusal::NotProvisioned),
            Some((_, _, active)) if !active => Err(Refusal::Deprovisioned),
            Some((id, email, _)) => Ok((id.clone(), email.clone())),
        };
        let mut tx = self.core.db.begin().await?;
        let out = match admitted {
            Err(refusal) => {
                Self::note_refusal(&mut tx, &meta, now).await?;
                let target = match &person {
                    Some((id, email, _)) => Target::new("directory_user", id, email),
                    None => Target::new("sso_connection", &conn.id, &conn.name),
                };
                audit::append(
                    &mut tx,
                    now,
                    &Actor::anonymous(meta),
                    NewEvent::success("oauth.signin.refused")
                        .outcome(Outcome::Denied)
                        .target(target)
                        .details(json!({
                            "connection": conn.slug,
                            "reason": refusal.code(),
                            "subject": a.subject,
                            "email": a.email,
                        })),
                )
                .await?;
                Finished::PersonRefused(refusal)
            }
            Ok((id, email)) => {
                let session =
                    crate::oauth::OAuthService::start_person_session(&mut tx, &id, &conn.id, now)
                        .await?;
                let actor = Actor {
                    kind: portcullis_types::ActorType::Anonymous,
                    id: Some(id.clone()),
                    display: email.clone(),
                    role: None,
                    session: None,
                    meta,
                };
                audit::append(
                    &mut tx,
                    now,
                    &actor,
                    NewEvent::success("oauth.signin.succeeded")
                        .target(Target::new("directory_user", &id, &email))
                        .details(json!({ "method": conn.kind, "connection": conn.slug })),
                )
                .await?;
                Finished::Person {
                    session,
                    next: request.next_path.clone(),
                }
            }
        };
        tx.commit().await?;
        Ok(out)
    }

    /// Just-in-time people: creates the person an assertion names in the
    /// connection's directory (made for the connection when it has none),
    /// active, linked by the IdP subject, with the IdP's groups as groups
    /// of that directory. Only for a verified email of one of the
    /// connection's domains; `None` otherwise (the sign-in is refused as
    /// not provisioned). Audited; makes a policy revision like SCIM does.
    async fn admit_jit(
        &self,
        conn: &ConnRow,
        a: &Asserted,
    ) -> Result<Option<(String, String, bool)>> {
        let domains = self.domains(&conn.id).await?;
        let Some(email) = a
            .email
            .as_deref()
            .filter(|_| a.email_verified)
            .and_then(|e| normalize_email("email", e).ok())
            .filter(|e| {
                e.rsplit_once('@')
                    .is_some_and(|(_, d)| domains.iter().any(|x| x == d))
            })
        else {
            return Ok(None);
        };
        let now = self.now();
        let actor = Actor::system(&format!("just-in-time sign-in ({})", conn.slug));
        let mut tx = self.core.db.begin().await?;
        let dir = match &conn.directory_id {
            Some(d) => d.clone(),
            None => {
                let id = new_id("dir");
                let mut name = format!("{} (just in time)", conn.name);
                let taken = scalar!(
                    tx.exec(),
                    i64,
                    "SELECT COUNT(*) FROM directories WHERE name_lower = $1",
                    name.to_lowercase()
                )? > 0;
                if taken {
                    name = format!("{name} {}", &id[id.len().saturating_sub(6)..]);
                }
                crate::directory::insert_directory(&mut tx, &id, &name, now).await?;
                exec!(
                    tx.exec(),
                    "UPDATE sso_connections SET directory_id = $2 WHERE id = $1",
                    &conn.id,
                    &id
                )?;
                audit::append(
                    &mut tx,
                    now,
                    &actor,
                    NewEvent::success("directory.created")
                        .target(Target::new("directory", &id, &name))
                        .details(json!({ "just_in_time_for": conn.slug })),
                )
                .await?;
                id
            }
        };
        let user_id = new_id("u");
        let display = a
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| email.clone());
        let resource = json!({
            "schemas": [portcullis_scim::USER_SCHEMA],
            "userName": email,
            "externalId": a.subject,
            "displayName": display,
            "active": true,
            "emails": [{ "value": email, "type": "work", "primary": true }],
        })
        .to_string();
        exec!(
            tx.exec(),
            "INSERT INTO directory_users (id, directory_id, user_name, user_name_lower, external_id, display_name, \
             email, active, resource, version, created_at, updated_at, jit_connection_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10, $11)",
            &user_id,
            &dir,
            &email,
            email.to_lowercase(),
            &a.subject,
            &display,
            &email,
            true,
            &resource,
            now,
            &conn.id
        )?;
        exec!(
            tx.exec(),
            "INSERT INTO directory_user_emails (user_id, value, type, primary_) VALUES ($1, $2, 'work', $3)",
            &user_id,
            &email,
            true
        )?;
        let mut change = crate::revisions::Change::new(
            &actor,
            "directory",
            format!("{email} added at first sign-in"),
            now,
        );
        crate::revisions::sync_directory_user(&mut tx, &mut change, &user_id).await?;
        let groups =
            Self::sync_jit_groups(&mut tx, &mut change, &dir, &user_id, &email, &a.groups, now)
                .await?;
        audit::append(
            &mut tx,
            now,
            &actor,
            NewEvent::success("directory.user.created_just_in_time")
                .target(Target::new("directory_user", &user_id, &email))
                .details(
                    json!({ "connection": conn.slug, "subject": a.subject, "groups": groups }),
                ),
        )
        .await?;
        tx.commit().await?;
        Ok(Some((user_id, email, true)))
    }

    /// A person created just in time by this connection takes the IdP's
    /// groups at every sign-in (SCIM-provisioned people are left to SCIM).
    async fn refresh_jit_groups(&self, conn: &ConnRow, user_id: &str, a: &Asserted) -> Result<()> {
        #[derive(sqlx::FromRow)]
        struct U {
            directory_id: String,
            email: Option<String>,
            jit_connection_id: Option<String>,
        }
        let Some(u) = fetch_optional!(
            self.core.db.exec(),
            U,
            "SELECT directory_id, email, jit_connection_id FROM directory_users WHERE id = $1",
            user_id
        )?
        else {
            return Ok(());
        };
        if u.jit_connection_id.as_deref() != Some(conn.id.as_str()) {
            return Ok(());
        }
        let now = self.now();
        let email = u.email.unwrap_or_default();
        let actor = Actor::system(&format!("just-in-time sign-in ({})", conn.slug));
        let mut tx = self.core.db.begin().await?;
        let mut change = crate::revisions::Change::new(
            &actor,
            "directory",
            format!("{email}: groups from the IdP at sign-in"),
            now,
        );
        Self::sync_jit_groups(
            &mut tx,
            &mut change,
            &u.directory_id,
            user_id,
            &email,
            &a.groups,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes `user_id`'s groups in directory `dir` exactly the IdP's
    /// `groups` (by name, case-insensitive; at most 100), creating missing
    /// groups. Returns the group names.
    async fn sync_jit_groups(
        tx: &mut Tx,
        change: &mut crate::revisions::Change<'_>,
        dir: &str,
        user_id: &str,
        display: &str,
        groups: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let mut wanted: std::collections::BTreeMap<String, String> =
            std::collections::BTreeMap::new();
        for g in groups
            .iter()
            .map(|g| g.trim())
            .filter(|g| !g.is_empty() && g.len() <= 200)
            .take(100)
        {
            wanted
                .entry(g.to_lowercase())
                .or_insert_with(|| g.to_owned());
        }
        #[derive(sqlx::FromRow)]
        struct G {
            id: String,
            display_name_lower: String,
        }
        let current = fetch_all!(
            tx.exec(),
            G,
            "SELECT g.id, g.display_name_lower FROM directory_group_members m \
             JOIN directory_groups g ON g.id = m.group_id WHERE m.member_id = $1 AND g.directory_id = $2",
            user_id,
            dir
        )?;
        let have: BTreeSet<String> = current
            .iter()
            .map(|g| g.display_name_lower.clone())
            .collect();
        for g in current
            .iter()
            .filter(|g| !wanted.contains_key(&g.display_name_lower))
        {
            exec!(
                tx.exec(),
                "DELETE FROM directory_group_members WHERE group_id = $1 AND member_id = $2",
                &g.id,
                user_id
            )?;
            crate::revisions::sync_directory_group(tx, change, &g.id).await?;
        }
        for (lower, name) in wanted.iter().filter(|(l, _)| !have.contains(*l)) {
            let existing = scalar!(
                tx.exec(),
                Option<String>,
                "SELECT MIN(id) FROM directory_groups WHERE directory_id = $1 AND display_name_lower = $2",
                dir,
                lower
            )?;
            let gid = match existing {
                Some(id) => id,
                None => {
                    let id = new_id("g");
                    exec!(
                        tx.exec(),
                        "INSERT INTO directory_groups (id, directory_id, display_name, display_name_lower, version, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, 1, $5, $5)",
                        &id,
                        dir,
                        name,
                        lower,
                        now
                    )?;
                    id
                }
            };
            exec!(
                tx.exec(),
                "INSERT INTO directory_group_members (group_id, member_id, display) VALUES ($1, $2, $3)",
                &gid,
                user_id,
                display
            )?;
            crate::revisions::sync_directory_group(tx, change, &gid).await?;
        }
        Ok(wanted.into_values().collect())
    }

    /// The directory person an assertion names: (id, email, active and
    /// not deleted). Needs the connection's directory.
    async fn find_person(
        &self,
        conn: &ConnRow,
        a: &Asserted,
    ) -> Result<Option<(String, String, bool)>> {
        let Some(dir) = &conn.directory_id else {
            return Ok(None);
        };
        #[derive(sqlx::FromRow)]
        struct D {
            id: String,
            email: Option<String>,
            user_name_lower: String,
            active: bool,
            deleted: bool,
        }
        const SELECT_D: &str =
            "SELECT id, email, user_name_lower, active, deleted_at IS NOT NULL AS deleted \
             FROM directory_users WHERE directory_id = $1";
        let mut found = fetch_optional!(
            self.core.db.exec(),
            D,
            &format!("{SELECT_D} AND external_id = $2 ORDER BY deleted_at IS NOT NULL, created_at LIMIT 1"),
            dir,
            &a.subject
        )?;
        if found.is_none() && a.email_verified {
            let domains = self.domains(&conn.id).await?;
            if let Some(e) = a
                .email
                .as_deref()
                .and_then(|e| normalize_email("email", e).ok())
                .filter(|e| {
                    e.rsplit_once('@')
                        .is_some_and(|(_, d)| domains.iter().any(|x| x == d))
                })
            {
                found = fetch_optional!(
                    self.core.db.exec(),
                    D,
                    &format!(
                        "{SELECT_D} AND (user_name_lower = $2 OR lower(email) = $2) \
                     ORDER BY deleted_at IS NOT NULL, created_at LIMIT 1"
                    ),
                    dir,
                    &e
                )?;
            }
        }
        Ok(found.map(|d| {
            let email = d.email.unwrap_or(d.user_name_lower);
            (d.id, email, d.active && !d.deleted)
        }))
    }

    async fn record_test(
        &self,
        conn: &ConnRow,
        request: &RequestRow,
        a: &Asserted,
        eval: &Evaluation,
        meta: RequestMeta,
        failure: Option<&str>,
    ) -> Result<Finished> {
        let now = self.now();
        let id = new_id("ssot");
        let summary = match (&eval.role, &eval.user) {
            (Err(r), _) if failure.is_some() => {
                format!(
                    "Would be refused: {} ({}).",
                    r.label(),
                    failure.unwrap_or_default()
                )
            }
            (Ok(role), Some((_, email, ..))) => format!(
                "Would sign in as {email} with the {} role (linked by {}).",
                role.label().to_lowercase(),
                eval.linked_by.replace('_', " ")
            ),
            (Ok(role), None) => format!(
                "Would create a console user with the {} role.",
                role.label().to_lowercase()
            ),
            (Err(r), _) => format!("Would be refused: {}.", r.label()),
        };
        let result = SsoTestResult {
            id: id.clone(),
            connection_id: conn.id.clone(),
            at: now,
            ok: eval.role.is_ok(),
            summary,
            subject: Some(a.subject.clone()).filter(|s| !s.is_empty()),
            email: a.email.clone(),
            email_verified: failure.is_none().then_some(a.email_verified),
            name: a.name.clone(),
            groups: eval.groups.clone(),
            role: eval.role.ok(),
            claims: a.claims.clone(),
        };
        let started_by = request.started_by.clone().unwrap_or_default();
        let mut tx = self.core.db.begin().await?;
        exec!(
            tx.exec(),
            "INSERT INTO sso_tests (id, connection_id, started_by, result, created_at) VALUES ($1, $2, $3, $4, $5)",
            &id,
            &conn.id,
            &started_by,
            serde_json::to_string(&result).map_err(|e| Error::Internal(e.to_string()))?,
            now
        )?;
        let tester = fetch_optional!(
            tx.exec(),
            (String, String),
            "SELECT email, role FROM console_users WHERE id = $1",
            &started_by
        )?;
        let actor = Actor::console_user(
            &started_by,
            &tester.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
            tester.and_then(|t| t.1.parse().ok()),
            meta,
        );
        audit::append(
            &mut tx,
            now,
            &actor,
            NewEvent::success("sso.connection.tested")
                .target(Target::new("sso_connection", &conn.id, &conn.name))
                .details(
                    json!({ "would_sign_in": result.ok, "subject": a.subject, "email": a.email }),
                ),
        )
        .await?;
        tx.commit().await?;
        Ok(Finished::Tested {
            connection_id: conn.id.clone(),
            test_id: id,
        })
    }

    /// A test result, for the admin who ran it. **Permission:** `SsoManage`.
    pub async fn test_result(&self, actor: &Actor, id: &str) -> Result<SsoTestResult> {
        actor.require(Permission::SsoManage)?;
        let (result, by) = fetch_optional!(
            self.core.db.exec(),
            (String, String),
            "SELECT result, started_by FROM sso_tests WHERE id = $1",
            id
        )?
        .ok_or(Error::NotFound("test result"))?;
        if actor.id.as_deref() != Some(by.as_str()) {
            return Err(Error::NotFound("test result"));
        }
        serde_json::from_str(&result).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Deletes expired sign-ins, replay entries and old test results.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = self.now();
        let a = exec!(
            self.core.db.exec(),
            "DELETE FROM sso_requests WHERE expires_at < $1",
            now
        )?;
        let b = exec!(
            self.core.db.exec(),
            "DELETE FROM sso_replay WHERE expires_at < $1",
            now
        )?;
        let c = exec!(
            self.core.db.exec(),
            "DELETE FROM sso_tests WHERE created_at < $1",
            now - Duration::days(1)
        )?;
        Ok(a + b + c)
    }
}

/// The checked form.
struct Checked {
    name: String,
    slug: String,
    kind: SsoKind,
    domains: Vec<String>,
    mappings: Vec<RoleMapping>,
    config: String,
    client_secret: Option<String>,
    idp_metadata: Option<String>,
    allow_idp_initiated: bool,
}

impl Checked {
    fn audit_details(&self, enabled: bool, jit_people: bool) -> serde_json::Value {
        json!({
            "jit_people": jit_people,
            "slug": self.slug,
            "kind": self.kind.as_str(),
            "enabled": enabled,
            "domains": self.domains,
            "role_mappings": self.mappings.iter().map(|m| json!({"group": m.group, "role": m.role.as_str()})).collect::<Vec<_>>(),
            "allow_idp_initiated": self.allow_idp_initiated,
        })
    }
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
}
