//! The OAuth 2.1 authorization server's HTTP side (the rules live in
//! `portcullis_domain::oauth`).
//!
//! Browser routes (console middleware: security headers with
//! `frame-ancestors 'none'`, cross-site POSTs refused, no CORS):
//!
//! | route | what |
//! |---|---|
//! | `GET /oauth/authorize` | RFC 6749 §4.1.1 + PKCE + RFC 8707; errors before the redirect URI is trusted are a page, later ones go back with `iss` (RFC 9207) |
//! | `POST /oauth/authorize/signin` | the employee's email → the SSO connection of its domain |
//! | `GET /oauth/consent`, `POST /oauth/consent` | consent per (person, client, server, redirect URI, scopes) |
//! | `GET /oauth/access` (+ `signin`, `withdraw`) | the employee's "My access" page ([`access`]) |
//!
//! Machine routes (no cookies, `Cache-Control: no-store` on tokens):
//!
//! | route | what |
//! |---|---|
//! | `GET /.well-known/oauth-authorization-server[/path]` | RFC 8414 metadata |
//! | `GET /.well-known/openid-configuration[/path]` | the same document for OpenID discovery (path-inserted, like RFC 8414) |
//! | `GET /oauth/resources/{slug}` | RFC 9728 protected-resource metadata of a catalog server |
//! | `POST /oauth/token` | `authorization_code`, `refresh_token` |
//! | `POST /oauth/register` | RFC 7591 (only while registration is on) |
//! | `POST /oauth/revoke` | RFC 7009 |
//! | `POST /oauth/introspect` | RFC 7662, gateways only (their credential as bearer) |
//!
//! The browser holds two cookies here: `portcullis_oauth` binds an
//! authorization request to the browser that made it, and
//! `portcullis_person` is the employee's session for MCP clients (never a
//! console session: the console's pages do not read it).

mod access;

use crate::http::session::{read_cookie, request_meta};
use crate::server::AppState;
use crate::sso::html_escape as esc;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use base64::Engine;
use portcullis_domain::oauth::model::{
    ClientAuth, ClientKind, Failure, OAuthError, RegistrationRequest,
};
use portcullis_domain::oauth::{AuthorizeError, AuthorizeParams, ConsentView, Person, TokenParams};
use portcullis_domain::{Error, RequestMeta};
use portcullis_types::ServerRef;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

/// Largest body of a registration request.
pub const MAX_REGISTRATION_BYTES: usize = 16 * 1024;

/// The browser routes (merged under the console middleware).
pub fn browser_router() -> Router<AppState> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/authorize/signin", post(signin))
        .route("/oauth/consent", get(consent).post(decide))
        .merge(access::router())
}

/// The machine routes (no cookies, no browser middleware).
pub fn api_router(state: &AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route(
            "/.well-known/oauth-authorization-server/{*path}",
            get(metadata_at),
        )
        .route("/.well-known/openid-configuration", get(metadata))
        .route(
            "/.well-known/openid-configuration/{*path}",
            get(metadata_at),
        )
        .route("/oauth/resources/{slug}", get(resource_metadata))
        .route("/oauth/token", post(token))
        .route("/oauth/register", post(register))
        .route("/oauth/revoke", post(revoke))
        .route("/oauth/introspect", post(introspect))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            max_body_bytes,
        ))
        .with_state(state.clone())
}

// ---- cookies and pages ------------------------------------------------------

