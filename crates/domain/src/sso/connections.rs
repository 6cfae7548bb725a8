//! The settings page: connections listed, shown, created, changed and
//! deleted, and the form's checks that need the database or the IdP.

use super::model::{self, add, Checked};
use super::store::{self, ConnRow, ConnValues};
use super::{oidc, saml, SsoService};
use crate::actor::{Actor, Permission};
use crate::audit::{self, NewEvent, Target};
use crate::clock::new_id;
use crate::db::Tx;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use portcullis_types::{
    FieldError, OidcSettings, RoleMapping, SamlSettings, SsoConnectionDetail, SsoConnectionId,
    SsoConnectionInput, SsoConnectionSummary, SsoKind, SsoView,
};
use serde_json::json;

impl SsoService {
    /// Connections and linkable directories. **Permission:** `ConsoleRead`.
    pub async fn view(&self, actor: &Actor) -> Result<SsoView> {
        actor.require(Permission::ConsoleRead)?;
        let rows = store::conns(self.core.db.exec()).await?;
        let mut connections = Vec::with_capacity(rows.len());
        for r in &rows {
            connections.push(self.summary(r).await?);
        }
        let directories = crate::directory::directory_choices(self.core.db.exec()).await?;
        Ok(SsoView {
            connections,
            directories,
            can_manage: actor.require(Permission::SsoManage).is_ok(),
            can_map_owner: actor.require(Permission::AdminsManage).is_ok(),
        })
    }

