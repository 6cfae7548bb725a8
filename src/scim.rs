//! The SCIM 2.0 service provider endpoint at `/scim/v2/` (RFC 7644):
//! Users, Groups, `/.search`, ServiceProviderConfig, Schemas, ResourceTypes.
//!
//! Thin adapter: it authenticates the directory's bearer token, parses the
//! request (query, JSON body, `If-Match`), makes one call to
//! [`portcullis_domain::scim::ScimService`] and writes `application/scim+json`
//! with `ETag` and `Location`. Errors use the body of RFC 7644 §3.12; every
//! failed request of an authenticated directory is kept (last 200) so an
//! admin can see why an IdP's requests fail.

use crate::server::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use portcullis_domain::{Actor, RequestMeta};
use portcullis_scim::list::{list_response, project, ListParams};
use portcullis_scim::{ScimError, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use portcullis_types::{DirectoryId, GroupId, PersonId};
use serde_json::{json, Value};

const SCIM_JSON: &str = "application/scim+json";

/// A SCIM error as an HTTP response (RFC 7644 §3.12). The error is also put
/// in the response extensions for the failed-request log.
pub struct Fail(pub ScimError);

impl From<ScimError> for Fail {
    fn from(e: ScimError) -> Self {
        Fail(e)
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut res = (
            status,
            [(header::CONTENT_TYPE, SCIM_JSON)],
            self.0.to_json().to_string(),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        // The database is not answering: the IdP retries after a pause.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        res.extensions_mut().insert(ScimFailure(self.0));
        res
    }
}

#[derive(Clone)]
struct ScimFailure(ScimError);

fn scim_json(status: StatusCode, body: Value) -> Response {
    let etag = body
        .pointer("/meta/version")
        .and_then(Value::as_str)
        .and_then(|v| HeaderValue::from_str(v).ok());
    let location = (status == StatusCode::CREATED)
        .then(|| {
            body.pointer("/meta/location")
                .and_then(Value::as_str)
                .and_then(|v| HeaderValue::from_str(v).ok())
        })
        .flatten();
    let mut res = (
        status,
        [(header::CONTENT_TYPE, SCIM_JSON)],
        body.to_string(),
    )
        .into_response();
    if let Some(e) = etag {
        res.headers_mut().insert(header::ETAG, e);
    }
    if let Some(l) = location {
        res.headers_mut().insert(header::LOCATION, l);
    }
    res
}

type ScimReply = Result<Response, Fail>;

fn base_url(state: &AppState) -> String {
    format!("{}/scim/v2", state.console.public_url)
}

fn parse_body(bytes: &Bytes) -> Result<Value, Fail> {
    serde_json::from_slice(bytes).map_err(|e| {
        Fail(ScimError::invalid_syntax(format!(
            "the body is not JSON: {e}"
        )))
    })
}

fn query_pairs(q: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5).
fn shape(v: Value, p: &ListParams) -> Value {
    if p.attributes.is_empty() && p.excluded_attributes.is_empty() {
        v
    } else {
        project(
            &v,
            &p.attributes,
            &p.excluded_attributes,
            &["id", "schemas"],
        )
    }
}

/// A `ListResponse` of `items` shaped by `attributes`/`excludedAttributes`.
fn page_response(items: Vec<Value>, total: i64, p: &ListParams) -> Response {
    let items = items.into_iter().map(|v| shape(v, p)).collect();
    scim_json(StatusCode::OK, list_response(items, total, p.start_index))
}

/// Authenticates the bearer token; records failed requests of known directories.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let meta = req
        .extensions()
        .get::<RequestMeta>()
        .cloned()
        .unwrap_or_default();
    let Some(token) = crate::http::bearer_token(req.headers()) else {
        return Fail(ScimError::unauthorized(
            "send the directory's token as `Authorization: Bearer …`",
        ))
        .into_response();
    };
    let actor = match state.services.directory.authenticate(token, meta).await {
        Ok(Some(a)) => a,
        Ok(None) => return Fail(ScimError::unauthorized(
            "this token is unknown, revoked or expired; create a new one in Settings → Directories",
        ))
        .into_response(),
        Err(e) => return Fail(ScimError::from(e)).into_response(),
    };
    // A runaway client (a loop, a misconfigured IdP) is braked per token,
    // in SCIM's error format; the IdP retries after `Retry-After`.
    let token_key = portcullis_domain::clock::hash_secret(token);
    if let Err(retry_after) = state
        .services
        .limits
        .scim
        .check(&token_key, chrono::Utc::now())
    {
        let mut res = Fail(ScimError {
            status: 429,
            scim_type: None,
            detail: format!("too many requests with this token; retry after {retry_after} seconds"),
        })
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        return res;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let dir = DirectoryId::from(actor.id.clone().unwrap_or_default());
    req.extensions_mut().insert(actor);
    let res = next.run(req).await;
    // A 503 is the database not answering: recording it would wait on
    // the same database again.
    if let Some(ScimFailure(e)) = res
        .extensions()
        .get::<ScimFailure>()
        .filter(|f| f.0.status != 503)
    {
        let r = state
            .services
            .directory
            .record_failed_request(
                &dir,
                method.as_str(),
                &path,
                e.status,
                e.scim_type.map(|t| t.as_str()),
                &e.detail,
            )
            .await;
        if let Err(err) = r {
            tracing::warn!(error = %err, "could not record a failed SCIM request");
        }
    }
    res
}

/// The `/scim/v2` router.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/.search", post(search_all))
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/.search", post(search_users))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/Groups", get(list_groups).post(create_group))
        .route("/Groups/.search", post(search_groups))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .fallback(|method: Method| async move {
            Fail(ScimError::not_found(format!(
                "no SCIM endpoint for this {method} request"
            )))
        })
        .layer(axum::middleware::from_fn_with_state(state, authenticate))
}