fn cookie_name(state: &AppState, base: &str) -> String {
    if state.console.cookie_secure {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

fn cookie(state: &AppState, base: &str, value: &str, max_age: i64) -> String {
    let secure = if state.console.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        cookie_name(state, base)
    )
}

const BINDING: &str = "portcullis_oauth";
const PERSON: &str = "portcullis_person";

fn binding_cookie(state: &AppState, value: &str) -> String {
    cookie(
        state,
        BINDING,
        value,
        portcullis_domain::oauth::REQUEST_TTL_MINUTES * 60,
    )
}

/// The person session cookie (set after SSO, see `crate::sso`).
pub fn person_cookie(state: &AppState, value: &str) -> String {
    cookie(
        state,
        PERSON,
        value,
        portcullis_domain::oauth::PERSON_SESSION_HOURS * 3600,
    )
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A plain server-rendered page in the console's look (site CSS; no script).
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    page_sized(status, title, body, "max-w-md")
}

/// [`page`] with the card's width class (`max-w-md`, `max-w-3xl`).
fn page_sized(status: StatusCode, title: &str, body: &str, width: &str) -> Response {
    let html = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Portcullis</title><link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/pkg/portcullis.css"></head>
<body class="bg-zinc-50 text-zinc-900 antialiased dark:bg-zinc-950 dark:text-zinc-100">
<main class="flex min-h-screen flex-col items-center justify-center px-4 py-12">
<div class="mb-6 flex items-center gap-2.5"><img src="/favicon.svg" alt="" class="h-7 w-7"><span class="text-lg font-semibold tracking-tight">Portcullis</span></div>
<div class="w-full {width} rounded-xl border border-zinc-200 bg-white p-8 shadow-sm dark:border-zinc-800 dark:bg-zinc-900">{body}</div>
<p class="mt-6 text-xs text-zinc-400">Access control for MCP servers and tools</p>
</main></body></html>"#,
        title = esc(title)
    );
    let mut res = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// An OAuth error shown on a page (never a redirect).
fn error_page(e: &OAuthError) -> Response {
    let mut chars = e.description.chars();
    let sentence: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    let body = format!(
        r#"<h1 class="text-xl font-semibold tracking-tight">This app cannot sign you in</h1>
<p class="mt-3 text-sm text-zinc-600 dark:text-zinc-300" data-testid="oauth-error">{}</p>
<p class="mt-4 text-xs text-zinc-500">Error code: <code>{}</code>. Go back to the app and try again; if it keeps happening, tell your IT team.</p>"#,
        esc(&sentence),
        e.code.as_str()
    );
    page(StatusCode::BAD_REQUEST, "Authorization failed", &body)
}

/// Why an employee's sign-in for an MCP client was refused.
pub fn refusal_page(r: portcullis_types::SsoRefusal) -> Response {
    let body = format!(
        r#"<h1 class="text-xl font-semibold tracking-tight">You could not be signed in</h1>
<p class="mt-3 text-sm text-zinc-600 dark:text-zinc-300" data-testid="oauth-error">{}</p>"#,
        esc(r.message())
    );
    page(StatusCode::FORBIDDEN, "Sign-in refused", &body)
}

fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

fn domain_failure(e: &Error) -> Response {
    match e {
        Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "The console's database is not answering. Try again in a moment.",
        )
            .into_response(),
        Error::RateLimited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            "Too many attempts from this address. Try again later.",
        )
            .into_response(),
        other => {
            tracing::error!(error = %other, "OAuth step failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; the log has the details.",
            )
                .into_response()
        }
    }
}

fn authorize_failure(e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Page(e) => error_page(&e),
        AuthorizeError::Redirect(r) => see_other(&r.url, &[]),
        AuthorizeError::Domain(e) => domain_failure(&e),
    }
}

const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm placeholder:text-zinc-400 focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";

