//! The policy API for gateways (protocol: `docs/policy-api.md`).
//!
//! - `GET /api/v1/policy`: the signed bundle of the current revision
//!   (`application/jose`), strong `ETag`, `If-None-Match` → 304 with no
//!   body, gzip when accepted, `?wait=N` (0–60 s) long-poll; with
//!   `A-IM: portcullis-delta` and the previous revision's ETag, `226 IM
//!   Used` and the signed delta instead of the whole bundle (RFC 3229).
//! - `POST /api/v1/gateway/status`: what the gateway enforces and its last
//!   error.
//! - `POST /api/v1/decisions`: a batch of decisions → audit events (each
//!   decision id once).
//! - `POST /api/v1/tools/changed`: a tool whose live definition a gateway
//!   saw differ from the approved one → quarantined for review.
//! - `GET /.well-known/jwks.json`: the keys bundles are signed with.
//!
//! Thin adapter over [`portcullis_domain::publish`] and
//! [`portcullis_domain::gateways`]. The poll path reads memory only (the
//! published bundle, remembered credentials), so it keeps answering when the
//! database is away. These routes sit outside the console's browser
//! middleware (sessions, CSP, CSRF) — they take no cookies — but keep
//! request ids, metrics and a body limit.

use crate::http::problem::{read_json, Problem};
use crate::http::serve::FastAnswer;
use crate::server::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use portcullis_domain::gateways::{DecisionBatch, GatewayIdentity, StatusReport};
use portcullis_domain::publish::{FullBody, Published, SignedDelta, DELTA_IM};
use portcullis_domain::Error;
use portcullis_types::gateway_api::ChangedToolReport;
use serde_json::json;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest `?wait=` a gateway may ask for.
pub const MAX_WAIT_SECS: u64 = 60;

/// How long a request for the whole body waits for it to be built after
/// its revision was announced (seconds for a very large bundle).
const FULL_BODY_WAIT: Duration = Duration::from_secs(30);

/// What the gateway routes need: one `Arc`, cloned per request (the
/// console's `AppState` is much larger and its clone showed in profiles of
/// the 304 path).
#[derive(Clone)]
pub struct ApiState(Arc<ApiInner>);

pub struct ApiInner {
    gateways: portcullis_domain::gateways::GatewayService,
    catalog: portcullis_domain::catalog::CatalogService,
    publisher: portcullis_domain::publish::PolicyPublisher,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl From<&AppState> for ApiState {
    fn from(s: &AppState) -> Self {
        ApiState::new(&s.services, s.stopping.clone())
    }
}

impl ApiState {
    /// Over `services`; long-polls end when `stopping` turns true.
    pub fn new(
        services: &portcullis_domain::Services,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        ApiState(Arc::new(ApiInner {
            gateways: services.gateways.clone(),
            catalog: services.catalog.clone(),
            publisher: services.publisher.clone(),
            stopping,
        }))
    }

