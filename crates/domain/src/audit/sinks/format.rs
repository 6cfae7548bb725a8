//! What each kind of destination receives, as bytes: pure functions, so
//! the wire formats are unit-tested without a network.
//!
//! - **Webhook**: `{"schema": "portcullis.audit/1", "events": [record…]}`,
//!   signed in `X-Portcullis-Signature: t=<unix>,v1=<hex>` where the hex is
//!   HMAC-SHA256 over `"<t>.<body>"` with the destination's key (the
//!   scheme Stripe and GitHub use: a receiver checks `t` is recent and
//!   compares in constant time).
//! - **Splunk HEC**: one JSON object per event, newline-separated, each
//!   `{"time", "host", "source", "sourcetype", "event": record}`.
//! - **Syslog**: RFC 5424 messages, framed by octet counting (RFC 6587
//!   §3.4.1, the framing RFC 5425 requires over TLS); facility 13 (log
//!   audit), severity informational for successes and warning otherwise,
//!   `MSGID` the action, structured data `[portcullis@32473 id seq
//!   outcome]`, the message the record's JSON after a BOM.

use hmac::{Hmac, Mac};
use portcullis_types::{AuditRecord, Outcome, AUDIT_RECORD_SCHEMA};
use serde::Serialize;
use sha2::Sha256;

/// A record that does not serialise (it cannot: plain data) fails the
/// delivery with this rather than sending an empty body.
fn encode_err(e: serde_json::Error) -> String {
    format!("an event could not be encoded: {e}")
}

/// The webhook's body for `records`.
pub(crate) fn webhook_body(records: &[AuditRecord]) -> Result<Vec<u8>, String> {
    #[derive(Serialize)]
    struct Body<'a> {
        schema: &'a str,
        events: &'a [AuditRecord],
    }
    serde_json::to_vec(&Body {
        schema: AUDIT_RECORD_SCHEMA,
        events: records,
    })
    .map_err(encode_err)
}

/// `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub(crate) fn webhook_signature(key: &[u8], unix: i64, body: &[u8]) -> Result<String, String> {
    // HMAC takes keys of any length; the error cannot happen.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|e| e.to_string())?;
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "t={unix},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// The HEC body for `records`.
pub(crate) fn hec_body(records: &[AuditRecord]) -> Result<Vec<u8>, String> {
    #[derive(Serialize)]
    struct Event<'a> {
        /// Seconds since the epoch, with microseconds.
        time: f64,
        host: &'a str,
        source: &'a str,
        sourcetype: &'a str,
        event: &'a AuditRecord,
    }
    let mut out = Vec::new();
    for r in records {
        let time = r.time.timestamp() as f64 + f64::from(r.time.timestamp_subsec_micros()) / 1e6;
        let line = serde_json::to_vec(&Event {
            time,
            host: "portcullis",
            source: "portcullis",
            sourcetype: "portcullis:audit",
            event: r,
        })
        .map_err(encode_err)?;
        if !out.is_empty() {
            out.push(b'\n');
        }
        out.extend_from_slice(&line);
    }
    Ok(out)
}

/// RFC 5424 facility 13, "log audit".
const FACILITY: u8 = 13;

/// An SD-PARAM value with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn sd_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A header field: printable US-ASCII without spaces, at most `max`
/// characters, `-` when empty (RFC 5424 §6).
fn header_field(v: &str, max: usize) -> String {
    let s: String = v
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if s.is_empty() {
        "-".to_owned()
    } else {
        s
    }
}