fn signin_page(key: &str, client: &str, server: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| {
            format!(
                r#"<div role="alert" data-testid="form-error" class="mb-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">{}</div>"#,
                esc(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"<h1 class="text-xl font-semibold tracking-tight">Sign in to continue</h1>
<p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400"><strong class="font-medium text-zinc-800 dark:text-zinc-200">{client}</strong> wants to use <strong class="font-medium text-zinc-800 dark:text-zinc-200">{server}</strong> as you. Sign in with your work account.</p>
<form method="post" action="/oauth/authorize/signin" class="mt-6 space-y-4">{error}
<input type="hidden" name="request" value="{key}">
<label class="block text-sm font-medium" for="email">Work email</label>
<input class="{INPUT}" id="email" name="email" type="email" autocomplete="email" required autofocus>
<button class="btn-primary w-full justify-center" type="submit">Continue</button></form>"#,
        client = esc(client),
        server = esc(server),
        key = esc(key),
    );
    page(StatusCode::OK, "Sign in", &body)
}

fn consent_page(key: &str, person: &Person, v: &ConsentView) -> Response {
    let verified = v.client_kind == ClientKind::Preregistered;
    let badge = if verified {
        r#"<span class="rounded-full bg-emerald-100 px-2 py-0.5 text-xs font-medium text-emerald-800 dark:bg-emerald-900/40 dark:text-emerald-300">Approved by your IT team</span>"#
    } else {
        r#"<span class="rounded-full bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-800 dark:bg-amber-900/40 dark:text-amber-300" data-testid="unverified">Unverified</span>"#
    };
    let mut warnings = String::new();
    if !verified {
        warnings.push_str(r#"<li>The app named itself; Portcullis has not verified who publishes it. Continue only if you started this from an app you trust.</li>"#);
    }
    if v.localhost_only {
        warnings.push_str(r#"<li>The app receives the result on this computer (localhost). Any program on this computer could be it.</li>"#);
    }
    let warnings = if warnings.is_empty() {
        String::new()
    } else {
        format!(
            r#"<ul class="mt-4 list-disc space-y-1 rounded-md border border-amber-200 bg-amber-50 py-2 pl-6 pr-3 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950/40 dark:text-amber-200" data-testid="consent-warnings">{warnings}</ul>"#
        )
    };
    let scopes = if v.new_scopes.is_empty() {
        r#"<li>Call the tools of this server you are allowed to use</li>"#.to_owned()
    } else {
        v.new_scopes
            .iter()
            .map(|s| format!(r#"<li><code class="text-xs">{}</code></li>"#, esc(s)))
            .collect::<String>()
    };
    let asked = if v.new_scopes.len() < v.scopes.len() && !v.new_scopes.is_empty() {
        r#"<p class="mt-2 text-xs text-zinc-500">You already allowed the other permissions this app asks for; only the new ones are listed.</p>"#
    } else {
        ""
    };
    let body = format!(
        r#"<div class="mb-2">{badge}</div>
<h1 class="break-words text-xl font-semibold tracking-tight">Allow <span data-testid="client-name">{client}</span></h1>
<p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">to use <strong class="font-medium text-zinc-800 dark:text-zinc-200">{server}</strong> as {who}</p>
<dl class="mt-5 space-y-2 text-sm">
<div class="flex justify-between gap-4"><dt class="text-zinc-500">Sends you back to</dt><dd class="truncate font-mono text-xs" data-testid="redirect-host">{host}</dd></div>
<div class="flex justify-between gap-4"><dt class="text-zinc-500">Client ID</dt><dd class="truncate font-mono text-xs">{client_id}</dd></div>
</dl>
<p class="mt-5 text-sm font-medium">It will be able to</p>
<ul class="mt-1 list-disc pl-6 text-sm text-zinc-700 dark:text-zinc-300">{scopes}</ul>{asked}
{warnings}
<p class="mt-4 text-xs text-zinc-500">Your company's access policy still decides which tools you may call. Your IT team can withdraw this at any time.</p>
<form method="post" action="/oauth/consent" class="mt-6 flex gap-3">
<input type="hidden" name="request" value="{key}">
<button class="btn-secondary flex-1 justify-center" type="submit" name="decision" value="deny">Deny</button>
<button class="btn-primary flex-1 justify-center" type="submit" name="decision" value="allow">Allow</button></form>"#,
        client = esc(&v.client_name),
        server = esc(&v.server_name),
        who = esc(&person.email),
        host = esc(&v.redirect_host),
        client_id = esc(&v.client_id),
        key = esc(key),
    );
    page(StatusCode::OK, "Allow access", &body)
}

// ---- browser handlers ---------------------------------------------------------

/// `GET /oauth/authorize`.
async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    let oauth = &state.services.oauth;
    let binding = read_cookie(&headers, &cookie_name(&state, BINDING))
        .filter(|b| b.len() >= 40 && b.len() <= 64)
        .map(str::to_owned)
        .unwrap_or_else(portcullis_domain::clock::new_secret);
    let (key, pending) = match oauth
        .begin_authorization(&params, &binding, &state.console.public_url)
        .await
    {
        Ok(v) => v,
        Err(e) => return authorize_failure(e),
    };
    let set_binding = binding_cookie(&state, &binding);
    let signed_in = match read_cookie(&headers, &cookie_name(&state, PERSON)) {
        Some(s) => oauth.person(s).await.ok().flatten(),
        None => None,
    };
    if signed_in.is_some() {
        return see_other(
            &format!("/oauth/consent?request={}", urlencode(&key)),
            &[set_binding],
        );
    }
    let mut res = signin_page(&key, &pending.client.name, &pending.server_name, None);
    if let Ok(v) = HeaderValue::from_str(&set_binding) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

#[derive(Deserialize)]
struct SigninForm {
    request: String,
    email: String,
}

/// `POST /oauth/authorize/signin`: on to the IdP of the email's domain.
async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SigninForm>,
) -> Response {
    let oauth = &state.services.oauth;
    let binding = read_cookie(&headers, &cookie_name(&state, BINDING));
    let Ok(Some((row, client))) = oauth.pending(&form.request, binding).await else {
        return error_page(&OAuthError::new(
            portcullis_domain::oauth::model::ErrorCode::InvalidRequest,
            "this authorization request expired or was started in another browser; start again from your app",
        ));
    };
    let next = format!("/oauth/consent?request={}", urlencode(&form.request));
    person_signin(&state, &headers, &form.email, &next)
        .await
        .unwrap_or_else(|| {
            signin_page(
                &form.request,
                &client.name,
                &row.server_name,
                Some(NO_CONNECTION),
            )
        })
}

/// What the email step says when no SSO connection serves the domain.
const NO_CONNECTION: &str =
    "No single sign-on connection serves this email's domain. Use your work email.";

/// Sends a person on to the SSO connection of `email`'s domain, to come
/// back to `next` signed in for MCP clients; `None` when no connection
/// serves the domain (the caller shows its email form again).
async fn person_signin(
    state: &AppState,
    headers: &HeaderMap,
    email: &str,
    next: &str,
) -> Option<Response> {
    let sso = &state.services.sso;
    match sso.route(email.trim()).await {
        Ok(Some((slug, _))) => {
            let browser = read_cookie(headers, crate::sso::browser_cookie_name(state));
            Some(
                match sso
                    .start_for_person(&slug, next, browser, &state.console.public_url)
                    .await
                {
                    Ok(s) => crate::sso::started(state, s),
                    Err(e) => domain_failure(&e),
                },
            )
        }
        Ok(None) | Err(Error::Invalid(_)) => None,
        Err(e) => Some(domain_failure(&e)),
    }
}

#[derive(Deserialize)]
struct ConsentQuery {
    request: String,
}

/// `GET /oauth/consent`: the consent screen, or straight back to the client
/// when the person already agreed to everything asked.
async fn consent(
    State(state): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    headers: HeaderMap,
    Query(q): Query<ConsentQuery>,
) -> Response {
    let oauth = &state.services.oauth;
    let binding = read_cookie(&headers, &cookie_name(&state, BINDING));
    let pending = match oauth.pending(&q.request, binding).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return error_page(&OAuthError::new(
                portcullis_domain::oauth::model::ErrorCode::InvalidRequest,
                "this authorization request expired or was started in another browser; start again from your app",
            ))
        }
        Err(e) => return domain_failure(&e),
    };
    let person = match read_cookie(&headers, &cookie_name(&state, PERSON)) {
        Some(s) => oauth.person(s).await,
        None => Ok(None),
    };
    let person = match person {
        Ok(Some(p)) => p,
        Ok(None) => return signin_page(&q.request, &pending.1.name, &pending.0.server_name, None),
        Err(e) => return domain_failure(&e),
    };
    let view = match oauth.consent_view(&person, &pending.0, &pending.1).await {
        Ok(v) => v,
        Err(e) => return domain_failure(&e),
    };
    if view.already_consented {
        return finish_decision(&state, &q.request, binding, &person, true, meta).await;
    }
    let mut res = consent_page(&q.request, &person, &view);
    // Browsers check the consent form's `form-action` against the whole
    // redirect chain of its submission (the POST here, then the 303 to the
    // client), and they use the policy of the page that holds the form:
    // so this page, too, must admit the client's redirect origin (only
    // that one; the console's other pages allow 'self' alone).
    if let Some(src) = form_action_source(&view.redirect_uri) {
        res.extensions_mut()
            .insert(crate::http::security::FormActionExtra(src));
    }
    res
}

#[derive(Deserialize)]
struct DecisionForm {
    request: String,
    decision: String,
}

/// `POST /oauth/consent`.
async fn decide(
    State(state): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    headers: HeaderMap,
    Form(form): Form<DecisionForm>,
) -> Response {
    let oauth = &state.services.oauth;
    let binding = read_cookie(&headers, &cookie_name(&state, BINDING));
    let person = match read_cookie(&headers, &cookie_name(&state, PERSON)) {
        Some(s) => oauth.person(s).await,
        None => Ok(None),
    };
    let Ok(Some(person)) = person else {
        return error_page(&OAuthError::new(
            portcullis_domain::oauth::model::ErrorCode::AccessDenied,
            "your sign-in ended; start again from your app",
        ));
    };
    finish_decision(
        &state,
        &form.request,
        binding,
        &person,
        form.decision == "allow",
        meta,
    )
    .await
}

async fn finish_decision(
    state: &AppState,
    key: &str,
    binding: Option<&str>,
    person: &Person,
    approve: bool,
    meta: RequestMeta,
) -> Response {
    match state
        .services
        .oauth
        .decide(
            key,
            binding,
            person,
            approve,
            meta,
            &state.console.public_url,
        )
        .await
    {
        Ok(r) => {
            let mut res = see_other(&r.url, &[]);
            // The redirect after the consent form goes to the client's
            // origin: allow exactly that target for this response's
            // `form-action` (the console's CSP allows only 'self').
            if let Some(src) = form_action_source(&r.url) {
                res.extensions_mut()
                    .insert(crate::http::security::FormActionExtra(src));
            }
            res
        }
        Err(e) => authorize_failure(e),
    }
}

/// The CSP source expression that admits a redirect to `url`.
fn form_action_source(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    match u.scheme() {
        "http" | "https" => Some(u.origin().ascii_serialization()),
        s => Some(format!("{s}:")),
    }
}

// ---- machine handlers ------------------------------------------------------------

fn json_no_store(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn oauth_error(e: &OAuthError) -> Response {
    use portcullis_domain::oauth::model::ErrorCode as C;
    let status = match e.code {
        C::InvalidClient => StatusCode::UNAUTHORIZED,
        C::SlowDown => StatusCode::TOO_MANY_REQUESTS,
        C::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::AccessDenied if e.description.contains("registration") => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut res = json_no_store(
        status,
        json!({ "error": e.code.as_str(), "error_description": e.description }),
    );
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"portcullis\""),
        );
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    }
    res
}

fn failure(f: Failure) -> Response {
    match f {
        Failure::Protocol(e) => oauth_error(&e),
        Failure::Domain(e) => domain_failure(&e),
    }
}

/// The public URL's path, without slashes at either end.
fn own_path(state: &AppState) -> String {
    url::Url::parse(&state.console.public_url)
        .map(|u| u.path().trim_matches('/').to_owned())
        .unwrap_or_default()
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414) and
/// `/.well-known/openid-configuration`, for a public URL without a path.
async fn metadata(State(state): State<AppState>) -> Response {
    if !own_path(&state).is_empty() {
        return StatusCode::NOT_FOUND.into_response();
    }
    metadata_doc(&state).await
}

/// The path-inserted forms (RFC 8414 §3.1) for a public URL with a path:
/// the path must be exactly the public URL's.
async fn metadata_at(
    State(state): State<AppState>,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Response {
    let own = own_path(&state);
    if own.is_empty() || path.trim_matches('/') != own {
        return StatusCode::NOT_FOUND.into_response();
    }
    metadata_doc(&state).await
}

async fn metadata_doc(state: &AppState) -> Response {
    match state
        .services
        .oauth
        .metadata(&state.console.public_url)
        .await
    {
        Ok(doc) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "max-age=60"),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            doc.to_string(),
        )
            .into_response(),
        Err(e) => domain_failure(&e),
    }
}

/// `GET /oauth/resources/{slug}`: RFC 9728 metadata of a catalog server.
async fn resource_metadata(
    State(state): State<AppState>,
    axum::extract::Path(slug): axum::extract::Path<String>,
) -> Response {
    match state
        .services
        .oauth
        .resource_metadata(&ServerRef::from(slug), &state.console.public_url)
        .await
    {
        Ok(doc) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            doc.to_string(),
        )
            .into_response(),
        Err(Error::NotFound(_)) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => domain_failure(&e),
    }
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: the id
/// and secret are form-urlencoded before base64).
fn basic_auth(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| ())?;
    let Some(b) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return Err(());
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b.trim())
        .map_err(|_| ())?;
    let raw = String::from_utf8(raw).map_err(|_| ())?;
    let (id, secret) = raw.split_once(':').ok_or(())?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((dec(id), dec(secret))))
}

