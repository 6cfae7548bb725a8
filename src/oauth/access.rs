//! "My access": the small page an employee signed in for MCP clients sees
//! at `/oauth/access` — which servers and tools they may call (from the
//! policy evaluator, with the reason), the apps they allowed, and a button
//! to withdraw an app. It reads the person session (`portcullis_person`),
//! never a console session, and links nowhere into the console.
//!
//! | route | what |
//! |---|---|
//! | `GET /oauth/access` | the page, or a work-email form when not signed in |
//! | `POST /oauth/access/signin` | the email → the SSO connection of its domain, back here |
//! | `POST /oauth/access/withdraw` | withdraw one app (its consents and grants) |
//!
//! Same browser protections as the consent screen (console middleware:
//! not frameable, cross-site POSTs refused); every string from a client,
//! the catalog or the IdP is HTML-escaped.

use super::{
    cookie_name, domain_failure, page, page_sized, person_signin, see_other, NO_CONNECTION, PERSON,
};
use crate::http::session::{read_cookie, request_meta};
use crate::server::AppState;
use crate::sso::html_escape as esc;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use portcullis_domain::oauth::model::{ClientId, ClientKind};
use portcullis_domain::oauth::{MyClient, Person};
use portcullis_types::{MatchedVia, PersonId, UserToolAccess};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The My access routes (merged with the other browser routes).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/access", get(my_access))
        .route("/oauth/access/signin", post(signin))
        .route("/oauth/access/withdraw", post(withdraw))
}

async fn person(state: &AppState, headers: &HeaderMap) -> Option<Person> {
    let session = read_cookie(headers, &cookie_name(state, PERSON))?;
    state.services.oauth.person(session).await.ok().flatten()
}

const INPUT: &str = "block w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-base shadow-sm placeholder:text-zinc-400 focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950";

