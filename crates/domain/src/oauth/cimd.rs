//! Client ID metadata documents (CIMD; draft-ietf-oauth-client-id-metadata-
//! document, the MCP 2026-07-28 spec's preferred way in): the `client_id`
//! is an https URL, and the JSON document at that URL describes the client.
//!
//! - The URL must be https with a path, no fragment, no user info, no dot
//!   segments; it is fetched through the SSRF guard (https only, at most
//!   [`MAX_DOCUMENT_BYTES`], 5 s, no private addresses unless allowed).
//! - The document's `client_id` must equal the URL exactly; its
//!   `redirect_uris` are checked like a registration's (https, loopback,
//!   allowed app schemes); only public clients (`none`) for now.
//! - It is cached per its `Cache-Control: max-age`, clamped to
//!   [`MIN_CACHE_SECONDS`]..[`MAX_CACHE_SECONDS`].
//! - The client's publisher domain (the URL's host) must pass the policy's
//!   allow and block lists. A document whose redirect URIs change is
//!   re-reviewed (pending again) when approval is required.

use super::model::{check_redirect_uri, clean_text, MAX_REDIRECT_URIS};
use std::time::Duration;

/// Largest document read.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
/// Shortest and longest time a document is cached.
pub const MIN_CACHE_SECONDS: i64 = 300;
pub const MAX_CACHE_SECONDS: i64 = 86_400;
/// Cache time when the document says nothing.
pub const DEFAULT_CACHE_SECONDS: i64 = 3_600;

/// Whether `client_id` names a metadata document (an https URL).
pub fn is_cimd(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

/// Checks the form of a CIMD `client_id`; returns its host (the publisher
/// domain).
pub fn check_url(client_id: &str) -> Result<String, String> {
    if client_id.len() > 2000 {
        return Err("the client_id URL is longer than 2,000 characters".into());
    }
    let u = url::Url::parse(client_id).map_err(|e| format!("the client_id is not a URL ({e})"))?;
    if u.scheme() != "https" {
        return Err("a client_id URL must be https".into());
    }
    if u.fragment().is_some() || !u.username().is_empty() || u.password().is_some() {
        return Err("a client_id URL must not have a fragment or user info".into());
    }
    if u.path() == "/" || u.path().is_empty() {
        return Err("a client_id URL must have a path".into());
    }
    if client_id.contains("/./") || client_id.contains("/../") || u.as_str() != client_id {
        return Err("a client_id URL must be in normal form (no dot segments)".into());
    }
    u.host_str()
        .map(|h| h.to_ascii_lowercase())
        .ok_or_else(|| "a client_id URL needs a host".into())
}

/// What a valid document says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub name: String,
    pub client_uri: Option<String>,
    pub redirect_uris: Vec<String>,
}

/// Reads and checks a fetched document against its URL.
pub fn parse_document(
    client_id: &str,
    body: &[u8],
    custom_schemes: &[String],
) -> Result<Document, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the metadata document is not JSON ({e})"))?;
    let obj = v
        .as_object()
        .ok_or("the metadata document is not a JSON object")?;
    match obj.get("client_id").and_then(|c| c.as_str()) {
        Some(id) if id == client_id => {}
        Some(_) => return Err("the document's client_id differs from its URL".into()),
        None => return Err("the document has no client_id".into()),
    }
    match obj
        .get("token_endpoint_auth_method")
        .and_then(|m| m.as_str())
        .unwrap_or("none")
    {
        "none" => {}
        other => {
            return Err(format!(
                "token_endpoint_auth_method {other:?} is not supported for metadata documents yet (only none)"
            ))
        }
    }
    let uris: Vec<String> = obj
        .get("redirect_uris")
        .and_then(|r| r.as_array())
        .ok_or("the document has no redirect_uris")?
        .iter()
        .map(|u| {
            u.as_str()
                .map(str::to_owned)
                .ok_or("redirect_uris must be strings")
        })
        .collect::<Result<_, _>>()?;
    if uris.is_empty() || uris.len() > MAX_REDIRECT_URIS {
        return Err("redirect_uris: one to ten redirect URIs are needed".into());
    }
    for (i, u) in uris.iter().enumerate() {
        check_redirect_uri(u, custom_schemes).map_err(|m| format!("redirect_uris[{i}]: {m}"))?;
    }
    let host = url::Url::parse(client_id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let name = obj
        .get("client_name")
        .and_then(|n| n.as_str())
        .map(|n| clean_text(n, 100))
        .filter(|n| !n.is_empty())
        .unwrap_or(host);
    let client_uri = obj
        .get("client_uri")
        .and_then(|c| c.as_str())
        .filter(|c| c.starts_with("https://") && c.len() <= 500)
        .map(str::to_owned);
    Ok(Document {
        name,
        client_uri,
        redirect_uris: uris,
    })
}