fn form_of<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::new(
            portcullis_domain::oauth::model::ErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    // RFC 6749 §3.2: a parameter must not appear twice.
    let mut seen = std::collections::HashSet::new();
    for (k, _) in url::form_urlencoded::parse(body) {
        if !seen.insert(k.into_owned()) {
            return Err(OAuthError::new(
                portcullis_domain::oauth::model::ErrorCode::InvalidRequest,
                "a parameter appears more than once",
            ));
        }
    }
    serde_urlencoded::from_bytes(body).map_err(|e| {
        OAuthError::new(
            portcullis_domain::oauth::model::ErrorCode::InvalidRequest,
            format!("the form cannot be read: {e}"),
        )
    })
}

fn client_auth(
    headers: &HeaderMap,
    client_id: Option<String>,
    client_secret: Option<String>,
    assertion: (Option<String>, Option<String>),
) -> Result<ClientAuth, OAuthError> {
    let basic = basic_auth(headers).map_err(|()| {
        OAuthError::new(
            portcullis_domain::oauth::model::ErrorCode::InvalidClient,
            "the Authorization header is not valid Basic authentication",
        )
    })?;
    Ok(ClientAuth {
        basic,
        client_id,
        client_secret,
        assertion_type: assertion.0,
        assertion: assertion.1,
    })
}