fn signin_page(error: Option<&str>) -> Response {
    let error = error
        .map(|e| {
            format!(
                r#"<div role="alert" data-testid="form-error" class="mb-4 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300">{}</div>"#,
                esc(e)
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"<h1 class="text-xl font-semibold tracking-tight">See your access</h1>
<p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">Sign in with your work account to see which MCP servers and tools you may use, and which apps you allowed.</p>
<form method="post" action="/oauth/access/signin" class="mt-6 space-y-4">{error}
<label class="block text-sm font-medium" for="email">Work email</label>
<input class="{INPUT}" id="email" name="email" type="email" autocomplete="email" required autofocus>
<button class="btn-primary w-full justify-center" type="submit">Continue</button></form>"#
    );
    page(StatusCode::OK, "My access", &body)
}

#[derive(Deserialize)]
struct Notice {
    #[serde(default)]
    withdrawn: Option<String>,
}

/// `GET /oauth/access`.
async fn my_access(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(notice): Query<Notice>,
) -> Response {
    let Some(person) = person(&state, &headers).await else {
        return signin_page(None);
    };
    let access = match state
        .services
        .access
        .own_access(&PersonId::from(&person.id))
        .await
    {
        Ok(a) => a,
        Err(e) => return domain_failure(&e),
    };
    let clients = match state
        .services
        .oauth
        .my_clients(&PersonId::from(&person.id))
        .await
    {
        Ok(c) => c,
        Err(e) => return domain_failure(&e),
    };
    let notice = notice
        .withdrawn
        .map(|name| {
            format!(
                r#"<div role="status" data-testid="notice" class="mb-5 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-900 dark:border-emerald-900 dark:bg-emerald-950/40 dark:text-emerald-200">{} can no longer act for you. It asks again if you connect it later.</div>"#,
                esc(&name)
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"{notice}<div class="flex flex-wrap items-baseline justify-between gap-2">
<h1 class="text-xl font-semibold tracking-tight">My access</h1>
<p class="text-sm text-zinc-500 dark:text-zinc-400" data-testid="who">{name} · {email}</p></div>
<p class="mt-1 text-sm text-zinc-500 dark:text-zinc-400">What your company's policy lets you use through MCP apps right now, and the apps you allowed.</p>
<h2 class="mt-8 text-sm font-semibold">Servers and tools you may call</h2>
{servers}
<h2 class="mt-8 text-sm font-semibold">Apps you allowed</h2>
{apps}
<p class="mt-8 text-xs text-zinc-500">Access is decided by your IT team's grants. Ask them if something you need is missing.</p>"#,
        name = esc(&person.name),
        email = esc(&person.email),
        servers = servers_html(&access),
        apps = apps_html(&clients),
    );
    wide_page("My access", &body)
}

/// The page in the console's look, wider than the sign-in card (tables).
fn wide_page(title: &str, body: &str) -> Response {
    page_sized(StatusCode::OK, title, body, "max-w-3xl")
}

fn via(a: &UserToolAccess) -> String {
    match &a.via {
        Some(MatchedVia::Direct) => "granted to you".to_owned(),
        Some(MatchedVia::Group { name, .. }) => format!("through the group {}", esc(name)),
        Some(MatchedVia::Everyone) => "granted to everyone".to_owned(),
        None => "allowed".to_owned(),
    }
}

fn servers_html(access: &[UserToolAccess]) -> String {
    let mut by_server: BTreeMap<&str, (Vec<&UserToolAccess>, usize)> = BTreeMap::new();
    for a in access {
        let e = by_server.entry(a.server_name.as_str()).or_default();
        if a.allowed {
            e.0.push(a);
        } else {
            e.1 += 1;
        }
    }
    by_server.retain(|_, (allowed, _)| !allowed.is_empty());
    if by_server.is_empty() {
        return r#"<p class="mt-2 rounded-md border border-dashed border-zinc-300 px-4 py-6 text-center text-sm text-zinc-500 dark:border-zinc-700" data-testid="no-access">You may not call any MCP tool yet. Your IT team grants access per server and tool.</p>"#.to_owned();
    }
    let mut out = String::from(r#"<div class="mt-2 space-y-3" data-testid="servers">"#);
    for (server, (allowed, denied)) in by_server {
        let rows: String = allowed
            .iter()
            .map(|a| {
                let destructive = if a.effective.destructive {
                    r#" <span class="rounded-full bg-red-100 px-1.5 py-0.5 text-[11px] font-medium text-red-800 dark:bg-red-900/40 dark:text-red-300">destructive</span>"#
                } else if a.effective.read_only {
                    r#" <span class="rounded-full bg-zinc-100 px-1.5 py-0.5 text-[11px] font-medium text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300">read-only</span>"#
                } else {
                    ""
                };
                format!(
                    r#"<li class="flex flex-wrap items-baseline justify-between gap-2 py-1.5" data-testid="tool"><span><code class="text-xs">{}</code>{destructive}</span><span class="text-xs text-zinc-500">{}</span></li>"#,
                    esc(&a.tool),
                    via(a)
                )
            })
            .collect();
        let more = if denied > 0 {
            format!(
                r#"<p class="mt-1 text-xs text-zinc-500">{denied} other {} of this server not granted to you.</p>"#,
                if denied == 1 { "tool" } else { "tools" }
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            r#"<section class="rounded-lg border border-zinc-200 px-4 py-3 dark:border-zinc-800" data-testid="server"><h3 class="text-sm font-medium">{}</h3><ul class="mt-1 divide-y divide-zinc-100 dark:divide-zinc-800">{rows}</ul>{more}</section>"#,
            esc(server)
        ));
    }
    out.push_str("</div>");
    out
}

fn apps_html(clients: &[MyClient]) -> String {
    if clients.is_empty() {
        return r#"<p class="mt-2 rounded-md border border-dashed border-zinc-300 px-4 py-6 text-center text-sm text-zinc-500 dark:border-zinc-700" data-testid="no-apps">You have not allowed any app yet. Apps ask the first time you connect them to an MCP server.</p>"#.to_owned();
    }
    // One row per app; its servers listed inside.
    let mut by_client: BTreeMap<&str, Vec<&MyClient>> = BTreeMap::new();
    for c in clients {
        by_client.entry(c.client_id.as_str()).or_default().push(c);
    }
    let mut out = String::from(
        r#"<ul class="mt-2 divide-y divide-zinc-100 rounded-lg border border-zinc-200 dark:divide-zinc-800 dark:border-zinc-800" data-testid="apps">"#,
    );
    for (id, rows) in by_client {
        let first = rows[0];
        let badge = if first.client_kind == ClientKind::Preregistered {
            r#"<span class="rounded-full bg-emerald-100 px-2 py-0.5 text-xs font-medium text-emerald-800 dark:bg-emerald-900/40 dark:text-emerald-300">Approved by your IT team</span>"#
        } else {
            r#"<span class="rounded-full bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-800 dark:bg-amber-900/40 dark:text-amber-300">Unverified</span>"#
        };
        let servers: String = rows
            .iter()
            .map(|r| {
                let scopes = if r.scopes.is_empty() {
                    String::new()
                } else {
                    format!(
                        " · {}",
                        r.scopes
                            .iter()
                            .map(|s| esc(s))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                };
                format!(
                    r#"<li>{}{scopes} · allowed {} · {}</li>"#,
                    esc(&r.server_name),
                    r.consented_at.format("%Y-%m-%d"),
                    if r.live_grants > 0 {
                        "connected"
                    } else {
                        "not connected now"
                    }
                )
            })
            .collect();
        out.push_str(&format!(
            r#"<li class="flex flex-wrap items-start justify-between gap-3 px-4 py-3" data-testid="app">
<div class="min-w-0"><p class="flex flex-wrap items-center gap-2"><span class="break-words font-medium" data-testid="app-name">{name}</span>{badge}</p>
<ul class="mt-1 space-y-0.5 text-xs text-zinc-500 dark:text-zinc-400">{servers}</ul>
<p class="mt-0.5 truncate font-mono text-xs text-zinc-400" title="{id}">{id}</p></div>
<form method="post" action="/oauth/access/withdraw"><input type="hidden" name="client_id" value="{id}">
<button type="submit" class="rounded-md px-2.5 py-1 text-xs font-medium text-red-700 hover:bg-red-50 dark:text-red-400 dark:hover:bg-red-500/10" data-testid="withdraw">Withdraw</button></form></li>"#,
            name = esc(&first.client_name),
            id = esc(id),
        ));
    }
    out.push_str("</ul>");
    out
}

#[derive(Deserialize)]
struct SigninForm {
    email: String,
}

/// `POST /oauth/access/signin`: on to the IdP of the email's domain.
async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SigninForm>,
) -> Response {
    person_signin(&state, &headers, &form.email, "/oauth/access")
        .await
        .unwrap_or_else(|| signin_page(Some(NO_CONNECTION)))
}

#[derive(Deserialize)]
struct WithdrawForm {
    client_id: String,
}

/// `POST /oauth/access/withdraw`: the person withdraws one app.
async fn withdraw(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<WithdrawForm>,
) -> Response {
    let Some(person) = person(&state, &headers).await else {
        return see_other("/oauth/access", &[]);
    };
    let meta = request_meta(&headers, peer, headers.get("x-request-id"));
    match state
        .services
        .oauth
        .withdraw_consent(&person, &ClientId::from(&form.client_id), meta)
        .await
    {
        Ok((_, name)) => see_other(
            &format!("/oauth/access?withdrawn={}", super::urlencode(&name)),
            &[],
        ),
        // Nothing to withdraw (already done, or never allowed).
        Err(portcullis_domain::Error::NotFound(_)) => see_other("/oauth/access", &[]),
        Err(e) => domain_failure(&e),
    }
}