/// `POST /.search` at the root (RFC 7644 §3.4.3): Users, then Groups, as
/// one list. A filter that does not apply to one resource type (an
/// attribute it lacks) selects nothing of that type.
async fn search_all(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    body: Bytes,
) -> ScimReply {
    let p = ListParams::from_search_body(&parse_body(&body)?)?;
    let base = base_url(&s);
    let lenient = |r: Result<(Vec<Value>, i64), ScimError>| match r {
        Err(e) if e.scim_type == Some(portcullis_scim::ScimType::InvalidFilter) => {
            Ok((Vec::new(), 0))
        }
        other => other,
    };
    // One call per resource type: each returns its page and its total.
    let (mut items, users_total) = lenient(s.services.scim.list_users(&a, &base, &p).await)?;
    let groups_page = ListParams {
        count: p.count - items.len() as i64,
        start_index: (p.offset() - users_total).max(0) + 1,
        ..p.clone()
    };
    let (groups, groups_total) =
        lenient(s.services.scim.list_groups(&a, &base, &groups_page).await)?;
    items.extend(groups);
    Ok(page_response(items, users_total + groups_total, &p))
}

/// `GET /Users` (RFC 7644 §3.4.2).
async fn list_users(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    RawQuery(q): RawQuery,
) -> ScimReply {
    let p = ListParams::from_query(&query_pairs(q))?;
    users_page(&s, &a, p).await
}

/// `POST /Users/.search` (RFC 7644 §3.4.3).
async fn search_users(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    body: Bytes,
) -> ScimReply {
    let p = ListParams::from_search_body(&parse_body(&body)?)?;
    users_page(&s, &a, p).await
}

async fn users_page(s: &AppState, a: &Actor, p: ListParams) -> ScimReply {
    let (items, total) = s.services.scim.list_users(a, &base_url(s), &p).await?;
    Ok(page_response(items, total, &p))
}

/// `POST /Users` (RFC 7644 §3.3).
async fn create_user(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    body: Bytes,
) -> ScimReply {
    let v = s
        .services
        .scim
        .create_user(&a, &base_url(&s), parse_body(&body)?)
        .await?;
    Ok(scim_json(StatusCode::CREATED, v))
}

