//! The policy API's bundle: the current revision, signed, kept in memory
//! ready to send (identity and gzip bytes, ETags, and a signed delta from
//! the previous revision), and a way to wait for the next one.
//!
//! - Built from the versioned facts of the head revision, with `issued_at`
//!   = the revision's creation time: from the previous revision's bundle
//!   and only the facts the change touches ([`revisions::reassemble`]: the
//!   changed keys are read, then those entries' facts by key; no copy of
//!   every fact is kept between revisions), or from every fact
//!   ([`revisions::assemble`]) the first time and after large changes.
//!   Signed with the active key (Ed25519 is deterministic), so the same
//!   revision gives byte-identical bodies and the same strong
//!   ETag on every replica and after a restart.
//! - Each revision is announced with its ETag (from the revision, the key
//!   and the SHA-256 of the canonical JSON) and the signed delta from the
//!   previous revision (a few hundred bytes; RFC 3229 `226 IM Used`, see
//!   `docs/policy-api.md`). That is all a revision costs while every gateway
//!   follows by deltas. The canonical JSON is kept in pieces shared from
//!   revision to revision ([`CanonicalJson`]): a revision writes the JSON
//!   of the entries it changed, and hashes the whole text.
//! - The whole signed body (18 MB for 100,000 people, kept as its 2.5 MB
//!   gzip: signing and compressing it takes far longer than the delta) is
//!   built only when
//!   a reader needs them ([`PolicyPublisher::full`]: a gateway that holds no
//!   base of the delta, or cannot take deltas), once per revision however
//!   many ask at once, on a thread of lower CPU priority so the build does
//!   not compete with the server writing deltas to the waiting gateways. A
//!   burst of writes nobody reads whole costs no whole body at all, and the
//!   body is dropped with its revision when the next one is announced.
//! - [`PolicyPublisher::run`] rebuilds when a transaction moved the policy
//!   head or the signing key (in this process, or on another replica via
//!   PostgreSQL `NOTIFY`, see [`crate::db::Db::listen`]), and checks the head
//!   every few seconds (`Settings::policy_recheck`) in case a signal was missed (e.g. the CLI wrote to
//!   SQLite). Changes arriving during a build coalesce into one more build
//!   of the newest head. In a burst (a change within one build's time of
//!   the last build) the publisher first rests as long as that build took
//!   (at most 250 ms), so building takes at most about half a core away
//!   from the writers however fast they write; a change after a quiet spell
//!   is built at once.
//! - Readers never touch the database: [`PolicyPublisher::latest`] and
//!   [`PolicyPublisher::subscribe`] read a `watch` channel. If the database
//!   is unreachable the last bundle keeps being served.

use crate::db::Topic;
use crate::error::{Error, Result};
use crate::revisions::{db_revision, FactMap, Touched};
use crate::signing::SigningService;
use crate::{revisions, Core};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use portcullis_policy::canonical::CanonicalJson;
use portcullis_policy::delta::Delta;
pub use portcullis_policy::delta::DELTA_IM;
use portcullis_policy::signed::{LoadError, SigningKey};
use portcullis_policy::Bundle;
use sha2::Digest;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The longest the publisher rests between two builds in a burst of
/// changes ([`PolicyPublisher::run`]).
const MAX_REST: Duration = Duration::from_millis(250);

/// How long the JWKS document is served from memory before it is read
/// again (a key change refreshes it at once; this lets retired keys age out).
const JWKS_MAX_AGE: Duration = Duration::from_secs(600);

/// The JWKS document and when it was read.
type CachedJwks = (std::time::Instant, Arc<String>);