/// How long to keep a document, from its `Cache-Control` header.
pub fn cache_seconds(cache_control: Option<&str>) -> i64 {
    let Some(cc) = cache_control else {
        return DEFAULT_CACHE_SECONDS;
    };
    let mut secs = None;
    for part in cc.split(',').map(str::trim) {
        let lower = part.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            secs = Some(0);
        } else if let Some(v) = lower.strip_prefix("max-age=") {
            if let Ok(n) = v.trim_matches('"').parse::<i64>() {
                secs = Some(secs.map_or(n, |s: i64| s.min(n)));
            }
        }
    }
    secs.unwrap_or(DEFAULT_CACHE_SECONDS)
        .clamp(MIN_CACHE_SECONDS, MAX_CACHE_SECONDS)
}

/// Whether the publisher `domain` passes the allow and block lists (exact
/// host names or their subdomains).
pub fn domain_allowed(domain: &str, allowed: &[String], blocked: &[String]) -> bool {
    let matches = |list: &[String]| {
        list.iter().any(|d| {
            let d = d.trim().trim_start_matches("*.").to_ascii_lowercase();
            domain == d || domain.ends_with(&format!(".{d}"))
        })
    };
    !matches(blocked) && (allowed.is_empty() || matches(allowed))
}

/// Deadline for a document fetch (the guard has its own, this is the cap).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    /// The client_id URL must be https, with a path, in normal form.
    #[test]
    fn cimd_url_form() {
        assert_eq!(
            check_url("https://app.example/oauth/client.json"),
            Ok("app.example".into())
        );
        for bad in [
            "http://app.example/client.json",
            "https://app.example/",
            "https://app.example",
            "https://u@app.example/c.json",
            "https://app.example/c.json#x",
            "https://app.example/a/../c.json",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    /// The document's client_id must equal its URL; redirect URIs are checked.
    #[test]
    fn cimd_document_checked() {
        let id = "https://app.example/c.json";
        let ok = br#"{"client_id":"https://app.example/c.json","client_name":"App","redirect_uris":["http://127.0.0.1/cb"]}"#;
        let d = parse_document(id, ok, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.name, "App");
        let other = br#"{"client_id":"https://evil.example/c.json","redirect_uris":["http://127.0.0.1/cb"]}"#;
        assert!(parse_document(id, other, &[]).is_err());
        let bad_uri = br#"{"client_id":"https://app.example/c.json","redirect_uris":["http://evil.example/cb"]}"#;
        assert!(parse_document(id, bad_uri, &[]).is_err());
        let secret = br#"{"client_id":"https://app.example/c.json","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_basic"}"#;
        assert!(parse_document(id, secret, &[]).is_err());
    }

    /// Cache times are clamped.
    #[test]
    fn cimd_cache_clamped() {
        assert_eq!(cache_seconds(None), DEFAULT_CACHE_SECONDS);
        assert_eq!(cache_seconds(Some("max-age=10")), MIN_CACHE_SECONDS);
        assert_eq!(
            cache_seconds(Some("public, max-age=999999")),
            MAX_CACHE_SECONDS
        );
        assert_eq!(cache_seconds(Some("no-store")), MIN_CACHE_SECONDS);
        assert_eq!(cache_seconds(Some("max-age=7200")), 7200);
    }

    /// Allow and block lists by host and subdomain.
    #[test]
    fn cimd_domain_lists() {
        let l = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(domain_allowed("claude.ai", &[], &[]));
        assert!(!domain_allowed("evil.test", &[], &l(&["evil.test"])));
        assert!(!domain_allowed("x.evil.test", &[], &l(&["evil.test"])));
        assert!(domain_allowed("a.claude.ai", &l(&["claude.ai"]), &[]));
        assert!(!domain_allowed("other.example", &l(&["claude.ai"]), &[]));
    }
}
