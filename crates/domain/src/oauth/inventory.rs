//! The Clients page: a client's status (approve, block, unblock), the
//! list with its duplicate groups and limit hits, the client policy, and
//! removing registrations (unused ones by the housekeeping job, duplicate
//! groups by an admin).

use super::model::{AuthMethod, ClientId, ClientKind, ClientStatus};
use super::{cimd, internal, store, OAuthService};
use super::{DUPLICATE_GROUPS_SHOWN, MAX_REAP_AFTER_DAYS, REAP_BATCH};
use crate::actor::{Actor, Permission};
use crate::audit::{self, NewEvent, Target};
use crate::db::Tx;
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// Sets a client's status in `tx`; a blocked or removed client's grants
/// end with it. Returns how many grants were revoked.
async fn change_status(
    tx: &mut Tx,
    id: &str,
    status: ClientStatus,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64> {
    store::set_client_status(tx, id, status, reason, now).await?;
    Ok(
        if matches!(status, ClientStatus::Blocked | ClientStatus::Reaped) {
            store::revoke_client_grants(tx, id, status.as_str(), now).await?
        } else {
            0
        },
    )
}

/// The hosts of a client's redirect URIs (`scheme://` for a custom
/// scheme), as the Clients page shows them.
fn redirect_hosts(uris: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = uris
        .iter()
        .filter_map(|u| url::Url::parse(u).ok())
        .map(|u| match u.host_str() {
            Some(h) if u.scheme() == "http" || u.scheme() == "https" => h.to_owned(),
            _ => format!("{}://", u.scheme()),
        })
        .collect();
    hosts.dedup();
    hosts
}

impl OAuthService {
    /// Sets a client's status (approve, block, unblock). Blocking revokes every
    /// grant of the client and lists it in the policy bundle's
    /// `blocked_clients` (unblocking takes it off).
    /// Audited. **Permission:** `ClientsManage`.
    pub async fn set_client_status(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        status: ClientStatus,
        reason: Option<&str>,
    ) -> Result<u64> {
        actor.require(Permission::ClientsManage)?;
        let client_id = client_id.as_str();
        let client = store::find_client(self.core.db.exec(), client_id)
            .await?
            // An agent's credential is switched on the Agents page.
            .filter(|c| c.kind != ClientKind::Agent)
            .ok_or(Error::NotFound("OAuth client"))?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let revoked = change_status(&mut tx, client_id, status, reason, now).await?;
        // Blocked clients travel in the policy bundle, so gateways refuse
        // the access tokens already out there (they live a few minutes).
        let mut change = crate::revisions::Change::new(
            actor,
            "clients",
            format!("Client {}: {}", status.as_str(), client.name),
            now,
        );
        crate::revisions::sync_client(&mut tx, &mut change, client_id).await?;
        let action = match status {
            ClientStatus::Active if client.status == ClientStatus::Pending => {
                "oauth.client.approved"
            }
            ClientStatus::Active => "oauth.client.unblocked",
            ClientStatus::Pending => "oauth.client.pending",
            ClientStatus::Blocked => "oauth.client.blocked",
            ClientStatus::Reaped => "oauth.client.reaped",
        };
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success(action)
                .target(Target::new("oauth_client", client_id, &client.name))
                .details(json!({ "from": client.status.as_str(), "to": status.as_str(), "reason": reason, "grants_revoked": revoked })),
        )
        .await?;
        tx.commit().await?;
        self.forget_clients([client_id]);
        Ok(revoked)
    }

    /// The Clients page: clients (waiting ones first), filtered by status
    /// and a search on name or id, with the client policy.
    /// **Permission:** `ConsoleRead`.
    pub async fn list_clients(
        &self,
        actor: &Actor,
        q: &str,
        status: &str,
        offset: i64,
        limit: i64,
    ) -> Result<portcullis_types::ClientsView> {
        actor.require(Permission::ConsoleRead)?;
        let status = match status {
            "" => "",
            s => s
                .parse::<ClientStatus>()
                .map_err(|_| Error::invalid("status", "one of active, pending, blocked, reaped"))?
                .as_str(),
        };
        let pattern = format!("%{}%", crate::audit::like_escape(&q.trim().to_lowercase()));
        let limit = limit.clamp(1, 200);
        let offset = offset.max(0);
        let rows =
            store::list_clients(self.core.db.exec(), status, &pattern, offset, limit).await?;
        let (total, pending) = store::count_clients(self.core.db.exec(), status, &pattern).await?;
        let policy = store::policy(self.core.db.exec()).await?;
        let mut clients = Vec::with_capacity(rows.len());
        for r in rows {
            clients.push(self.summary(r)?);
        }
        let duplicates = store::duplicate_groups(self.core.db.exec(), DUPLICATE_GROUPS_SHOWN)
            .await?
            .into_iter()
            .map(|g| {
                let uris: Vec<String> = serde_json::from_str(&g.redirect_uris).map_err(internal)?;
                Ok(portcullis_types::DuplicateGroup {
                    key: g.dup_key,
                    name: g.name,
                    software_id: g.software_id,
                    redirect_hosts: redirect_hosts(&uris),
                    clients: g.clients,
                    live_grants: g.live_grants,
                    last_used_at: g.last_used_at,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(portcullis_types::ClientsView {
            clients,
            total,
            pending,
            policy: portcullis_types::ClientPolicy {
                registration_enabled: policy.registration_enabled,
                approval_required: policy.approval_required,
                reap_after_days: policy.reap_after_days,
            },
            duplicates,
            limit_hits: self
                .limits
                .hits()
                .into_iter()
                .map(|(l, hits)| portcullis_types::LimitHits {
                    limit: l.as_str().to_owned(),
                    hits,
                })
                .collect(),
        })
    }

    /// One client as the Clients page shows it (its id matched exactly).
    /// **Permission:** `ConsoleRead`.
    pub async fn client(
        &self,
        actor: &Actor,
        id: &ClientId,
    ) -> Result<portcullis_types::ClientSummary> {
        actor.require(Permission::ConsoleRead)?;
        let row = store::client_list_row(self.core.db.exec(), id.as_str())
            .await?
            .ok_or(Error::NotFound("OAuth client"))?;
        self.summary(row)
    }

    /// A row of the Clients page as shown, with its limit hits.
    fn summary(&self, r: store::ClientListRow) -> Result<portcullis_types::ClientSummary> {
        let kind: ClientKind = r.kind.parse().map_err(Error::Internal)?;
        let status: ClientStatus = r.status.parse().map_err(Error::Internal)?;
        let method: AuthMethod = r.auth_method.parse().map_err(Error::Internal)?;
        let uris: Vec<String> = serde_json::from_str(&r.redirect_uris).map_err(internal)?;
        let hosts = redirect_hosts(&uris);
        let limit_hits = self.limits.client_hits(&ClientId::from(&r.id));
        Ok(portcullis_types::ClientSummary {
            publisher_domain: (kind == ClientKind::Cimd)
                .then(|| cimd::check_url(&r.id).ok())
                .flatten(),
            kind: kind.as_str().to_owned(),
            status: status.as_str().to_owned(),
            confidential: method != AuthMethod::None,
            id: r.id,
            name: r.name,
            status_reason: r.status_reason,
            redirect_hosts: hosts,
            software_id: r.software_id,
            created_at: r.created_at,
            created_by: r.created_by,
            last_used_at: r.last_used_at,
            consents: r.consents,
            live_grants: r.live_grants,
            limit_hits,
        })
    }

    /// Turns dynamic registration and "new clients wait for approval" on or
    /// off and sets after how many unused days registrations are reaped
    /// (`None`: unchanged; 0: never). Audited. **Permission:** `ClientsManage`.
    pub async fn set_policy(
        &self,
        actor: &Actor,
        registration_enabled: bool,
        approval_required: bool,
        reap_after_days: Option<i64>,
    ) -> Result<()> {
        actor.require(Permission::ClientsManage)?;
        let old = store::policy(self.core.db.exec()).await?;
        let reap_after_days = reap_after_days.unwrap_or(old.reap_after_days);
        if !(0..=MAX_REAP_AFTER_DAYS).contains(&reap_after_days) {
            return Err(Error::invalid(
                "reap_after_days",
                format!("a number of days from 1 to {MAX_REAP_AFTER_DAYS}, or 0 to never remove unused registrations"),
            ));
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        store::set_policy(
            &mut tx,
            registration_enabled,
            approval_required,
            reap_after_days,
            now,
            &actor.display,
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("oauth.policy.updated").details(json!({
                "registration_enabled": registration_enabled,
                "approval_required": approval_required,
                "reap_after_days": reap_after_days,
                "before": {
                    "registration_enabled": old.registration_enabled,
                    "approval_required": old.approval_required,
                    "reap_after_days": old.reap_after_days,
                },
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reaps registered (RFC 7591) clients unused for the policy's
    /// `reap_after_days` (never used: registered that long ago): their
    /// grants end, one audit event each, and their next request gets
    /// `invalid_client` saying to register again. Pre-registered and CIMD
    /// clients are never reaped (an admin made the one; the other comes
    /// back by its URL). At most [`REAP_BATCH`] per call. The housekeeping
    /// job runs it every ten minutes.
    pub async fn reap_unused(&self) -> Result<u64> {
        let policy = store::policy(self.core.db.exec()).await?;
        if policy.reap_after_days <= 0 {
            return Ok(0);
        }
        let now = self.now();
        let cutoff = now - Duration::days(policy.reap_after_days);
        let due = store::reapable_clients(self.core.db.exec(), cutoff, REAP_BATCH).await?;
        let actor = Actor::system("client reaping");
        let mut tx = self.core.db.begin().await?;
        for c in &due {
            let revoked = change_status(
                &mut tx,
                &c.id,
                ClientStatus::Reaped,
                Some("unused registration removed automatically"),
                now,
            )
            .await?;
            let reaped = NewEvent::success("oauth.client.reaped")
                .target(Target::new("oauth_client", &c.id, &c.name))
                .details(json!({
                    "unused_days": policy.reap_after_days,
                    "last_used_at": c.last_used_at,
                    "grants_revoked": revoked,
                }));
            audit::append(&mut tx, now, &actor, reaped).await?;
        }
        tx.commit().await?;
        self.forget_clients(due.iter().map(|c| c.id.as_str()));
        Ok(due.len() as u64)
    }

    /// Revokes every live registration of one duplicate group (the Clients
    /// page's "Revoke all"): each is removed like a reaped client (its
    /// grants end; its next request is told to register again). One audit
    /// event naming them all. **Permission:** `ClientsManage`.
    pub async fn revoke_duplicates(&self, actor: &Actor, group: &str) -> Result<u64> {
        actor.require(Permission::ClientsManage)?;
        let members = store::group_members(self.core.db.exec(), group).await?;
        if members.len() < 2 {
            return Err(Error::NotFound("group of duplicate registrations"));
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let mut revoked = 0;
        for id in &members {
            revoked += change_status(
                &mut tx,
                id,
                ClientStatus::Reaped,
                Some("duplicate registration revoked by an admin"),
                now,
            )
            .await?;
        }
        let revoked_all = NewEvent::success("oauth.client.duplicates_revoked").details(json!({
            "group": group,
            "clients": members,
            "grants_revoked": revoked,
        }));
        audit::append(&mut tx, now, actor, revoked_all).await?;
        tx.commit().await?;
        self.forget_clients(members.iter().map(String::as_str));
        Ok(members.len() as u64)
    }
}
