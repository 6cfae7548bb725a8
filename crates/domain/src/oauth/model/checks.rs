//! The validation rules of the OAuth area: redirect URIs (registration and
//! matching, RFC 8252 §7.3, RFC 9700 §4.1.3), the duplicate-registration
//! key, PKCE S256 (RFC 7636) and untrusted display text.

use sha2::Digest;

/// Where a redirect URI points, which decides how it may be registered and
/// matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    /// `https://…`
    Https,
    /// `http://127.0.0.1…`, `http://[::1]…` or `http://localhost…` (RFC 8252
    /// §7.3): the port may vary at authorization time.
    Loopback,
    /// A private-use scheme (`cursor://…`, RFC 8252 §7.1), only from the
    /// allowlist.
    Custom,
}

/// The loopback hosts whose redirect port may vary.
pub(crate) const LOOPBACK_PREFIXES: [&str; 3] =
    ["http://127.0.0.1", "http://[::1]", "http://localhost"];

/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;
/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 10;

/// Checks a redirect URI a client registers. `custom_schemes` is the
/// allowlist of private-use schemes.
pub fn check_redirect_uri(uri: &str, custom_schemes: &[String]) -> Result<RedirectKind, String> {
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err("longer than 2,000 characters".into());
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("contains spaces or control characters".into());
    }
    let parsed = url::Url::parse(uri).map_err(|e| format!("not a URL ({e})"))?;
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err("must not have a fragment".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    match parsed.scheme() {
        "https" if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(RedirectKind::Https),
        "http" if loopback_rest(uri).is_some() => Ok(RedirectKind::Loopback),
        "http" => Err("http is allowed only for loopback (127.0.0.1, [::1], localhost)".into()),
        s if custom_schemes.iter().any(|c| c.eq_ignore_ascii_case(s)) => Ok(RedirectKind::Custom),
        s => Err(format!(
            "the scheme {s:?} is not allowed (https, loopback http, or an allowed app scheme)"
        )),
    }
}

/// For a loopback redirect URI: (host prefix, the part after the port).
fn loopback_rest(uri: &str) -> Option<(&'static str, &str)> {
    for p in LOOPBACK_PREFIXES {
        let Some(rest) = uri.strip_prefix(p) else {
            continue;
        };
        let rest = match rest.strip_prefix(':') {
            Some(r) => {
                let digits = r.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 || digits > 5 {
                    return None;
                }
                &r[digits..]
            }
            None => rest,
        };
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
            return Some((p, rest));
        }
    }
    None
}