/// One record as an octet-counted RFC 5424 message: `LEN SP MSG`.
pub(crate) fn syslog_frame(r: &AuditRecord) -> Result<Vec<u8>, String> {
    let severity = match r.outcome {
        Outcome::Success => 6,
        Outcome::Failure | Outcome::Denied => 4,
    };
    let pri = FACILITY * 8 + severity;
    let time = r.time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let json = serde_json::to_string(r).map_err(encode_err)?;
    let msg = format!(
        "<{pri}>1 {time} - portcullis - {msgid} [portcullis@32473 id=\"{id}\" seq=\"{seq}\" outcome=\"{outcome}\"] \u{feff}{json}",
        msgid = header_field(&r.action, 32),
        id = sd_escape(&r.id),
        seq = r.seq,
        outcome = r.outcome.as_str(),
    );
    let mut frame = format!("{} ", msg.len()).into_bytes();
    frame.extend_from_slice(msg.as_bytes());
    Ok(frame)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use portcullis_types::{AuditActor, AuditOcsf, AuditSource};

    fn record(action: &str, outcome: Outcome) -> AuditRecord {
        AuditRecord {
            schema: AUDIT_RECORD_SCHEMA.into(),
            seq: 42,
            id: "evt_1\"]x".into(),
            time: chrono::Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap()
                + chrono::Duration::microseconds(250),
            actor: AuditActor {
                kind: "console_user".into(),
                id: None,
                display: "ana@example.com".into(),
            },
            action: action.into(),
            target: None,
            outcome,
            source: AuditSource {
                ip: None,
                user_agent: None,
            },
            request_id: None,
            policy_revision: None,
            details: serde_json::json!({"note": "ünïcode"}),
            prev_hash: "0".repeat(64),
            hash: "1".repeat(64),
            ocsf: AuditOcsf {
                class_uid: 6003,
                class_name: "API Activity".into(),
                category_uid: 6,
                activity_id: 2,
                activity_name: "Read".into(),
                type_uid: 600302,
                status_id: 1,
            },
            redacted_at: None,
            erasure_id: None,
            masked: Vec::new(),
        }
    }

    #[test]
    fn syslog_frames_are_octet_counted_rfc5424() {
        let frame = syslog_frame(&record("console.signin.failed", Outcome::Failure)).unwrap();
        let text = String::from_utf8(frame.clone()).unwrap();
        let (len, msg) = text.split_once(' ').unwrap();
        // The count is of bytes, not characters (the BOM and ü are multi-byte).
        assert_eq!(len.parse::<usize>().unwrap(), msg.len());
        assert!(
            msg.starts_with("<108>1 2026-12-05T12:00:00.000250Z - portcullis - console.signin.failed [portcullis@32473 id=\"evt_1\\\"\\]x\" seq=\"42\" outcome=\"failure\"] \u{feff}{"),
            "{msg}"
        );
        let json = msg.split_once('\u{feff}').unwrap().1;
        let back: AuditRecord = serde_json::from_str(json).unwrap();
        assert_eq!(back.seq, 42);
        // Successes are informational; MSGID is clipped to 32 characters.
        let long = syslog_frame(&record(&"a.".repeat(30), Outcome::Success)).unwrap();
        let long = String::from_utf8(long).unwrap();
        assert!(long.starts_with(&format!(
            "{} <110>1 ",
            long.len() - long.find(' ').unwrap() - 1
        )));
        assert!(long.contains(&format!(" portcullis - {} [", "a.".repeat(16))));
    }

    #[test]
    fn webhook_signatures_are_hmac_sha256_over_time_and_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = webhook_signature(b"Jefe", 0, b"what do ya want for nothing?").unwrap();
        // The signed text is "0.what do ya…", so compute the expected value the same way.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"0.what do ya want for nothing?");
        assert_eq!(
            sig,
            format!("t=0,v1={}", hex::encode(mac.finalize().into_bytes()))
        );
        // And the primitive is HMAC-SHA256 (RFC 4231 §4.3).
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let body = webhook_body(&[record("api.call", Outcome::Success)]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["schema"], AUDIT_RECORD_SCHEMA);
        assert_eq!(v["events"][0]["seq"], 42);
    }

    #[test]
    fn hec_events_are_one_json_object_a_line() {
        let body = hec_body(&[
            record("api.call", Outcome::Success),
            record("api.call", Outcome::Denied),
        ])
        .unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(body)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["sourcetype"], "portcullis:audit");
        assert_eq!(lines[0]["time"], 1_796_472_000.000_25);
        assert_eq!(lines[1]["event"]["outcome"], "denied");
    }
}
