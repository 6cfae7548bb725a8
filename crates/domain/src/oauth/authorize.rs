//! Authorization: the request checked and kept (`/oauth/authorize`), the
//! person's session, the consent screen and the decision that issues the
//! code; and the person's own view of what they allowed.

use super::model::{
    check_code_challenge, constant_time_eq, redirect_matches, AuthorizeError, AuthorizeParams,
    Client, ClientId, ClientStatus, ConsentView, ErrorCode, MyClient, OAuthError,
    PendingAuthorization, Person, Redirect, Scopes, LOOPBACK_PREFIXES, OFFLINE_ACCESS,
};
use super::{internal, store, with_query, OAuthService};
use super::{CODE_TTL_SECONDS, PERSON_SESSION_HOURS, REQUEST_TTL_MINUTES};
use crate::actor::{Actor, RequestMeta};
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::db::Exec;
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use portcullis_types::PersonId;
use serde_json::json;

/// The scopes `person` consented to before for the client, server and
/// redirect URI of request `row`.
async fn consented(
    ex: Exec<'_>,
    person: &Person,
    client: &Client,
    row: &store::RequestRow,
) -> Result<Option<Scopes>> {
    store::find_consent(
        ex,
        &person.id,
        &client.id.0,
        &row.server_id,
        &row.redirect_uri,
    )
    .await
}

impl OAuthService {
    /// Checks an authorization request and stores it, bound to `browser`.
    /// Returns the request key (for the sign-in and consent steps).
    pub async fn begin_authorization(
        &self,
        p: &AuthorizeParams,
        browser: &str,
        public_url: &str,
    ) -> Result<(String, PendingAuthorization), AuthorizeError> {
        let page = |code, d: &str| Err(AuthorizeError::Page(OAuthError::new(code, d)));
        let Some(client_id) = p.client_id.as_deref().filter(|c| !c.is_empty()) else {
            return page(
                ErrorCode::InvalidRequest,
                "the request names no client (client_id is missing)",
            );
        };
        let client = match self.resolve_client(&ClientId::from(client_id)).await? {
            Ok(c) => c,
            Err(e) => return Err(AuthorizeError::Page(e)),
        };
        if client.status == ClientStatus::Reaped {
            return page(
                ErrorCode::InvalidClient,
                "this client's registration was removed (unused for a long time, or revoked as a duplicate); it must register again",
            );
        }
        let Some(redirect_uri) = p.redirect_uri.as_deref().filter(|r| !r.is_empty()) else {
            return page(
                ErrorCode::InvalidRequest,
                "the request names no redirect_uri",
            );
        };
        if !redirect_matches(&client.redirect_uris, redirect_uri) {
            return page(
                ErrorCode::InvalidRequest,
                "the redirect_uri is not one this client registered; Portcullis will not send you there",
            );
        }
        // From here on errors go back to the client.
        let iss = Self::issuer(public_url);
        let state = p.state.as_deref();
        let back = |code: ErrorCode, d: &str| {
            let mut params = vec![("error", code.as_str()), ("error_description", d)];
            if let Some(s) = state {
                params.push(("state", s));
            }
            params.push(("iss", &iss));
            Err(AuthorizeError::Redirect(Redirect {
                url: with_query(redirect_uri, &params),
            }))
        };
        match p.response_type.as_deref() {
            Some("code") => {}
            None => return back(ErrorCode::InvalidRequest, "response_type is missing"),
            Some(_) => {
                return back(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported (no implicit flow)",
                )
            }
        }
        match client.status {
            ClientStatus::Active => {}
            ClientStatus::Pending => {
                return back(
                    ErrorCode::AccessDenied,
                    "this client is waiting for an administrator's approval",
                )
            }
            ClientStatus::Blocked => {
                return back(
                    ErrorCode::AccessDenied,
                    "this client was blocked by an administrator",
                )
            }
            ClientStatus::Reaped => {
                return back(ErrorCode::InvalidClient, "this client was removed")
            }
        }
        let Some(challenge) = p.code_challenge.as_deref() else {
            return back(
                ErrorCode::InvalidRequest,
                "PKCE is required: code_challenge is missing",
            );
        };
        if p.code_challenge_method.as_deref() != Some("S256") {
            return back(
                ErrorCode::InvalidRequest,
                "PKCE: code_challenge_method must be S256",
            );
        }
        if !check_code_challenge(challenge) {
            return back(
                ErrorCode::InvalidRequest,
                "PKCE: code_challenge is malformed",
            );
        }
        let Some(resource) = p.resource.as_deref().filter(|r| !r.is_empty()) else {
            return back(
                ErrorCode::InvalidTarget,
                "resource is required: name the MCP server the token is for (RFC 8707)",
            );
        };
        let Some((server_id, server_name, scopes_json)) =
            store::find_enabled_server(self.core.db.exec(), resource).await?
        else {
            return back(
                ErrorCode::InvalidTarget,
                "resource is not an enabled MCP server of this catalog",
            );
        };
        let scope = match Scopes::parse(p.scope.as_deref().unwrap_or("")) {
            Ok(s) => s,
            Err(m) => return back(ErrorCode::InvalidScope, &m),
        };
        let declared: Vec<String> = serde_json::from_str(&scopes_json).map_err(internal)?;
        if let Some(bad) = scope
            .0
            .iter()
            .find(|s| *s != OFFLINE_ACCESS && !declared.contains(s))
        {
            return back(
                ErrorCode::InvalidScope,
                &format!("the scope {bad:?} is not one this server declares"),
            );
        }
        if state.is_some_and(|s| s.len() > 2000) {
            return back(
                ErrorCode::InvalidRequest,
                "state is longer than 2,000 characters",
            );
        }
        let key = new_secret();
        let now = self.now();
        store::insert_request(
            self.core.db.write(),
            &store::NewRequest {
                id_hash: &hash_secret(&key),
                client_id: &client.id.0,
                redirect_uri,
                server_id: &server_id,
                resource,
                scope: &scope.to_wire(),
                state,
                code_challenge: challenge,
                browser_hash: &hash_secret(browser),
            },
            now,
            now + Duration::minutes(REQUEST_TTL_MINUTES),
        )
        .await?;
        Ok((
            key,
            PendingAuthorization {
                client,
                redirect_uri: redirect_uri.to_owned(),
                server_id,
                server_name,
                resource: resource.to_owned(),
                scope,
                state: state.map(str::to_owned),
            },
        ))
    }

