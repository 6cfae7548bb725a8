//! Starting a sign-in and the sign-ins in flight: where an email signs
//! in, the single-use `sso_requests` rows bound to a browser, refusals
//! (audited and counted per IP), "Test connection" results, and purging
//! what expired.

use super::model::{self, Asserted, Evaluation, Finished, Flight, InFlight, Purpose, Started};
use super::store::{self, ConnRow, Expiring, Lookup, NewRequest};
use super::{Refusal, SsoService, MAX_REFUSALS_PER_IP, REQUEST_TTL_MINUTES};
use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::console::normalize_email;
use crate::db::Tx;
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use portcullis_types::{Outcome, SsoConnectionId, SsoKind, SsoSlug, SsoTestId, SsoTestResult};
use serde_json::json;

impl SsoService {
    /// Whether any connection is enabled (the sign-in page then asks for
    /// the email first). No permission: the sign-in page asks.
    pub async fn any_enabled(&self) -> Result<bool> {
        Ok(store::enabled_count(self.core.db.exec()).await? > 0)
    }

    /// The enabled connection serving `email`'s domain (slug and kind).
    pub async fn route(&self, email: &str) -> Result<Option<(SsoSlug, SsoKind)>> {
        let email = normalize_email("email", email)?;
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        let found = store::route(self.core.db.exec(), domain).await?;
        found
            .map(|(slug, kind)| Ok((slug.into(), kind.parse().map_err(Error::Internal)?)))
            .transpose()
    }

    /// Starts a sign-in (or, with `tester`, a test run by that admin) at the
    /// connection `slug`. `browser` is the binding cookie the browser
    /// already holds, if any.
    pub async fn start(
        &self,
        slug: &SsoSlug,
        next: &str,
        tester: Option<&Actor>,
        browser: Option<&str>,
        public_url: &str,
    ) -> Result<Started> {
        let purpose = if tester.is_some() {
            Purpose::Test
        } else {
            Purpose::SignIn
        };
        self.start_as(slug, purpose, next, tester, browser, public_url)
            .await
    }

    /// Starts an employee's sign-in for an MCP client (the OAuth
    /// authorization step): the same IdP round trip, admitted as a person of
    /// the connection's SCIM directory, never as a console user.
    pub async fn start_for_person(
        &self,
        slug: &SsoSlug,
        next: &str,
        browser: Option<&str>,
        public_url: &str,
    ) -> Result<Started> {
        self.start_as(slug, Purpose::OAuth, next, None, browser, public_url)
            .await
    }

    async fn start_as(
        &self,
        slug: &SsoSlug,
        purpose: Purpose,
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
        let next = model::safe_next(next);
        let flight = Flight {
            purpose,
            next: &next,
            tester,
            browser: &browser,
        };
        let redirect = match conn.kind()? {
            SsoKind::Oidc => self.start_oidc(&conn, &flight, public_url).await?,
            SsoKind::Saml => self.start_saml(&conn, &flight, public_url).await?,
        };
        Ok(Started { redirect, browser })
    }

    /// Stores a sign-in in flight under `key` (OIDC `state`, SAML request
    /// id or handle), with the OIDC nonce and PKCE verifier (sealed).
    pub(super) async fn insert_request(
        &self,
        conn: &ConnRow,
        key: &str,
        flight: &Flight<'_>,
        nonce: Option<&str>,
        pkce_verifier: Option<&str>,
    ) -> Result<()> {
        let now = self.now();
        let sealed = match pkce_verifier {
            Some(v) => Some(self.core.settings.secrets.seal("sso_pkce", v.as_bytes())?),
            None => None,
        };
        store::insert_request(
            self.core.db.write(),
            &NewRequest {
                id_hash: &hash_secret(key),
                connection_id: &conn.id,
                purpose: flight.purpose.as_str(),
                browser_hash: &hash_secret(flight.browser),
                nonce,
                pkce_verifier: sealed.as_deref(),
                next_path: flight.next,
                started_by: flight.tester.and_then(|t| t.id.as_deref()),
                created_at: now,
                expires_at: now + Duration::minutes(REQUEST_TTL_MINUTES),
            },
        )
        .await
    }

