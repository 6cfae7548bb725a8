//! SSO endpoints of the console (the browser side of OIDC and SAML
//! sign-in; the checks live in `portcullis_domain::sso`).
//!
//! | route | what |
//! |---|---|
//! | `POST /sso/start` | sign-in page's email step: on to the IdP of the email's domain (`Refresh`), else the password step |
//! | `POST /sso/test/{slug}` | "Test connection" (an admin's session): a sign-in that only reports what the IdP sent |
//! | `GET /sso/oidc/{slug}/callback` | OIDC redirect URI |
//! | `GET /sso/saml/{slug}/metadata` | SAML SP metadata |
//! | `POST /sso/saml/{slug}/acs` | SAML assertion consumer (HTTP-POST binding; cross-site by design) |
//! | `GET /sso/saml/{slug}/finish` | second step of SAML: the browser that started the sign-in proves it with its cookie |
//!
//! The browser that starts a sign-in gets a short-lived binding cookie
//! (`portcullis_sso`, `SameSite=Lax`, `HttpOnly`); the flow finishes only in
//! a browser holding it. The SAML ACS is a cross-site POST, which carries no
//! `Lax` cookie, so it checks the response and hands over to `finish` with a
//! top-level GET redirect, which does.

use crate::http::session::read_cookie;
use crate::server::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use portcullis_domain::sso::{oidc::Callback, AcsOutcome, Finished, Refusal, Started};
use portcullis_domain::{Actor, Error, RequestMeta};
use portcullis_types::SsoSlug;
use serde::Deserialize;

/// The SSO routes (they go through the browser middleware).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sso/start", post(start))
        .route("/sso/test/{slug}", post(test))
        .route("/sso/oidc/{slug}/callback", get(oidc_callback))
        .route("/sso/saml/{slug}/metadata", get(saml_metadata))
        .route("/sso/saml/{slug}/acs", post(saml_acs))
        .route("/sso/saml/{slug}/finish", get(saml_finish))
}

/// Whether a request is the SAML ACS POST (exempt from the cross-site
/// refusal: IdPs post it from their own origin).
pub fn is_saml_acs(path: &str) -> bool {
    path.strip_prefix("/sso/saml/")
        .and_then(|rest| rest.strip_suffix("/acs"))
        .is_some_and(|slug| !slug.is_empty() && !slug.contains('/'))
}

pub(crate) fn browser_cookie_name(state: &AppState) -> &'static str {
    if state.console.cookie_secure {
        "__Host-portcullis_sso"
    } else {
        "portcullis_sso"
    }
}

fn browser_cookie(state: &AppState, value: Option<&str>) -> String {
    let secure = if state.console.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    match value {
        Some(v) => format!(
            "{}={v}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            browser_cookie_name(state),
            portcullis_domain::sso::REQUEST_TTL_MINUTES * 60
        ),
        None => format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            browser_cookie_name(state)
        ),
    }
}

fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut res = Redirect::to(location).into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

fn refused(state: &AppState, r: Refusal) -> Response {
    see_other(
        &format!("/login?sso_error={}", r.code()),
        &[browser_cookie(state, None)],
    )
}

fn failure(e: &Error) -> Response {
    match e {
        Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "The console's database is not answering. Try again in a moment.",
        )
            .into_response(),
        Error::NotFound(_) => Redirect::to("/login?sso_error=no_connection").into_response(),
        Error::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()).into_response(),
        Error::RateLimited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            "Too many failed sign-ins from this address. Try again later.",
        )
            .into_response(),
        other => {
            tracing::error!(error = %other, "SSO step failed");
            Redirect::to("/login?sso_error=invalid_response").into_response()
        }
    }
}

fn finished(state: &AppState, f: Finished) -> Response {
    match f {
        Finished::SignedIn { session, next } => see_other(
            &next,
            &[
                app::ssr::session_cookie(&state.console, Some(&session.secret)),
                browser_cookie(state, None),
            ],
        ),
        Finished::Tested {
            connection_id,
            test_id,
        } => see_other(
            &format!("/settings/sso/{connection_id}?test={test_id}"),
            &[browser_cookie(state, None)],
        ),
        Finished::Refused(r) => refused(state, r),
        // An employee signing in for an MCP client: a person session,
        // never the console's.
        Finished::Person { session, next } => see_other(
            &next,
            &[
                crate::oauth::person_cookie(state, &session),
                browser_cookie(state, None),
            ],
        ),
        Finished::PersonRefused(r) => {
            let mut res = crate::oauth::refusal_page(r);
            if let Ok(v) = HeaderValue::from_str(&browser_cookie(state, None)) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
    }
}

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Hands the browser to the IdP. Not a 303: the console's CSP has
/// `form-action 'self'`, which browsers also apply to the redirects that
/// follow a form post, so the sign-in form could not be redirected to
/// another origin. A `Refresh` answer is a navigation of its own (and the
/// page has a link for the rare browser that ignores it).
pub(crate) fn started(state: &AppState, s: Started) -> Response {
    let url = html_escape(&s.redirect);
    let body = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Signing in · Portcullis</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/pkg/portcullis.css"></head>
<body class="bg-zinc-50 text-zinc-900 antialiased dark:bg-zinc-950 dark:text-zinc-100">
<main class="flex min-h-screen flex-col items-center justify-center px-4 text-center">
<p class="text-sm text-zinc-500">Taking you to your identity provider…</p>
<a class="btn-primary mt-4" href="{url}">Continue</a></main></body></html>"#
    );
    let mut res = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("0; url={}", s.redirect)) {
        h.insert(header::REFRESH, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&browser_cookie(state, Some(&s.browser))) {
        h.append(header::SET_COOKIE, v);
    }
    res
}

