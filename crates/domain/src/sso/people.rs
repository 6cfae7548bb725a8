//! Employees signing in for an MCP client (OAuth): admitted as a person of
//! the connection's SCIM directory, never as a console user; and the
//! people (with their groups) a connection creates just in time.

use super::model::{in_domains, Asserted, Finished, InFlight};
use super::store::{self, ConnRow, JitUser};
use super::{Refusal, SsoService};
use crate::actor::{Actor, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::new_id;
use crate::console::normalize_email;
use crate::db::Tx;
use crate::error::Result;
use chrono::{DateTime, Utc};
use portcullis_types::Outcome;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

impl SsoService {
    /// Admits an employee signing in for an MCP client: only an active
    /// person of the connection's SCIM directory, found by the IdP subject
    /// (`externalId`) or by a verified email in one of the connection's
    /// domains. Starts a person session (never a console session). Audited
    /// as `oauth.signin.succeeded` / `oauth.signin.refused`.
    pub(super) async fn finish_person(
        &self,
        conn: &ConnRow,
        request: &InFlight,
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

    /// The verified email of an assertion when it is in one of connection
    /// `conn`'s domains.
    async fn email_in_domains(&self, conn: &ConnRow, a: &Asserted) -> Result<Option<String>> {
        let domains = self.domains(&conn.id).await?;
        Ok(a.email
            .as_deref()
            .filter(|_| a.email_verified)
            .and_then(|e| normalize_email("email", e).ok())
            .filter(|e| in_domains(e, &domains)))
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
        let Some(email) = self.email_in_domains(conn, a).await? else {
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
                if store::directory_name_taken(tx.exec(), &name).await? {
                    name = format!("{name} {}", &id[id.len().saturating_sub(6)..]);
                }
                crate::directory::insert_directory(&mut tx, &id, &name, now).await?;
                store::set_conn_directory(tx.exec(), &conn.id, &id).await?;
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
        store::insert_jit_user(
            &mut tx,
            &JitUser {
                id: &user_id,
                directory_id: &dir,
                email: &email,
                external_id: &a.subject,
                display_name: &display,
                resource: &resource,
                at: now,
                connection_id: &conn.id,
            },
        )
        .await?;
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
        let Some(u) = store::jit_origin(self.core.db.exec(), user_id).await? else {
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
        let mut wanted: BTreeMap<String, String> = BTreeMap::new();
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
        let current = store::member_groups(tx.exec(), user_id, dir).await?;
        let have: BTreeSet<String> = current
            .iter()
            .map(|g| g.display_name_lower.clone())
            .collect();
        for g in current
            .iter()
            .filter(|g| !wanted.contains_key(&g.display_name_lower))
        {
            store::remove_member(tx.exec(), &g.id, user_id).await?;
            crate::revisions::sync_directory_group(tx, change, &g.id).await?;
        }
        for (lower, name) in wanted.iter().filter(|(l, _)| !have.contains(*l)) {
            let gid = match store::group_named(tx.exec(), dir, lower).await? {
                Some(id) => id,
                None => {
                    let id = new_id("g");
                    store::insert_group(tx.exec(), &id, dir, name, lower, now).await?;
                    id
                }
            };
            store::add_member(tx.exec(), &gid, user_id, display).await?;
            crate::revisions::sync_directory_group(tx, change, &gid).await?;
        }
        Ok(wanted.into_values().collect())
    }

    /// The directory person an assertion names: (id, email, active and
    /// not deleted). Needs the connection's directory.
    pub(super) async fn find_person(
        &self,
        conn: &ConnRow,
        a: &Asserted,
    ) -> Result<Option<(String, String, bool)>> {
        let Some(dir) = &conn.directory_id else {
            return Ok(None);
        };
        let mut found = store::dir_user_by_subject(self.core.db.exec(), dir, &a.subject).await?;
        if found.is_none() && a.email_verified {
            if let Some(e) = self.email_in_domains(conn, a).await? {
                found = store::dir_user_by_email(self.core.db.exec(), dir, &e).await?;
            }
        }
        Ok(found.map(|d| {
            let email = d.email.unwrap_or(d.user_name_lower);
            (d.id, email, d.active && !d.deleted)
        }))
    }
}