/// `GET /Users/{id}` (RFC 7644 §3.4.1).
async fn get_user(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ScimReply {
    let p = ListParams::from_query(&query_pairs(q))?;
    let v = s
        .services
        .scim
        .get_user(&a, &base_url(&s), &PersonId::from(id))
        .await?;
    Ok(scim_json(StatusCode::OK, shape(v, &p)))
}

/// `PUT /Users/{id}` (RFC 7644 §3.5.1).
async fn replace_user(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> ScimReply {
    let v = s
        .services
        .scim
        .replace_user(
            &a,
            &base_url(&s),
            &PersonId::from(id),
            parse_body(&body)?,
            if_match(&h).as_deref(),
        )
        .await?;
    Ok(scim_json(StatusCode::OK, v))
}

/// `PATCH /Users/{id}` (RFC 7644 §3.5.2).
async fn patch_user(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> ScimReply {
    let v = s
        .services
        .scim
        .patch_user(
            &a,
            &base_url(&s),
            &PersonId::from(id),
            &parse_body(&body)?,
            if_match(&h).as_deref(),
        )
        .await?;
    Ok(scim_json(StatusCode::OK, v))
}

/// `DELETE /Users/{id}` (RFC 7644 §3.6): deactivates and hides the user.
async fn delete_user(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    Path(id): Path<String>,
    h: HeaderMap,
) -> ScimReply {
    s.services
        .scim
        .delete_user(&a, &PersonId::from(id), if_match(&h).as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /Groups`.
async fn list_groups(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    RawQuery(q): RawQuery,
) -> ScimReply {
    let p = ListParams::from_query(&query_pairs(q))?;
    groups_page(&s, &a, p).await
}

/// `POST /Groups/.search`.
async fn search_groups(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    body: Bytes,
) -> ScimReply {
    let p = ListParams::from_search_body(&parse_body(&body)?)?;
    groups_page(&s, &a, p).await
}

async fn groups_page(s: &AppState, a: &Actor, p: ListParams) -> ScimReply {
    let (items, total) = s.services.scim.list_groups(a, &base_url(s), &p).await?;
    Ok(page_response(items, total, &p))
}

fn wants_members(p: &ListParams) -> bool {
    !p.excluded_attributes
        .iter()
        .any(|x| x.eq_ignore_ascii_case("members"))
}

/// `POST /Groups`.
async fn create_group(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    body: Bytes,
) -> ScimReply {
    let v = s
        .services
        .scim
        .create_group(&a, &base_url(&s), parse_body(&body)?)
        .await?;
    Ok(scim_json(StatusCode::CREATED, v))
}

/// `GET /Groups/{id}`.
async fn get_group(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ScimReply {
    let p = ListParams::from_query(&query_pairs(q))?;
    let v = s
        .services
        .scim
        .get_group(&a, &base_url(&s), &GroupId::from(id), wants_members(&p))
        .await?;
    Ok(scim_json(StatusCode::OK, shape(v, &p)))
}

/// `PUT /Groups/{id}`.
async fn replace_group(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> ScimReply {
    let v = s
        .services
        .scim
        .replace_group(
            &a,
            &base_url(&s),
            &GroupId::from(id),
            parse_body(&body)?,
            if_match(&h).as_deref(),
        )
        .await?;
    Ok(scim_json(StatusCode::OK, v))
}

/// `PATCH /Groups/{id}`.
async fn patch_group(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
    body: Bytes,
) -> ScimReply {
    let p = ListParams::from_query(&query_pairs(q))?;
    let v = s
        .services
        .scim
        .patch_group(
            &a,
            &base_url(&s),
            &GroupId::from(id),
            &parse_body(&body)?,
            if_match(&h).as_deref(),
            wants_members(&p),
        )
        .await?;
    Ok(scim_json(StatusCode::OK, shape(v, &p)))
}

/// `DELETE /Groups/{id}`.
async fn delete_group(
    State(s): State<AppState>,
    Extension(a): Extension<Actor>,
    Path(id): Path<String>,
    h: HeaderMap,
) -> ScimReply {
    s.services
        .scim
        .delete_group(&a, &GroupId::from(id), if_match(&h).as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /ServiceProviderConfig` (RFC 7643 §5).
async fn service_provider_config(State(s): State<AppState>) -> Response {
    scim_json(
        StatusCode::OK,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": format!("{}/", s.console.public_url),
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": portcullis_scim::list::MAX_COUNT },
            "changePassword": { "supported": false },
            "sort": { "supported": true },
            "etag": { "supported": true },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A directory token created in Settings → Directories or by `portcullis scim-token create`.",
                "primary": true,
            }],
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{}/ServiceProviderConfig", base_url(&s)) },
        }),
    )
}

fn attr(
    name: &str,
    ty: &str,
    multi: bool,
    required: bool,
    mutability: &str,
    returned: &str,
    uniqueness: &str,
) -> Value {
    json!({
        "name": name, "type": ty, "multiValued": multi, "required": required, "caseExact": false,
        "mutability": mutability, "returned": returned, "uniqueness": uniqueness, "description": name,
    })
}

fn string(name: &str) -> Value {
    attr(name, "string", false, false, "readWrite", "default", "none")
}

fn complex(name: &str, multi: bool, sub: Vec<Value>) -> Value {
    let mut a = attr(
        name,
        "complex",
        multi,
        false,
        "readWrite",
        "default",
        "none",
    );
    if let Some(o) = a.as_object_mut() {
        o.insert("subAttributes".into(), Value::Array(sub));
    }
    a
}

fn multi_sub() -> Vec<Value> {
    vec![
        string("value"),
        string("display"),
        string("type"),
        attr(
            "primary",
            "boolean",
            false,
            false,
            "readWrite",
            "default",
            "none",
        ),
    ]
}

fn schema_docs(base: &str) -> Vec<Value> {
    let mut user_name = attr(
        "userName",
        "string",
        false,
        true,
        "readWrite",
        "default",
        "server",
    );
    if let Some(o) = user_name.as_object_mut() {
        o.insert("caseExact".into(), Value::Bool(false));
    }
    let mut groups = complex(
        "groups",
        true,
        vec![
            attr(
                "value", "string", false, false, "readOnly", "default", "none",
            ),
            attr(
                "$ref",
                "reference",
                false,
                false,
                "readOnly",
                "default",
                "none",
            ),
            attr(
                "display", "string", false, false, "readOnly", "default", "none",
            ),
            attr(
                "type", "string", false, false, "readOnly", "default", "none",
            ),
        ],
    );
    if let Some(o) = groups.as_object_mut() {
        o.insert("mutability".into(), Value::String("readOnly".into()));
    }
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA, "name": "User", "description": "User Account",
        "attributes": [
            user_name,
            complex("name", false, vec![string("formatted"), string("familyName"), string("givenName"), string("middleName"), string("honorificPrefix"), string("honorificSuffix")]),
            string("displayName"), string("nickName"),
            attr("profileUrl", "reference", false, false, "readWrite", "default", "none"),
            string("title"), string("userType"), string("preferredLanguage"), string("locale"), string("timezone"),
            attr("active", "boolean", false, false, "readWrite", "default", "none"),
            attr("password", "string", false, false, "writeOnly", "never", "none"),
            complex("emails", true, multi_sub()),
            complex("phoneNumbers", true, multi_sub()),
            complex("ims", true, multi_sub()),
            complex("photos", true, multi_sub()),
            complex("addresses", true, vec![string("formatted"), string("streetAddress"), string("locality"), string("region"), string("postalCode"), string("country"), string("type"), attr("primary", "boolean", false, false, "readWrite", "default", "none")]),
            groups,
            complex("entitlements", true, multi_sub()),
            complex("roles", true, multi_sub()),
            complex("x509Certificates", true, vec![attr("value", "binary", false, false, "readWrite", "default", "none"), string("display"), string("type"), attr("primary", "boolean", false, false, "readWrite", "default", "none")]),
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}") },
    });
    let enterprise = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": ENTERPRISE_USER_SCHEMA, "name": "EnterpriseUser", "description": "Enterprise User",
        "attributes": [
            string("employeeNumber"), string("costCenter"), string("organization"), string("division"), string("department"),
            complex("manager", false, vec![string("value"), attr("$ref", "reference", false, false, "readWrite", "default", "none"), attr("displayName", "string", false, false, "readOnly", "default", "none")]),
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{ENTERPRISE_USER_SCHEMA}") },
    });
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA, "name": "Group", "description": "Group",
        "attributes": [
            attr("displayName", "string", false, true, "readWrite", "default", "none"),
            complex("members", true, vec![
                attr("value", "string", false, false, "immutable", "default", "none"),
                attr("$ref", "reference", false, false, "immutable", "default", "none"),
                attr("display", "string", false, false, "readOnly", "default", "none"),
                attr("type", "string", false, false, "immutable", "default", "none"),
            ]),
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{GROUP_SCHEMA}") },
    });
    vec![user, enterprise, group]
}