    /// Takes a sign-in in flight for use, once: it must exist for this
    /// connection, be unused and unexpired, and belong to this browser.
    /// The row is used up whatever the outcome.
    async fn take_request(
        &self,
        conn: &ConnRow,
        key: &str,
        browser: Option<&str>,
        need_outcome: bool,
    ) -> Result<std::result::Result<InFlight, &'static str>> {
        let now = self.now();
        let row = store::request(
            self.core.db.write(),
            Lookup::Take,
            &hash_secret(key),
            &conn.id,
            now,
        )
        .await?;
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

    /// [`Self::take_request`]; when that fails, the sign-in is refused as
    /// expired and `Err` holds how it ends.
    pub(super) async fn take_or_refuse(
        &self,
        conn: &ConnRow,
        key: &str,
        browser: Option<&str>,
        need_outcome: bool,
        meta: &RequestMeta,
    ) -> Result<std::result::Result<InFlight, Finished>> {
        match self.take_request(conn, key, browser, need_outcome).await? {
            Ok(r) => Ok(Ok(r)),
            Err(why) => Ok(Err(self
                .refuse_early(conn, None, meta, Refusal::Expired, why)
                .await?)),
        }
    }

    pub(super) fn open_verifier(&self, row: &InFlight) -> Result<Option<String>> {
        row.pkce_verifier
            .as_deref()
            .map(|s| {
                let plain = self.core.settings.secrets.open("sso_pkce", s)?;
                String::from_utf8(plain).map_err(|_| Error::Internal("pkce verifier".into()))
            })
            .transpose()
    }

    /// Refuses to look at SSO answers from an IP that sent too many bad ones.
    pub(super) async fn check_throttle(&self, meta: &RequestMeta) -> Result<()> {
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
    pub(super) async fn note_refusal(
        tx: &mut Tx,
        meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if let Some(ip) = &meta.source_ip {
            store::note_failure(tx.exec(), &format!("sso-ip:{ip}"), now).await?;
        }
        Ok(())
    }

    /// Audits a sign-in refused before anything was asserted (bad state,
    /// IdP error, failed verification). `detail` is for the audit log only.
    /// A test run ends with the reason shown to the admin who ran it.
    pub(super) async fn refuse_early(
        &self,
        conn: &ConnRow,
        request: Option<&InFlight>,
        meta: &RequestMeta,
        refusal: Refusal,
        detail: &str,
    ) -> Result<Finished> {
        if let Some(r) = request.filter(|r| r.purpose == Purpose::Test) {
            let failed = Asserted::default();
            let eval = Evaluation::refused(refusal);
            return self
                .record_test(conn, r, &failed, &eval, meta.clone(), Some(detail))
                .await;
        }
        let now = self.now();
        let person = request.is_some_and(|r| r.purpose == Purpose::OAuth);
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

    /// Ends a test run: stores what it would have done for the admin who
    /// ran it. `failure`: why the IdP's answer was refused before anything
    /// was asserted.
    pub(super) async fn record_test(
        &self,
        conn: &ConnRow,
        request: &InFlight,
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
            (Ok(role), Some(u)) => format!(
                "Would sign in as {} with the {} role (linked by {}).",
                u.email,
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
        store::insert_test(
            tx.exec(),
            &id,
            &conn.id,
            &started_by,
            &serde_json::to_string(&result).map_err(|e| Error::Internal(e.to_string()))?,
            now,
        )
        .await?;
        let tester = store::email_and_role(tx.exec(), &started_by).await?;
        let actor = Actor::console_user(
            &started_by.as_str().into(),
            &tester.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
            tester.map(|t| t.1),
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
            connection_id: SsoConnectionId::from(&conn.id),
            test_id: SsoTestId::from(id),
        })
    }

    /// A test result, for the admin who ran it. **Permission:** `SsoManage`.
    pub async fn test_result(&self, actor: &Actor, id: &SsoTestId) -> Result<SsoTestResult> {
        actor.require(Permission::SsoManage)?;
        let (result, by) = store::test_result(self.core.db.exec(), id.as_str())
            .await?
            .ok_or(Error::NotFound("test result"))?;
        if actor.id.as_deref() != Some(by.as_str()) {
            return Err(Error::NotFound("test result"));
        }
        serde_json::from_str(&result).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Deletes expired sign-ins, replay entries and old test results.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = self.now();
        let a = store::delete_expired(self.core.db.write(), Expiring::Requests, now).await?;
        let b = store::delete_expired(self.core.db.write(), Expiring::Replay, now).await?;
        let c = store::delete_expired(
            self.core.db.write(),
            Expiring::Tests,
            now - Duration::days(1),
        )
        .await?;
        Ok(a + b + c)
    }
}