    /// The pending request `key`, if it is live and was made in `browser`.
    pub async fn pending(
        &self,
        key: &str,
        browser: Option<&str>,
    ) -> Result<Option<(store::RequestRow, Client)>> {
        let Some(row) =
            store::find_request(self.core.db.exec(), &hash_secret(key), self.now()).await?
        else {
            return Ok(None);
        };
        match browser {
            Some(b) if constant_time_eq(hash_secret(b).as_bytes(), row.browser_hash.as_bytes()) => {
            }
            _ => return Ok(None),
        }
        let Some(client) = store::find_client(self.core.db.exec(), &row.client_id).await? else {
            return Ok(None);
        };
        Ok(Some((row, client)))
    }

    /// The person of a session cookie, if signed in and still active.
    pub async fn person(&self, session: &str) -> Result<Option<Person>> {
        let Some(p) =
            store::find_session_person(self.core.db.exec(), &hash_secret(session), self.now())
                .await?
        else {
            return Ok(None);
        };
        if !p.active || p.deleted {
            return Ok(None);
        }
        Ok(Some(Person {
            email: p.email.clone().unwrap_or_else(|| p.user_name.clone()),
            name: p
                .display_name
                .clone()
                .unwrap_or_else(|| p.user_name.clone()),
            id: p.id,
        }))
    }

    /// Starts a person's session (SSO finished, the person admitted).
    /// Returns the cookie value.
    pub(crate) async fn start_person_session(
        tx: &mut crate::db::Tx,
        person_id: &str,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let secret = new_secret();
        store::insert_person_session(
            tx,
            &hash_secret(&secret),
            person_id,
            connection_id,
            now,
            now + Duration::hours(PERSON_SESSION_HOURS),
        )
        .await?;
        Ok(secret)
    }

    /// What the consent screen of request `key` shows to `person`.
    pub async fn consent_view(
        &self,
        person: &Person,
        row: &store::RequestRow,
        client: &Client,
    ) -> Result<ConsentView> {
        let asked = Scopes::parse(&row.scope).map_err(Error::Internal)?;
        let had = consented(self.core.db.exec(), person, client, row).await?;
        let new = match &had {
            Some(h) => asked.minus(h),
            None => asked.clone(),
        };
        let host = url::Url::parse(&row.redirect_uri)
            .ok()
            .map(|u| match u.host_str() {
                Some(h) => h.to_owned(),
                None => format!("{}:", u.scheme()),
            })
            .unwrap_or_default();
        let localhost_only = client
            .redirect_uris
            .iter()
            .all(|u| LOOPBACK_PREFIXES.iter().any(|p| u.starts_with(p)));
        Ok(ConsentView {
            client_id: client.id.0.clone(),
            client_name: client.name.clone(),
            client_kind: client.kind,
            redirect_uri: row.redirect_uri.clone(),
            redirect_host: host,
            localhost_only,
            server_name: row.server_name.clone(),
            resource: row.resource.clone(),
            scopes: asked.0.iter().cloned().collect(),
            new_scopes: new.0.iter().cloned().collect(),
            already_consented: had.is_some() && new.0.is_empty(),
        })
    }

