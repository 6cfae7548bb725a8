//! The policy API's JSON bodies (`docs/policy-api.md`), shared by the
//! console, which reads them, and Rust gateways, which write them
//! (`portcullis-gateway`). Unknown fields are refused, so a typo in a
//! gateway shows as an error rather than as a silently missing value.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /api/v1/gateway/status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// The revision the gateway enforces (none yet: `null`).
    pub active_revision: Option<i64>,
    /// Its last successful fetch.
    #[serde(default)]
    pub last_fetch_at: Option<DateTime<Utc>>,
    /// Its last error (fetch, verification, activation, a full decision
    /// spool), `null` when fine.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Software name and version.
    #[serde(default)]
    pub software: Option<String>,
}

/// One decision a gateway made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DecisionReport {
    /// The gateway's id for this record (at most 100 characters): the
    /// console records each id of a gateway once, so a batch sent again
    /// after a lost answer is not counted twice. Optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When, by the gateway's clock.
    pub at: DateTime<Utc>,
    /// Principal id (or email) the request was for.
    pub user: String,
    /// OAuth client id of the MCP client, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Server id as in the bundle.
    pub server: String,
    pub tool: String,
    pub allowed: bool,
    /// The evaluator's reason code (`allowed`, `no_grant`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rule that decided, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub revision: i64,
    /// The tool call's arguments; stored masked ([`mask_arguments`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// A delegated call: the agents acting for `user`, outermost (the one
    /// calling) first (the token's `act` chain). At most 4 entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Vec<String>>,
}

/// `POST /api/v1/decisions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DecisionBatch {
    pub decisions: Vec<DecisionReport>,
}

/// `POST /api/v1/tools/changed`: a gateway saw a tool whose live definition
/// is not the approved one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangedToolReport {
    /// Server id as in the bundle.
    pub server: String,
    /// The tool as the server listed it (an MCP `Tool` object).
    pub definition: Value,
}

/// Masks a tool call's arguments for the audit log: the shape stays (keys,
/// nesting, list lengths up to a limit), every value becomes `"***"` (null
/// stays null). Arguments may hold personal data or secrets; which keys were
/// passed is what an investigation needs. Idempotent.
pub fn mask_arguments(v: &Value) -> Value {
    fn mask(v: &Value, depth: usize) -> Value {
        const MAX_DEPTH: usize = 6;
        const MAX_ITEMS: usize = 50;
        match v {
            Value::Null => Value::Null,
            Value::Object(m) if depth < MAX_DEPTH => Value::Object(
                m.iter()
                    .take(MAX_ITEMS)
                    .map(|(k, v)| (k.chars().take(100).collect(), mask(v, depth + 1)))
                    .collect(),
            ),
            Value::Array(a) if depth < MAX_DEPTH => Value::Array(
                a.iter()
                    .take(MAX_ITEMS)
                    .map(|v| mask(v, depth + 1))
                    .collect(),
            ),
            _ => Value::String("***".to_owned()),
        }
    }
    mask(v, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masking_keeps_the_shape_and_hides_every_value() {
        let v = json!({"path": "/etc/passwd", "n": 3, "deep": {"token": "s3cr3t", "list": [1, "a", null]}, "none": null});
        let m = mask_arguments(&v);
        assert_eq!(
            m,
            json!({"path": "***", "n": "***", "deep": {"token": "***", "list": ["***", "***", null]}, "none": null})
        );
        assert!(!m.to_string().contains("s3cr3t"));
        assert_eq!(mask_arguments(&json!("plain")), json!("***"));
        assert_eq!(mask_arguments(&m), m, "masking twice changes nothing");
    }

    #[test]
    fn a_decision_round_trips_and_refuses_unknown_fields() {
        let d: DecisionReport = serde_json::from_value(json!({
            "id": "d1", "at": "2026-11-26T10:00:01Z", "user": "usr_1", "server": "srv_1",
            "tool": "search", "allowed": true, "revision": 4
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let back: DecisionReport =
            serde_json::from_value(serde_json::to_value(&d).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, d);
        let bad = serde_json::from_value::<DecisionReport>(json!({
            "at": "2026-11-26T10:00:01Z", "user": "u", "server": "s", "tool": "t",
            "allowed": true, "revision": 1, "surprise": 1
        }));
        assert!(bad.is_err());
    }
}
