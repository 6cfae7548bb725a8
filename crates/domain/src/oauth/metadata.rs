//! Server metadata (RFC 8414, and RFC 9728 for each catalog server) and
//! the scopes the catalog's servers declare.

use super::model::{Scopes, OFFLINE_ACCESS};
use super::{internal, store, OAuthService};
use crate::actor::{Actor, Permission};
use crate::audit::{self, NewEvent, Target};
use crate::error::{Error, Result};
use portcullis_types::{ServerId, ServerRef};
use serde_json::{json, Value};

impl OAuthService {
    /// RFC 8414 authorization server metadata (also served as OpenID
    /// discovery). `registration_endpoint` only while registration is on.
    pub async fn metadata(&self, public_url: &str) -> Result<Value> {
        let iss = Self::issuer(public_url);
        let policy = store::policy(self.core.db.exec()).await?;
        let mut scopes = std::collections::BTreeSet::new();
        for s in store::all_server_scopes(self.core.db.exec()).await? {
            let list: Vec<String> = serde_json::from_str(&s).map_err(internal)?;
            scopes.extend(list);
        }
        scopes.insert(OFFLINE_ACCESS.to_owned());
        let mut doc = json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}/oauth/authorize"),
            "token_endpoint": format!("{iss}/oauth/token"),
            "revocation_endpoint": format!("{iss}/oauth/revoke"),
            "introspection_endpoint": format!("{iss}/oauth/introspect"),
            "jwks_uri": format!("{iss}/.well-known/jwks.json"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", super::id_jag::GRANT_TYPE, super::delegation::GRANT_TYPE],
            "authorization_grant_profiles_supported": [super::id_jag::GRANT_PROFILE],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
            "revocation_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
            "introspection_endpoint_auth_methods_supported": ["bearer"],
            "scopes_supported": scopes.into_iter().collect::<Vec<_>>(),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
            "resource_indicators_supported": true,
            "service_documentation": format!("{iss}/docs/oauth"),
        });
        if policy.registration_enabled {
            doc["registration_endpoint"] = json!(format!("{iss}/oauth/register"));
        }
        Ok(doc)
    }

    /// RFC 9728 protected-resource metadata of the catalog server `slug`.
    pub async fn resource_metadata(&self, slug: &ServerRef, public_url: &str) -> Result<Value> {
        let (_, name, resource, scopes, enabled) =
            store::find_server_by_slug(self.core.db.exec(), slug.as_str())
                .await?
                .ok_or(Error::NotFound("MCP server"))?;
        if !enabled {
            return Err(Error::NotFound("MCP server"));
        }
        let scopes: Vec<String> = serde_json::from_str(&scopes).map_err(internal)?;
        Ok(json!({
            "resource": resource,
            "authorization_servers": [Self::issuer(public_url)],
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": name,
            "resource_signing_alg_values_supported": ["EdDSA"],
        }))
    }

    /// A catalog server's scopes and where its protected-resource metadata
    /// is served. **Permission:** `ConsoleRead`.
    pub async fn server_oauth(
        &self,
        actor: &Actor,
        server_id: &ServerId,
        public_url: &str,
    ) -> Result<portcullis_types::ServerOAuth> {
        actor.require(Permission::ConsoleRead)?;
        let server_id = server_id.as_str();
        let (slug, _, scopes) = store::find_server_scopes(self.core.db.exec(), server_id)
            .await?
            .ok_or(Error::NotFound("server"))?;
        let iss = Self::issuer(public_url);
        Ok(portcullis_types::ServerOAuth {
            scopes: serde_json::from_str(&scopes).map_err(internal)?,
            metadata_url: format!("{iss}/oauth/resources/{slug}"),
            issuer: iss,
        })
    }

    /// Sets the scopes a server declares (space- or comma-separated; clients
    /// may ask for these and `offline_access`). Audited as
    /// `catalog.server.scopes_updated`. **Permission:** `CatalogManage`.
    pub async fn set_server_scopes(
        &self,
        actor: &Actor,
        server_id: &ServerId,
        scopes: &str,
    ) -> Result<Vec<String>> {
        actor.require(Permission::CatalogManage)?;
        let server_id = server_id.as_str();
        let parsed =
            Scopes::parse(&scopes.replace(',', " ")).map_err(|m| Error::invalid("scopes", m))?;
        if parsed.contains(OFFLINE_ACCESS) {
            return Err(Error::invalid(
                "scopes",
                "offline_access is always available; do not list it",
            ));
        }
        let (_, name, old) = store::find_server_scopes(self.core.db.exec(), server_id)
            .await?
            .ok_or(Error::NotFound("server"))?;
        let list: Vec<String> = parsed.0.into_iter().collect();
        let json = serde_json::to_string(&list).map_err(internal)?;
        let now = self.now();
        let mut tx = self.core.db.begin().await?;
        store::set_server_scopes(&mut tx, server_id, &json, now).await?;
        audit::append(
            &mut tx,
            now,
            actor,
            NewEvent::success("catalog.server.scopes_updated")
                .target(Target::new("mcp_server", server_id, &name))
                .details(json!({ "from": serde_json::from_str::<Value>(&old).unwrap_or(Value::Null), "to": list })),
        )
        .await?;
        tx.commit().await?;
        Ok(list)
    }
}