    /// A fast path for one HTTP worker ([`PollFastPath`]).
    pub fn fast_path(&self) -> PollFastPath {
        PollFastPath {
            api: self.clone(),
            cache: std::sync::Mutex::new(WorkerCache {
                generation: u64::MAX,
                current: None,
                changes: self.0.gateways.changes(),
                known: HashMap::new(),
                latencies: Vec::new(),
            }),
        }
    }
}

/// One HTTP worker's answers to the gateways' polls whose `If-None-Match`
/// names the current revision, with a credential accepted within the
/// minute — the same answers [`policy`] gives, made from memory before the
/// router ([`crate::http::serve::FastPath`]):
/// - a plain poll (`?wait` absent or 0): the 304, at once;
/// - a long-poll (`?wait=N`): held on the worker, waiting on the
///   publisher's channel; the delta, the whole body or the 304 at the
///   timeout is written by the worker that read the request, so a change
///   wakes the workers directly instead of a task per gateway on the
///   application runtime handing its answer back to a worker.
///
/// Anything else (also every refusal) goes through the router.
///
/// It keeps its own copies, so a poll writes no memory another worker
/// uses: the published revision (read again when the publisher's
/// generation moves), the credentials this worker was shown (each only as
/// long as the gateway service's memory keeps it, all dropped when any
/// gateway changes, e.g. a revocation), when it last noted each gateway's
/// poll for the Gateways page (once a second per revision is enough), and
/// the request counts (published every second).
pub struct PollFastPath {
    api: ApiState,
    /// Only this worker's thread locks it (never contended).
    cache: std::sync::Mutex<WorkerCache>,
}

struct WorkerCache {
    generation: u64,
    current: Option<Arc<Published>>,
    changes: tokio::sync::watch::Receiver<u64>,
    known: HashMap<[u8; 32], Seen>,
    /// Latencies (s) of the 304s not yet counted in the metrics.
    latencies: Vec<f64>,
}

struct Seen {
    identity: Arc<GatewayIdentity>,
    /// When the gateway service's answer goes stale.
    until: Instant,
    /// The revision and when this worker last noted a poll of it.
    noted: Option<(i64, Instant)>,
}

/// A worker publishes its counts at least this often (besides every second).
const FLUSH_AT: usize = 4096;

/// How often a worker notes a gateway's polls of one revision.
const NOTE_EVERY: Duration = Duration::from_secs(1);

impl PollFastPath {
    /// What the worker knows about a request it may answer: the current
    /// revision, which the gateway holds, and the gateway behind the
    /// credential. `None` sends the request through the router.
    fn admit<'c>(
        &self,
        cache: &'c mut WorkerCache,
        headers: &HeaderMap,
        start: Instant,
    ) -> Option<(&'c Arc<Published>, &'c mut Seen)> {
        let inm = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
        let token = crate::http::bearer_token(headers)?;
        let api = &self.api.0;
        let generation = api.publisher.generation();
        if generation != cache.generation {
            cache.current = api.publisher.latest();
            cache.generation = generation;
        }
        let current = cache.current.as_ref()?;
        if !current.matches(inm) {
            return None;
        }
        if cache.changes.has_changed().unwrap_or(true) {
            cache.changes.mark_unchanged();
            cache.known.clear();
        }
        // Not seen by this worker, or its minute is up: ask the gateway
        // service's memory again (at most once a minute per credential).
        let digest = portcullis_domain::gateways::GatewayService::digest(token);
        let remembered = || {
            let (identity, until) = api.gateways.remembered(&digest)?;
            Some(Seen {
                identity,
                until,
                noted: None,
            })
        };
        let seen = match cache.known.entry(digest) {
            Entry::Occupied(e) if e.get().until > start => e.into_mut(),
            Entry::Occupied(mut e) => {
                e.insert(remembered()?);
                e.into_mut()
            }
            Entry::Vacant(e) => e.insert(remembered()?),
        };
        Some((current, seen))
    }
}

impl crate::http::serve::FastPath for PollFastPath {
    fn answer(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<FastAnswer> {
        if method != Method::GET || uri.path() != "/api/v1/policy" {
            return None;
        }
        let start = Instant::now();
        let wait = parse_wait(uri.query()).ok()?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let cache = &mut *cache;
        let (current, seen) = self.admit(cache, headers, start)?;
        let request_id = crate::http::security::request_id_for(headers);
        if wait > 0 {
            // `admit` found the `If-None-Match` the gateway holds.
            let held = headers.get(header::IF_NONE_MATCH)?.clone();
            return Some(FastAnswer::Later(Box::pin(self.api.clone().long_poll(
                seen.identity.clone(),
                current.clone(),
                LongPoll {
                    held,
                    wait,
                    wants_delta: accepts_delta(headers),
                    gzip: accepts_gzip(headers),
                },
                request_id,
                start,
            ))));
        }
        let noted_recently = seen
            .noted
            .is_some_and(|(rev, at)| rev == current.revision && start - at < NOTE_EVERY);
        if !noted_recently {
            self.api
                .0
                .gateways
                .note_poll(&seen.identity, current.revision);
            seen.noted = Some((current.revision, start));
        }
        let mut res = not_modified(current, accepts_gzip(headers));
        res.headers_mut().insert("x-request-id", request_id);
        cache.latencies.push(start.elapsed().as_secs_f64());
        if cache.latencies.len() >= FLUSH_AT {
            let latencies = std::mem::take(&mut cache.latencies);
            record_304s(&latencies);
        }
        Some(FastAnswer::Now(res))
    }

    fn tick(&self) {
        let latencies = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut cache.latencies)
        };
        record_304s(&latencies);
    }
}

/// What a worker-held long-poll needs of its request (read before the
/// request's headers are dropped).
struct LongPoll {
    /// The `If-None-Match` value (names the current revision).
    held: HeaderValue,
    wait: u64,
    wants_delta: bool,
    gzip: bool,
}

