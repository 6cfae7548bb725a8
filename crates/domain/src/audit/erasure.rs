//! Erasure and masked details (issue #19, items 7 and 2).
//!
//! **Erasure** takes a person's personal data out of the audit log while the
//! chain still verifies. The person is named by the id the log knows them
//! by (a directory user's or a console user's). The names they went by are
//! read from the log itself (the display of their own actions and of events
//! about them), so a person already deleted from the directory can still be
//! erased. Every event that is theirs by id, or names them, is rewritten:
//! - as the actor, their name becomes the erasure's pseudonym
//!   (`Erased person 1a2b3c4d`) and the source address and user agent go;
//! - as the target, their name becomes the pseudonym;
//! - any of their names in the details or another display becomes the
//!   pseudonym.
//!
//! Ids stay: the events still read as one (pseudonymous) person's, which is
//! what an investigation needs, and nothing left links the id to a name once
//! the directory record is gone.
//!
//! How the chain stays verifiable: an erased row keeps its seq, id, time,
//! action, `prev_hash` and `hash`, so the chain links through it, but its
//! original content is gone and `hash` can no longer be recomputed. So the
//! row also gets `erasure_id` and `erased_hash` (the hash of its content
//! after the erasure, same canonical form), and the erasure is a signed
//! record (the audit key, like checkpoints and purge records): {id, person,
//! pseudonym, first and last seq, count, SHA-256 over
//! `"<seq>:<hash>:<erased_hash>\n"` of each row rewritten}. `verify`
//! recomputes `erased_hash` of each erased row (an edit since names the
//! row), requires a genuine record for every `erasure_id` (marking other
//! rows erased names the row), and recomputes each record's digest (a row
//! taken out of or added to an erasure names the erasure's first event).
//! The erasure itself is recorded as `audit.erased`, in the same
//! transaction.
//!
//! Events already streamed to a SIEM are the SIEM's to erase: the
//! `audit.erased` event it receives names the erasure.
//!
//! **Masked details** ([`super::model::MASKED_DETAILS`]) are masked
//! whenever events are read or exported; [`AuditService::reveal`] shows one
//! event's values to an owner and records `audit.revealed`.

use super::checkpoint::KeyVerifiers;
use super::links::Link;
use super::retention::Broken;
use super::store::{self, ErasureRow};
use super::{append, AuditService, NewEvent, Target};
use crate::actor::{Actor, Permission};
use crate::clock::new_id;
use crate::error::{Error, Result};
use crate::signing::KeyPurpose;
use portcullis_types::{AuditErasure, AuditReveal};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// The JWS `typ` of an erasure record.
pub const ERASURE_JWS_TYPE: &str = "portcullis-audit-erasure+jws";

/// Rows read at a time while erasing.
const ERASE_BATCH: i64 = 1000;

/// Names shorter than this are not searched for (they would match
/// everywhere).
const MIN_NAME: usize = 5;

/// What an erasure record signs.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Claims {
    id: String,
    person: String,
    pseudonym: String,
    first: i64,
    last: i64,
    count: i64,
    digest: String,
    iat: i64,
}

fn digest_row(h: &mut Sha256, seq: i64, hash: &str, erased_hash: &str) {
    h.update(format!("{seq}:{hash}:{erased_hash}\n").as_bytes());
}