/// The key that makes registrations of the same app one group on the
/// Clients page: the name (trimmed, lower case), the redirect URIs with
/// loopback ports left out (a native app picks a new port per run) and
/// sorted, and the software id. Hex SHA-256, 32 characters.
pub fn duplicate_key(name: &str, redirect_uris: &[String], software_id: Option<&str>) -> String {
    use sha2::Digest;
    let mut uris: Vec<String> = redirect_uris
        .iter()
        .map(|u| match loopback_rest(u) {
            Some((host, rest)) => format!("{host}{rest}"),
            None => u.clone(),
        })
        .collect();
    uris.sort();
    uris.dedup();
    let material = serde_json::json!([name.trim().to_lowercase(), uris, software_id]).to_string();
    let digest = sha2::Sha256::digest(material.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Whether `requested` is one of `registered` (RFC 9700 §4.1.3: exact
/// string comparison), except that a loopback redirect may name another
/// port (RFC 8252 §7.3). Case, trailing slash, query, fragment and userinfo
/// variants never match.
pub fn redirect_matches(registered: &[String], requested: &str) -> bool {
    if requested.contains('#') || requested.contains('@') {
        return false;
    }
    registered.iter().any(|r| {
        r == requested
            || match (loopback_rest(r), loopback_rest(requested)) {
                (Some((hr, rr)), Some((hq, rq))) => hr == hq && rr == rq,
                _ => false,
            }
    })
}

/// Checks a PKCE `code_challenge` (RFC 7636 §4.2: base64url of a SHA-256,
/// 43 characters; accepted up to 128 of the verifier alphabet).
pub fn check_code_challenge(challenge: &str) -> bool {
    (43..=128).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `verifier` (RFC 7636 §4.1) hashes to `challenge` with S256.
pub fn pkce_verifies(verifier: &str, challenge: &str) -> bool {
    use base64::Engine;
    if !(43..=128).contains(&verifier.len())
        || !verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return false;
    }
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
/// Cleans an untrusted display string (client name): no control
/// characters, trimmed, at most `max` characters.
pub fn clean_text(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn duplicate_key_ignores_loopback_ports_case_and_order() {
        let a = duplicate_key(
            "Claude Code",
            &[
                "http://localhost:53121/callback".into(),
                "https://app.example/cb".into(),
            ],
            None,
        );
        let b = duplicate_key(
            " claude code",
            &[
                "https://app.example/cb".into(),
                "http://localhost:61000/callback".into(),
            ],
            None,
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        assert_ne!(
            a,
            duplicate_key(
                "Claude Code",
                &[
                    "http://localhost:1/other".into(),
                    "https://app.example/cb".into()
                ],
                None
            )
        );
        assert_ne!(
            a,
            duplicate_key(
                "Claude Code",
                &[
                    "http://localhost:1/callback".into(),
                    "https://app.example/cb".into()
                ],
                Some("x")
            )
        );
        assert_ne!(
            a,
            duplicate_key(
                "Cursor",
                &[
                    "http://localhost:1/callback".into(),
                    "https://app.example/cb".into()
                ],
                None
            )
        );
    }

    /// Exact match only; loopback may vary only its port.
    #[test]
    fn oauth_redirect_exact_match_loopback_port_varies() {
        let r = reg(&["https://app.example/cb", "http://127.0.0.1:3333/callback"]);
        assert!(redirect_matches(&r, "https://app.example/cb"));
        for bad in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example/CB",
            "https://app.example/cb?x=1",
            "https://app.example/cb#f",
            "https://user@app.example/cb",
            "https://app.example:444/cb",
            "https://app.example.evil/cb",
            "http://app.example/cb",
        ] {
            assert!(!redirect_matches(&r, bad), "{bad}");
        }
        assert!(redirect_matches(&r, "http://127.0.0.1:51234/callback"));
        assert!(redirect_matches(&r, "http://127.0.0.1/callback"));
        for bad in [
            "http://127.0.0.1:51234/callback/",
            "http://127.0.0.1:51234/other",
            "http://localhost:51234/callback",
            "http://127.0.0.1:51234/callback?x",
            "http://127.0.0.1.evil.test/callback",
            "http://127.0.0.1:1@evil.test/callback",
        ] {
            assert!(!redirect_matches(&r, bad), "{bad}");
        }
    }

    /// Registration accepts https, loopback http and allowed app schemes.
    #[test]
    fn oauth_redirect_registration_rules() {
        let schemes = reg(&["cursor"]);
        assert_eq!(
            check_redirect_uri("https://a.example/cb", &schemes),
            Ok(RedirectKind::Https)
        );
        assert_eq!(
            check_redirect_uri("http://localhost:8080/cb", &schemes),
            Ok(RedirectKind::Loopback)
        );
        assert_eq!(
            check_redirect_uri("cursor://anysphere.cursor-mcp/oauth/callback", &schemes),
            Ok(RedirectKind::Custom)
        );
        for bad in [
            "http://a.example/cb",
            "https://a.example/cb#x",
            "https://u:p@a.example/cb",
            "javascript:alert(1)",
            "evil://x",
            "https://a.example/c b",
            "not a url",
        ] {
            assert!(check_redirect_uri(bad, &schemes).is_err(), "{bad}");
        }
    }

    /// S256 only: the verifier must hash to the challenge.
    #[test]
    fn oauth_pkce_s256() {
        // The challenge computed independently (Python's hashlib + base64).
        let v = "dBjftJeZ4CVP-mJ92K9sDEtFQ4lGgmzCE5wQpBgsnYs";
        let c = "Et6PXEOJiu7L8HjxelTr7BSyuD_0uNlv4k1zmlvvYaI";
        assert!(check_code_challenge(c));
        assert!(pkce_verifies(v, c));
        assert!(!pkce_verifies(c, c), "plain (verifier = challenge) refused");
        assert!(!pkce_verifies("short", c));
        assert!(!check_code_challenge("short"));
    }
}