fn resource_type_docs(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "User Account",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{ "schema": ENTERPRISE_USER_SCHEMA, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Group",
            "schema": GROUP_SCHEMA, "schemaExtensions": [],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

/// `GET /Schemas` (RFC 7643 §7).
async fn schemas(State(s): State<AppState>) -> Response {
    let docs = schema_docs(&base_url(&s));
    let n = docs.len() as i64;
    scim_json(StatusCode::OK, list_response(docs, n, 1))
}

/// `GET /Schemas/{id}`.
async fn schema(State(s): State<AppState>, Path(id): Path<String>) -> ScimReply {
    schema_docs(&base_url(&s))
        .into_iter()
        .find(|d| d["id"] == id.as_str())
        .map(|d| scim_json(StatusCode::OK, d))
        .ok_or_else(|| Fail(ScimError::not_found(format!("schema {id} not found"))))
}

/// `GET /ResourceTypes` (RFC 7643 §6).
async fn resource_types(State(s): State<AppState>) -> Response {
    let docs = resource_type_docs(&base_url(&s));
    let n = docs.len() as i64;
    scim_json(StatusCode::OK, list_response(docs, n, 1))
}

/// `GET /ResourceTypes/{id}`.
async fn resource_type(State(s): State<AppState>, Path(id): Path<String>) -> ScimReply {
    resource_type_docs(&base_url(&s))
        .into_iter()
        .find(|d| d["id"] == id.as_str())
        .map(|d| scim_json(StatusCode::OK, d))
        .ok_or_else(|| {
            Fail(ScimError::not_found(format!(
                "resource type {id} not found"
            )))
        })
}
