//! Console auth: the people who run Portcullis (owners, admins, auditors),
//! their one-time set-up links, passwords, sessions and sign-in throttling.
//!
//! Invariants:
//! - Passwords are hashed with argon2id; session ids and one-time tokens are
//!   stored only as SHA-256 hashes. None of them reaches a log or audit event.
//! - A session is valid while its user is active, it was used within the idle
//!   timeout and it is younger than the absolute timeout. Signing in always
//!   creates a new session id; a role change or disable ends the user's
//!   sessions; sign-out deletes the session row.
//! - Failed sign-ins are throttled per account and per source IP within a
//!   sliding window; every attempt, refused or not, is audited.
//! - There is always at least one active owner once one exists: the last
//!   owner cannot be demoted or disabled.
//! - Every mutation appends its audit event in the same transaction.

use crate::actor::{Actor, Permission, RequestMeta};
use crate::audit::{self, like_escape, NewEvent, Target, MAX_PAGE};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::Core;
use crate::{exec, fetch_all, fetch_optional, scalar};
use chrono::{DateTime, Duration, Utc};
use portcullis_types::{
    ActorType, AdminSummary, ConsoleUserId, ConsoleUserStatus, LinkInfo, Me, OneTimeLink, Outcome,
    Page, Role,
};
use serde_json::json;
use std::sync::Arc;

/// Failed attempts per account within [`THROTTLE_WINDOW_MINUTES`] before
/// sign-in is refused for that account.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failed attempts per source IP within the window.
pub const MAX_FAILURES_PER_IP: i64 = 20;
/// The sliding window for throttling.
pub const THROTTLE_WINDOW_MINUTES: i64 = 15;
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// A freshly created session: the secret goes into the cookie, once.
#[derive(Debug)]
pub struct NewSession {
    pub secret: String,
    pub me: Me,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    display_name: String,
    role: String,
    status: String,
    password_hash: Option<String>,
}

impl UserRow {
    fn role(&self) -> Result<Role> {
        self.role.parse().map_err(Error::Internal)
    }
    fn status(&self) -> Result<ConsoleUserStatus> {
        self.status.parse().map_err(Error::Internal)
    }
    fn me(&self) -> Result<Me> {
        Ok(Me {
            id: ConsoleUserId(self.id.clone()),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            role: self.role()?,
        })
    }
}

const SELECT_USER: &str =
    "SELECT id, email, display_name, role, status, password_hash FROM console_users";

/// Normalises and checks an email address; names the field on error.
pub fn normalize_email(field: &str, email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    if valid {
        Ok(e)
    } else {
        Err(Error::invalid(
            field,
            "enter an email address like alice@example.com",
        ))
    }
}

fn check_display_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(Error::invalid(
            "display_name",
            "use at most 100 characters, no control characters",
        ));
    }
    Ok(n.to_owned())
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::invalid(
            "password",
            format!("use at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if password.len() > 1024 {
        return Err(Error::invalid("password", "use at most 1024 bytes"));
    }
    Ok(())
}

async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("hashing task: {e}")))?
}

/// Verifies in a blocking task. With no stored hash, a dummy hash is
/// verified so unknown accounts take as long as known ones.
async fn verify_password(password: String, stored: Option<String>) -> Result<bool> {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Xq9Hd1pC1sFpuyW2h0nq+1r3aGNJ1yEObXfC3tAhfA";
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY.to_owned());
        let parsed =
            PasswordHash::new(&hash).map_err(|e| Error::Internal(format!("stored hash: {e}")))?;
        let ok = argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && known)
    })
    .await
    .map_err(|e| Error::Internal(format!("hashing task: {e}")))?
}

