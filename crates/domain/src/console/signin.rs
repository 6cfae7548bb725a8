//! Signing in with email and password, and its throttling: every attempt
//! is counted (per account and per source IP) before the password is
//! checked, and refusals are audited once per key and window.

use super::model::{audit_email, normalize_email};
use super::passwords::verify_password;
use super::{
    store, ConsoleService, NewSession, MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_IP,
    THROTTLE_WINDOW_MINUTES,
};
use crate::actor::{Actor, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use portcullis_types::{ConsoleUserStatus, Outcome};
use serde_json::json;

/// Refused sign-in attempts: counted, and audited once per key and window.
#[derive(Debug, Default)]
pub struct SigninThrottle {
    /// Attempts refused since start (`console_signin_throttled_total`).
    pub refused: std::sync::atomic::AtomicU64,
    /// Key → when its refusal was last audited.
    audited: std::sync::Mutex<std::collections::HashMap<String, DateTime<Utc>>>,
}

impl SigninThrottle {
    /// Whether a refusal of `key` at `now` is the first of its window (and
    /// so audited); remembers it.
    fn first_in_window(&self, key: &str, now: DateTime<Utc>) -> bool {
        let window = Duration::minutes(THROTTLE_WINDOW_MINUTES);
        let mut audited = self.audited.lock().unwrap_or_else(|e| e.into_inner());
        if audited.len() >= 10_000 {
            audited.retain(|_, at| *at + window > now);
        }
        match audited.get(key) {
            Some(at) if *at + window > now => false,
            _ => {
                audited.insert(key.to_owned(), now);
                true
            }
        }
    }
}

impl ConsoleService {
    /// Refused sign-in attempts since start.
    pub fn signins_throttled(&self) -> u64 {
        self.throttle
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Withdraws attempts counted by `sign_in` (by their row ids).
    async fn forget_attempts(&self, ids: &[i64]) -> Result<()> {
        for id in ids {
            store::delete_failure(self.core.db.write(), *id).await?;
        }
        Ok(())
    }

    pub(crate) async fn count_failures(&self, key: &str, since: DateTime<Utc>) -> Result<i64> {
        store::count_failures(self.core.db.exec(), key, since).await
    }

    /// Signs in with email and password. Throttled per account and per IP
    /// (each attempt counted before the password is checked); every
    /// attempt is audited (`console.signin.succeeded`, `.failed`), a refused
    /// one once per key and window (`.throttled`). The error never says
    /// whether the account exists.
    pub async fn sign_in(
        &self,
        meta: RequestMeta,
        email: &str,
        password: &str,
    ) -> Result<NewSession> {
        let now = self.now();
        let email_norm = email.trim().to_lowercase();
        let email_field = normalize_email("email", email);
        let window_start = now - Duration::minutes(THROTTLE_WINDOW_MINUTES);
        let account_key = format!("account:{email_norm}");
        let ip_key = meta.source_ip.as_ref().map(|ip| format!("ip:{ip}"));
        let anon = Actor {
            display: audit_email(&email_norm),
            ..Actor::anonymous(meta.clone())
        };
        // The attempt is counted before anything is checked, so attempts
        // made in parallel all count: at most the limit's worth of password
        // checks (argon2) per window, however many arrive at once. Counted
        // as failures until the password proves right.
        let keys: Vec<&String> = std::iter::once(&account_key).chain(ip_key.iter()).collect();
        let mut pending = Vec::with_capacity(keys.len());
        {
            let mut tx = self.core.db.begin().await?;
            for key in &keys {
                pending.push(store::insert_failure(tx.exec(), key, now).await?);
            }
            tx.commit().await?;
        }
        let over = if self.count_failures(&account_key, window_start).await?
            > MAX_FAILURES_PER_ACCOUNT
        {
            Some(&account_key)
        } else {
            match &ip_key {
                Some(k) if self.count_failures(k, window_start).await? > MAX_FAILURES_PER_IP => {
                    Some(k)
                }
                _ => None,
            }
        };
        if let Some(key) = over {
            // A refused attempt is not a failure: it does not extend the
            // lock-out. Audited once per key and window (the first
            // refusal); the rest are counted (`/metrics`), so a flood of
            // attempts cannot flood the audit log.
            self.forget_attempts(&pending).await?;
            self.throttle
                .refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if self.throttle.first_in_window(key, now) {
                let mut tx = self.core.db.begin().await?;
                audit::append(
                    &mut tx,
                    now,
                    &anon,
                    NewEvent::success("console.signin.throttled")
                        .outcome(Outcome::Denied)
                        .details(json!({
                            "email": audit_email(&email_norm),
                            "limit": if key == &account_key { "account" } else { "source_address" },
                            "window_minutes": THROTTLE_WINDOW_MINUTES,
                            "note": "further refusals for this account or address in this window are counted on /metrics (console_signin_throttled_total), not audited one by one",
                        })),
                )
                .await?;
                tx.commit().await?;
            }
            return Err(Error::RateLimited {
                retry_after_secs: (THROTTLE_WINDOW_MINUTES * 60) as u64,
            });
        }
        let user = match email_field {
            Ok(e) => self.find_user_by_email(&e).await?,
            Err(_) => None,
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let password_ok = verify_password(password.to_owned(), stored).await?;
        let active = user
            .as_ref()
            .map(|u| u.status().map(|s| s == ConsoleUserStatus::Active))
            .transpose()?
            .unwrap_or(false);
        let mut tx = self.core.db.begin().await?;
        match user {
            Some(u) if password_ok && active => {
                let secret = self.insert_session(&mut tx, &u.id, &meta, now).await?;
                store::note_signin(tx.exec(), &u.id, now).await?;
                store::delete_failures_of(tx.exec(), &account_key).await?;
                // This attempt's count against its address is withdrawn
                // (successes never count); earlier failures stay.
                for id in &pending {
                    store::delete_failure(tx.exec(), *id).await?;
                }
                let me = u.me()?;
                let actor =
                    Actor::console_user(&u.id.as_str().into(), &u.email, Some(me.role), meta);
                audit::append(
                    &mut tx,
                    now,
                    &actor,
                    NewEvent::success("console.signin.succeeded")
                        .target(Target::new("console_user", &u.id, &u.email))
                        .details(json!({ "method": "password" })),
                )
                .await?;
                tx.commit().await?;
                Ok(NewSession { secret, me })
            }
            other => {
                let reason = match &other {
                    None => "unknown_account",
                    Some(_) if !password_ok => "wrong_password",
                    Some(_) => "account_not_active",
                };
                // The failure is already counted (above, before the check).
                let mut event = NewEvent::success("console.signin.failed")
                    .outcome(Outcome::Failure)
                    .details(json!({ "email": audit_email(&email_norm), "reason": reason }));
                if let Some(u) = &other {
                    event = event.target(Target::new("console_user", &u.id, &u.email));
                }
                audit::append(&mut tx, now, &anon, event).await?;
                tx.commit().await?;
                Err(Error::Unauthenticated(
                    "the email or password is wrong, or the account is not active".into(),
                ))
            }
        }
    }
}