    /// The person's decision on request `key`: approve issues a code (and
    /// records consent), deny sends `access_denied`. Either way the request
    /// is used up and the browser goes back to the client.
    pub async fn decide(
        &self,
        key: &str,
        browser: Option<&str>,
        person: &Person,
        approve: bool,
        meta: RequestMeta,
        public_url: &str,
    ) -> Result<Redirect, AuthorizeError> {
        let Some((row, client)) = self.pending(key, browser).await? else {
            return Err(AuthorizeError::Page(OAuthError::new(
                ErrorCode::InvalidRequest,
                "this authorization request expired or was already answered; start again from your app",
            )));
        };
        let iss = Self::issuer(public_url);
        let mut params: Vec<(&str, String)> = Vec::new();
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        if !store::use_request(&mut tx, &hash_secret(key), now).await? {
            return Err(AuthorizeError::Page(OAuthError::new(
                ErrorCode::InvalidRequest,
                "this authorization request was already answered",
            )));
        }
        let actor = Actor {
            kind: portcullis_types::ActorType::Anonymous,
            id: Some(person.id.clone()),
            display: person.email.clone(),
            role: None,
            session: None,
            meta,
        };
        let target = Target::new("oauth_client", &client.id.0, &client.name);
        if client.status != ClientStatus::Active {
            params.push(("error", ErrorCode::AccessDenied.as_str().into()));
            params.push((
                "error_description",
                "this client may not get tokens now".into(),
            ));
        } else if !approve {
            audit::append(
                &mut tx,
                now,
                &actor,
                NewEvent::success("oauth.consent.denied")
                    .outcome(portcullis_types::Outcome::Denied)
                    .target(target)
                    .details(json!({ "server": row.server_id, "scope": row.scope })),
            )
            .await?;
            params.push(("error", ErrorCode::AccessDenied.as_str().into()));
            params.push(("error_description", "the person declined".into()));
        } else {
            let had = consented(tx.exec(), person, &client, &row).await?;
            let asked = Scopes::parse(&row.scope).map_err(Error::Internal)?;
            let all = match &had {
                Some(h) => h.union(&asked),
                None => asked.clone(),
            };
            if had.as_ref() != Some(&all) {
                store::upsert_consent(
                    &mut tx,
                    &person.id,
                    &client.id.0,
                    &row.server_id,
                    &row.redirect_uri,
                    &all.to_wire(),
                    now,
                )
                .await?;
                let consented = NewEvent::success("oauth.consent.granted")
                    .target(target.clone())
                    .details(json!({
                        "server": row.server_id,
                        "resource": row.resource,
                        "scope": all.to_wire(),
                        "redirect_uri": row.redirect_uri,
                    }));
                audit::append(&mut tx, now, &actor, consented).await?;
            }
            let grant = new_id("ogr");
            store::insert_grant(
                &mut tx,
                &store::NewGrant {
                    id: &grant,
                    client_id: &client.id.0,
                    person_id: &person.id,
                    server_id: &row.server_id,
                    resource: &row.resource,
                    scope: &row.scope,
                },
                now,
            )
            .await?;
            let code = new_secret();
            store::insert_code(
                &mut tx,
                &hash_secret(&code),
                &grant,
                &row.redirect_uri,
                &row.code_challenge,
                now,
                now + Duration::seconds(CODE_TTL_SECONDS),
            )
            .await?;
            params.push(("code", code));
        }
        tx.commit().await?;
        if let Some(s) = &row.state {
            params.push(("state", s.clone()));
        }
        params.push(("iss", iss));
        let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Ok(Redirect {
            url: with_query(&row.redirect_uri, &refs),
        })
    }

    // ---- the person's own view -------------------------------------------

    /// The clients `person_id` allowed, per server, with their live grants
    /// (the person's My access page; the caller has checked the person's
    /// session).
    pub async fn my_clients(&self, person_id: &PersonId) -> Result<Vec<MyClient>> {
        store::person_consents(self.core.db.exec(), person_id.as_str())
            .await?
            .into_iter()
            .map(|r| {
                Ok(MyClient {
                    client_kind: r.kind.parse().map_err(Error::Internal)?,
                    client_id: r.client_id,
                    client_name: r.client_name,
                    server_name: r.server_name,
                    scopes: r.scope.split_whitespace().map(str::to_owned).collect(),
                    consented_at: r.updated_at,
                    live_grants: r.live_grants,
                })
            })
            .collect()
    }

    /// The person withdraws everything they allowed `client_id`: the
    /// consents go (the next authorization asks again) and its grants end
    /// at once. Audited with the person as actor. Returns the grants ended
    /// and the client's name.
    pub async fn withdraw_consent(
        &self,
        person: &Person,
        client_id: &ClientId,
        meta: RequestMeta,
    ) -> Result<(u64, String)> {
        let client_id = client_id.as_str();
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        let (consents, grants) =
            store::withdraw_consents(&mut tx, &person.id, client_id, now).await?;
        if consents == 0 && grants == 0 {
            return Err(Error::NotFound("consent to this client"));
        }
        let name = store::find_client(tx.exec(), client_id)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        audit::append(
            &mut tx,
            now,
            &Actor::person(&person.id.as_str().into(), &person.email, meta),
            NewEvent::success("oauth.consent.withdrawn")
                .target(Target::new("oauth_client", client_id, &name))
                .details(json!({ "consents": consents, "grants_revoked": grants })),
        )
        .await?;
        tx.commit().await?;
        Ok((grants, name))
    }
}
