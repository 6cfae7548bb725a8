//! Server functions for signing in and out, and one-time set-up links.

use crate::error::AppError;
use leptos::prelude::*;
use portcullis_types::{LinkInfo, Me};

/// The signed-in console user. **Permission:** any signed-in role.
#[server(endpoint = "console/me")]
pub async fn get_me() -> Result<Me, AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    Ok(svc.console.get_me(&actor).await?)
}

/// Signs in with email and password, sets the session cookie and redirects
/// to `next` (a local path). Throttled; every attempt audited.
#[server(endpoint = "console/sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    let (svc, config) = crate::ssr::ctx()?;
    let session = svc
        .console
        .sign_in(crate::ssr::request_meta(), &email, &password)
        .await?;
    crate::ssr::set_header(
        http::header::SET_COOKIE,
        &crate::ssr::session_cookie(&config, Some(&session.secret)),
    );
    leptos_axum::redirect(&crate::ssr::safe_next(next.as_deref().unwrap_or("/")));
    Ok(())
}

/// Describes a one-time set-up link before it is used.
#[server(endpoint = "console/link")]
pub async fn get_link(token: String) -> Result<LinkInfo, AppError> {
    let (svc, _) = crate::ssr::ctx()?;
    Ok(svc.console.get_link(&token).await?)
}

/// Uses a one-time link: sets the password, signs in, goes to Overview.
#[server(endpoint = "console/accept_link")]
pub async fn accept_link(
    token: String,
    display_name: String,
    password: String,
) -> Result<(), AppError> {
    let (svc, config) = crate::ssr::ctx()?;
    let session = svc
        .console
        .accept_link(crate::ssr::request_meta(), &token, &display_name, &password)
        .await?;
    crate::ssr::set_header(
        http::header::SET_COOKIE,
        &crate::ssr::session_cookie(&config, Some(&session.secret)),
    );
    leptos_axum::redirect("/");
    Ok(())
}

/// Ends the session server-side, clears the cookie, goes to the sign-in page.
#[server(endpoint = "console/sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    let (svc, actor) = crate::ssr::ctx_and_actor()?;
    let (_, config) = crate::ssr::ctx()?;
    svc.console.sign_out(&actor).await?;
    crate::ssr::set_header(
        http::header::SET_COOKIE,
        &crate::ssr::session_cookie(&config, None),
    );
    leptos_axum::redirect("/login");
    Ok(())
}