/// One signed revision, ready to send.
#[derive(Debug, Clone)]
pub struct Published {
    pub revision: i64,
    /// The key that signed it.
    pub kid: String,
    /// Strong ETag of the identity body: `"<revision>-<hash prefix>"`, the
    /// hash over the key id and the canonical JSON's SHA-256 (a key
    /// rotation re-signs the same revision into other bytes).
    pub etag: String,
    /// Strong ETag of the gzip body (the identity ETag with `.gz`).
    pub etag_gzip: String,
    /// The same values as bytes, to make response headers from without
    /// copying: identity ETag, gzip ETag, revision, key id.
    pub header_bytes: [Bytes; 4],
    /// Hex SHA-256 of the bundle's canonical JSON.
    pub sha256: String,
    /// Its canonical JSON in pieces shared with the revisions before and
    /// after it: the next revision writes only the pieces its changes
    /// touch, and the whole body takes its text from here.
    pub json: Arc<CanonicalJson>,
    /// The signed delta from the previously published revision, if that was
    /// an older revision signed with the same key.
    pub delta: Option<Arc<SignedDelta>>,
    /// The whole signed body, once a reader asked for it
    /// ([`PolicyPublisher::full`]; shared by clones).
    full: Arc<tokio::sync::OnceCell<Arc<FullBody>>>,
    /// The key that signs the whole body when it is built.
    key: Arc<SigningKey>,
    /// When this process built it.
    pub built_at: DateTime<Utc>,
    /// How long each step of the build took (logged; benchmarks print it).
    pub timings: BuildTimings,
}

/// Where the time of one bundle build went.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildTimings {
    /// Reading the facts (the changed ones, or all of them the first time).
    pub read: Duration,
    /// Building the bundle from the facts (only the touched entries when
    /// the previous bundle is at hand, see [`revisions::reassemble`]).
    pub assemble: Duration,
    /// Canonical JSON and its SHA-256: the JSON of the entries the
    /// change touched (the rest is the previous revision's,
    /// [`CanonicalJson::next`]), the SHA-256 over all of it.
    pub json: Duration,
    /// The delta from the previous revision, signed.
    pub delta: Duration,
    /// From the start to the announcement (ETag and delta out).
    pub announced: Duration,
    /// Whether only the entries the changed facts touch were rebuilt (from
    /// the previous bundle) rather than the whole bundle.
    pub reassembled: bool,
}

/// A signed delta and the representation it applies to.
#[derive(Debug)]
pub struct SignedDelta {
    /// The base's ETags (identity, gzip): a gateway whose `If-None-Match`
    /// names one of them holds the base.
    pub base_etag: String,
    pub base_etag_gzip: String,
    /// `base_etag` as a header value.
    pub base_etag_bytes: Bytes,
    /// The compact JWS (`typ` `portcullis-policy-delta+jws`).
    pub body: Bytes,
}

impl SignedDelta {
    /// Whether an `If-None-Match` header value names this delta's base.
    pub fn applies_to(&self, if_none_match: &str) -> bool {
        etag_list(if_none_match).any(|tag| tag == self.base_etag || tag == self.base_etag_gzip)
    }
}

/// The whole signed bundle, kept gzip-compressed (gateways ask for gzip;
/// the identity bytes, 7× larger, are made again only if a reader asks for
/// them, and then kept with the revision).
#[derive(Debug)]
pub struct FullBody {
    /// The compact JWS, gzip-compressed.
    pub gzip: Bytes,
    /// The compact JWS's length.
    pub len: usize,
    /// The compact JWS, once a reader asked for it uncompressed.
    identity: std::sync::OnceLock<Bytes>,
    /// Where the time of building it went.
    pub timings: BodyTimings,
}