    async fn summary(&self, r: &ConnRow) -> Result<SsoConnectionSummary> {
        let domains = store::domains_sorted(self.core.db.exec(), &r.id).await?;
        let mappings = store::mapping_count(self.core.db.exec(), &r.id).await?;
        let (identities, last) = store::identity_stats(self.core.db.exec(), &r.id).await?;
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
        id: &SsoConnectionId,
        public_url: &str,
    ) -> Result<SsoConnectionDetail> {
        actor.require(Permission::ConsoleRead)?;
        let r = self.conn_by_id(id.as_str()).await?;
        let summary = self.summary(&r).await?;
        let kind = r.kind()?;
        let role_mappings = self.mappings(&r.id).await?;
        let directory_name = match &r.directory_id {
            Some(d) => crate::directory::directory_name(self.core.db.exec(), d).await?,
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
            accept_id_jag: r.accept_id_jag,
            directory_id: r.directory_id.clone(),
            directory_name,
            role_mappings,
            redirect_uri: model::redirect_uri(public_url, &r.slug),
            sp_entity_id: model::sp_metadata_url(public_url, &r.slug),
            acs_url: model::acs_url(public_url, &r.slug),
            sp_metadata_url: model::sp_metadata_url(public_url, &r.slug),
            idp_certificates,
            summary,
        })
    }

    /// The group → role mappings of connection `id`.
    pub(super) async fn mappings(&self, id: &str) -> Result<Vec<RoleMapping>> {
        store::mappings(self.core.db.exec(), id)
            .await?
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
    pub async fn create(
        &self,
        actor: &Actor,
        input: &SsoConnectionInput,
    ) -> Result<SsoConnectionId> {
        actor.require(Permission::SsoManage)?;
        let id = new_id("sso");
        let checked = self.check(actor, input, None).await?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let sealed = self.seal_client_secret(&id, &checked)?;
        store::insert_conn(
            &mut tx,
            &id,
            checked.kind.as_str(),
            &values(&checked, sealed.as_deref(), now),
            &actor.display,
        )
        .await?;
        let details = checked.audit_details();
        Self::write_and_audit(
            tx,
            now,
            actor,
            &id,
            &checked,
            "sso.connection.created",
            details,
        )
        .await?;
        Ok(id.into())
    }

    /// Changes a connection; an empty client secret keeps the stored one.
    /// Audited as `sso.connection.updated`. **Permission:** as [`Self::create`].
    pub async fn update(
        &self,
        actor: &Actor,
        id: &SsoConnectionId,
        input: &SsoConnectionInput,
    ) -> Result<()> {
        actor.require(Permission::SsoManage)?;
        let id = id.as_str();
        let existing = self.conn_by_id(id).await?;
        let checked = self.check(actor, input, Some(&existing)).await?;
        let now = self.now();
        let sealed = self
            .seal_client_secret(id, &checked)?
            .or_else(|| existing.client_secret.clone());
        let mut tx = self.core.db.begin().await?;
        store::update_conn(tx.exec(), id, &values(&checked, sealed.as_deref(), now)).await?;
        store::clear_children(&mut tx, id).await?;
        let mut details = checked.audit_details();
        details["client_secret_changed"] = json!(checked.client_secret.is_some());
        Self::write_and_audit(
            tx,
            now,
            actor,
            id,
            &checked,
            "sso.connection.updated",
            details,
        )
        .await?;
        self.oidc.forget(id);
        Ok(())
    }

    /// Deletes a connection, its domains, mappings and identity links (the
    /// console users stay). Audited as `sso.connection.deleted`.
    /// **Permission:** `SsoManage`.
    pub async fn delete(&self, actor: &Actor, id: &SsoConnectionId) -> Result<()> {
        actor.require(Permission::SsoManage)?;
        let id = id.as_str();
        let existing = self.conn_by_id(id).await?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        store::delete_conn(tx.exec(), id).await?;
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

    /// The new client secret of the form, sealed for connection `id`
    /// (`None` when the form keeps the stored one).
    fn seal_client_secret(&self, id: &str, checked: &Checked) -> Result<Option<String>> {
        checked
            .client_secret
            .as_ref()
            .map(|s| {
                self.core
                    .settings
                    .secrets
                    .seal(&model::secret_purpose(id), s.as_bytes())
            })
            .transpose()
    }

    /// Writes connection `id`'s domains and mappings, audits `action` at
    /// `now` and commits: the end of creating and of changing a connection.
    async fn write_and_audit(
        mut tx: Tx,
        now: DateTime<Utc>,
        actor: &Actor,
        id: &str,
        checked: &Checked,
        action: &'static str,
        details: serde_json::Value,
    ) -> Result<()> {
        Self::write_children(&mut tx, id, checked).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success(action)
                .target(Target::new("sso_connection", id, &checked.name))
                .details(details),
        )
        .await?;
        tx.commit().await
    }

    async fn write_children(tx: &mut Tx, id: &str, checked: &Checked) -> Result<()> {
        for d in &checked.domains {
            if let Some(other) = store::domain_served_by_other(tx.exec(), d, id).await? {
                return Err(Error::Conflict {
                    field: "domains".into(),
                    message: format!("{d} is already served by the connection “{other}”"),
                });
            }
            store::insert_domain(tx.exec(), d, id).await?;
        }
        for m in &checked.mappings {
            store::insert_mapping(tx.exec(), id, &m.group, m.role.as_str()).await?;
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
        let basics = model::check_basics(actor, input, existing, &mut errors)?;
        if let Some(d) = &input.directory_id {
            if !crate::directory::directory_exists(self.core.db.exec(), d).await? {
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
        match basics.kind {
            SsoKind::Oidc => {
                let has_stored_secret = existing.is_some_and(|e| e.client_secret.is_some());
                let (settings, secret) = model::check_oidc(input, has_stored_secret, &mut errors);
                client_secret = secret;
                config =
                    serde_json::to_string(&settings).map_err(|e| Error::Internal(e.to_string()))?;
                if errors.is_empty() {
                    // Discovery must work now, through the SSRF guard, and
                    // name the issuer as entered.
                    if let Err(message) = oidc::discover(&self.oidc_http, &settings.issuer).await {
                        add(&mut errors, "issuer", message);
                    }
                }
                if input.accept_id_jag {
                    // One trusted issuer answers for each ID-JAG: another
                    // connection trusting the same issuer would make the
                    // person it names ambiguous.
                    for other in store::id_jag_conns(self.core.db.exec()).await? {
                        if existing.is_some_and(|e| e.id == other.id) {
                            continue;
                        }
                        if other.oidc()?.issuer == settings.issuer {
                            add(
                                &mut errors,
                                "accept_id_jag",
                                format!(
                                    "the connection “{}” already accepts ID-JAGs from this issuer",
                                    other.name
                                ),
                            );
                        }
                    }
                    if input.directory_id.is_none() {
                        add(
                            &mut errors,
                            "accept_id_jag",
                            "link a directory first: an ID-JAG names a person of the connection's directory".into(),
                        );
                    }
                }
            }
            SsoKind::Saml => {
                if input.accept_id_jag {
                    add(
                        &mut errors,
                        "accept_id_jag",
                        "ID-JAGs come from an IdP's OAuth token endpoint: connect the IdP with OpenID Connect to accept them".into(),
                    );
                }
                allow_idp_initiated = input.allow_idp_initiated;
                let metadata_url = input.saml.metadata_url.trim().to_owned();
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
                let settings = model::check_saml(input, metadata_url, xml.as_deref(), &mut errors);
                config =
                    serde_json::to_string(&settings).map_err(|e| Error::Internal(e.to_string()))?;
                idp_metadata = xml;
            }
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        Ok(Checked {
            name: basics.name,
            slug: basics.slug,
            kind: basics.kind,
            domains: basics.domains,
            mappings: basics.mappings,
            config,
            client_secret,
            idp_metadata,
            allow_idp_initiated,
            enabled: input.enabled,
            directory_id: input.directory_id.clone(),
            jit_people: input.jit_people,
            accept_id_jag: input.accept_id_jag,
        })
    }
}

/// A checked form's stored values (client secret sealed), written at `at`.
fn values<'a>(c: &'a Checked, sealed: Option<&'a str>, at: DateTime<Utc>) -> ConnValues<'a> {
    ConnValues {
        slug: &c.slug,
        name: &c.name,
        enabled: c.enabled,
        config: &c.config,
        client_secret: sealed,
        idp_metadata: c.idp_metadata.as_deref(),
        directory_id: c.directory_id.as_deref(),
        allow_idp_initiated: c.allow_idp_initiated,
        jit_people: c.jit_people,
        accept_id_jag: c.accept_id_jag,
        at,
    }
}
