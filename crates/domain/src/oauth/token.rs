//! The token endpoint (`authorization_code` and `refresh_token` grants for
//! people's clients, `client_credentials` for agents; minting access
//! tokens), revocation (RFC 7009), introspection (RFC 7662) and purging
//! what expired.

use super::model::{
    fail, pkce_verifies, Client, ClientAuth, ClientKind, ClientStatus, ErrorCode, Failure,
    Introspection, OAuthError, Scopes, TokenParams, TokenResponse, OFFLINE_ACCESS,
};
use super::{
    delegation, id_jag, internal, now_unix, rotation, store, OAuthService, REFRESH_TTL_DAYS,
};
use crate::actor::Actor;
use crate::agents;
use crate::audit::{self, NewEvent, Target};
use crate::clock::{hash_secret, new_id, new_secret};
use crate::db::Tx;
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use portcullis_policy::signed::{SigningKey, Verifier};
use portcullis_policy::token::{self, AccessClaims, ACCESS_TOKEN_TYPE};
use portcullis_types::Outcome;
use serde_json::{json, Value};

/// Audits that a grant was revoked: `Denied` when a code or refresh token
/// presented again ended it, `Success` when its client asked.
async fn grant_revoked(
    tx: &mut Tx,
    now: DateTime<Utc>,
    target: Target,
    grant: &str,
    reason: &str,
    outcome: Outcome,
) -> Result<()> {
    audit::append(
        tx,
        now,
        &Actor::system("authorization server"),
        NewEvent::success("oauth.grant.revoked")
            .outcome(outcome)
            .target(target)
            .details(json!({ "grant": grant, "reason": reason })),
    )
    .await?;
    Ok(())
}

impl OAuthService {
    /// The token endpoint: `authorization_code` and `refresh_token` grants.
    /// An address whose requests failed too often in the window is refused
    /// (`slow_down`, 429) before anything is looked at, so codes, refresh
    /// tokens and secrets cannot be guessed at speed; a client past its
    /// issuance budget is refused the same way.
    pub async fn token(
        &self,
        p: &TokenParams,
        auth: &ClientAuth,
        public_url: &str,
        source_ip: Option<&str>,
    ) -> Result<TokenResponse, Failure> {
        let now = self.now();
        if let Some(ip) = source_ip {
            if !self.limits.token_request_allowed(ip, now) {
                return fail(
                    ErrorCode::SlowDown,
                    "too many failed token requests from this address; try again in a few minutes",
                );
            }
        }
        let out = self.token_unlimited(p, auth, public_url).await;
        if let (Err(Failure::Protocol(e)), Some(ip)) = (&out, source_ip) {
            if e.code != ErrorCode::SlowDown {
                self.limits.token_request_failed(ip, now);
            }
        }
        out
    }

    async fn token_unlimited(
        &self,
        p: &TokenParams,
        auth: &ClientAuth,
        public_url: &str,
    ) -> Result<TokenResponse, Failure> {
        let grant_type = p.grant_type.as_deref().unwrap_or("");
        match grant_type {
            "authorization_code"
            | "refresh_token"
            | "client_credentials"
            | id_jag::GRANT_TYPE
            | delegation::GRANT_TYPE => {}
            "" => return fail(ErrorCode::InvalidRequest, "grant_type is missing"),
            "password" | "implicit" => {
                return fail(
                    ErrorCode::UnsupportedGrantType,
                    format!("the {grant_type} grant is not allowed (OAuth 2.1)"),
                )
            }
            other => {
                return fail(
                    ErrorCode::UnsupportedGrantType,
                    format!("grant_type {other:?} is not supported"),
                )
            }
        }
        let endpoint = format!("{}/oauth/token", Self::issuer(public_url));
        let client = self
            .authenticate_client(auth, public_url, &endpoint)
            .await?;
        if !self.limits.may_issue(&client.id, self.now()) {
            return fail(
                ErrorCode::SlowDown,
                "this client asked for too many tokens in the last minute; try again shortly",
            );
        }
        // Agents get tokens of their own, never a person's; people's
        // clients never get tokens without a person.
        let out = match (grant_type, client.kind == ClientKind::Agent) {
            ("client_credentials", true) => self.client_credentials(p, &client, public_url).await,
            (delegation::GRANT_TYPE, true) => self.delegate(p, &client, public_url).await,
            (delegation::GRANT_TYPE, false) => fail(
                ErrorCode::UnauthorizedClient,
                "token exchange is for agents acting for a person; register the workload on the Agents page",
            ),
            ("client_credentials", false) => fail(
                ErrorCode::UnauthorizedClient,
                "client_credentials is for agents; register this workload on the Agents page",
            ),
            (_, true) => fail(
                ErrorCode::UnauthorizedClient,
                "an agent gets tokens with client_credentials, or token exchange to act for a person",
            ),
            ("authorization_code", false) => self.exchange_code(p, &client, public_url).await,
            (id_jag::GRANT_TYPE, false) => self.id_jag(p, &client, public_url).await,
            _ => self.refresh(p, &client, public_url).await,
        };
        if out.is_ok() {
            self.limits.issued(&client.id, self.now());
        }
        out
    }