impl FullBody {
    /// `canonical_json` signed with `key` (byte for byte
    /// [`SigningKey::sign`]'s JWS) and gzip-compressed, `timings.json` and
    /// `timings.total` left for the caller. Signing (two SHA-512 passes
    /// over the 25 MB signing input at 100,000 people) and compressing that
    /// same input (the longer of the two) run side by side on two threads,
    /// and the signature, 86 characters, goes into the gzip stream last: the
    /// body is ready in the time of the gzip alone
    /// (`crates/domain/benches/body_build.rs` times both ways). The signing
    /// thread inherits the caller's lowered priority; if no thread can be
    /// started the two run one after the other. The JSON is dropped once
    /// encoded into the signing input.
    pub fn build(key: &SigningKey, canonical_json: String) -> Result<Self> {
        let failed = |e: LoadError| Error::Internal(format!("signing the bundle: {e}"));
        let gz_failed = |e: std::io::Error| Error::Internal(format!("gzip: {e}"));
        let input = key.signing_input(&canonical_json).map_err(failed)?;
        drop(canonical_json);
        let sign = |input: &str| {
            let t = std::time::Instant::now();
            (key.signature(input.as_bytes()), t.elapsed())
        };
        // flate2 writes a zero mtime, and deflate's output does not depend
        // on how the input is split between writes: the bytes are
        // deterministic for one binary.
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(input.len() / 4),
            flate2::Compression::default(),
        );
        let ((signature, sign_time), written, gzip_time) = std::thread::scope(|scope| {
            let signer = std::thread::Builder::new()
                .name("policy-sign-2".to_owned())
                .spawn_scoped(scope, || sign(&input));
            let t = std::time::Instant::now();
            let written = gz.write_all(input.as_bytes());
            let gzip_time = t.elapsed();
            let signed = match signer {
                Ok(thread) => thread.join().unwrap_or_else(|_| {
                    (
                        Err(LoadError::Malformed(
                            "the signing thread panicked".to_owned(),
                        )),
                        Duration::ZERO,
                    )
                }),
                Err(e) => {
                    tracing::debug!(error = %e, "no second thread to sign on; signing after the gzip");
                    sign(&input)
                }
            };
            (signed, written, gzip_time)
        });
        let signature = signature.map_err(failed)?;
        written.map_err(gz_failed)?;
        let t = std::time::Instant::now();
        gz.write_all(b".").map_err(gz_failed)?;
        gz.write_all(signature.as_bytes()).map_err(gz_failed)?;
        let mut gzip = gz.finish().map_err(gz_failed)?;
        // Kept for the revision's life: no spare capacity (`Bytes` keeps
        // a `Vec`'s).
        gzip.shrink_to_fit();
        Ok(Self {
            len: input.len() + 1 + signature.len(),
            gzip: Bytes::from(gzip),
            identity: std::sync::OnceLock::new(),
            timings: BodyTimings {
                sign: sign_time,
                gzip: gzip_time + t.elapsed(),
                ..BodyTimings::default()
            },
        })
    }

    /// The compact JWS (decompressed on the first call, then kept).
    pub fn body(&self) -> Result<Bytes> {
        if let Some(b) = self.identity.get() {
            return Ok(b.clone());
        }
        let mut out = Vec::with_capacity(self.len);
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&self.gzip[..]), &mut out)
            .map_err(|e| Error::Internal(format!("gunzip: {e}")))?;
        Ok(self.identity.get_or_init(|| Bytes::from(out)).clone())
    }
}

/// Where the time of building one whole body went.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyTimings {
    /// The canonical JSON, again (the announcement kept only its hash).
    pub json: Duration,
    /// Signing it.
    pub sign: Duration,
    /// Compressing the signed body.
    pub gzip: Duration,
    /// From the first request for it to the body ready (including the wait
    /// for a thread).
    pub total: Duration,
}

/// The entity tags of an `If-None-Match` value, weak prefixes dropped
/// (weak comparison, RFC 9110 §13.1.2).
fn etag_list(if_none_match: &str) -> impl Iterator<Item = &str> {
    if_none_match
        .split(',')
        .map(str::trim)
        .map(|tag| tag.strip_prefix("W/").unwrap_or(tag))
}

impl Published {
    /// The bundle, read back from its canonical JSON (the publisher keeps
    /// the bundle itself only until the next revision is made from it):
    /// for tests and tools, not for a request path.
    pub fn bundle(&self) -> Result<Bundle> {
        let json = String::from_utf8(self.json.to_vec())
            .map_err(|e| Error::Internal(format!("bundle JSON: {e}")))?;
        Bundle::from_json(&json).map_err(|e| Error::Internal(format!("bundle JSON: {e}")))
    }

    /// The whole body, if a reader already had it built
    /// ([`PolicyPublisher::full`] builds it).
    pub fn full_if_built(&self) -> Option<&Arc<FullBody>> {
        self.full.get()
    }

    /// Whether an `If-None-Match` header value names this revision's
    /// representation (either encoding; weak comparison, RFC 9110 §13.1.2).
    pub fn matches(&self, if_none_match: &str) -> bool {
        etag_list(if_none_match).any(|tag| tag == "*" || tag == self.etag || tag == self.etag_gzip)
    }
}

/// Keeps the current signed bundle in memory.
#[derive(Clone)]
pub struct PolicyPublisher {
    core: Arc<Core>,
    signing: SigningService,
    current: Arc<watch::Sender<Option<Arc<Published>>>>,
    /// Counts publications ([`Self::generation`]).
    generation: Arc<AtomicU64>,
    /// The JWKS document and when it was read (retired keys age out of it).
    jwks: Arc<watch::Sender<Option<CachedJwks>>>,
    /// Serialises builds; holds the facts and the bundle of the last
    /// revision built.
    building: Arc<tokio::sync::Mutex<Building>>,
}

