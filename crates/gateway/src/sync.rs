//! Policy sync: keeps the gateway's copy of the console's signed policy
//! current (protocol: `docs/policy-api.md`).
//!
//! One task long-polls `GET /api/v1/policy` with the ETag it holds and
//! `A-IM: portcullis-delta`, and hands every body to
//! [`portcullis_policy::signed::Loader`], which checks the signature, the
//! format and that the revision does not go back. What the loader
//! activates is saved under `state_dir/policy/` — the last whole bundle,
//! the deltas applied since, the JWKS and the highest revision — each file
//! written to a temporary name, synced and renamed, so a crash leaves the
//! previous good state. A restarted gateway loads that state through the
//! same checks before it asks the console anything, so it enforces at once
//! even when the console is down; before any bundle it denies everything.
//!
//! After each fetch (and every minute) it reports what it enforces with
//! `POST /api/v1/gateway/status`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use portcullis_policy::signed::{Active, LoadError, Loader, Verifier};
use portcullis_types::gateway_api::StatusReport;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::Metrics;

/// The media type RFC 3229 names for our deltas.
const DELTA_IM: &str = "portcullis-delta";
/// Bodies larger than this (decompressed) are refused: a bundle for
/// 100,000 people is about 60 MB.
const MAX_BUNDLE_BYTES: u64 = 256 << 20;
/// After this many deltas on top of the saved bundle, fetch the whole
/// bundle once so a restart does not replay a long chain.
const MAX_SAVED_DELTAS: usize = 64;
/// At most one JWKS fetch this often when tokens name unknown keys.
const JWKS_REFRESH_EVERY: Duration = Duration::from_secs(10);
/// Status reports at least this often.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// What every request reads: the active policy and the token keys.
pub struct PolicyState {
    active: RwLock<Option<Arc<Active>>>,
    keys: RwLock<Option<Arc<Verifier>>>,
    status: Mutex<SyncStatus>,
    /// The active revision, for waiters (tests, `/readyz`).
    revision: watch::Sender<Option<u64>>,
    jwks_fetched: tokio::sync::Mutex<Option<Instant>>,
    console: Console,
    dir: PathBuf,
}

/// What the status report and `/readyz` say.
#[derive(Clone, Debug, Default)]
pub struct SyncStatus {
    pub last_fetch_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Set while decision records are being dropped (spool full).
    pub spool_error: Option<String>,
}

/// The console's HTTP API as the gateway uses it.
#[derive(Clone)]
pub struct Console {
    pub http: reqwest::Client,
    pub base: url::Url,
    pub credential: String,
}

impl Console {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.credential)
    }
}

/// The saved sync state (`state.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    /// The ETag of the revision held.
    etag: Option<String>,
    /// The highest revision ever activated (the rollback floor).
    floor: u64,
    /// Deltas applied on top of `bundle.jws`, in order.
    #[serde(default)]
    deltas: usize,
}

impl PolicyState {
    /// The state with nothing active yet; [`PolicyState::restore`] loads
    /// what a previous run saved.
    pub fn new(config: &Config, http: reqwest::Client) -> Arc<PolicyState> {
        let (revision, _) = watch::channel(None);
        Arc::new(PolicyState {
            active: RwLock::new(None),
            keys: RwLock::new(None),
            status: Mutex::new(SyncStatus::default()),
            revision,
            jwks_fetched: tokio::sync::Mutex::new(None),
            console: Console {
                http,
                base: config.console.url.clone(),
                credential: config.console.credential.clone(),
            },
            dir: config.state_dir.join("policy"),
        })
    }

    /// The console client.
    pub fn console(&self) -> &Console {
        &self.console
    }

    /// The active policy, `None` before the first bundle (deny everything).
    pub fn active(&self) -> Option<Arc<Active>> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The keys access tokens are checked with.
    pub fn keys(&self) -> Option<Arc<Verifier>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Follows the active revision.
    pub fn revisions(&self) -> watch::Receiver<Option<u64>> {
        self.revision.subscribe()
    }