impl ApiState {
    /// A long-poll held by an HTTP worker (the gateway and its revision
    /// checked by [`PollFastPath::admit`]): waits on the publisher's
    /// channel only, answers from memory (the whole body may be awaited
    /// the same way), and does what the router's layers would do (request
    /// id, metrics).
    async fn long_poll(
        self,
        gateway: Arc<GatewayIdentity>,
        current: Arc<Published>,
        poll: LongPoll,
        request_id: HeaderValue,
        start: Instant,
    ) -> Response {
        let (revision, mut res) = self
            .wait_and_answer(
                &current,
                poll.held.to_str().ok(),
                poll.wait,
                poll.wants_delta,
                poll.gzip,
            )
            .await;
        self.0.gateways.note_poll(&gateway, revision);
        res.headers_mut().insert("x-request-id", request_id);
        crate::http::security::record_api_answers(
            &Method::GET,
            "/api/v1/policy",
            res.status(),
            &[start.elapsed().as_secs_f64()],
        );
        res
    }

    /// Waits up to `wait` seconds for a revision with another ETag than
    /// `current` (the one the gateway holds) and answers it; a 304 for
    /// `current` when the wait is over or the server shuts down (graceful
    /// shutdown must not wait a minute for idle long-polls). Returns the
    /// revision answered with the answer.
    async fn wait_and_answer(
        &self,
        current: &Arc<Published>,
        inm: Option<&str>,
        wait: u64,
        wants_delta: bool,
        gzip: bool,
    ) -> (i64, Response) {
        let mut stopping = self.0.stopping.clone();
        let _waiting = WaitingGauge::start();
        // Subscribed only now (a plain poll does not need it); a revision
        // published since `current` was read is seen at once.
        let mut rx = self.0.publisher.subscribe();
        let newer = tokio::time::timeout(Duration::from_secs(wait), async {
            let now = rx.borrow_and_update().clone();
            if let Some(n) = now.filter(|n| n.etag != current.etag) {
                return Some(n);
            }
            loop {
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() { return None },
                    _ = stopping.wait_for(|s| *s) => return None,
                }
                let next = rx.borrow_and_update().clone();
                if let Some(n) = next.filter(|n| n.etag != current.etag) {
                    return Some(n);
                }
            }
        })
        .await;
        match newer {
            Ok(Some(n)) => answer(self, &n, inm, wants_delta, gzip).await,
            _ => (current.revision, not_modified(current, gzip)),
        }
    }
}

/// Counts 304s of the fast path in the request metrics.
fn record_304s(latencies: &[f64]) {
    crate::http::security::record_api_answers(
        &Method::GET,
        "/api/v1/policy",
        StatusCode::NOT_MODIFIED,
        latencies,
    );
}

/// The gateway routes (mounted by [`crate::server::router`]).
pub fn router(state: &AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/api/v1/policy", get(policy))
        .route("/api/v1/gateway/status", post(status))
        .route("/api/v1/decisions", post(decisions))
        .route("/api/v1/tools/changed", post(tool_changed))
        .route("/.well-known/jwks.json", get(jwks))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            max_body_bytes,
        ))
        .with_state(ApiState::from(state))
}

/// A 401 with the policy API's challenge.
fn unauthenticated(detail: &str) -> Response {
    challenge(Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail).into_response())
}

fn challenge(mut res: Response) -> Response {
    if res.status() == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"portcullis-policy\""),
        );
    }
    res
}

/// A domain error as problem details (with the challenge on a 401).
fn domain_error(e: Error) -> Response {
    challenge(Problem::from(e).into_response())
}

/// The gateway named by the `Authorization: Bearer` credential.
async fn authenticate(
    state: &ApiState,
    headers: &HeaderMap,
) -> Result<Arc<GatewayIdentity>, Response> {
    let Some(token) = crate::http::bearer_token(headers) else {
        return Err(unauthenticated(
            "send the gateway credential as Authorization: Bearer <credential>",
        ));
    };
    match state.0.gateways.authenticate(token).await {
        Ok(Some(g)) => Ok(g),
        Ok(None) => Err(unauthenticated(
            "the gateway credential is not valid (unknown or revoked)",
        )),
        Err(e) => Err(domain_error(e)),
    }
}

