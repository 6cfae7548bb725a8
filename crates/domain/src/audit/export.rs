//! Export of the audit log (issue #19, item 4): the events matching the
//! explorer's filters, oldest first, as JSONL (one event schema v1
//! [`AuditRecord`] a line) or CSV, streamed with bounded memory: pages of
//! [`EXPORT_PAGE`] events by keyset (`seq`), each written out before the
//! next is read, so a million events cost what a thousand do.
//!
//! CSV is formula-injection safe: a cell that starts with `=`, `+`, `-`,
//! `@`, a tab or a carriage return gets a leading `'`, so a spreadsheet
//! shows it as text instead of evaluating it (OWASP "CSV injection"); RFC
//! 4180 quoting is the `csv` crate's.
//!
//! An export is audited (`audit.exported`: format, filters, events) when it
//! finishes.

use super::{store, AuditService};
use crate::actor::{Actor, Permission};
use crate::error::{Error, Result};
use portcullis_types::{AuditExportFormat, AuditQuery, AuditRecord};
use serde_json::json;
use std::borrow::Cow;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Events read and written at a time.
pub const EXPORT_PAGE: i64 = 1000;

/// The CSV columns, in order.
pub const CSV_HEADER: [&str; 20] = [
    "seq",
    "id",
    "time",
    "actor_kind",
    "actor_id",
    "actor_display",
    "action",
    "target_kind",
    "target_id",
    "target_display",
    "outcome",
    "source_ip",
    "user_agent",
    "request_id",
    "policy_revision",
    "ocsf_class_uid",
    "ocsf_activity_id",
    "details",
    "prev_hash",
    "hash",
];

/// `cell` as a spreadsheet will show it: text, never a formula.
pub fn csv_safe(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn csv_row(r: &AuditRecord) -> Result<Vec<String>> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let target = r.target.as_ref();
    let cells = [
        r.seq.to_string(),
        r.id.clone(),
        r.time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        r.actor.kind.clone(),
        text(&r.actor.id),
        r.actor.display.clone(),
        r.action.clone(),
        target.map(|t| t.kind.clone()).unwrap_or_default(),
        target.map(|t| t.id.clone()).unwrap_or_default(),
        target.map(|t| t.display.clone()).unwrap_or_default(),
        r.outcome.as_str().to_owned(),
        text(&r.source.ip),
        text(&r.source.user_agent),
        text(&r.request_id),
        r.policy_revision.map(|v| v.to_string()).unwrap_or_default(),
        r.ocsf.class_uid.to_string(),
        r.ocsf.activity_id.to_string(),
        serde_json::to_string(&r.details).map_err(|e| Error::Internal(e.to_string()))?,
        r.prev_hash.clone(),
        r.hash.clone(),
    ];
    Ok(cells.iter().map(|c| csv_safe(c).into_owned()).collect())
}

/// One page of records in `format`.
fn encode(format: AuditExportFormat, records: &[AuditRecord], header: bool) -> Result<Vec<u8>> {
    let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("audit export: {e}"));
    match format {
        AuditExportFormat::Jsonl => {
            let mut out = Vec::with_capacity(records.len() * 800);
            for r in records {
                serde_json::to_writer(&mut out, r).map_err(|e| internal(&e))?;
                out.push(b'\n');
            }
            Ok(out)
        }
        AuditExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::with_capacity(records.len() * 800));
            if header {
                w.write_record(CSV_HEADER).map_err(|e| internal(&e))?;
            }
            for r in records {
                w.write_record(csv_row(r)?).map_err(|e| internal(&e))?;
            }
            w.into_inner().map_err(|e| internal(&e))
        }
    }
}

impl AuditService {
    /// Writes the events matching `q`'s filters (its cursors, offset and
    /// limit are ignored) to `out`, oldest first, in
    /// `format`; `progress` gets the count after each page. Returns how many
    /// were written. Audited as `audit.exported` when done; a failure part
    /// way (the reader went away) is not. **Permission:** `AuditRead`.
    pub async fn export<W: AsyncWrite + Unpin + Send>(
        &self,
        actor: &Actor,
        q: &AuditQuery,
        format: AuditExportFormat,
        out: &mut W,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64> {
        actor.require(Permission::AuditRead)?;
        let filter = store::Filter::resolve(q, &self.core.db).await?;
        let write_err = |e: std::io::Error| Error::Internal(format!("audit export: writing: {e}"));
        let mut after = 0i64;
        let mut written = 0u64;
        loop {
            let rows = store::page_after(self.core.db.exec(), &filter, after, EXPORT_PAGE).await?;
            let n = rows.len() as i64;
            if let Some(last) = rows.last() {
                after = last.seq;
            }
            let records = rows
                .into_iter()
                .map(|r| r.into_record(true))
                .collect::<Result<Vec<_>>>()?;
            let header = format == AuditExportFormat::Csv && written == 0;
            if !records.is_empty() || header {
                out.write_all(&encode(format, &records, header)?)
                    .await
                    .map_err(write_err)?;
            }
            written += records.len() as u64;
            progress(written);
            if n < EXPORT_PAGE {
                break;
            }
        }
        out.flush().await.map_err(write_err)?;
        self.record(
            actor,
            super::NewEvent::success("audit.exported").details(json!({
                "format": format,
                "filters": super::search_filters(q),
                "events": written,
            })),
        )
        .await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::csv_safe;

    #[test]
    fn cells_that_a_spreadsheet_would_evaluate_are_made_text() {
        for bad in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(csv_safe(bad), format!("'{bad}"));
        }
        for fine in ["alice@example.com", "1", "{\"a\":1}", "", "a=b"] {
            assert_eq!(csv_safe(fine), fine);
        }
    }
}