    /// `client_credentials` (RFC 6749 §4.4) for an authenticated agent: an
    /// access token whose `sub` (and `sid`) is the agent, for the one MCP
    /// server named by `resource` (required), with the asked scopes that
    /// server declares. No refresh token: the agent asks again.
    async fn client_credentials(
        &self,
        p: &TokenParams,
        client: &Client,
        public_url: &str,
    ) -> Result<TokenResponse, Failure> {
        let Some(resource) = p.resource.as_deref().filter(|r| !r.is_empty()) else {
            return fail(
                ErrorCode::InvalidTarget,
                "resource is required: name the MCP server the token is for (RFC 8707)",
            );
        };
        let scope = Scopes::parse(p.scope.as_deref().unwrap_or(""))
            .map_err(|m| Failure::Protocol(OAuthError::new(ErrorCode::InvalidScope, m)))?;
        let Some(agent) = agents::store::get(self.core.db.exec(), &client.id.0).await? else {
            return fail(ErrorCode::InvalidClient, "client authentication failed");
        };
        let now = self.now();
        match agents::status_at(&agent.status, agent.expires_at, now)? {
            portcullis_types::AgentStatus::Active => {}
            portcullis_types::AgentStatus::Disabled => {
                return fail(
                    ErrorCode::InvalidClient,
                    "this agent was disabled by an administrator",
                )
            }
            portcullis_types::AgentStatus::Expired => {
                return fail(
                    ErrorCode::InvalidClient,
                    "this agent's registration expired",
                )
            }
        }
        let Some((server_id, _, scopes_json)) =
            store::find_enabled_server(self.core.db.exec(), resource).await?
        else {
            return fail(
                ErrorCode::InvalidTarget,
                "resource is not an enabled MCP server of this catalog",
            );
        };
        let declared: Vec<String> = serde_json::from_str(&scopes_json).map_err(internal)?;
        if let Some(bad) = scope.0.iter().find(|s| !declared.contains(s)) {
            return fail(
                ErrorCode::InvalidScope,
                if bad == OFFLINE_ACCESS {
                    "offline_access: agents get no refresh token; ask for a new token instead"
                        .to_owned()
                } else {
                    format!("the scope {bad:?} is not one this server declares")
                },
            );
        }
        let ttl = self.core.settings.access_token_ttl;
        let claims = AccessClaims {
            act: None,
            iss: Self::issuer(public_url),
            sub: client.id.0.clone(),
            aud: resource.to_owned(),
            client_id: client.id.0.clone(),
            scope: scope.to_wire(),
            jti: new_id("at"),
            iat: now_unix(now),
            exp: now_unix(now + ttl),
            sid: client.id.0.clone(),
        };
        let details = json!({
            "grant_type": "client_credentials",
            "agent": client.id.0,
            "server": server_id,
            "scope": claims.scope,
            "jti": claims.jti,
        });
        self.issue_to_agent(client, claims, details, None, now)
            .await
    }