/// `?wait=N`: absent → 0; otherwise whole seconds 0..=60.
fn parse_wait(query: Option<&str>) -> Result<u64, Problem> {
    let mut wait = 0;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "wait" {
            wait = v
                .parse::<u64>()
                .ok()
                .filter(|w| *w <= MAX_WAIT_SECS)
                .ok_or_else(|| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "wait: give whole seconds from 0 to 60",
                    )
                    .field("wait")
                })?;
        }
    }
    Ok(wait)
}

/// Whether a list header (`Accept-Encoding`, `A-IM`: `name;q=…, …`)
/// names `wanted` without refusing it with `q=0`; other parameters ignored.
fn header_lists(headers: &HeaderMap, name: impl header::AsHeaderName, wanted: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let item_name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            item_name.eq_ignore_ascii_case(wanted) && !refused
        })
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    header_lists(headers, header::ACCEPT_ENCODING, "gzip")
}

/// Whether the gateway takes signed deltas (`A-IM: portcullis-delta`, RFC
/// 3229 §10.5.3).
fn accepts_delta(headers: &HeaderMap) -> bool {
    header_lists(headers, "a-im", DELTA_IM)
}

/// A header value from bytes the bundle keeps (no copy).
fn value(bytes: &Bytes) -> HeaderValue {
    HeaderValue::from_maybe_shared(bytes.clone()).unwrap_or(HeaderValue::from_static(""))
}