impl AuditService {
    /// Erases `person`'s personal data from the log (see the module docs)
    /// and records `audit.erased`. Refused when no event names `person` as
    /// a person, or when everything of theirs is already erased.
    /// **Permission:** `AuditErase` (owners).
    pub async fn erase(&self, actor: &Actor, person: &str) -> Result<AuditErasure> {
        actor.require(Permission::AuditErase)?;
        let person = person.trim();
        if person.is_empty() || person.len() > 200 {
            return Err(Error::invalid(
                "person",
                "give the person's id as the audit log shows it (1 to 200 characters)",
            ));
        }
        let now = self.core.clock.now();
        // The key first: making the first audit key is itself an event,
        // in its own transaction.
        let key = self.signing.active_for(KeyPurpose::Audit).await?;
        let mut tx = self.core.db.begin().await?;
        store::lock_head(&mut tx).await?;
        let (known, found) = store::person_names(tx.exec(), person).await?;
        if !known && !store::erased_before(tx.exec(), person).await? {
            return Err(Error::invalid(
                "person",
                format!("no audit event names a person with the id {person}"),
            ));
        }
        let mut names: Vec<String> = found
            .iter()
            .map(|n| n.trim().to_lowercase())
            .filter(|n| n.chars().count() >= MIN_NAME && !n.starts_with("erased person "))
            .collect();
        names.sort();
        names.dedup();

        let id = new_id("ers");
        let pseudonym = format!(
            "Erased person {}",
            &hex::encode(Sha256::digest(id.as_bytes()))[..8]
        );
        let mut digest = Sha256::new();
        let (mut count, mut first, mut last) = (0i64, None, 0i64);
        let mut after = 0i64;
        // The actor and target names the rewritten events carried, and
        // carry now (for `audit_names`).
        let (mut old_names, mut new_names) = (BTreeSet::new(), BTreeSet::new());
        loop {
            let rows =
                store::erasure_candidates(tx.exec(), person, &names, after, ERASE_BATCH).await?;
            let n = rows.len() as i64;
            for mut row in rows {
                after = row.seq;
                let carried = store::names_of([&row]);
                if !row.erase(person, &names, &pseudonym)? {
                    continue;
                }
                old_names.extend(carried);
                new_names.extend(store::names_of([&row]));
                let erased_hash = row.compute_hash()?;
                digest_row(&mut digest, row.seq, &row.hash, &erased_hash);
                row.erasure_id = Some(id.clone());
                row.erased_hash = Some(erased_hash);
                store::update_erased(&mut tx, &row).await?;
                count += 1;
                first.get_or_insert(row.seq);
                last = row.seq;
            }
            if n < ERASE_BATCH {
                break;
            }
        }
        let Some(first) = first else {
            return Err(Error::Conflict {
                field: "person".into(),
                message: format!("the audit log holds no personal data of {person} left to erase"),
            });
        };
        // The explorer's names: the new ones in, and out the old ones no
        // event carries any more (the person's).
        store::note_names(&mut tx, &new_names.into_iter().collect::<Vec<_>>()).await?;
        let old_names: Vec<_> = old_names.into_iter().collect();
        store::prune_names(&mut tx, Some(&old_names)).await?;
        let claims = Claims {
            id: id.clone(),
            person: person.to_owned(),
            pseudonym: pseudonym.clone(),
            first,
            last,
            count,
            digest: hex::encode(digest.finalize()),
            iat: now.timestamp(),
        };
        let jws = key
            .sign_claims(&claims, ERASURE_JWS_TYPE)
            .map_err(|e| Error::Internal(format!("signing an audit erasure record: {e}")))?;
        store::insert_erasure(
            &mut tx,
            &ErasureRow {
                id: id.clone(),
                person_id: person.to_owned(),
                pseudonym: pseudonym.clone(),
                first_seq: first,
                last_seq: last,
                count,
                digest: claims.digest,
                erased_at: now,
                kid: key.kid().to_owned(),
                jws,
            },
        )
        .await?;
        let seq = append(
            &mut tx,
            now,
            actor,
            NewEvent::success("audit.erased")
                .target(Target::new("person", person, pseudonym.clone()))
                .details(json!({
                    "erasure": id,
                    "pseudonym": pseudonym,
                    "events": count,
                    "first_seq": first,
                    "last_seq": last,
                })),
        )
        .await?;
        let event_id = store::id_of(tx.exec(), seq).await?;
        tx.commit().await?;
        tracing::info!(erasure = %id, events = count, "audit erasure");
        Ok(AuditErasure {
            id,
            person_id: person.to_owned(),
            pseudonym,
            events: count,
            first_seq: first,
            last_seq: last,
            erased_at: now,
            event_id,
        })
    }

    /// Event `id`'s details with the masked values shown; records
    /// `audit.revealed`. **Permission:** `AuditReveal` (owners).
    pub async fn reveal(&self, actor: &Actor, id: &str) -> Result<AuditReveal> {
        actor.require(Permission::AuditReveal)?;
        let row = store::by_id(self.core.db.exec(), id)
            .await?
            .ok_or(Error::NotFound("audit event"))?;
        let details: serde_json::Value = serde_json::from_str(&row.details)
            .map_err(|e| Error::Internal(format!("audit details: {e}")))?;
        let revealed = super::model::masked_keys(&row.actor_type, &row.actor_display, &details);
        if revealed.is_empty() {
            return Err(Error::Conflict {
                field: "id".into(),
                message: format!("event {id} has no masked details"),
            });
        }
        self.record(
            actor,
            NewEvent::success("audit.revealed")
                .target(Target::new("audit_event", id, format!("event {}", row.seq)))
                .details(json!({ "seq": row.seq, "action": row.action, "keys": revealed })),
        )
        .await?;
        Ok(AuditReveal {
            id: id.to_owned(),
            actor_display: row.actor_display,
            details,
            revealed,
        })
    }
}

