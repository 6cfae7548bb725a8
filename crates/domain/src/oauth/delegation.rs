//! Delegation by token exchange (RFC 8693): an agent that holds a person's
//! access token (the `subject_token`, handed to it by the person's client)
//! authenticates as itself (the actor) and gets a token whose `sub` is
//! still the person and whose `act` names the agent, with the agents the
//! subject token already named nested inside (a chain). Gateways decide
//! such a token's calls by `Policy::decide_delegated`: the person, every
//! agent of the chain, and the delegation policy must all allow it.
//!
//! Checked here, before anything is issued: the subject token is a live
//! access token of this issuer for a person (a person's own or delegated
//! token; never an agent's own); the chain stays within
//! `MAX_DELEGATION_DEPTH` agents; every agent of the new chain is active
//! and holds a delegation from the person for the token's server at the
//! current revision; `resource`/`audience`, if given, are the subject
//! token's; the scopes asked are among the subject token's. The new token
//! lives no longer than the subject token, keeps its grant (`sid`, so
//! revoking the person's authorization ends it too), and has no refresh
//! token. Refusals are `invalid_grant` (`invalid_target`, `invalid_scope`
//! and `invalid_request` where RFC 8693 says so).

use super::model::{
    fail, Client, ErrorCode, Failure, OAuthError, Scopes, TokenParams, TokenResponse,
};
use super::{internal, now_unix, store, OAuthService};
use crate::agents;
use crate::clock::new_id;
use portcullis_policy::token::{AccessClaims, Act};
use portcullis_policy::MAX_DELEGATION_DEPTH;
use portcullis_types::AgentStatus;
use serde_json::json;

/// The grant type of RFC 8693.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type of an access token (RFC 8693 §3).
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

fn refuse<T>(code: ErrorCode, why: impl Into<String>) -> Result<T, Failure> {
    fail(code, why)
}

impl OAuthService {
    /// RFC 8693 for an authenticated agent acting for a person (see the
    /// module documentation).
    pub(super) async fn delegate(
        &self,
        p: &TokenParams,
        agent: &Client,
        public_url: &str,
    ) -> Result<TokenResponse, Failure> {
        let Some(subject) = p.subject_token.as_deref().filter(|s| !s.is_empty()) else {
            return refuse(
                ErrorCode::InvalidRequest,
                "subject_token is missing (the person's access token)",
            );
        };
        if p.subject_token_type.as_deref() != Some(ACCESS_TOKEN) {
            return refuse(
                ErrorCode::InvalidRequest,
                format!("subject_token_type must be {ACCESS_TOKEN}"),
            );
        }
        if p.requested_token_type
            .as_deref()
            .is_some_and(|t| t != ACCESS_TOKEN)
        {
            return refuse(
                ErrorCode::InvalidRequest,
                format!("requested_token_type may only be {ACCESS_TOKEN}"),
            );
        }
        if p.actor_token.is_some() {
            return refuse(
                ErrorCode::InvalidRequest,
                "the actor is the authenticated agent; send no actor_token",
            );
        }
        let Some(c) = self.verify_any(subject, public_url).await? else {
            return refuse(
                ErrorCode::InvalidGrant,
                "subject_token is not a valid access token of this issuer",
            );
        };
        if c.sid == c.sub {
            return refuse(
                ErrorCode::InvalidGrant,
                "subject_token is an agent's own token; an agent acts for people",
            );
        }
        if !self.introspect(subject, public_url).await?.active {
            return refuse(ErrorCode::InvalidGrant, "subject_token is no longer active");
        }
        for (name, value) in [("resource", &p.resource), ("audience", &p.audience)] {
            if value.as_deref().is_some_and(|v| v != c.aud) {
                return refuse(
                    ErrorCode::InvalidTarget,
                    format!("{name} differs from the subject token's audience; a delegated token is for the same server"),
                );
            }
        }
        let held = Scopes::parse(&c.scope).map_err(internal)?;
        let scope = match p.scope.as_deref() {
            None => held,
            Some(asked) => {
                let asked = Scopes::parse(asked)
                    .map_err(|m| Failure::Protocol(OAuthError::new(ErrorCode::InvalidScope, m)))?;
                if let Some(bad) = asked.0.iter().find(|s| !held.contains(s)) {
                    return refuse(
                        ErrorCode::InvalidScope,
                        format!("the scope {bad:?} is not in the subject token"),
                    );
                }
                asked
            }
        };
        let ttl = self.core.settings.access_token_ttl;
        let now = self.now();
        let claims = AccessClaims {
            iss: Self::issuer(public_url),
            sub: c.sub.clone(),
            aud: c.aud.clone(),
            client_id: agent.id.0.clone(),
            scope: scope.to_wire(),
            jti: new_id("at"),
            iat: now_unix(now),
            exp: now_unix(now + ttl).min(c.exp),
            sid: c.sid.clone(),
            act: Some(Act {
                sub: agent.id.0.clone(),
                act: c.act.clone().map(Box::new),
            }),
        };
        let chain = claims.actor_chain(MAX_DELEGATION_DEPTH);
        if chain.len() > MAX_DELEGATION_DEPTH {
            return refuse(
                ErrorCode::InvalidGrant,
                format!("delegation chains are limited to {MAX_DELEGATION_DEPTH} agents"),
            );
        }
        let Some((server_id, server_name, _)) =
            store::find_enabled_server(self.core.db.exec(), &c.aud).await?
        else {
            return refuse(
                ErrorCode::InvalidGrant,
                "the subject token's server is not enabled",
            );
        };
        let Some(enterprise) = self.enterprise.get() else {
            return Err(Failure::Domain(internal("delegation is not wired")));
        };
        let snapshot = enterprise.access.current().await?;
        for id in &chain {
            let agent_row = agents::store::get(self.core.db.exec(), id).await?;
            let status = agent_row
                .as_ref()
                .map(|a| agents::status_at(&a.status, a.expires_at, now))
                .transpose()?;
            if status != Some(AgentStatus::Active) {
                return refuse(
                    ErrorCode::InvalidGrant,
                    format!("the agent {id} is not active"),
                );
            }
            if !snapshot.policy.delegated(&c.sub, id, &server_id) {
                let name = agent_row.map(|a| a.name).unwrap_or_default();
                return refuse(
                    ErrorCode::InvalidGrant,
                    format!("{name} ({id}) may not act for this person on {server_name}: no delegation covers them"),
                );
            }
        }
        let details = json!({
            "grant_type": GRANT_TYPE,
            "person": c.sub,
            "server": server_id,
            "scope": claims.scope,
            "act": chain,
            "grant": c.sid,
            "subject_jti": c.jti,
            "jti": claims.jti,
        });
        self.issue_to_agent(agent, claims, details, Some(ACCESS_TOKEN), now)
            .await
    }
}