/// What the publisher keeps from one build to the next.
#[derive(Default)]
struct Building {
    /// The bundle of the last revision built: the base of the next
    /// revision's delta, which [`revisions::reassemble`] uses up (its
    /// unchanged entries move into the next bundle). Kept here, not in
    /// [`Published`] where readers share it, so that it can be moved.
    bundle: Option<Bundle>,
}

/// `"<revision>-<32 hex>"` from the key id and the content hash.
fn etag_for(revision: i64, kid: &str, sha256: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(kid.as_bytes());
    h.update([0]);
    h.update(sha256.as_bytes());
    let hash = hex::encode(h.finalize());
    format!("\"{revision}-{}\"", &hash[..32])
}

/// The announcement: the revision, its ETags and the delta from `previous`
/// (no whole body), and the bundle given back. `delta` is the one
/// [`revisions::reassemble`] made, if it did (hashes still empty);
/// otherwise it is computed here by diffing `prev_bundle` (`previous`'s
/// bundle, when at hand) and `bundle`.
fn announce(
    bundle: Bundle,
    delta: Option<Delta>,
    key: &Arc<SigningKey>,
    previous: Option<&Published>,
    prev_bundle: Option<&Bundle>,
    now: DateTime<Utc>,
) -> Result<(Published, Bundle)> {
    let revision = db_revision(bundle.revision);
    let mut timings = BuildTimings::default();
    let t = std::time::Instant::now();
    let json_failed = |e| Error::Internal(format!("bundle JSON: {e}"));
    // The change from the previous revision (hashes filled in below): it
    // says which pieces of the canonical JSON to write again.
    let delta = match (previous, delta, prev_bundle) {
        (Some(p), Some(d), _)
            if p.revision < revision && db_revision(d.base_revision) == p.revision =>
        {
            Some(d)
        }
        (Some(p), None, Some(prev))
            if p.revision < revision && db_revision(prev.revision) == p.revision =>
        {
            Some(
                Delta::between_hashed(prev, "", &bundle, "")
                    .map_err(|e| Error::Internal(format!("policy delta: {e}")))?,
            )
        }
        _ => None,
    };
    let json = Arc::new(
        match (previous, &delta) {
            (Some(p), Some(d)) => CanonicalJson::next(&p.json, &bundle, d),
            _ => CanonicalJson::new(&bundle),
        }
        .map_err(json_failed)?,
    );
    let sha256 = json.sha256();
    // Every test that publishes checks the pieces against serde.
    debug_assert_eq!(
        Ok(&sha256),
        portcullis_policy::delta::content_sha256(&bundle).as_ref(),
        "the canonical JSON's pieces differ from the bundle's JSON"
    );
    timings.json = t.elapsed();
    let t = std::time::Instant::now();
    let kid = key.kid().to_owned();
    let etag = etag_for(revision, &kid, &sha256);
    let etag_gzip = format!("{}.gz\"", etag.trim_end_matches('"'));
    let delta = match (previous, delta) {
        (Some(p), Some(mut d)) if p.kid == kid => {
            d.base_sha256.clone_from(&p.sha256);
            d.sha256.clone_from(&sha256);
            let d = d
                .to_json()
                .map_err(|e| Error::Internal(format!("policy delta: {e}")))?;
            let body = key
                .sign_delta(&d)
                .map_err(|e| Error::Internal(format!("signing the delta: {e}")))?;
            Some(Arc::new(SignedDelta {
                base_etag: p.etag.clone(),
                base_etag_gzip: p.etag_gzip.clone(),
                base_etag_bytes: Bytes::from(p.etag.clone()),
                body: Bytes::from(body),
            }))
        }
        _ => None,
    };
    timings.delta = t.elapsed();
    let header_bytes = [
        Bytes::from(etag.clone()),
        Bytes::from(etag_gzip.clone()),
        Bytes::from(revision.to_string()),
        Bytes::from(kid.clone()),
    ];
    let published = Published {
        revision,
        kid,
        etag,
        etag_gzip,
        header_bytes,
        sha256,
        json,
        delta,
        full: Arc::default(),
        key: key.clone(),
        built_at: now,
        timings,
    };
    Ok((published, bundle))
}