    /// Signs `claims` for agent `agent` (its own token or a delegated
    /// one), notes its last token, audits `oauth.token.issued` (target the
    /// agent, with `details`) and answers without a refresh token.
    pub(super) async fn issue_to_agent(
        &self,
        agent: &Client,
        claims: AccessClaims,
        details: Value,
        issued_token_type: Option<&'static str>,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, Failure> {
        let key = self.token_key().await?;
        let access_token = key
            .sign_claims(&claims, ACCESS_TOKEN_TYPE)
            .map_err(internal)?;
        let mut tx = self.core.db.begin().await?;
        if self.touched.due(&agent.id.0, now) {
            agents::store::note_token(tx.exec(), &agent.id.0, now).await?;
        }
        audit::append(
            &mut tx,
            now,
            &Actor::system("authorization server"),
            NewEvent::success("oauth.token.issued")
                .target(Target::new("agent", &agent.id.0, &agent.name))
                .details(details),
        )
        .await?;
        tx.commit().await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: (claims.exp - claims.iat).max(0),
            refresh_token: None,
            scope: claims.scope,
            issued_token_type,
        })
    }

    async fn exchange_code(
        &self,
        p: &TokenParams,
        client: &Client,
        public_url: &str,
    ) -> Result<TokenResponse, Failure> {
        let Some(code) = p.code.as_deref() else {
            return fail(ErrorCode::InvalidRequest, "code is missing");
        };
        let Some(verifier) = p.code_verifier.as_deref() else {
            return fail(ErrorCode::InvalidRequest, "PKCE: code_verifier is missing");
        };
        // The key first: making it on first use takes the write lock,
        // which the transaction below holds (SQLite).
        let key = self.token_key().await?;
        let now = self.now();
        let hash = hash_secret(code);
        let mut tx = self.core.db.begin().await?;
        let Some(row) = store::find_code(&mut tx, &hash).await? else {
            return fail(ErrorCode::InvalidGrant, "the code is not valid");
        };
        let Some(grant) = store::find_grant(tx.exec(), &row.grant_id).await? else {
            return fail(ErrorCode::InvalidGrant, "the code is not valid");
        };
        if row.used_at.is_some() || !store::use_code(&mut tx, &hash, now).await? {
            // Reuse: whoever has the tokens of the first exchange loses them
            // (RFC 6749 §4.1.2, RFC 9700 §4.2.4).
            store::revoke_grant(&mut tx, &grant.id, "code_reused", now).await?;
            grant_revoked(
                &mut tx,
                now,
                Target::new("oauth_client", &grant.client_id, &grant.client_id),
                &grant.id,
                "authorization code presented twice",
                Outcome::Denied,
            )
            .await?;
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "the code was already used; the tokens issued from it are revoked",
            );
        }
        if row.expires_at <= now {
            tx.commit().await?;
            return fail(ErrorCode::InvalidGrant, "the code expired");
        }
        if grant.client_id != client.id.0 {
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "the code was issued to another client",
            );
        }
        if p.redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "redirect_uri differs from the authorization request",
            );
        }
        if !pkce_verifies(verifier, &row.code_challenge) {
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "PKCE: the code_verifier does not match",
            );
        }
        if p.resource.as_deref().is_some_and(|r| r != grant.resource) {
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidTarget,
                "resource differs from the authorization request",
            );
        }
        if grant.revoked || !grant.person_active || !grant.server_enabled {
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "this authorization is no longer valid",
            );
        }
        let scope = Scopes::parse(&grant.scope).map_err(Error::Internal)?;
        let out = self
            .issue(&mut tx, &key, &grant, &scope, public_url, now)
            .await?;
        audit::append(
            &mut tx,
            now,
            &Actor::system("authorization server"),
            NewEvent::success("oauth.token.issued")
                .target(Target::new("oauth_client", &client.id.0, &client.name))
                .details(json!({
                    "grant": grant.id,
                    "person": grant.person_id,
                    "server": grant.server_id,
                    "scope": grant.scope,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn refresh(
        &self,
        p: &TokenParams,
        client: &Client,
        public_url: &str,
    ) -> Result<TokenResponse, Failure> {
        let Some(token) = p.refresh_token.as_deref() else {
            return fail(ErrorCode::InvalidRequest, "refresh_token is missing");
        };
        let asked = p
            .scope
            .as_deref()
            .map(|s| {
                Scopes::parse(s)
                    .map_err(|m| Failure::Protocol(OAuthError::new(ErrorCode::InvalidScope, m)))
            })
            .transpose()?;
        let key = self.token_key().await?;
        let successor = new_secret();
        let rotated = self
            .rotator
            .rotate(
                &self.core,
                &self.touched,
                rotation::Refresh {
                    presented: hash_secret(token),
                    successor: hash_secret(&successor),
                    client_id: client.id.0.clone(),
                    resource: p.resource.clone(),
                    scope: asked.clone(),
                },
            )
            .await;
        if let Some((grant, scope)) = rotated {
            return Ok(self.mint(
                &key,
                &grant,
                &scope,
                public_url,
                self.now(),
                Some(successor),
            )?);
        }
        self.refresh_one(token, p, client, public_url, &key, asked)
            .await
    }

    /// A refresh on its own: every case the batch ([`rotation`]) leaves
    /// to it, with the exact error for each refusal. A refusal that depends
    /// on the request (another client's token, another resource, a wider
    /// scope) leaves the token unused; a reused token revokes its grant.
    async fn refresh_one(
        &self,
        token: &str,
        p: &TokenParams,
        client: &Client,
        public_url: &str,
        key: &SigningKey,
        asked: Option<Scopes>,
    ) -> Result<TokenResponse, Failure> {
        let now = self.now();
        let hash = hash_secret(token);
        let mut tx = self.core.db.begin().await?;
        // The common case in one statement: an unused token is marked used
        // (the transaction rolls back on any refusal below that does not
        // commit, leaving it unused).
        let rotated = store::rotate_refresh(&mut tx, &hash, now).await?;
        let (grant_id, expires_at) = match &rotated {
            Some(r) => r.clone(),
            None => match store::find_refresh(tx.exec(), &hash).await? {
                Some(row) => (row.grant_id, row.expires_at),
                None => return fail(ErrorCode::InvalidGrant, "the refresh token is not valid"),
            },
        };
        let Some(grant) = store::find_grant(tx.exec(), &grant_id).await? else {
            return fail(ErrorCode::InvalidGrant, "the refresh token is not valid");
        };
        if grant.client_id != client.id.0 {
            return fail(
                ErrorCode::InvalidGrant,
                "the refresh token was issued to another client",
            );
        }
        if rotated.is_none() {
            // A rotated token came back: someone holds a copy. End the
            // family (RFC 9700 §4.14.2).
            if store::revoke_grant(&mut tx, &grant.id, "refresh_reused", now).await? {
                grant_revoked(
                    &mut tx,
                    now,
                    Target::new("oauth_client", &client.id.0, &client.name),
                    &grant.id,
                    "a rotated refresh token was presented again",
                    Outcome::Denied,
                )
                .await?;
            }
            tx.commit().await?;
            return fail(
                ErrorCode::InvalidGrant,
                "the refresh token was already used; this authorization is revoked",
            );
        }
        let scope = match rotation::admit(
            &grant,
            expires_at,
            now,
            p.resource.as_deref(),
            asked.as_ref(),
        )? {
            Ok(scope) => scope,
            Err(refusal) => {
                if !refusal.keeps_token {
                    tx.commit().await?;
                }
                return fail(refusal.code, refusal.message);
            }
        };
        let out = self
            .issue(&mut tx, key, &grant, &scope, public_url, now)
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Mints an access token and a new refresh token for `grant` in `tx`.
    async fn issue(
        &self,
        tx: &mut Tx,
        key: &SigningKey,
        grant: &store::GrantRow,
        scope: &Scopes,
        public_url: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse> {
        let refresh = new_secret();
        store::insert_refresh(
            tx,
            &hash_secret(&refresh),
            &grant.id,
            now,
            now + Duration::days(REFRESH_TTL_DAYS),
        )
        .await?;
        if self.touched.due(&grant.id, now) {
            store::touch(tx, &grant.client_id, &grant.id, now).await?;
        }
        self.mint(key, grant, scope, public_url, now, Some(refresh))
    }

    /// The token response for `grant`: a signed access token (RFC 9068)
    /// and `refresh`, the successor refresh token already stored (none for
    /// an ID-JAG's token).
    pub(super) fn mint(
        &self,
        key: &SigningKey,
        grant: &store::GrantRow,
        scope: &Scopes,
        public_url: &str,
        now: DateTime<Utc>,
        refresh: Option<String>,
    ) -> Result<TokenResponse> {
        let ttl = self.core.settings.access_token_ttl;
        let claims = AccessClaims {
            act: None,
            iss: Self::issuer(public_url),
            sub: grant.person_id.clone(),
            aud: grant.resource.clone(),
            client_id: grant.client_id.clone(),
            scope: scope.to_wire(),
            jti: new_id("at"),
            iat: now_unix(now),
            exp: now_unix(now + ttl),
            sid: grant.id.clone(),
        };
        let access_token = key
            .sign_claims(&claims, ACCESS_TOKEN_TYPE)
            .map_err(internal)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl.num_seconds(),
            refresh_token: refresh,
            scope: claims.scope,
            issued_token_type: None,
        })
    }

    /// Verifies one of our access tokens (any audience) and returns its
    /// claims; `None` if it is not a valid token of this issuer.
    pub(super) async fn verify_any(
        &self,
        token_str: &str,
        public_url: &str,
    ) -> Result<Option<AccessClaims>> {
        let jwks = self.signing.jwks().await?;
        let Ok(verifier) = Verifier::from_jwks(&jwks) else {
            return Ok(None);
        };
        // The audience is read from the token, then checked like a gateway
        // would (signature first: nothing unverified is trusted).
        let Some(aud) = unverified_audience(token_str) else {
            return Ok(None);
        };
        Ok(token::verify_access_token(&verifier, token_str, &Self::issuer(public_url), &aud).ok())
    }

    /// RFC 7009: revokes a refresh token's grant, or an access token's grant,
    /// if it belongs to the authenticated client. Unknown tokens are no error.
    pub async fn revoke(
        &self,
        token_str: &str,
        auth: &ClientAuth,
        public_url: &str,
    ) -> Result<(), Failure> {
        let endpoint = format!("{}/oauth/revoke", Self::issuer(public_url));
        let client = self
            .authenticate_client(auth, public_url, &endpoint)
            .await?;
        let grant_id =
            match store::find_refresh(self.core.db.exec(), &hash_secret(token_str)).await? {
                Some(r) => Some(r.grant_id),
                None => self.verify_any(token_str, public_url).await?.map(|c| c.sid),
            };
        let Some(grant_id) = grant_id else {
            return Ok(());
        };
        let Some(grant) = store::find_grant(self.core.db.exec(), &grant_id).await? else {
            return Ok(());
        };
        if grant.client_id != client.id.0 {
            return Ok(());
        }
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        if store::revoke_grant(&mut tx, &grant.id, "revoked_by_client", now).await? {
            grant_revoked(
                &mut tx,
                now,
                Target::new("oauth_client", &client.id.0, &client.name),
                &grant.id,
                "revoked by the client (RFC 7009)",
                Outcome::Success,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// RFC 7662 introspection for gateways: active only if the signature,
    /// issuer and expiry hold, the grant is live, the client is active and
    /// the person is active.
    pub async fn introspect(&self, token_str: &str, public_url: &str) -> Result<Introspection> {
        let Some(c) = self.verify_any(token_str, public_url).await? else {
            return Ok(Introspection::default());
        };
        let live = if c.sid == c.sub {
            // An agent's token (client_credentials): live while the agent
            // is (its kill switch off, not expired) and its server is on.
            let agent = agents::store::get(self.core.db.exec(), &c.sub).await?;
            let status = agent
                .map(|a| agents::status_at(&a.status, a.expires_at, self.now()))
                .transpose()?;
            status == Some(portcullis_types::AgentStatus::Active)
                && store::find_enabled_server(self.core.db.exec(), &c.aud)
                    .await?
                    .is_some()
        } else {
            let Some(grant) = store::find_grant(self.core.db.exec(), &c.sid).await? else {
                return Ok(Introspection::default());
            };
            let client = store::find_client(self.core.db.exec(), &c.client_id).await?;
            // A delegated token: every agent of its chain must be live too.
            let mut agents_live = true;
            for id in c.actor_chain(portcullis_policy::MAX_DELEGATION_DEPTH) {
                let agent = agents::store::get(self.core.db.exec(), id).await?;
                let status = agent
                    .map(|a| agents::status_at(&a.status, a.expires_at, self.now()))
                    .transpose()?;
                agents_live &= status == Some(portcullis_types::AgentStatus::Active);
            }
            !grant.revoked
                && grant.person_active
                && grant.server_enabled
                && agents_live
                && client.is_some_and(|cl| cl.status == ClientStatus::Active)
        };
        if !live {
            return Ok(Introspection::default());
        }
        Ok(Introspection {
            active: true,
            scope: Some(c.scope),
            client_id: Some(c.client_id),
            token_type: Some("Bearer"),
            exp: Some(c.exp),
            iat: Some(c.iat),
            sub: Some(c.sub),
            aud: Some(c.aud),
            iss: Some(c.iss),
            jti: Some(c.jti),
            act: c.act,
        })
    }

    /// Deletes expired requests, codes, sessions and refresh tokens.
    pub async fn purge_expired(&self) -> Result<u64> {
        store::purge_expired(&self.core.db, self.now()).await
    }
}

/// The `aud` of a JWT without verifying it (to pick the audience to verify
/// against; the verification that follows checks it).
fn unverified_audience(jwt: &str) -> Option<String> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("aud")?.as_str().map(str::to_owned)
}
