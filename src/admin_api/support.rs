//! What every admin API handler shares: the caller, list envelopes and
//! cursors, query and body parsing with the field named, `ETag` /
//! `If-Match`, and `Idempotency-Key` replay.

use crate::http::problem::{read_json, Problem};
use crate::server::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use portcullis_domain::apikeys::Claim;
use portcullis_domain::Actor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use utoipa::{IntoParams, ToSchema};

/// Every handler's result: a response or problem details.
pub type ApiResult = Result<Response, Problem>;

/// The API key calling, put in the request by [`super::authenticate`].
pub struct Caller(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "send an API key as Authorization: Bearer <key>",
                )
            })
    }
}

/// Query parameters of type `T`; a bad one is a 400 naming it.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let raw = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(raw.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let field = e.path().to_string();
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("{field}: {}", e.inner()),
                )
                .field(field)
            })
    }
}

/// A JSON body of type `T`; 415 without the JSON content type, 400 naming
/// the field that does not fit.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let headers = req.headers().clone();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Problem::new(e.status(), "invalid_body", e.body_text()))?;
        read_json(&headers, &bytes).map(Json)
    }
}

/// `?cursor=&limit=` of every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `next_cursor` of the previous page; leave out for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

impl PageParams {
    /// `(offset, limit)` of the page asked for.
    /// The two parameters are read from the same query string as a list's
    /// own filters (its handler takes both extractors).
    pub fn window(&self) -> Result<(i64, i64), Problem> {
        let limit = match self.limit {
            None => 50,
            Some(l) if (1..=200).contains(&l) => l,
            Some(_) => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "limit: use 1 to 200",
                )
                .field("limit"))
            }
        };
        let offset = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => 0,
            Some(c) => decode_cursor(c).ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "cursor: not a cursor this API gave out; start again without one",
                )
                .field("cursor")
            })?,
        };
        Ok((offset, limit))
    }
}

fn encode_cursor(offset: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o1:{offset}"))
}

fn decode_cursor(c: &str) -> Option<i64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    let n: i64 = std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("o1:")?
        .parse()
        .ok()?;
    (n >= 0).then_some(n)
}

/// One page of a list.
#[derive(Serialize, ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// How many items match, over all pages.
    pub total: i64,
}

impl<T> List<T> {
    /// The envelope of a domain page that started at `offset`.
    pub fn from_page(page: portcullis_types::Page<T>) -> Self {
        let next = page.offset + page.items.len() as i64;
        let next_cursor =
            (next < page.total && !page.items.is_empty()).then(|| encode_cursor(next));
        List {
            items: page.items,
            next_cursor,
            total: page.total,
        }
    }

    /// The envelope of a whole list cut to the page asked for.
    pub fn from_all(all: Vec<T>, offset: i64, limit: i64) -> Self {
        let total = all.len() as i64;
        let items: Vec<T> = all
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(0))
            .collect();
        Self::from_page(portcullis_types::Page {
            items,
            total,
            offset,
            limit,
        })
    }
}

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> ApiResult {
    let body = serde_json::to_vec(value)
        .map_err(|e| Problem::from(portcullis_domain::Error::Internal(e.to_string())))?;
    Ok((
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// The strong entity tag of a resource's JSON.
pub fn etag_of<T: Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    format!("\"{}\"", &hex::encode(sha2::Sha256::digest(&bytes))[..32])
}

/// A resource with its `ETag`.
pub fn with_etag<T: Serialize>(value: &T) -> ApiResult {
    let mut res = json(StatusCode::OK, value)?;
    if let Ok(v) = HeaderValue::from_str(&etag_of(value)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(res)
}

/// Refuses an update whose `If-Match` does not name `current` (412); no
/// `If-Match` (or `*`) updates whatever is there.
pub fn check_if_match<T: Serialize>(headers: &HeaderMap, current: &T) -> Result<(), Problem> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let raw = raw.to_str().unwrap_or_default();
    let etag = etag_of(current);
    let matches = raw.split(',').map(str::trim).any(|t| t == "*" || t == etag);
    if matches {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "If-Match: the resource changed since you read it; read it again (GET) and retry with its new ETag",
        )
        .field("If-Match"))
    }
}

