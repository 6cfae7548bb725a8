//! Admission: who an assertion names and which role they get (the same
//! step for OIDC and SAML), and the console sign-in it ends in.

use super::model::{in_domains, Asserted, Evaluation, Finished, InFlight, Purpose, RoleSource};
use super::store::{self, ConnRow, DirUserRow};
use super::{Refusal, SsoService, MAX_GROUPS};
use crate::actor::{Actor, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::new_id;
use crate::console::{normalize_email, NewSession};
use crate::error::{Error, Result};
use portcullis_types::{ConsoleUserStatus, Me, Outcome, Role};
use serde_json::json;
use std::collections::BTreeSet;

impl SsoService {
    /// The email domains connection `id` serves.
    pub(super) async fn domains(&self, id: &str) -> Result<Vec<String>> {
        store::domains(self.core.db.exec(), id).await
    }

    /// Decides who the asserted person is and which role they get (no writes).
    async fn evaluate(&self, conn: &ConnRow, a: &Asserted) -> Result<Evaluation> {
        let domains = self.domains(&conn.id).await?;
        let email = a
            .email
            .as_deref()
            .and_then(|e| normalize_email("email", e).ok());
        let in_domain = email.as_deref().is_some_and(|e| in_domains(e, &domains));
        // 1. A subject seen before.
        let mut linked_by = "identity";
        let mut user = store::user_by_identity(self.core.db.exec(), &conn.id, &a.subject).await?;
        // The person in the connection's directory: by externalId, else by
        // email (userName or primary email).
        let mut dir_user: Option<DirUserRow> = None;
        if let Some(dir) = &conn.directory_id {
            dir_user = store::dir_user_by_subject(self.core.db.exec(), dir, &a.subject).await?;
            if dir_user.is_none() {
                if let Some(e) = email.as_deref().filter(|_| in_domain && a.email_verified) {
                    dir_user = store::dir_user_by_email(self.core.db.exec(), dir, e).await?;
                }
            }
        }
        // 2. By SCIM externalId: the directory user's own email.
        if user.is_none() {
            if let Some(d) = &dir_user {
                let by = d.email.clone().unwrap_or_else(|| d.user_name_lower.clone());
                if let Ok(e) = normalize_email("email", &by) {
                    user = store::user_by_email(self.core.db.exec(), &e).await?;
                    linked_by = "scim_external_id";
                }
            }
        }
        // 3. By verified email in one of the connection's domains.
        if user.is_none() && in_domain && a.email_verified {
            if let Some(e) = &email {
                user = store::user_by_email(self.core.db.exec(), e).await?;
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
                let ok = in_domains(&e, &domains);
                (Some(e), ok)
            }
            None => (email, in_domain),
        };
        let verified = a.email_verified || dir_user.is_some();
        // Groups: the IdP's and, for a provisioned person, their SCIM groups.
        let mut groups: BTreeSet<String> = a.groups.iter().take(MAX_GROUPS).cloned().collect();
        if let Some(d) = &dir_user {
            groups.extend(store::group_names_of(self.core.db.exec(), &d.id).await?);
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
            Some(u) if u.status == ConsoleUserStatus::Disabled => Err(Refusal::Disabled),
            Some(u) if u.role_source == RoleSource::Manual => Ok(u.role),
            Some(_) => mapped_role.ok_or(Refusal::NoRole),
            None if email.is_none() => Err(Refusal::NoEmail),
            None if !in_domain => Err(Refusal::WrongDomain),
            None if !verified => Err(Refusal::EmailUnverified),
            None => mapped_role.ok_or(Refusal::NoRole),
        };
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
    pub(super) async fn finish(
        &self,
        conn: &ConnRow,
        request: &InFlight,
        asserted: &Asserted,
        meta: RequestMeta,
    ) -> Result<Finished> {
        let eval = self.evaluate(conn, asserted).await?;
        let now = self.now();
        if request.purpose == Purpose::Test {
            return self
                .record_test(conn, request, asserted, &eval, meta, None)
                .await;
        }
        if request.purpose == Purpose::OAuth {
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
                if let Some(u) = &eval.user {
                    event = event.target(Target::new("console_user", &u.id, &u.email));
                } else {
                    event = event.target(Target::new("sso_connection", &conn.id, &conn.name));
                }
                Self::note_refusal(&mut tx, &meta, now).await?;
                audit::append(&mut tx, now, &Actor::anonymous(meta), event).await?;
                tx.commit().await?;
                return Ok(Finished::Refused(*refusal));
            }
            (Ok(role), Some(u)) => {
                let role_changed = u.role_source == RoleSource::Sso && *role != u.role;
                if role_changed {
                    store::set_user_role(tx.exec(), &u.id, *role, now).await?;
                    // A new role: the old sessions end (W2).
                    store::end_sessions(tx.exec(), &u.id).await?;
                    audit::append(
                        &mut tx,
                        now,
                        &Actor::system("sso"),
                        NewEvent::success("console.user.role_changed")
                            .target(Target::new("console_user", &u.id, &u.email))
                            .details(json!({ "from": u.role.as_str(), "to": role.as_str(), "source": "sso", "connection": conn.slug })),
                    )
                    .await?;
                }
                if u.status == ConsoleUserStatus::Invited {
                    store::activate_user(tx.exec(), &u.id, now).await?;
                }
                (u.id.clone(), u.email.clone(), *role)
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
                store::insert_sso_user(tx.exec(), &id, &email, display.trim(), *role, now).await?;
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
        store::link_identity(&mut tx, &conn.id, &asserted.subject, &user_id, now).await?;
        let secret = self
            .console
            .insert_session(&mut tx, &user_id, &meta, now)
            .await?;
        store::note_user_signin(tx.exec(), &user_id, now).await?;
        let display = store::display_name(tx.exec(), &user_id)
            .await?
            .unwrap_or_default();
        let actor = Actor::console_user(&user_id.as_str().into(), &email, Some(role), meta);
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
}