/// The whole body of `p`: its canonical JSON (joined from the pieces the
/// announcement kept), signed with the key that announced it, and
/// compressed.
fn whole_body(p: &Published) -> Result<FullBody> {
    let t = std::time::Instant::now();
    let json = String::from_utf8(p.json.to_vec())
        .map_err(|e| Error::Internal(format!("bundle JSON: {e}")))?;
    let json_time = t.elapsed();
    let mut body = FullBody::build(&p.key, json)?;
    body.timings.json = json_time;
    Ok(body)
}

/// How the next bundle is made ([`build`]).
enum Plan {
    /// The revision of the bundle at hand, again (the signing key
    /// changed, the facts did not).
    Same(Bundle),
    /// From the bundle at hand, recomputing the entries a change touches
    /// from their facts ([`FactMap::load_touched`]).
    Touched {
        prev: Bundle,
        facts: FactMap,
        touched: Touched,
    },
    /// From every fact of the revision; the bundle at hand, if any, is the
    /// base of the delta.
    Whole {
        facts: FactMap,
        prev: Option<Bundle>,
    },
}

/// The bundle of the revision `plan` names, announced ([`announce`]).
fn build(
    plan: Plan,
    created_at: DateTime<Utc>,
    key: &Arc<SigningKey>,
    previous: Option<&Published>,
    now: DateTime<Utc>,
) -> Result<(Box<Published>, Bundle)> {
    let t = std::time::Instant::now();
    let (bundle, delta, prev_bundle) = match plan {
        // There is no delta from a revision to itself.
        Plan::Same(bundle) => (bundle, None, None),
        Plan::Touched {
            prev,
            facts,
            touched,
        } => {
            let (bundle, delta) = revisions::reassemble(prev, &facts, &touched, created_at)?;
            (bundle, Some(*delta), None)
        }
        Plan::Whole { facts, prev } => {
            let bundle = revisions::assemble(&facts, created_at)?;
            // Every fact of the company: gone before the announcement.
            drop(facts);
            (bundle, None, prev)
        }
    };
    let assemble = t.elapsed();
    let reassembled = delta.is_some();
    let (mut published, bundle) =
        announce(bundle, delta, key, previous, prev_bundle.as_ref(), now)?;
    published.timings.assemble = assemble;
    published.timings.reassembled = reassembled;
    Ok((Box::new(published), bundle))
}

/// The nice value of the thread that signs and compresses whole bodies
/// (0 is normal; 10 gets ~1/10 of a normal thread's CPU share when they
/// compete, all of it when the CPU is otherwise idle).
const BACKGROUND_NICE: i32 = 10;

/// Runs `f` on a thread of its own at lower CPU priority
/// ([`BACKGROUND_NICE`]): the whole body's build, which is asked for right
/// after a revision is announced — exactly while the workers write the
/// deltas to every waiting gateway. At normal priority it takes a core
/// away from that fan-out (JSON, signing and gzip of a 100,000-person
/// bundle are several hundred ms of CPU); at lower priority it runs in what
/// the fan-out leaves. A thread per body (not the blocking pool): a
/// thread's nice value can be raised without privileges but not lowered
/// back.
async fn background<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("policy-sign".to_owned())
        .spawn(move || {
            lower_priority();
            let _ = tx.send(f());
        })
        .map_err(|e| Error::Internal(format!("bundle signing thread: {e}")))?;
    rx.await
        .map_err(|_| Error::Internal("bundle signing thread failed".to_owned()))
}

/// Raises the calling thread's nice value (on Linux, `setpriority` with no
/// pid changes only the calling thread). Failing is harmless: the work
/// then runs at normal priority.
fn lower_priority() {
    #[cfg(unix)]
    if let Err(e) = rustix::process::setpriority_process(None, BACKGROUND_NICE) {
        tracing::debug!(error = %e, "could not lower the bundle signing thread's priority");
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("bundle build task: {e}")))
}

impl PolicyPublisher {
    pub fn new(core: Arc<Core>, signing: SigningService) -> Self {
        Self {
            core,
            signing,
            current: Arc::new(watch::channel(None).0),
            generation: Arc::default(),
            jwks: Arc::new(watch::channel(None).0),
            building: Arc::default(),
        }
    }