/// `POST /oauth/token`.
async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let meta = request_meta(&headers, peer, headers.get("x-request-id"));
    let p: TokenParams = match form_of(&headers, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error(&e),
    };
    let auth = match client_auth(
        &headers,
        p.client_id.clone(),
        p.client_secret.clone(),
        (p.client_assertion_type.clone(), p.client_assertion.clone()),
    ) {
        Ok(a) => a,
        Err(e) => return oauth_error(&e),
    };
    match state
        .services
        .oauth
        .token(
            &p,
            &auth,
            &state.console.public_url,
            meta.source_ip.as_deref(),
        )
        .await
    {
        Ok(t) => json_no_store(StatusCode::OK, serde_json::to_value(t).unwrap_or_default()),
        Err(f) => failure(f),
    }
}

/// `POST /oauth/register` (RFC 7591).
async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use portcullis_domain::oauth::model::ErrorCode as C;
    if body.len() > MAX_REGISTRATION_BYTES {
        return oauth_error(&OAuthError::new(
            C::InvalidClientMetadata,
            "the registration is larger than 16 KiB",
        ));
    }
    let req: RegistrationRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return oauth_error(&OAuthError::new(
                C::InvalidClientMetadata,
                format!("the body is not a JSON client registration: {e}"),
            ))
        }
    };
    let meta = request_meta(&headers, peer, headers.get("x-request-id"));
    match state.services.oauth.register(&req, meta).await {
        Ok(doc) => json_no_store(StatusCode::CREATED, doc),
        Err(f) => failure(f),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    token: Option<String>,
    #[allow(dead_code)]
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token was known.
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f: RevokeForm = match form_of(&headers, &body) {
        Ok(f) => f,
        Err(e) => return oauth_error(&e),
    };
    let auth = match client_auth(
        &headers,
        f.client_id,
        f.client_secret,
        (f.client_assertion_type, f.client_assertion),
    ) {
        Ok(a) => a,
        Err(e) => return oauth_error(&e),
    };
    let Some(token) = f.token.filter(|t| !t.is_empty()) else {
        return oauth_error(&OAuthError::new(
            portcullis_domain::oauth::model::ErrorCode::InvalidRequest,
            "token is missing",
        ));
    };
    match state
        .services
        .oauth
        .revoke(&token, &auth, &state.console.public_url)
        .await
    {
        Ok(()) => json_no_store(StatusCode::OK, json!({})),
        Err(f) => failure(f),
    }
}

#[derive(Deserialize)]
struct IntrospectForm {
    token: Option<String>,
}

/// `POST /oauth/introspect` (RFC 7662), for gateways: their credential as
/// a bearer token.
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let gateway = match bearer {
        Some(t) => state.services.gateways.authenticate(t).await,
        None => Ok(None),
    };
    match gateway {
        Ok(Some(_)) => {}
        Ok(None) => {
            return (
                StatusCode::UNAUTHORIZED,
                [
                    (header::WWW_AUTHENTICATE, "Bearer realm=\"portcullis\""),
                    (header::CONTENT_TYPE, "application/json"),
                ],
                r#"{"error":"invalid_token","error_description":"introspection needs a gateway credential"}"#,
            )
                .into_response()
        }
        Err(e) => return domain_failure(&e),
    }
    let f: IntrospectForm = match form_of(&headers, &body) {
        Ok(f) => f,
        Err(e) => return oauth_error(&e),
    };
    let token = f.token.unwrap_or_default();
    match state
        .services
        .oauth
        .introspect(&token, &state.console.public_url)
        .await
    {
        Ok(i) => json_no_store(StatusCode::OK, serde_json::to_value(i).unwrap_or_default()),
        Err(e) => domain_failure(&e),
    }
}