fn not_modified(p: &Published, gzip: bool) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::NOT_MODIFIED;
    let h = res.headers_mut();
    h.insert(header::ETAG, value(&p.header_bytes[usize::from(gzip)]));
    h.insert(
        header::VARY,
        HeaderValue::from_static("accept-encoding, a-im"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("portcullis-revision", value(&p.header_bytes[2]));
    res
}

/// `226 IM Used` with the signed delta from the revision the gateway holds.
fn delta_response(p: &Published, d: &SignedDelta) -> Response {
    let mut res = Response::new(Body::from(d.body.clone()));
    *res.status_mut() = StatusCode::IM_USED;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jose"),
    );
    h.insert("im", HeaderValue::from_static(DELTA_IM));
    h.insert("delta-base", value(&d.base_etag_bytes));
    h.insert(header::ETAG, value(&p.header_bytes[0]));
    h.insert(
        header::VARY,
        HeaderValue::from_static("accept-encoding, a-im"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("portcullis-revision", value(&p.header_bytes[2]));
    h.insert("portcullis-key-id", value(&p.header_bytes[3]));
    res
}

/// What a gateway holding `if_none_match` gets for revision `p`: the delta
/// when it asked for one and holds its base, otherwise the whole body
/// (built on this first request for it, see [`PolicyPublisher::full`]).
async fn answer(
    state: &ApiState,
    p: &Arc<Published>,
    if_none_match: Option<&str>,
    wants_delta: bool,
    gzip: bool,
) -> (i64, Response) {
    if wants_delta {
        if let (Some(d), Some(inm)) = (&p.delta, if_none_match) {
            if d.applies_to(inm) {
                return (p.revision, delta_response(p, d));
            }
        }
    }
    match state.0.publisher.full(p, FULL_BODY_WAIT).await {
        Some(f) => (p.revision, full(p, &f, gzip)),
        None => {
            let res = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the bundle of this revision is still being built; retry shortly",
            )
            .retry_after(1)
            .into_response();
            (p.revision, res)
        }
    }
}

fn full(p: &Published, f: &FullBody, gzip: bool) -> Response {
    let body = if gzip {
        f.gzip.clone()
    } else {
        match f.body() {
            Ok(b) => b,
            Err(e) => return domain_error(e),
        }
    };
    let mut res = Response::new(Body::from(body));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jose"),
    );
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::ETAG, value(&p.header_bytes[usize::from(gzip)]));
    h.insert(
        header::VARY,
        HeaderValue::from_static("accept-encoding, a-im"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("portcullis-revision", value(&p.header_bytes[2]));
    h.insert("portcullis-key-id", value(&p.header_bytes[3]));
    res
}

/// Counts long-polls in progress (`policy_long_polls_waiting`); the drop
/// also runs when the gateway hangs up mid-wait.
struct WaitingGauge;

impl WaitingGauge {
    fn start() -> Self {
        metrics::gauge!("policy_long_polls_waiting").increment(1.0);
        WaitingGauge
    }
}

impl Drop for WaitingGauge {
    fn drop(&mut self) {
        metrics::gauge!("policy_long_polls_waiting").decrement(1.0);
    }
}

/// `GET /api/v1/policy`.
async fn policy(State(state): State<ApiState>, req: Request) -> Response {
    let headers = req.headers();
    let gateway = match authenticate(&state, headers).await {
        Ok(g) => g,
        Err(res) => return res,
    };
    let wait = match parse_wait(req.uri().query()) {
        Ok(w) => w,
        Err(p) => return p.into_response(),
    };
    let gzip = accepts_gzip(headers);
    let wants_delta = accepts_delta(headers);
    let publisher = &state.0.publisher;
    let current = match publisher.latest() {
        Some(p) => p,
        // First request after start, before the first build finished.
        None => match publisher.refresh().await {
            Ok(p) => p,
            Err(e) => return domain_error(e),
        },
    };
    let inm = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if !inm.is_some_and(|t| current.matches(t)) {
        let (revision, res) = answer(&state, &current, inm, wants_delta, gzip).await;
        state.0.gateways.note_poll(&gateway, revision);
        return res;
    }
    if wait == 0 {
        state.0.gateways.note_poll(&gateway, current.revision);
        return not_modified(&current, gzip);
    }
    let (revision, res) = state
        .wait_and_answer(&current, inm, wait, wants_delta, gzip)
        .await;
    state.0.gateways.note_poll(&gateway, revision);
    res
}

/// A JSON response.
fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The gateway behind the credential and its JSON body, or the refusal.
async fn authed_json<T: serde::de::DeserializeOwned>(
    state: &ApiState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Arc<GatewayIdentity>, T), Response> {
    let gateway = authenticate(state, headers).await?;
    let value = read_json(headers, body).map_err(IntoResponse::into_response)?;
    Ok((gateway, value))
}

/// `POST /api/v1/gateway/status`.
async fn status(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let (gateway, report): (_, StatusReport) = match authed_json(&state, &headers, &body).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match state.0.gateways.report_status(&gateway, &report).await {
        Ok(()) => {
            let current = state.0.publisher.latest().map(|p| p.revision);
            json_response(StatusCode::OK, json!({ "current_revision": current }))
        }
        Err(e) => domain_error(e),
    }
}

/// `POST /api/v1/decisions`.
async fn decisions(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (gateway, batch): (_, DecisionBatch) = match authed_json(&state, &headers, &body).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let meta = crate::http::session::request_meta(&headers, peer, headers.get("x-request-id"));
    match state
        .0
        .gateways
        .record_decisions(&gateway, meta, &batch)
        .await
    {
        Ok(recorded) => json_response(
            StatusCode::ACCEPTED,
            json!({
                "accepted": batch.decisions.len(),
                "duplicates": batch.decisions.len() - recorded,
            }),
        ),
        Err(e) => domain_error(e),
    }
}

/// `POST /api/v1/tools/changed`: a gateway saw a tool whose live
/// definition is not the approved one; the console quarantines it for
/// review.
async fn tool_changed(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (gateway, report): (_, ChangedToolReport) = match authed_json(&state, &headers, &body).await
    {
        Ok(v) => v,
        Err(res) => return res,
    };
    let tool = match portcullis_discovery::mcp::parse_tool(&report.definition) {
        Ok(t) => t,
        Err(why) => {
            return domain_error(Error::invalid(
                "definition",
                format!("not an MCP tool: {why}"),
            ))
        }
    };
    let meta = crate::http::session::request_meta(&headers, peer, headers.get("x-request-id"));
    match state
        .0
        .catalog
        .report_changed_tool(
            &gateway.actor(meta),
            &portcullis_types::ServerId::from(&report.server),
            &tool,
        )
        .await
    {
        Ok(revision) => json_response(
            StatusCode::OK,
            json!({ "quarantined": revision.is_some(), "revision": revision }),
        ),
        Err(e) => domain_error(e),
    }
}

/// `GET /.well-known/jwks.json`.
async fn jwks(State(state): State<ApiState>) -> Response {
    match state.0.publisher.jwks().await {
        Ok(doc) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/jwk-set+json"),
                (header::CACHE_CONTROL, "max-age=300"),
            ],
            doc.as_str().to_owned(),
        )
            .into_response(),
        Err(e) => domain_error(e),
    }
}
