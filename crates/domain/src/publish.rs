//! The policy API's bundle: the current revision, signed, kept in memory
//! ready to send (identity and gzip bytes, ETags), and a way to wait for the
//! next one.
//!
//! - Built from the versioned facts of the head revision
//!   ([`revisions::load_bundle`]) with `issued_at` = the revision's creation
//!   time, signed with the active key (Ed25519 is deterministic): so the same
//!   revision gives byte-identical bodies and the same strong ETag on every
//!   replica and after a restart.
//! - [`PolicyPublisher::run`] rebuilds when a transaction moved the policy
//!   head or the signing key (in this process, or on another replica via
//!   PostgreSQL `NOTIFY`, see [`crate::db::Db::listen`]), and checks the head
//!   every few seconds (`Settings::policy_recheck`) in case a signal was missed (e.g. the CLI wrote to
//!   SQLite). Changes arriving during a build coalesce into one more build
//!   of the newest head.
//! - Readers never touch the database: [`PolicyPublisher::latest`] and
//!   [`PolicyPublisher::subscribe`] read a `watch` channel. If the database
//!   is unreachable the last bundle keeps being served.

use crate::db::Topic;
use crate::error::{Error, Result};
use crate::signing::SigningService;
use crate::{revisions, Core};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::Digest;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long the JWKS document is served from memory before it is read
/// again (a key change refreshes it at once; this lets retired keys age out).
const JWKS_MAX_AGE: Duration = Duration::from_secs(600);

/// The JWKS document and when it was read.
type CachedJwks = (std::time::Instant, Arc<String>);

/// One signed revision, ready to send.
#[derive(Debug)]
pub struct Published {
    pub revision: i64,
    /// The key that signed it.
    pub kid: String,
    /// Strong ETag of the identity body: `"<revision>-<sha256 prefix>"`.
    pub etag: String,
    /// Strong ETag of the gzip body (the identity ETag with `.gz`).
    pub etag_gzip: String,
    /// The same values as bytes, to make response headers from without
    /// copying: identity ETag, gzip ETag, revision, key id.
    pub header_bytes: [Bytes; 4],
    /// The compact JWS.
    pub body: Bytes,
    /// The same, gzip-compressed.
    pub gzip: Bytes,
    /// When this process built it.
    pub built_at: DateTime<Utc>,
}

impl Published {
    /// Whether an `If-None-Match` header value names this revision's
    /// representation (either encoding; weak comparison, RFC 9110 §13.1.2).
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match.split(',').map(str::trim).any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*" || tag == self.etag || tag == self.etag_gzip
        })
    }
}

/// Keeps the current signed bundle in memory.
#[derive(Clone)]
pub struct PolicyPublisher {
    core: Arc<Core>,
    signing: SigningService,
    current: Arc<watch::Sender<Option<Arc<Published>>>>,
    /// The JWKS document and when it was read (retired keys age out of it).
    jwks: Arc<watch::Sender<Option<CachedJwks>>>,
    building: Arc<tokio::sync::Mutex<()>>,
}

fn build_body(revision: i64, kid: String, signed: String, now: DateTime<Utc>) -> Result<Published> {
    let hash = hex::encode(sha2::Sha256::digest(signed.as_bytes()));
    let etag = format!("\"{revision}-{}\"", &hash[..32]);
    let etag_gzip = format!("\"{revision}-{}.gz\"", &hash[..32]);
    // flate2 writes a zero mtime, so the gzip bytes are deterministic too.
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(signed.len() / 4),
        flate2::Compression::default(),
    );
    gz.write_all(signed.as_bytes())
        .and_then(|()| gz.flush())
        .map_err(|e| Error::Internal(format!("gzip: {e}")))?;
    let gzip = gz
        .finish()
        .map_err(|e| Error::Internal(format!("gzip: {e}")))?;
    let header_bytes = [
        Bytes::from(etag.clone()),
        Bytes::from(etag_gzip.clone()),
        Bytes::from(revision.to_string()),
        Bytes::from(kid.clone()),
    ];
    Ok(Published {
        revision,
        kid,
        etag,
        etag_gzip,
        header_bytes,
        body: Bytes::from(signed),
        gzip: Bytes::from(gzip),
        built_at: now,
    })
}