    pub fn status(&self) -> SyncStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records (or clears) the decision spool's trouble for the next report.
    pub fn set_spool_error(&self, error: Option<String>) {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .spool_error = error;
    }

    fn set_error(&self, error: Option<String>) {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if error.is_none() {
            s.last_fetch_at = Some(Utc::now());
        }
        s.last_error = error;
    }

    fn publish(&self, loader: &Loader) {
        let active = loader.active();
        let revision = active.as_ref().map(|a| a.revision);
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = active;
        self.revision.send_replace(revision);
    }

    fn set_keys(&self, verifier: Verifier) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(verifier));
    }

    /// Fetches the JWKS again when a token names a key the gateway does not
    /// know (the console rotated its key), at most every few seconds.
    /// Returns whether new keys were installed.
    pub async fn refresh_keys(&self) -> bool {
        let mut last = self.jwks_fetched.lock().await;
        if last.is_some_and(|t| t.elapsed() < JWKS_REFRESH_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        match self.fetch_jwks().await {
            Ok((json, verifier)) => {
                self.set_keys(verifier);
                let _ = write_atomic(&self.dir.join("jwks.json"), json.as_bytes());
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh failed");
                false
            }
        }
    }

    async fn fetch_jwks(&self) -> Result<(String, Verifier), String> {
        let res = self
            .console
            .http
            .get(self.console.url("/.well-known/jwks.json"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("JWKS: {}", without_url(&e)))?;
        if !res.status().is_success() {
            return Err(format!(
                "JWKS: the console answered HTTP {}",
                res.status().as_u16()
            ));
        }
        let json = res
            .text()
            .await
            .map_err(|e| format!("JWKS: {}", without_url(&e)))?;
        let verifier = Verifier::from_jwks(&json).map_err(|e| format!("JWKS: {e}"))?;
        Ok((json, verifier))
    }

    /// Loads what a previous run saved (JWKS, bundle, deltas), through the
    /// loader's checks. Returns the loader and the ETag held.
    pub fn restore(&self) -> (Option<Loader>, Option<String>) {
        let saved: Saved = std::fs::read(self.dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let Ok(jwks) = std::fs::read_to_string(self.dir.join("jwks.json")) else {
            return (None, None);
        };
        let verifier = match Verifier::from_jwks(&jwks) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "the saved JWKS cannot be read; starting without it");
                return (None, None);
            }
        };
        self.set_keys(verifier.clone());
        let Ok(bundle) = std::fs::read(self.dir.join("bundle.jws")) else {
            return (Some(Loader::with_floor(verifier, saved.floor)), None);
        };
        // The chain starts below the floor (the bundle, then each delta);
        // only where it ends is checked against it.
        let mut loader = Loader::new(verifier);
        let chain = std::fs::read_to_string(self.dir.join("deltas.jws")).unwrap_or_default();
        let result = loader
            .load(&bundle)
            .and_then(|_| {
                chain
                    .lines()
                    .filter(|l| !l.is_empty())
                    .try_for_each(|delta| loader.load_delta(delta.as_bytes()).map(|_| ()))
            })
            .and_then(|()| {
                let held = loader.revision().unwrap_or(0);
                if held < saved.floor {
                    Err(LoadError::Rollback {
                        held: saved.floor,
                        offered: held,
                    })
                } else {
                    Ok(())
                }
            });
        match result {
            Ok(()) => {
                tracing::info!(revision = loader.revision(), "enforcing the saved bundle");
                self.publish(&loader);
                (Some(loader), saved.etag)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the saved bundle was refused; waiting for the console");
                self.set_error(Some(format!("saved bundle refused: {e}")));
                (
                    Some(Loader::with_floor(loader.verifier().clone(), saved.floor)),
                    None,
                )
            }
        }
    }

    fn save(
        &self,
        etag: Option<&str>,
        loader: &Loader,
        body: &[u8],
        delta: bool,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut saved: Saved = std::fs::read(self.dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if delta {
            append_synced(&self.dir.join("deltas.jws"), body)?;
            saved.deltas += 1;
        } else {
            write_atomic(&self.dir.join("bundle.jws"), body)?;
            write_atomic(&self.dir.join("deltas.jws"), b"")?;
            saved.deltas = 0;
        }
        saved.etag = etag.map(str::to_owned);
        saved.floor = saved.floor.max(loader.revision().unwrap_or(0));
        let json = serde_json::to_vec(&saved).map_err(std::io::Error::other)?;
        write_atomic(&self.dir.join("state.json"), &json)
    }

    /// Runs the sync loop until `stop` turns true, from what
    /// [`PolicyState::restore`] returned.
    pub async fn run(
        self: Arc<Self>,
        restored: (Option<Loader>, Option<String>),
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        mut stop: watch::Receiver<bool>,
    ) {
        let (mut loader, mut etag) = restored;
        let mut force_full = false;
        let mut backoff = Duration::from_secs(1);
        let mut last_report: Option<(Instant, Option<u64>, Option<String>)> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            let fetched = tokio::select! {
                r = self.fetch_once(&config, &mut loader, &mut etag, &mut force_full, &metrics) => r,
                _ = stop.changed() => break,
            };
            let pause = match fetched {
                Ok(()) => {
                    backoff = Duration::from_secs(1);
                    self.set_error(None);
                    Duration::ZERO
                }
                Err(e) => {
                    metrics
                        .bundle_errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(error = %e, revision = loader.as_ref().and_then(Loader::revision), "policy fetch failed; the last good bundle stays active");
                    self.set_error(Some(e));
                    let jitter = Duration::from_millis(rand::random::<u64>() % 500);
                    let pause = backoff + jitter;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    pause
                }
            };
            let revision = loader.as_ref().and_then(Loader::revision);
            let status = self.status();
            let error = status.last_error.clone().or(status.spool_error.clone());
            let due = last_report.as_ref().is_none_or(|(at, r, e)| {
                at.elapsed() >= REPORT_EVERY || *r != revision || *e != error
            });
            if due && self.report(revision, &status).await {
                last_report = Some((Instant::now(), revision, error));
            }
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }

    async fn report(&self, revision: Option<u64>, status: &SyncStatus) -> bool {
        let report = StatusReport {
            active_revision: revision.map(|r| r as i64),
            last_fetch_at: status.last_fetch_at,
            last_error: status
                .last_error
                .clone()
                .or(status.spool_error.clone())
                .map(|e| e.chars().take(2000).collect()),
            software: Some(format!("portcullis-gateway/{}", env!("CARGO_PKG_VERSION"))),
        };
        let res = self
            .console
            .http
            .post(self.console.url("/api/v1/gateway/status"))
            .header(http::header::AUTHORIZATION, self.console.bearer())
            .json(&report)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => true,
            Ok(r) => {
                tracing::warn!(status = r.status().as_u16(), "status report refused");
                false
            }
            Err(e) => {
                tracing::debug!(error = %without_url(&e), "status report failed");
                false
            }
        }
    }

    /// One request to the policy API and what follows from its answer.
    async fn fetch_once(
        &self,
        config: &Config,
        loader: &mut Option<Loader>,
        etag: &mut Option<String>,
        force_full: &mut bool,
        metrics: &Metrics,
    ) -> Result<(), String> {
        if loader.is_none() {
            let (json, verifier) = self.fetch_jwks().await?;
            std::fs::create_dir_all(&self.dir).map_err(|e| format!("state dir: {e}"))?;
            write_atomic(&self.dir.join("jwks.json"), json.as_bytes())
                .map_err(|e| format!("state dir: {e}"))?;
            self.set_keys(verifier.clone());
            *loader = Some(Loader::new(verifier));
        }
        let Some(l) = loader.as_mut() else {
            return Err("no keys".to_owned());
        };
        let held = etag.as_deref().filter(|_| l.active().is_some());
        let wait = if held.is_some() {
            config.console.poll_wait.as_secs()
        } else {
            0
        };
        let mut req = self
            .console
            .http
            .get(self.console.url(&format!("/api/v1/policy?wait={wait}")))
            .header(http::header::AUTHORIZATION, self.console.bearer())
            .header(http::header::ACCEPT_ENCODING, "gzip")
            .timeout(Duration::from_secs(wait + 30));
        if let Some(tag) = held {
            req = req.header(http::header::IF_NONE_MATCH, tag);
            if !*force_full {
                req = req.header("a-im", DELTA_IM);
            }
        }
        let res = req
            .send()
            .await
            .map_err(|e| format!("policy: {}", without_url(&e)))?;
        let status = res.status().as_u16();
        let new_etag = res
            .headers()
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let gzip = res
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        match status {
            304 => Ok(()),
            401 | 403 => Err(format!(
                "the console refused the gateway's credential (HTTP {status}); ask an admin for a new one"
            )),
            200 | 226 => {
                let raw = res.bytes().await.map_err(|e| format!("policy: {}", without_url(&e)))?;
                let body = if gzip { gunzip(&raw)? } else { raw.to_vec() };
                let delta = status == 226;
                let result = self.activate(l, &body, delta).await;
                match result {
                    Ok(()) => {
                        metrics.bundle_loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        self.publish(l);
                        let saved_deltas = if delta { self.saved_deltas() + 1 } else { 0 };
                        if let Err(e) = self.save(new_etag.as_deref(), l, &body, delta) {
                            tracing::warn!(error = %e, "cannot save the bundle; a restart will wait for the console");
                        }
                        *etag = new_etag;
                        *force_full = saved_deltas >= MAX_SAVED_DELTAS;
                        tracing::info!(revision = l.revision(), delta, "policy activated");
                        Ok(())
                    }
                    Err(e) if delta => {
                        tracing::warn!(error = %e, "delta refused; fetching the whole bundle");
                        *force_full = true;
                        Ok(())
                    }
                    Err(e) => Err(format!("bundle refused: {e}")),
                }
            }
            s => Err(format!("the policy API answered HTTP {s}")),
        }
    }

    fn saved_deltas(&self) -> usize {
        std::fs::read(self.dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Saved>(&b).ok())
            .map_or(0, |s| s.deltas)
    }

    /// Loads a body; a key the gateway does not know makes it fetch the
    /// JWKS once (the console rotated its key) and try again.
    async fn activate(
        &self,
        loader: &mut Loader,
        body: &[u8],
        delta: bool,
    ) -> Result<(), LoadError> {
        let load = |loader: &mut Loader| {
            if delta {
                loader.load_delta(body)
            } else {
                loader.load(body)
            }
        };
        match load(loader) {
            Err(LoadError::UnknownKey(kid)) => {
                let Ok((json, verifier)) = self.fetch_jwks().await else {
                    return Err(LoadError::UnknownKey(kid));
                };
                loader.set_verifier(verifier.clone());
                self.set_keys(verifier);
                let _ = write_atomic(&self.dir.join("jwks.json"), json.as_bytes());
                load(loader).map(|_| ())
            }
            other => other.map(|_| ()),
        }
    }
}

/// A reqwest error without the URL (which would repeat the console's
/// address in every log line and status report).
pub fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.without_url_ref().to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        if self.is_timeout() {
            "timed out".to_owned()
        } else if self.is_connect() {
            "cannot connect".to_owned()
        } else if self.is_body() || self.is_decode() {
            "the body could not be read".to_owned()
        } else {
            "request failed".to_owned()
        }
    }
}

fn gunzip(raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take(MAX_BUNDLE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("policy: the gzip body cannot be read: {e}"))?;
    if out.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(format!(
            "policy: the bundle is over {MAX_BUNDLE_BYTES} bytes"
        ));
    }
    Ok(out)
}

/// Writes `path` so that a crash leaves either the old or the new content:
/// a temporary file, synced, renamed over, and the directory synced.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Appends one line to `path` and syncs it.
pub fn append_synced(path: &Path, line: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(line)?;
    f.write_all(b"\n")?;
    f.sync_data()
}