#[derive(Deserialize)]
struct StartForm {
    email: String,
    #[serde(default)]
    next: String,
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The email step: to the IdP serving the domain, else the password step.
/// Braked per source address (each start is a row and a redirect).
async fn start(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    Form(form): Form<StartForm>,
) -> Response {
    if let Err(retry_after) = state
        .services
        .limits
        .sso_start
        .check(&peer.ip().to_string(), chrono::Utc::now())
    {
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, retry_after.to_string())],
            "Too many sign-ins started from this address. Wait a minute and try again.",
        )
            .into_response();
    }
    let sso = &state.services.sso;
    let email = form.email.trim();
    let next = if form.next.is_empty() {
        "/"
    } else {
        &form.next
    };
    let password_step = || {
        Redirect::to(&format!(
            "/login?method=password&email={}&next={}",
            urlencode(email),
            urlencode(next)
        ))
        .into_response()
    };
    match sso.route(email).await {
        Ok(Some((slug, _))) => {
            let browser = read_cookie(&headers, browser_cookie_name(&state));
            match sso
                .start(&slug, next, None, browser, &state.console.public_url)
                .await
            {
                Ok(s) => started(&state, s),
                Err(e) => failure(&e),
            }
        }
        Ok(None) | Err(Error::Invalid(_)) => password_step(),
        Err(e) => failure(&e),
    }
}

/// "Test connection": a sign-in run by an admin that signs nobody in.
async fn test(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    headers: axum::http::HeaderMap,
    Path(slug): Path<SsoSlug>,
) -> Response {
    let browser = read_cookie(&headers, browser_cookie_name(&state));
    match state
        .services
        .sso
        .start(&slug, "/", Some(&actor), browser, &state.console.public_url)
        .await
    {
        Ok(s) => started(&state, s),
        Err(Error::Unauthenticated(_)) => Redirect::to("/login").into_response(),
        Err(e) => failure(&e),
    }
}

async fn oidc_callback(
    State(state): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    headers: axum::http::HeaderMap,
    Path(slug): Path<SsoSlug>,
    Query(params): Query<Callback>,
) -> Response {
    let browser = read_cookie(&headers, browser_cookie_name(&state));
    match state
        .services
        .sso
        .oidc_callback(&slug, &params, browser, meta, &state.console.public_url)
        .await
    {
        Ok(f) => finished(&state, f),
        Err(e) => failure(&e),
    }
}

async fn saml_metadata(State(state): State<AppState>, Path(slug): Path<SsoSlug>) -> Response {
    match state
        .services
        .sso
        .sp_metadata(&slug, &state.console.public_url)
        .await
    {
        Ok(xml) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml,
        )
            .into_response(),
        Err(Error::NotFound(_)) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => failure(&e),
    }
}

#[derive(Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

async fn saml_acs(
    State(state): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    Path(slug): Path<SsoSlug>,
    Form(form): Form<AcsForm>,
) -> Response {
    match state
        .services
        .sso
        .saml_acs(
            &slug,
            &form.saml_response,
            form.relay_state.as_deref(),
            meta,
            &state.console.public_url,
        )
        .await
    {
        Ok(AcsOutcome::Continue { handle, browser }) => {
            let cookies: Vec<String> = browser
                .iter()
                .map(|b| browser_cookie(&state, Some(b)))
                .collect();
            see_other(
                &format!("/sso/saml/{slug}/finish?r={}", urlencode(&handle)),
                &cookies,
            )
        }
        Ok(AcsOutcome::Done(f)) => finished(&state, f),
        Err(e) => failure(&e),
    }
}

#[derive(Deserialize)]
struct FinishQuery {
    r: String,
}

async fn saml_finish(
    State(state): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    headers: axum::http::HeaderMap,
    Path(slug): Path<SsoSlug>,
    Query(q): Query<FinishQuery>,
) -> Response {
    let browser = read_cookie(&headers, browser_cookie_name(&state));
    match state
        .services
        .sso
        .saml_finish(&slug, &q.r, browser, meta)
        .await
    {
        Ok(f) => finished(&state, f),
        Err(e) => failure(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the exact ACS path of one connection skips the cross-site check.
    #[test]
    fn sso_acs_path_is_exact() {
        assert!(is_saml_acs("/sso/saml/acme/acs"));
        for p in [
            "/sso/saml//acs",
            "/sso/saml/a/b/acs",
            "/sso/saml/acme/acs/x",
            "/sso/start",
            "/api/console/sign_in",
            "/sso/oidc/acme/acs",
        ] {
            assert!(!is_saml_acs(p), "{p}");
        }
    }
}