    fn publish(&self, p: Arc<Published>) {
        self.current.send_replace(Some(p));
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Moves on every announcement:
    /// a reader that keeps a copy of [`Self::latest`] reads it again when
    /// this changed. One atomic load, no lock.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
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

    /// The whole body of `published`'s revision: built now if nobody asked
    /// for it yet (once, however many ask at once; the build goes on if
    /// this caller stops waiting), waiting for it at most `within`. `None`
    /// if it was not ready in time or could not be built (logged).
    pub async fn full(
        &self,
        published: &Arc<Published>,
        within: Duration,
    ) -> Option<Arc<FullBody>> {
        if let Some(f) = published.full.get() {
            return Some(f.clone());
        }
        let p = published.clone();
        let build = tokio::spawn(async move {
            let started = std::time::Instant::now();
            p.full
                .get_or_try_init(|| async {
                    let q = p.clone();
                    let mut body = background(move || whole_body(&q)).await??;
                    body.timings.total = started.elapsed();
                    let t = &body.timings;
                    tracing::info!(
                        revision = p.revision,
                        kid = %p.kid,
                        bytes = body.len,
                        gzip_bytes = body.gzip.len(),
                        json_ms = t.json.as_millis(),
                        sign_ms = t.sign.as_millis(),
                        gzip_ms = t.gzip.as_millis(),
                        total_ms = t.total.as_millis(),
                        "policy bundle body built"
                    );
                    Ok::<_, Error>(Arc::new(body))
                })
                .await
                .cloned()
        });
        match tokio::time::timeout(within, build).await {
            Ok(Ok(Ok(body))) => Some(body),
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, revision = published.revision, "policy bundle body could not be built");
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, revision = published.revision, "policy bundle body build failed");
                None
            }
            Err(_) => None,
        }
    }

    /// Builds and announces the head revision if it (or the signing key)
    /// differs from what is served; returns what is served afterwards (its
    /// whole body is built when asked for, [`Self::full`]).
    pub async fn refresh(&self) -> Result<Arc<Published>> {
        let mut building = self.building.lock().await;
        let head = revisions::head(self.core.db.exec()).await?;
        let key = self.signing.active().await?;
        let latest = self.latest();
        if let Some(p) = latest
            .as_ref()
            .filter(|p| p.revision == head && p.kid == key.kid())
        {
            return Ok(p.clone());
        }
        if latest.as_ref().is_none_or(|p| p.kid != key.kid()) {
            self.refresh_jwks().await?;
        }
        let started = std::time::Instant::now();
        let db = &self.core.db;
        let created_at = revisions::created_at(db.exec(), head)
            .await?
            .unwrap_or_default();
        // The bundle of the served revision, if this process built it: the
        // base the next one is made from (not if the head went back, as
        // after a restored database).
        let prev = building.bundle.take().filter(|b| {
            latest
                .as_ref()
                .is_some_and(|p| db_revision(b.revision) == p.revision && p.revision <= head)
        });
        let plan = match prev {
            Some(prev) if db_revision(prev.revision) == head => Plan::Same(prev),
            Some(prev) => match revisions::touched_facts(db, &prev, head).await {
                Ok(Some((facts, touched))) => Plan::Touched {
                    prev,
                    facts,
                    touched,
                },
                Ok(None) => Plan::Whole {
                    facts: FactMap::load(db.exec(), head).await?,
                    prev: Some(prev),
                },
                Err(e) => {
                    building.bundle = Some(prev);
                    return Err(e);
                }
            },
            None => Plan::Whole {
                facts: FactMap::load(db.exec(), head).await?,
                prev: None,
            },
        };
        let read = started.elapsed();
        let key = Arc::new(key);
        let now = self.core.clock.now();
        let previous = latest;
        let (mut published, bundle) =
            blocking(move || build(plan, created_at, &key, previous.as_deref(), now)).await??;
        // Every test that changes the policy checks the shortcut against
        // the assembly of every fact.
        #[cfg(debug_assertions)]
        if published.timings.reassembled {
            let facts = FactMap::load(db.exec(), head).await?;
            debug_assert_eq!(
                Some(&bundle),
                revisions::assemble(&facts, created_at).ok().as_ref(),
                "reassembled bundle differs from the assembled one"
            );
        }
        building.bundle = Some(bundle);
        published.timings.read = read;
        published.timings.announced = started.elapsed();
        let published: Arc<Published> = Arc::from(published);
        // Gateways holding the previous revision can move on now.
        self.publish(published.clone());
        let t = &published.timings;
        tracing::info!(
            revision = head,
            kid = %published.kid,
            delta_bytes = published.delta.as_ref().map_or(0, |d| d.body.len()),
            reassembled = t.reassembled,
            read_ms = t.read.as_millis(),
            assemble_ms = t.assemble.as_millis(),
            json_ms = t.json.as_millis(),
            delta_ms = t.delta.as_millis(),
            announced_ms = t.announced.as_millis(),
            "policy revision announced"
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
            let started = std::time::Instant::now();
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
            let finished = std::time::Instant::now();
            tokio::select! {
                r = policy.changed() => if r.is_err() { return },
                r = keys.changed() => if r.is_err() { return },
                () = tokio::time::sleep(self.core.settings.policy_recheck) => {},
            }
            // A change within one build's time of the last build is part
            // of a burst: rest until that time is up, and build once for
            // all that came meanwhile.
            let rest = finished.duration_since(started).min(MAX_REST);
            if let Some(left) = rest.checked_sub(finished.elapsed()) {
                tokio::time::sleep(left).await;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A JSON document of `n` people (the signer never parses it).
    fn json_of(n: usize) -> String {
        let people: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"id":"usr_{:026x}","email":"user{i}@example.com"}}"#,
                    i * 7919
                )
            })
            .collect();
        format!(
            r#"{{"format":"portcullis.policy/v1","principals":[{}]}}"#,
            people.join(",")
        )
    }

    #[test]
    fn the_whole_body_is_the_jws_sign_makes_compressed() {
        let key = SigningKey::from_seed("k1", &[9; 32]);
        for json in [json_of(0), json_of(3), json_of(20_000)] {
            let expected = key.sign(&json).unwrap();
            let body = FullBody::build(&key, json.clone()).unwrap();
            assert_eq!(body.len, expected.len());
            if expected.len() > 1_000_000 {
                assert!(
                    body.gzip.len() * 3 < expected.len(),
                    "gzip makes it smaller"
                );
            }
            // Decompressed: the same JWS, byte for byte (its signature over
            // the same input too).
            assert_eq!(body.body().unwrap(), expected.as_bytes());
            // Built again: the same gzip bytes.
            let again = FullBody::build(&key, json).unwrap();
            assert_eq!(again.gzip, body.gzip);
        }
        // Another key signs differently, so the signature really is the
        // key's and not a constant.
        let other = SigningKey::from_seed("k1", &[8; 32]);
        let json = json_of(3);
        assert_ne!(
            FullBody::build(&other, json.clone())
                .unwrap()
                .body()
                .unwrap(),
            FullBody::build(&key, json).unwrap().body().unwrap()
        );
    }

    /// The signing key changed and the facts did not: the publisher builds
    /// the same revision again, from the bundle at hand, under the new key
    /// (the same content hash, another ETag, no delta across keys). Until
    /// this case was handled, the build tried a delta from the revision to
    /// itself and failed, and the publisher's retry rebuilt everything.
    #[test]
    fn the_same_revision_builds_again_under_a_new_key() {
        let at = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let announced =
            |plan, key: &Arc<SigningKey>, previous| build(plan, at, key, previous, at).unwrap();
        let old = Arc::new(SigningKey::from_seed("k-old", &[1; 32]));
        let whole = Plan::Whole {
            facts: FactMap::default(),
            prev: None,
        };
        let (first, bundle) = announced(whole, &old, None);
        let new = Arc::new(SigningKey::from_seed("k-new", &[2; 32]));
        let (again, bundle_again) = announced(Plan::Same(bundle.clone()), &new, Some(&*first));
        assert_eq!(bundle_again, bundle);
        assert_eq!(
            (again.revision, again.kid.as_str()),
            (first.revision, "k-new")
        );
        assert_eq!(again.sha256, first.sha256);
        assert_ne!(again.etag, first.etag);
        assert!(again.delta.is_none(), "no delta from one key to another");
        assert_eq!(again.bundle().unwrap(), bundle);
    }
}
