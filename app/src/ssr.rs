//! Server-side helpers for server functions: the services, the caller and
//! the response, taken from the Leptos context that the axum integration
//! provides for each request.

use crate::error::AppError;
use http::request::Parts;
use leptos::prelude::*;
use portcullis_domain::{Actor, RequestMeta, Services};

/// The admin REST API's OpenAPI document (JSON text), for the API
/// reference page; provided by the server with the other contexts.
#[derive(Clone, Copy, Debug)]
pub struct ApiReferenceDoc(pub &'static str);

/// Per-process settings the console's server functions need.
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    /// The public base URL, without a trailing slash.
    pub public_url: String,
    /// The session cookie's name (`__Host-portcullis_session` over https).
    pub cookie_name: String,
    /// Whether cookies get `Secure`.
    pub cookie_secure: bool,
}

/// The request id of the current request, if any.
pub fn request_id() -> Option<String> {
    use_context::<Parts>().and_then(|p| {
        p.extensions
            .get::<RequestMeta>()
            .and_then(|m| m.request_id.clone())
    })
}

/// Sets the response status of the current server function.
pub fn set_status(status: http::StatusCode) {
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(status);
    }
}

/// Sets a response header of the current server function.
pub fn set_header(name: http::header::HeaderName, value: &str) {
    if let (Some(res), Ok(v)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(value),
    ) {
        res.insert_header(name, v);
    }
}

fn internal(what: &str) -> AppError {
    AppError::from(portcullis_domain::Error::Internal(format!(
        "{what} missing from context"
    )))
}

/// The services and the console config.
pub fn ctx() -> Result<(Services, ConsoleConfig), AppError> {
    let services = use_context::<Services>().ok_or_else(|| internal("services"))?;
    let config = use_context::<ConsoleConfig>().ok_or_else(|| internal("console config"))?;
    Ok((services, config))
}

/// The services and the caller. The caller is anonymous when not signed in;
/// the services decide what an anonymous caller may do.
pub fn ctx_and_actor() -> Result<(Services, Actor), AppError> {
    let (services, _) = ctx()?;
    let parts = use_context::<Parts>().ok_or_else(|| internal("request"))?;
    let actor = parts
        .extensions
        .get::<Actor>()
        .cloned()
        .unwrap_or_else(|| Actor::anonymous(meta_of(&parts)));
    Ok((services, actor))
}

/// Source IP, user agent and request id of the current request.
pub fn request_meta() -> RequestMeta {
    use_context::<Parts>()
        .map(|p| meta_of(&p))
        .unwrap_or_default()
}

fn meta_of(parts: &Parts) -> RequestMeta {
    parts
        .extensions
        .get::<RequestMeta>()
        .cloned()
        .unwrap_or_default()
}

/// Builds the `Set-Cookie` value for a session secret (empty + expired to clear).
pub fn session_cookie(config: &ConsoleConfig, secret: Option<&str>) -> String {
    let secure = if config.cookie_secure { "; Secure" } else { "" };
    match secret {
        Some(s) => format!(
            "{}={s}; Path=/; HttpOnly; SameSite=Lax{secure}",
            config.cookie_name
        ),
        None => format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            config.cookie_name
        ),
    }
}

/// A local path to go to after sign-in; anything else becomes `/`.
pub use portcullis_domain::sso::safe_next;