/// One erasure record as `verify` tallies it.
struct Tally {
    first: i64,
    last: i64,
    count: i64,
    digest: String,
    seen: i64,
    running: Sha256,
}

/// The signed erasure records as `verify` walks them.
#[derive(Default)]
pub(super) struct Erasures {
    records: HashMap<String, Tally>,
}

impl Erasures {
    /// Loads and checks the erasure records; one whose signature does not
    /// verify with the audit key it names is reported broken at its first
    /// event.
    pub(super) async fn load(service: &AuditService) -> Result<std::result::Result<Self, Broken>> {
        let mut verifiers = KeyVerifiers::default();
        let mut out = Self::default();
        for row in store::erasures(service.core.db.exec()).await? {
            let claims: Option<Claims> = verifiers
                .claims(&service.signing, &row.kid, &row.jws, ERASURE_JWS_TYPE)
                .await?;
            let genuine = claims.is_some_and(|c| {
                c.id == row.id
                    && c.person == row.person_id
                    && c.pseudonym == row.pseudonym
                    && c.first == row.first_seq
                    && c.last == row.last_seq
                    && c.count == row.count
                    && c.digest == row.digest
            });
            if !genuine {
                return Ok(Err((
                    row.first_seq,
                    format!(
                        "the erasure record {} does not verify with the audit key: it was altered",
                        row.id
                    ),
                )));
            }
            out.records.insert(
                row.id,
                Tally {
                    first: row.first_seq,
                    last: row.last_seq,
                    count: row.count,
                    digest: row.digest,
                    seen: 0,
                    running: Sha256::new(),
                },
            );
        }
        Ok(Ok(out))
    }

    /// An erased row whose content hashes to `row.content` (`None`:
    /// retention blanked it since): that must be its `erased_hash`, and a genuine
    /// record must cover it.
    pub(super) fn erased(&mut self, row: &Link) -> std::result::Result<(), Broken> {
        let content = row.content.as_deref();
        let (Some(id), Some(erased_hash)) = (&row.erasure_id, &row.erased_hash) else {
            return Err((
                row.seq,
                format!(
                    "event {}'s erasure marks are incomplete: they were altered",
                    row.seq
                ),
            ));
        };
        if content.is_some_and(|c| c != erased_hash) {
            return Err((
                row.seq,
                format!("content does not match its hash since erasure {id}"),
            ));
        }
        match self.records.get_mut(id) {
            Some(t) if t.first <= row.seq && row.seq <= t.last => {
                digest_row(&mut t.running, row.seq, &row.hash, erased_hash);
                t.seen += 1;
                Ok(())
            }
            _ => Err((
                row.seq,
                format!(
                    "event {}'s personal data was replaced, but no signed erasure record covers it",
                    row.seq
                ),
            )),
        }
    }

    /// At the end of the walk: each record wholly after the retention
    /// `floor` must have seen exactly the rows it signed (one partly purged
    /// since cannot be compared). Reports the earliest mismatch.
    pub(super) fn finish(self, floor: i64) -> std::result::Result<(), Broken> {
        let mut bad: Vec<(i64, String)> = self
            .records
            .into_iter()
            .filter(|(_, t)| t.first > floor)
            .filter_map(|(id, t)| {
                let got = hex::encode(t.running.finalize());
                (t.seen != t.count || got != t.digest).then(|| {
                    (
                        t.first,
                        format!(
                            "the events erased by {id} ({}…{}) are not the {} its signed record names ({} now)",
                            t.first, t.last, t.count, t.seen
                        ),
                    )
                })
            })
            .collect();
        bad.sort_by_key(|b| b.0);
        match bad.into_iter().next() {
            Some(b) => Err(b),
            None => Ok(()),
        }
    }
}