/// [`idempotent`] for a create whose request is `route` with the JSON
/// `body` (the fingerprint a retry must match).
pub async fn idempotent_json<B, F, Fut>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    route: &str,
    body: &B,
    run: F,
) -> ApiResult
where
    B: Serialize,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ApiResult>,
{
    let json = serde_json::to_vec(body).unwrap_or_default();
    idempotent(state, caller, headers, &[route.as_bytes(), &json], run).await
}

/// Runs a creating request once per `Idempotency-Key`: the first answer
/// (anything but a server error) is stored for 24 hours and sent again to
/// a retry with the same key and the same request; the same key with
/// another request is refused (422), as is a retry while the first runs
/// (409). Without the header the request simply runs.
pub async fn idempotent<F, Fut>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    fingerprint: &[&[u8]],
    run: F,
) -> ApiResult
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ApiResult>,
{
    let Some(key) = headers.get("idempotency-key") else {
        return run().await;
    };
    let key = key.to_str().unwrap_or("\u{0}").to_owned();
    let mut hash = sha2::Sha256::new();
    for part in fingerprint {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let fingerprint = hex::encode(hash.finalize());
    let keys = &state.services.api_keys;
    match keys.claim_idempotent(&caller.0, &key, &fingerprint).await? {
        Claim::Replay {
            status,
            body,
            location,
        } => {
            let mut res = Response::new(Body::from(body));
            *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, content_type(status));
            h.insert("idempotent-replayed", HeaderValue::from_static("true"));
            if let Some(v) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
                h.insert(header::LOCATION, v);
            }
            Ok(res)
        }
        Claim::Run => {
            let res = match run().await {
                Ok(res) => res,
                Err(p) => p.into_response(),
            };
            let (parts, body) = res.into_parts();
            let bytes = axum::body::to_bytes(body, 4 << 20)
                .await
                .unwrap_or_default();
            let location = parts
                .headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok());
            keys.finish_idempotent(
                &caller.0,
                &key,
                parts.status.as_u16(),
                &String::from_utf8_lossy(&bytes),
                location,
            )
            .await?;
            Ok(Response::from_parts(parts, Body::from(bytes)))
        }
    }
}

fn content_type(status: u16) -> HeaderValue {
    if status >= 400 {
        HeaderValue::from_static("application/problem+json")
    } else {
        HeaderValue::from_static("application/json")
    }
}

/// A 201 with the new resource and its `Location`.
pub fn created<T: Serialize>(location: &str, value: &T) -> ApiResult {
    let mut res = json(StatusCode::CREATED, value)?;
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// A path segment that must be a whole number.
pub fn path_number(name: &str, raw: &str) -> Result<i64, Problem> {
    raw.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            format!("{name}: must be a whole number 0 or more"),
        )
        .field(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cursor comes back as the offset it was made from; anything else
    /// is refused, not read as the first page.
    #[test]
    fn admin_api_cursor_round_trip() {
        for n in [0, 1, 50, 123_456] {
            assert_eq!(decode_cursor(&encode_cursor(n)), Some(n));
        }
        for bad in ["", "abc", "bzE6LTE", "!!!"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
        let list = List::from_all((0..120).collect(), 50, 50);
        assert_eq!(list.items.first(), Some(&50));
        assert_eq!(list.total, 120);
        assert_eq!(
            list.next_cursor.as_deref().and_then(decode_cursor),
            Some(100)
        );
        let last = List::from_all((0..120).collect(), 100, 50);
        assert_eq!(last.items.len(), 20);
        assert!(last.next_cursor.is_none());
    }
}
