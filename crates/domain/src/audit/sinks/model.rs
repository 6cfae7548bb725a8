//! Audit streaming's values without storage: a destination to add, checked
//! field by field, and a stored one as listed.

use super::store::SinkRow;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use portcullis_types::FieldError;
use portcullis_types::{
    AuditSinkHealth, AuditSinkId, AuditSinkInput, AuditSinkKind, AuditSinkSummary,
};

/// A destination to add, its fields checked.
#[derive(Debug)]
pub(super) struct NewSink {
    pub name: String,
    pub kind: AuditSinkKind,
    pub url: String,
    /// The webhook key or the HEC token; `None` for syslog.
    pub secret: Option<String>,
}

/// Where a syslog destination is: host, port, TLS.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SyslogTarget {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl SyslogTarget {
    /// `tcp://host:port` or `tls://host:port`.
    pub fn parse(url: &str) -> std::result::Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let tls = match parsed.scheme() {
            "tcp" => false,
            "tls" => true,
            other => {
                return Err(format!(
                    "{other}: use tcp://host:port or tls://host:port for syslog"
                ))
            }
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL needs a host")?
            .to_owned();
        let port = parsed
            .port()
            .ok_or("the URL needs a port (6514 for TLS is usual)")?;
        if !parsed.username().is_empty()
            || parsed.password().is_some()
            || !matches!(parsed.path(), "" | "/")
            || parsed.query().is_some()
        {
            return Err("only tcp://host:port or tls://host:port, nothing after the port".into());
        }
        Ok(Self { host, port, tls })
    }
}

impl NewSink {
    /// Checks `input`, naming each field at fault. `check_http` checks an
    /// http(s) URL against the SSRF guard's early rules.
    pub fn parse(
        input: &AuditSinkInput,
        check_http: impl Fn(&str) -> std::result::Result<(), String>,
    ) -> Result<Self> {
        let mut errors = Vec::new();
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(FieldError::new("name", "1 to 100 characters"));
        }
        let kind = match input.kind.parse::<AuditSinkKind>() {
            Ok(k) => Some(k),
            Err(_) => {
                errors.push(FieldError::new(
                    "kind",
                    "choose webhook, syslog or splunk_hec",
                ));
                None
            }
        };
        let url = input.url.trim().to_owned();
        let secret = input.secret.trim().to_owned();
        if let Some(kind) = kind {
            let url_error = match kind {
                AuditSinkKind::Syslog => SyslogTarget::parse(&url)
                    .and_then(|t| check_http(&format!("http://{}:{}/", bracket(&t.host), t.port)))
                    .err(),
                AuditSinkKind::Webhook | AuditSinkKind::SplunkHec => match url::Url::parse(&url) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => check_http(&url).err(),
                    Ok(_) => Some("use an https:// URL".to_owned()),
                    Err(e) => Some(format!("`{url}` is not a URL: {e}")),
                },
            };
            if let Some(message) = url_error {
                errors.push(FieldError::new("url", message));
            }
            let secret_error = match kind {
                AuditSinkKind::Syslog if !secret.is_empty() => Some(
                    "syslog takes no secret: leave it empty (use tls:// for transport security)",
                ),
                AuditSinkKind::Webhook if secret.chars().count() < 16 => {
                    Some("the signing key needs at least 16 characters")
                }
                AuditSinkKind::SplunkHec if secret.is_empty() => Some("paste the HEC token"),
                _ if secret.len() > 512 => Some("at most 512 characters"),
                _ => None,
            };
            if let Some(message) = secret_error {
                errors.push(FieldError::new("secret", message));
            }
        }
        match (errors.is_empty(), kind) {
            (true, Some(kind)) => Ok(Self {
                name,
                kind,
                url,
                secret: (!secret.is_empty()).then_some(secret),
            }),
            _ => Err(Error::Invalid(errors)),
        }
    }
}

/// An IPv6 literal in brackets, for a URL.
fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

impl SinkRow {
    /// The destination as listed, with the log's head seq and the oldest
    /// event it waits for (seq, time) for the lag: from that event to the
    /// head, so events retention deleted before they were sent do not count.
    pub(super) fn into_summary(
        self,
        head_seq: i64,
        oldest_pending: Option<(i64, DateTime<Utc>)>,
    ) -> Result<AuditSinkSummary> {
        let kind: AuditSinkKind = self.kind.parse().map_err(Error::Internal)?;
        let health = if !self.enabled {
            AuditSinkHealth::Paused
        } else if self.failures > 0 {
            AuditSinkHealth::Failing
        } else if self.last_success_at.is_some() {
            AuditSinkHealth::Healthy
        } else {
            AuditSinkHealth::Pending
        };
        Ok(AuditSinkSummary {
            id: AuditSinkId(self.id),
            name: self.name,
            kind,
            url: self.url,
            enabled: self.enabled,
            health,
            created_by: self.created_by,
            created_at: self.created_at,
            delivered_through_seq: self.cursor_seq,
            delivered: self.delivered,
            lag_events: oldest_pending.map_or(0, |(seq, _)| (head_seq - seq + 1).max(0)),
            oldest_pending_at: oldest_pending.map(|(_, at)| at),
            last_success_at: self.last_success_at,
            last_error: self.last_error,
            last_error_at: self.last_error_at,
            failures: self.failures,
            next_attempt_at: self.next_attempt_at,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input(kind: &str, url: &str, secret: &str) -> AuditSinkInput {
        AuditSinkInput {
            name: "SIEM".into(),
            kind: kind.into(),
            url: url.into(),
            secret: secret.into(),
        }
    }

    fn fields(r: Result<NewSink>) -> Vec<String> {
        match r {
            Err(Error::Invalid(e)) => e.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_kind_checks_its_url_and_secret() {
        let ok = |_: &str| Ok(());
        let s = NewSink::parse(&input("syslog", "tls://siem.example:6514", ""), ok).unwrap();
        assert_eq!(
            SyslogTarget::parse(&s.url).unwrap(),
            SyslogTarget {
                host: "siem.example".into(),
                port: 6514,
                tls: true
            }
        );
        assert_eq!(s.secret, None);
        assert_eq!(
            fields(NewSink::parse(&input("syslog", "udp://siem:514", ""), ok)),
            ["url"]
        );
        assert_eq!(
            fields(NewSink::parse(&input("syslog", "tcp://siem", ""), ok)),
            ["url"]
        );
        assert_eq!(
            fields(NewSink::parse(&input("syslog", "tcp://siem:514", "x"), ok)),
            ["secret"]
        );
        assert_eq!(
            fields(NewSink::parse(
                &input("webhook", "ftp://siem/x", "short"),
                ok
            )),
            ["url", "secret"]
        );
        assert_eq!(
            fields(NewSink::parse(
                &input(
                    "splunk_hec",
                    "https://splunk:8088/services/collector/event",
                    ""
                ),
                ok
            )),
            ["secret"]
        );
        assert_eq!(
            fields(NewSink::parse(&input("kafka", "x", ""), ok)),
            ["kind"]
        );
        let refused = |_: &str| Err("127.0.0.1 is a loopback address".to_owned());
        assert_eq!(
            fields(NewSink::parse(
                &input("syslog", "tcp://127.0.0.1:514", ""),
                refused
            )),
            ["url"]
        );
    }
}
