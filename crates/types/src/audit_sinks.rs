//! Audit streaming: the SIEM destinations the audit log is sent to
//! (Settings → Audit streaming, `GET /api/v1/admin/audit/sinks`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

id_type!(
    /// An audit streaming destination (`sink_…`).
    AuditSinkId
);

/// How events reach a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditSinkKind {
    /// HTTPS POST of JSON batches, HMAC-SHA256 signed.
    Webhook,
    /// RFC 5424 messages over TCP (`tcp://host:port`) or TLS
    /// (`tls://host:port`), octet-counted framing (RFC 6587 / 5425).
    Syslog,
    /// Splunk HTTP Event Collector.
    SplunkHec,
}

impl AuditSinkKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditSinkKind::Webhook => "webhook",
            AuditSinkKind::Syslog => "syslog",
            AuditSinkKind::SplunkHec => "splunk_hec",
        }
    }

    /// What admins call it.
    pub fn label(self) -> &'static str {
        match self {
            AuditSinkKind::Webhook => "Webhook",
            AuditSinkKind::Syslog => "Syslog",
            AuditSinkKind::SplunkHec => "Splunk HEC",
        }
    }
}

impl std::str::FromStr for AuditSinkKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "webhook" => AuditSinkKind::Webhook,
            "syslog" => AuditSinkKind::Syslog,
            "splunk_hec" => AuditSinkKind::SplunkHec,
            other => return Err(format!("unknown audit sink kind `{other}`")),
        })
    }
}

/// How a destination is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditSinkHealth {
    /// The last attempt succeeded.
    Healthy,
    /// Nothing was sent yet.
    Pending,
    /// The last attempt failed; it is retried with backoff.
    Failing,
    /// Paused by an admin: events wait in the log.
    Paused,
}

/// A destination as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditSinkSummary {
    pub id: AuditSinkId,
    pub name: String,
    pub kind: AuditSinkKind,
    /// Where events go (no secret in it).
    pub url: String,
    pub enabled: bool,
    pub health: AuditSinkHealth,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The last event delivered (the stream starts after the event that
    /// was the newest when the destination was added).
    pub delivered_through_seq: i64,
    /// Events delivered so far.
    pub delivered: i64,
    /// Events in the log not delivered yet.
    pub lag_events: i64,
    /// When the oldest event not delivered yet happened.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed, when it did.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Failed attempts in a row.
    pub failures: i64,
    /// When the next attempt is due after failures.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// What adding a destination needs.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditSinkInput {
    /// 1 to 100 characters, unique.
    pub name: String,
    /// `webhook`, `syslog` or `splunk_hec`.
    pub kind: String,
    /// Webhook: the `https://` (or allowed `http://`) URL. Splunk HEC: the
    /// collector's event endpoint (`https://splunk:8088/services/collector/event`).
    /// Syslog: `tcp://host:port` or `tls://host:port`.
    pub url: String,
    /// Webhook: the HMAC key (at least 16 characters). Splunk HEC: the
    /// token. Syslog: none.
    #[serde(default)]
    pub secret: String,
}

impl fmt::Debug for AuditSinkInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSinkInput")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("secret", &"…")
            .finish()
    }
}