impl PolicyPublisher {
    pub fn new(core: Arc<Core>, signing: SigningService) -> Self {
        Self {
            core,
            signing,
            current: Arc::new(watch::channel(None).0),
            jwks: Arc::new(watch::channel(None).0),
            building: Arc::default(),
        }
    }

    /// The bundle being served, if one was built.
    pub fn latest(&self) -> Option<Arc<Published>> {
        self.current.borrow().clone()
    }

    /// A receiver that wakes when a new bundle is published.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Published>>> {
        self.current.subscribe()
    }

    /// How many readers hold a subscription (long-polls waiting, for
    /// metrics and tests).
    pub fn receiver_count(&self) -> usize {
        self.current.receiver_count()
    }

    /// The JWKS document (cached; refreshed with the bundle).
    pub async fn jwks(&self) -> Result<Arc<String>> {
        let cached = self.jwks.borrow().clone();
        match cached {
            Some((at, doc)) if at.elapsed() < JWKS_MAX_AGE => Ok(doc),
            // Serve the old one if the database is away.
            Some((_, doc)) => Ok(self.refresh_jwks().await.unwrap_or(doc)),
            None => self.refresh_jwks().await,
        }
    }

    async fn refresh_jwks(&self) -> Result<Arc<String>> {
        let doc = Arc::new(self.signing.jwks().await?);
        self.jwks
            .send_replace(Some((std::time::Instant::now(), doc.clone())));
        Ok(doc)
    }

    /// Builds and publishes the head revision if it (or the signing key)
    /// differs from what is served; returns what is served afterwards.
    pub async fn refresh(&self) -> Result<Arc<Published>> {
        let _one_at_a_time = self.building.lock().await;
        let head = revisions::head(self.core.db.exec()).await?;
        let key = self.signing.active().await?;
        if let Some(p) = self
            .latest()
            .filter(|p| p.revision == head && p.kid == key.kid())
        {
            return Ok(p);
        }
        if self.latest().is_none_or(|p| p.kid != key.kid()) {
            self.refresh_jwks().await?;
        }
        let created_at = revisions::created_at(self.core.db.exec(), head)
            .await?
            .unwrap_or_default();
        let bundle = revisions::load_bundle(self.core.db.exec(), head, created_at).await?;
        let now = self.core.clock.now();
        let published = tokio::task::spawn_blocking(move || -> Result<Published> {
            let json = bundle
                .to_canonical_json()
                .map_err(|e| Error::Internal(format!("bundle JSON: {e}")))?;
            let signed = key
                .sign(&json)
                .map_err(|e| Error::Internal(format!("signing the bundle: {e}")))?;
            build_body(head, key.kid().to_owned(), signed, now)
        })
        .await
        .map_err(|e| Error::Internal(format!("bundle build task: {e}")))??;
        let published = Arc::new(published);
        // A newer revision may have been published meanwhile by nobody else
        // (builds are serialised), so this one is the newest.
        self.current.send_replace(Some(published.clone()));
        tracing::info!(
            revision = head,
            kid = %published.kid,
            bytes = published.body.len(),
            gzip_bytes = published.gzip.len(),
            "policy bundle published"
        );
        Ok(published)
    }

    /// Keeps the bundle current until the process ends: rebuilds on a
    /// policy or key signal, and at least every `Settings::policy_recheck`. Errors
    /// (e.g. the database away) are logged and retried with back-off while
    /// the last bundle keeps being served.
    pub async fn run(self) {
        let signals = self.core.db.signals();
        let mut policy = signals.subscribe(Topic::Policy);
        let mut keys = signals.subscribe(Topic::Keys);
        let mut failures = 0u32;
        loop {
            policy.mark_unchanged();
            keys.mark_unchanged();
            match self.refresh().await {
                Ok(_) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, failures, "policy bundle refresh failed; serving the last one");
                    let backoff = Duration::from_millis(250 * 2u64.pow(failures.min(5)));
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
            tokio::select! {
                r = policy.changed() => if r.is_err() { return },
                r = keys.changed() => if r.is_err() { return },
                () = tokio::time::sleep(self.core.settings.policy_recheck) => {},
            }
        }
    }
}