/// Console users, sign-in and sessions.
#[derive(Clone)]
pub struct ConsoleService {
    pub(crate) core: Arc<Core>,
    pub(crate) throttle: Arc<SigninThrottle>,
}

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

    fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        Ok(fetch_optional!(
            self.core.db.exec(),
            UserRow,
            &format!("{SELECT_USER} WHERE email = $1"),
            email
        )?)
    }

    async fn get_user_in(tx: &mut Tx, id: &str) -> Result<UserRow> {
        fetch_optional!(
            tx.exec(),
            UserRow,
            &format!("{SELECT_USER} WHERE id = $1"),
            id
        )?
        .ok_or(Error::NotFound("console user"))
    }

    async fn insert_link(
        tx: &mut Tx,
        user_id: &str,
        purpose: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<(String, DateTime<Utc>)> {
        let token = new_secret();
        let expires_at = now + ttl;
        exec!(
            tx.exec(),
            "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            hash_secret(&token),
            user_id,
            purpose,
            now,
            expires_at
        )?;
        Ok((token, expires_at))
    }

    /// Creates an owner (or re-issues the link of an owner that has not set a
    /// password yet) and returns a one-time set-up link valid for 24 hours.
    /// Used by `portcullis admin create-owner` and first start.
    /// **Permission:** system actor only.
    pub async fn create_owner(
        &self,
        actor: &Actor,
        email: &str,
        display_name: &str,
    ) -> Result<OneTimeLink> {
        if actor.kind != ActorType::System {
            return Err(Error::Forbidden(
                "owners are created from the command line".into(),
            ));
        }
        let email = normalize_email("email", email)?;
        let display_name = check_display_name(display_name)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let existing = fetch_optional!(
            tx.exec(),
            UserRow,
            &format!("{SELECT_USER} WHERE email = $1"),
            &email
        )?;
        let (id, action) = match existing {
            Some(u) if u.status()? == ConsoleUserStatus::Active => {
                return Err(Error::Conflict {
                    field: "email".into(),
                    message: format!("{email} already has an active console account"),
                })
            }
            Some(u) => {
                exec!(
                    tx.exec(),
                    "UPDATE console_users SET role = 'owner', status = 'invited', updated_at = $2 WHERE id = $1",
                    &u.id,
                    now
                )?;
                exec!(
                    tx.exec(),
                    "DELETE FROM one_time_tokens WHERE user_id = $1",
                    &u.id
                )?;
                (u.id, "console.owner.link_reissued")
            }
            None => {
                let id = new_id("usr");
                let name = if display_name.is_empty() {
                    email.clone()
                } else {
                    display_name.clone()
                };
                exec!(
                    tx.exec(),
                    "INSERT INTO console_users (id, email, display_name, role, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'owner', 'invited', $4, $4)",
                    &id,
                    &email,
                    &name,
                    now
                )?;
                (id, "console.owner.created")
            }
        };
        let (token, expires_at) =
            Self::insert_link(&mut tx, &id, "owner_setup", now, Duration::hours(24)).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success(action)
                .target(Target::new("console_user", &id, &email))
                .details(json!({ "role": "owner", "link_expires_at": expires_at })),
        )
        .await?;
        tx.commit().await?;
        Ok(OneTimeLink {
            user_id: ConsoleUserId(id),
            email,
            path: format!("/setup?token={token}"),
            expires_at,
        })
    }

    /// On an empty console (no active owner), issues a set-up link for the
    /// first owner so a newcomer can get in. Returns `None` once an owner
    /// has signed up.
    pub async fn ensure_first_owner_link(&self, email: &str) -> Result<Option<OneTimeLink>> {
        let active_owners = scalar!(
            self.core.db.exec(),
            i64,
            "SELECT COUNT(*) FROM console_users WHERE role = 'owner' AND status = 'active'"
        )?;
        if active_owners > 0 {
            return Ok(None);
        }
        let pending = scalar!(
            self.core.db.exec(),
            Option<String>,
            "SELECT MIN(email) FROM console_users WHERE role = 'owner' AND status = 'invited'"
        )?;
        let email = pending.unwrap_or_else(|| email.to_owned());
        self.create_owner(&Actor::system("portcullis serve (first start)"), &email, "")
            .await
            .map(Some)
    }

    /// Describes a one-time link without using it (the set-up page).
    pub async fn get_link(&self, token: &str) -> Result<LinkInfo> {
        #[derive(sqlx::FromRow)]
        struct Row {
            email: String,
            display_name: String,
            role: String,
            purpose: String,
        }
        let row = fetch_optional!(
            self.core.db.exec(),
            Row,
            "SELECT u.email, u.display_name, u.role, t.purpose FROM one_time_tokens t \
             JOIN console_users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 AND u.status = 'invited'",
            hash_secret(token),
            self.now()
        )?
        .ok_or_else(|| Error::invalid("token", "this link is invalid, used or expired; ask an owner for a new one"))?;
        Ok(LinkInfo {
            email: row.email,
            display_name: row.display_name,
            role: row.role.parse().map_err(Error::Internal)?,
            purpose: row.purpose,
        })
    }

    /// Uses a one-time link: sets the password, activates the account and
    /// signs it in. Audited as `console.owner.setup_completed` or
    /// `console.invite.accepted`.
    pub async fn accept_link(
        &self,
        meta: RequestMeta,
        token: &str,
        display_name: &str,
        password: &str,
    ) -> Result<NewSession> {
        check_password(password)?;
        let display_name = check_display_name(display_name)?;
        let password_hash = hash_password(password.to_owned()).await?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        #[derive(sqlx::FromRow)]
        struct Tok {
            user_id: String,
            purpose: String,
        }
        let tok = fetch_optional!(
            tx.exec(),
            Tok,
            "SELECT user_id, purpose FROM one_time_tokens \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
            hash_secret(token),
            now
        )?
        .ok_or_else(|| {
            Error::invalid(
                "token",
                "this link is invalid, used or expired; ask an owner for a new one",
            )
        })?;
        let user = Self::get_user_in(&mut tx, &tok.user_id).await?;
        if user.status()? != ConsoleUserStatus::Invited {
            return Err(Error::invalid(
                "token",
                "this account is already set up; sign in instead",
            ));
        }
        exec!(
            tx.exec(),
            "UPDATE one_time_tokens SET used_at = $2 WHERE token_hash = $1",
            hash_secret(token),
            now
        )?;
        let name = if display_name.is_empty() {
            user.display_name.clone()
        } else {
            display_name
        };
        exec!(
            tx.exec(),
            "UPDATE console_users SET status = 'active', password_hash = $2, display_name = $3, \
             updated_at = $4, last_signin_at = $4 WHERE id = $1",
            &user.id,
            &password_hash,
            &name,
            now
        )?;
        let mut me = user.me()?;
        me.display_name = name;
        let secret = self.insert_session(&mut tx, &me.id.0, &meta, now).await?;
        let action = if tok.purpose == "owner_setup" {
            "console.owner.setup_completed"
        } else {
            "console.invite.accepted"
        };
        let actor = Actor::console_user(&me.id.0, &me.email, Some(me.role), meta);
        audit::append(
            &mut tx,
            now,
            &actor,
            NewEvent::success(action).target(Target::new("console_user", &me.id.0, &me.email)),
        )
        .await?;
        tx.commit().await?;
        Ok(NewSession { secret, me })
    }

    pub(crate) async fn insert_session(
        &self,
        tx: &mut Tx,
        user_id: &str,
        meta: &RequestMeta,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let secret = new_secret();
        let expires_at = now + self.core.settings.session_absolute;
        exec!(
            tx.exec(),
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, source_ip, user_agent) \
             VALUES ($1, $2, $3, $3, $4, $5, $6)",
            hash_secret(&secret),
            user_id,
            now,
            expires_at,
            &meta.source_ip,
            meta.user_agent.as_deref().map(|s| s.chars().take(512).collect::<String>())
        )?;
        Ok(secret)
    }

    /// Withdraws attempts counted by `sign_in` (by their row ids).
    async fn forget_attempts(&self, ids: &[i64]) -> Result<()> {
        for id in ids {
            exec!(
                self.core.db.exec(),
                "DELETE FROM signin_failures WHERE id = $1",
                id
            )?;
        }
        Ok(())
    }

    pub(crate) async fn count_failures(&self, key: &str, since: DateTime<Utc>) -> Result<i64> {
        Ok(scalar!(
            self.core.db.exec(),
            i64,
            "SELECT COUNT(*) FROM signin_failures WHERE key = $1 AND at > $2",
            key,
            since
        )?)
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
                pending.push(scalar!(
                    tx.exec(),
                    i64,
                    "INSERT INTO signin_failures (key, at) VALUES ($1, $2) RETURNING id",
                    *key,
                    now
                )?);
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
                exec!(
                    tx.exec(),
                    "UPDATE console_users SET last_signin_at = $2 WHERE id = $1",
                    &u.id,
                    now
                )?;
                exec!(
                    tx.exec(),
                    "DELETE FROM signin_failures WHERE key = $1",
                    &account_key
                )?;
                // This attempt's count against its address is withdrawn
                // (successes never count); earlier failures stay.
                for id in &pending {
                    exec!(tx.exec(), "DELETE FROM signin_failures WHERE id = $1", id)?;
                }
                let me = u.me()?;
                let actor = Actor::console_user(&u.id, &u.email, Some(me.role), meta);
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

    /// Resolves a session cookie to its actor, refreshing `last_seen_at` at
    /// most once a minute. Expired sessions are deleted.
    pub async fn find_session(&self, secret: &str, meta: RequestMeta) -> Result<Option<Actor>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id_hash: String,
            last_seen_at: DateTime<Utc>,
            expires_at: DateTime<Utc>,
            user_id: String,
            email: String,
            role: String,
            status: String,
        }
        let now = self.now();
        let id_hash = hash_secret(secret);
        let Some(row) = fetch_optional!(
            self.core.db.exec(),
            Row,
            "SELECT s.id_hash, s.last_seen_at, s.expires_at, s.user_id, u.email, u.role, u.status \
             FROM sessions s JOIN console_users u ON u.id = s.user_id WHERE s.id_hash = $1",
            &id_hash
        )?
        else {
            return Ok(None);
        };
        let idle_expired = row.last_seen_at + self.core.settings.session_idle <= now;
        if row.status != "active" || idle_expired || row.expires_at <= now {
            exec!(
                self.core.db.exec(),
                "DELETE FROM sessions WHERE id_hash = $1",
                &id_hash
            )?;
            return Ok(None);
        }
        if now - row.last_seen_at > Duration::seconds(60) {
            exec!(
                self.core.db.exec(),
                "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1",
                &id_hash,
                now
            )?;
        }
        Ok(Some(Actor {
            kind: ActorType::ConsoleUser,
            id: Some(row.user_id),
            display: row.email,
            role: Some(row.role.parse().map_err(Error::Internal)?),
            session: Some(row.id_hash),
            meta,
        }))
    }

    /// The signed-in user. **Permission:** `ConsoleRead`.
    pub async fn get_me(&self, actor: &Actor) -> Result<Me> {
        actor.require(Permission::ConsoleRead)?;
        let id = actor.id.as_deref().ok_or(Error::NotFound("console user"))?;
        fetch_optional!(
            self.core.db.exec(),
            UserRow,
            &format!("{SELECT_USER} WHERE id = $1"),
            id
        )?
        .ok_or(Error::NotFound("console user"))?
        .me()
    }

    /// Ends the caller's session server-side. Audited as `console.signout`.
    pub async fn sign_out(&self, actor: &Actor) -> Result<()> {
        let Some(session) = &actor.session else {
            return Ok(());
        };
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let n = exec!(
            tx.exec(),
            "DELETE FROM sessions WHERE id_hash = $1",
            session
        )?;
        if n > 0 {
            audit::append(&mut tx, now, actor, NewEvent::success("console.signout")).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Lists console users, searchable by email or name. **Permission:** `AdminsManage`.
    pub async fn list_admins(
        &self,
        actor: &Actor,
        search: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Page<AdminSummary>> {
        actor.require(Permission::AdminsManage)?;
        #[derive(sqlx::FromRow)]
        struct Row {
            id: String,
            email: String,
            display_name: String,
            role: String,
            status: String,
            created_at: DateTime<Utc>,
            last_signin_at: Option<DateTime<Utc>>,
            active_sessions: i64,
        }
        let limit = if limit <= 0 { 50 } else { limit.min(MAX_PAGE) };
        let offset = offset.max(0);
        let pattern = format!("%{}%", like_escape(&search.trim().to_lowercase()));
        let filter =
            " WHERE (email LIKE $1 ESCAPE '\\' OR LOWER(display_name) LIKE $1 ESCAPE '\\')";
        let total = scalar!(
            self.core.db.exec(),
            i64,
            &format!("SELECT COUNT(*) FROM console_users{filter}"),
            &pattern
        )?;
        let rows = fetch_all!(
            self.core.db.exec(),
            Row,
            &format!(
                "SELECT id, email, display_name, role, status, created_at, last_signin_at, \
                 (SELECT COUNT(*) FROM sessions s WHERE s.user_id = console_users.id AND s.expires_at > $4) AS active_sessions \
                 FROM console_users{filter} ORDER BY email LIMIT $2 OFFSET $3"
            ),
            &pattern,
            limit,
            offset,
            self.now()
        )?;
        let items = rows
            .into_iter()
            .map(|r| {
                Ok(AdminSummary {
                    id: ConsoleUserId(r.id),
                    email: r.email,
                    display_name: r.display_name,
                    role: r.role.parse().map_err(Error::Internal)?,
                    status: r.status.parse().map_err(Error::Internal)?,
                    created_at: r.created_at,
                    last_signin_at: r.last_signin_at,
                    active_sessions: r.active_sessions,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total,
            offset,
            limit,
        })
    }

    /// Invites a console user by email; returns the one-time link (valid 7
    /// days) to send them. Audited as `console.admin.invited`.
    /// **Permission:** `AdminsManage`.
    pub async fn invite_admin(
        &self,
        actor: &Actor,
        email: &str,
        display_name: &str,
        role: Role,
    ) -> Result<OneTimeLink> {
        actor.require(Permission::AdminsManage)?;
        let email = normalize_email("email", email)?;
        let display_name = check_display_name(display_name)?;
        let now = self.now();
        let id = new_id("usr");
        let mut tx = self.core.db.begin().await?;
        let name = if display_name.is_empty() {
            email.clone()
        } else {
            display_name
        };
        exec!(
            tx.exec(),
            "INSERT INTO console_users (id, email, display_name, role, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'invited', $5, $5)",
            &id,
            &email,
            &name,
            role.as_str(),
            now
        )?;
        let (token, expires_at) =
            Self::insert_link(&mut tx, &id, "invite", now, Duration::days(7)).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("console.admin.invited")
                .target(Target::new("console_user", &id, &email))
                .details(json!({ "role": role.as_str(), "link_expires_at": expires_at })),
        )
        .await?;
        tx.commit().await?;
        Ok(OneTimeLink {
            user_id: ConsoleUserId(id),
            email,
            path: format!("/setup?token={token}"),
            expires_at,
        })
    }

    async fn active_owner_count(tx: &mut Tx) -> Result<i64> {
        Ok(scalar!(
            tx.exec(),
            i64,
            "SELECT COUNT(*) FROM console_users WHERE role = 'owner' AND status = 'active'"
        )?)
    }

    /// Changes a console user's role and ends their sessions (they sign in
    /// again with the new role). The last active owner keeps the role.
    /// Audited as `console.admin.role_changed`. **Permission:** `AdminsManage`.
    pub async fn set_role(&self, actor: &Actor, user_id: &ConsoleUserId, role: Role) -> Result<()> {
        actor.require(Permission::AdminsManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let user = Self::get_user_in(&mut tx, &user_id.0).await?;
        let old = user.role()?;
        if old == role {
            return Ok(());
        }
        if old == Role::Owner
            && user.status()? == ConsoleUserStatus::Active
            && Self::active_owner_count(&mut tx).await? <= 1
        {
            return Err(Error::PreconditionFailed(
                "this is the last active owner; make someone else an owner first".into(),
            ));
        }
        exec!(
            tx.exec(),
            "UPDATE console_users SET role = $2, updated_at = $3 WHERE id = $1",
            &user.id,
            role.as_str(),
            now
        )?;
        let ended = exec!(
            tx.exec(),
            "DELETE FROM sessions WHERE user_id = $1",
            &user.id
        )?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("console.admin.role_changed")
                .target(Target::new("console_user", &user.id, &user.email))
                .details(
                    json!({ "from": old.as_str(), "to": role.as_str(), "sessions_ended": ended }),
                ),
        )
        .await?;
        tx.commit().await
    }

    /// Disables a console user and ends their sessions. Owners cannot
    /// disable themselves or the last active owner. Audited as
    /// `console.admin.disabled`. **Permission:** `AdminsManage`.
    pub async fn disable_admin(&self, actor: &Actor, user_id: &ConsoleUserId) -> Result<()> {
        actor.require(Permission::AdminsManage)?;
        if actor.id.as_deref() == Some(user_id.0.as_str()) {
            return Err(Error::PreconditionFailed(
                "you cannot disable your own account".into(),
            ));
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let user = Self::get_user_in(&mut tx, &user_id.0).await?;
        if user.status()? == ConsoleUserStatus::Disabled {
            return Ok(());
        }
        if user.role()? == Role::Owner
            && user.status()? == ConsoleUserStatus::Active
            && Self::active_owner_count(&mut tx).await? <= 1
        {
            return Err(Error::PreconditionFailed(
                "this is the last active owner".into(),
            ));
        }
        exec!(
            tx.exec(),
            "UPDATE console_users SET status = 'disabled', updated_at = $2 WHERE id = $1",
            &user.id,
            now
        )?;
        let ended = exec!(
            tx.exec(),
            "DELETE FROM sessions WHERE user_id = $1",
            &user.id
        )?;
        exec!(
            tx.exec(),
            "DELETE FROM one_time_tokens WHERE user_id = $1",
            &user.id
        )?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("console.admin.disabled")
                .target(Target::new("console_user", &user.id, &user.email))
                .details(json!({ "sessions_ended": ended })),
        )
        .await?;
        tx.commit().await
    }

    /// Re-enables a disabled console user (they sign in with their old
    /// password, or get a new link if they never set one). Audited as
    /// `console.admin.enabled`. **Permission:** `AdminsManage`.
    pub async fn enable_admin(&self, actor: &Actor, user_id: &ConsoleUserId) -> Result<()> {
        actor.require(Permission::AdminsManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let user = Self::get_user_in(&mut tx, &user_id.0).await?;
        if user.status()? != ConsoleUserStatus::Disabled {
            return Ok(());
        }
        let status = if user.password_hash.is_some() {
            "active"
        } else {
            "invited"
        };
        exec!(
            tx.exec(),
            "UPDATE console_users SET status = $2, updated_at = $3 WHERE id = $1",
            &user.id,
            status,
            now
        )?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("console.admin.enabled")
                .target(Target::new("console_user", &user.id, &user.email))
                .details(json!({ "status": status })),
        )
        .await?;
        tx.commit().await
    }

    /// Ends every session of a console user. Audited as
    /// `console.admin.sessions_revoked`. **Permission:** `AdminsManage`.
    pub async fn revoke_sessions(&self, actor: &Actor, user_id: &ConsoleUserId) -> Result<u64> {
        actor.require(Permission::AdminsManage)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let user = Self::get_user_in(&mut tx, &user_id.0).await?;
        let ended = exec!(
            tx.exec(),
            "DELETE FROM sessions WHERE user_id = $1",
            &user.id
        )?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("console.admin.sessions_revoked")
                .target(Target::new("console_user", &user.id, &user.email))
                .details(json!({ "sessions_ended": ended })),
        )
        .await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Deletes expired sessions, used links and old throttling records
    /// (a background job). Returns the number of rows removed.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = self.now();
        let db = &self.core.db;
        let idle_cutoff = now - self.core.settings.session_idle;
        let a = exec!(
            db.exec(),
            "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2",
            now,
            idle_cutoff
        )?;
        let b = exec!(
            db.exec(),
            "DELETE FROM signin_failures WHERE at <= $1",
            now - Duration::minutes(THROTTLE_WINDOW_MINUTES)
        )?;
        let c = exec!(
            db.exec(),
            "DELETE FROM one_time_tokens WHERE used_at IS NOT NULL OR expires_at <= $1",
            now - Duration::days(30)
        )?;
        Ok(a + b + c)
    }
}

/// An email typed at sign-in, clipped for the audit log (it is untrusted).
fn audit_email(email: &str) -> String {
    email.chars().take(254).collect()
}
