//! A bundle's canonical JSON kept in pieces, so that the next revision's
//! text and content hash cost what changed rather than the whole company.
//!
//! The content hash ([`crate::delta::content_sha256`]) is the SHA-256 of
//! the bundle's compact JSON as serde writes it. For 100,000 people that is
//! 19 MB, and writing it took about three quarters of the time to announce a
//! revision (25 of 34 ms; the hashing itself the rest). Yet a revision
//! usually changes a handful of entries.
//!
//! [`CanonicalJson`] holds each list of the bundle as *chunks*: runs of
//! consecutive entries (by id) already written as JSON, shared between
//! revisions (`Arc`). A chunk covers a range of ids, from its `start` up to
//! the next chunk's. [`CanonicalJson::next`] takes the previous pieces and
//! the delta between the two bundles, keeps every chunk whose range no
//! changed id falls in, and writes only the others again. The text is then
//! the fixed frame (format, revision, `issued_at`, list names) around the
//! chunks, byte for byte what [`Bundle::to_canonical_json`] writes, and
//! [`CanonicalJson::sha256`] hashes it piece by piece without joining it.
//!
//! The hash still reads all 19 MB (the revision number comes first, so no
//! midstate can be reused); what is saved is writing the JSON. The price is
//! memory: the pieces (the size of the JSON) stay with the published
//! revision. They also give the whole body its text
//! ([`CanonicalJson::to_vec`]) without writing it again.
//!
//! The frame is written here by hand, so that it matches serde's output for
//! [`Bundle`] is checked by tests (every list, present and absent) and the
//! struct is destructured without `..`: a new field does not compile here
//! until it is written.

use crate::bundle::Bundle;
use crate::delta::{Changes, Delta, DeltaError, Keyed};
use serde::Serialize;
use sha2::Digest;
use std::sync::Arc;

/// Entries per chunk when a list is cut afresh. A changed entry makes its
/// chunk be written again: 256 people are about 40 KB, some 50 µs.
const CHUNK: usize = 256;

/// Which of [`CanonicalJson`]'s lists are written even when empty
/// (`servers`, `groups`, `principals`, `rules`); the others are left out
/// when empty (`skip_serializing_if` on [`Bundle`]).
const ALWAYS: [bool; 8] = [true, true, true, true, false, false, false, false];

/// Consecutive entries of one list, written as JSON and joined by commas.
#[derive(Debug, Clone)]
struct Chunk {
    /// The lowest id this chunk covers (`None`: from the start). It covers
    /// every id up to the next chunk's `start`.
    start: Option<String>,
    /// How many entries.
    len: usize,
    /// `e1,e2,…` (no brackets).
    text: Arc<[u8]>,
}

/// One list of the bundle in chunks, in id order; no chunk is empty.
#[derive(Debug, Clone, Default)]
struct List {
    chunks: Vec<Chunk>,
}

/// The canonical JSON of one bundle, in pieces (see the module docs).
#[derive(Debug, Clone)]
pub struct CanonicalJson {
    /// `{"format":…,"revision":…,"issued_at":…` (no list yet).
    head: Vec<u8>,
    /// The lists in the order serde writes them, with their names.
    lists: [(&'static str, List); 8],
    /// Entries per chunk when a list is cut ([`CHUNK`]).
    chunk: usize,
}

impl CanonicalJson {
    /// The pieces of `bundle`, every list written afresh.
    pub fn new(bundle: &Bundle) -> Result<Self, DeltaError> {
        Self::build(bundle, None, None, CHUNK)
    }

    /// [`CanonicalJson::new`] cutting lists into chunks of `chunk` entries
    /// (at least 1), which the revisions made from it keep: for tests,
    /// where small bundles must still span many chunks.
    #[doc(hidden)]
    pub fn with_chunk(bundle: &Bundle, chunk: usize) -> Result<Self, DeltaError> {
        Self::build(bundle, None, None, chunk.max(1))
    }

    /// The pieces of `next`, reusing those of `base` (the pieces of the
    /// bundle `delta` applies to) wherever `delta` changed nothing.
    /// `delta` must be the change from `base`'s bundle to `next` (its
    /// hashes are not read); when in doubt use [`CanonicalJson::new`].
    pub fn next(base: &CanonicalJson, next: &Bundle, delta: &Delta) -> Result<Self, DeltaError> {
        Self::build(next, Some(base), Some(delta), base.chunk)
    }

    fn build(
        bundle: &Bundle,
        base: Option<&CanonicalJson>,
        delta: Option<&Delta>,
        chunk: usize,
    ) -> Result<Self, DeltaError> {
        // Every field by name: a field added to `Bundle` stops this
        // compiling until the frame writes it.
        let Bundle {
            format,
            revision,
            issued_at,
            servers,
            groups,
            principals,
            rules,
            blocked_clients,
            agents,
            agent_rules,
            delegations,
        } = bundle;
        let mut head = Vec::with_capacity(96);
        head.extend_from_slice(b"{\"format\":");
        serde_json::to_writer(&mut head, format).map_err(json)?;
        head.extend_from_slice(b",\"revision\":");
        serde_json::to_writer(&mut head, revision).map_err(json)?;
        head.extend_from_slice(b",\"issued_at\":");
        serde_json::to_writer(&mut head, issued_at).map_err(json)?;
        let old = |i: usize| base.map(|b| &b.lists[i].1);
        // Each list under its field's name (serde writes the field names).
        macro_rules! lists {
            ($($i:literal $field:ident),*) => {
                [$((
                    stringify!($field),
                    list($field, old($i), delta.map(|d| &d.$field), chunk)?,
                )),*]
            };
        }
        Ok(Self {
            head,
            lists: lists!(
                0 servers,
                1 groups,
                2 principals,
                3 rules,
                4 blocked_clients,
                5 agents,
                6 agent_rules,
                7 delegations
            ),
            chunk,
        })
    }

    /// Feeds the text to `out` piece by piece, in order.
    fn pieces(&self, mut out: impl FnMut(&[u8])) {
        out(&self.head);
        for ((name, list), always) in self.lists.iter().zip(ALWAYS) {
            if list.chunks.is_empty() && !always {
                continue;
            }
            out(b",\"");
            out(name.as_bytes());
            out(b"\":[");
            for (i, chunk) in list.chunks.iter().enumerate() {
                if i > 0 {
                    out(b",");
                }
                out(&chunk.text);
            }
            out(b"]");
        }
        out(b"}");
    }

    /// Hex SHA-256 of the text: the bundle's content hash, equal to
    /// [`crate::delta::content_sha256`] of the same bundle.
    pub fn sha256(&self) -> String {
        let mut h = sha2::Sha256::new();
        self.pieces(|b| h.update(b));
        hex::encode(h.finalize())
    }

    /// The length of the text in bytes.
    fn len(&self) -> usize {
        let mut n = 0;
        self.pieces(|b| n += b.len());
        n
    }

    /// The text in one buffer: what [`Bundle::to_canonical_json`] returns.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        self.pieces(|b| v.extend_from_slice(b));
        v
    }

    /// How many chunks are shared with `other` (the same allocation): how
    /// much [`CanonicalJson::next`] reused. For tests and benchmarks.
    pub fn shared_chunks(&self, other: &CanonicalJson) -> usize {
        self.lists
            .iter()
            .zip(&other.lists)
            .map(|((_, a), (_, b))| {
                a.chunks
                    .iter()
                    .filter(|c| b.chunks.iter().any(|d| Arc::ptr_eq(&c.text, &d.text)))
                    .count()
            })
            .sum()
    }

    /// How many chunks in all.
    pub fn chunks(&self) -> usize {
        self.lists.iter().map(|(_, l)| l.chunks.len()).sum()
    }
}

fn json(e: serde_json::Error) -> DeltaError {
    DeltaError::Json(e.to_string())
}

/// `items` (sorted by id) in chunks: those of `base` whose range no id of
/// `changes` falls in are kept, the others are written again from `items`.
fn list<T: Keyed + Serialize>(
    items: &[T],
    base: Option<&List>,
    changes: Option<&Changes<T>>,
    size: usize,
) -> Result<List, DeltaError> {
    let (Some(base), Some(changes)) = (base.filter(|b| !b.chunks.is_empty()), changes) else {
        return Ok(List {
            chunks: cut(items, None, size)?,
        });
    };
    // Every changed id, sorted (both lists are sorted; merged here).
    let mut changed: Vec<&str> = changes
        .upsert
        .iter()
        .map(Keyed::key)
        .chain(changes.remove.iter().map(String::as_str))
        .collect();
    changed.sort_unstable();
    let mut chunks = Vec::with_capacity(base.chunks.len() + 1);
    let mut pos = 0;
    for (i, chunk) in base.chunks.iter().enumerate() {
        // The range is [start, next start); the first chunk's starts at
        // the beginning and the last one's has no end.
        let end_key = base.chunks.get(i + 1).and_then(|n| n.start.as_deref());
        let end = match end_key {
            Some(k) => pos + items[pos..].partition_point(|t| t.key() < k),
            None => items.len(),
        };
        let from = match &chunk.start {
            Some(s) => changed.partition_point(|c| *c < s.as_str()),
            None => 0,
        };
        let touched = changed
            .get(from)
            .is_some_and(|c| end_key.is_none_or(|k| *c < k));
        // A chunk whose entry count moved although no change names an id
        // in its range means `changes` is not the delta to `items`: its
        // text is written again rather than trusted.
        if touched || chunk.len != end - pos {
            chunks.extend(cut(&items[pos..end], chunk.start.clone(), size)?);
        } else {
            chunks.push(chunk.clone());
        }
        pos = end;
    }
    // A chunk left empty was dropped, and the one before covers its range;
    // if that was the first, the new first covers from the start.
    if let Some(first) = chunks.first_mut() {
        first.start = None;
    }
    Ok(List { chunks })
}

/// `items` written in chunks of `size` entries (fewer, or up to twice as
/// many, in the last). The first chunk starts at `first` (`None`: the
/// beginning), the others at the id of their first entry. No items, no
/// chunk.
fn cut<T: Keyed + Serialize>(
    items: &[T],
    first: Option<String>,
    size: usize,
) -> Result<Vec<Chunk>, DeltaError> {
    let mut out = Vec::with_capacity(items.len() / size + 1);
    let mut rest = items;
    while !rest.is_empty() {
        let take = if rest.len() < 2 * size {
            rest.len()
        } else {
            size
        };
        let (part, tail) = rest.split_at(take);
        let mut text = Vec::with_capacity(part.len() * 160);
        for (i, item) in part.iter().enumerate() {
            if i > 0 {
                text.push(b',');
            }
            serde_json::to_writer(&mut text, item).map_err(json)?;
        }
        let start = if out.is_empty() {
            first.clone()
        } else {
            Some(part[0].key().to_owned())
        };
        out.push(Chunk {
            start,
            len: part.len(),
            text: Arc::from(text),
        });
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::bundle::{Agent, BlockedClient, Delegation, Group, Principal, Subject};
    use crate::delta::sha256_hex;

    fn group(i: usize, name: &str) -> Group {
        Group {
            id: format!("grp_{i:06}"),
            name: name.to_owned(),
        }
    }

    fn bundle(groups: usize) -> Bundle {
        let json = r#"{"format":"portcullis.policy/v1","revision":7,"issued_at":"2025-06-15T09:30:00Z","servers":[],"groups":[],"principals":[],"rules":[]}"#;
        let mut b = Bundle::from_json(json).unwrap();
        b.groups = (0..groups).map(|i| group(i * 2, "é\"\u{1F600}")).collect();
        b
    }

    fn check(json: &CanonicalJson, bundle: &Bundle) {
        let text = bundle.to_canonical_json().unwrap();
        assert_eq!(
            String::from_utf8(json.to_vec()).unwrap(),
            text,
            "the pieces are the canonical JSON"
        );
        assert_eq!(json.sha256(), sha256_hex(text.as_bytes()));
        assert_eq!(json.len(), text.len());
    }

    #[test]
    fn the_pieces_are_the_canonical_json_with_every_list_present_or_absent() {
        let mut b = bundle(3);
        check(&CanonicalJson::new(&b).unwrap(), &b);
        b.blocked_clients = vec![BlockedClient {
            client_id: "cl_1".into(),
        }];
        check(&CanonicalJson::new(&b).unwrap(), &b);
        b.agents = vec![Agent {
            id: "agt_1".into(),
            name: "A".into(),
            active: true,
        }];
        b.delegations = vec![Delegation {
            id: "dlg_1".into(),
            agent: "agt_1".into(),
            subject: Subject::Everyone,
            server: "srv_1".into(),
        }];
        check(&CanonicalJson::new(&b).unwrap(), &b);
        b.groups.clear();
        check(&CanonicalJson::new(&b).unwrap(), &b);
    }

    #[test]
    fn next_keeps_the_chunks_no_change_touches_and_writes_the_rest() {
        let base = bundle(10 * CHUNK);
        let base_json = CanonicalJson::new(&base).unwrap();
        assert_eq!(base_json.chunks(), 10);
        // One entry renamed in the middle, one inserted in the last chunk's
        // range, the very first removed.
        let mut next = base.clone();
        next.revision = 8;
        next.groups[5 * CHUNK + 3].name = "renamed".into();
        next.groups.push(group(20 * CHUNK + 1, "new"));
        next.groups.remove(0);
        let delta = Delta::between(&base, &next).unwrap();
        let json = CanonicalJson::next(&base_json, &next, &delta).unwrap();
        check(&json, &next);
        assert_eq!(json.chunks(), 10);
        assert_eq!(
            json.shared_chunks(&base_json),
            7,
            "three chunks written again"
        );
        // Nothing changed in the lists: every chunk is shared.
        let mut same = next.clone();
        same.revision = 9;
        let d = Delta::between(&next, &same).unwrap();
        let again = CanonicalJson::next(&json, &same, &d).unwrap();
        check(&again, &same);
        assert_eq!(again.shared_chunks(&json), 10);
    }

    #[test]
    fn when_the_first_chunk_empties_the_next_one_covers_from_the_start() {
        let base = bundle(3 * CHUNK);
        let base_json = CanonicalJson::new(&base).unwrap();
        let mut emptied = base.clone();
        emptied.revision += 1;
        emptied.groups.drain(..CHUNK + 5);
        let d = Delta::between(&base, &emptied).unwrap();
        let json = CanonicalJson::next(&base_json, &emptied, &d).unwrap();
        check(&json, &emptied);
        assert!(json.lists[1].1.chunks[0].start.is_none());
        // The one change is an id below every id left: it lands in the
        // (new) first chunk.
        let mut low = emptied.clone();
        low.revision += 1;
        low.groups.insert(0, group(1, "lowest"));
        let d = Delta::between(&emptied, &low).unwrap();
        let json = CanonicalJson::next(&json, &low, &d).unwrap();
        check(&json, &low);
    }

    #[test]
    fn chunks_grow_split_empty_and_refill_over_many_revisions() {
        // A walk of revisions that insert runs, empty whole chunks and
        // change lists that start empty; every step is checked against
        // serde, and against pieces made afresh.
        let mut b = bundle(3 * CHUNK);
        let mut json = CanonicalJson::new(&b).unwrap();
        for step in 1..=12usize {
            let mut next = b.clone();
            next.revision += 1;
            match step % 4 {
                // A run of new ids inside the first chunk's range: it
                // splits.
                0 => next
                    .groups
                    .extend((0..3 * CHUNK).map(|i| group(i * 2 + 1, "odd"))),
                // A whole chunk's worth removed.
                1 => {
                    let from = next.groups.len() / 3;
                    next.groups
                        .drain(from..(from + CHUNK + 10).min(next.groups.len()));
                }
                // Everything removed, then (step 3) a list refilled from
                // empty.
                2 if step == 6 => next.groups.clear(),
                2 => next.groups.truncate(CHUNK / 2),
                _ => {
                    next.groups
                        .extend((0..CHUNK + 7).map(|i| group(100_000 + i * step, "late")));
                    next.principals.push(Principal {
                        id: format!("usr_{step}"),
                        email: format!("p{step}@example.com"),
                        active: true,
                        groups: vec![],
                    });
                }
            }
            next.groups.sort_by(|a, c| a.id.cmp(&c.id));
            next.groups.dedup_by(|a, c| a.id == c.id);
            next.principals.sort_by(|a, c| a.id.cmp(&c.id));
            let delta = Delta::between(&b, &next).unwrap();
            json = CanonicalJson::next(&json, &next, &delta).unwrap();
            check(&json, &next);
            for (_, list) in &json.lists {
                assert!(list.chunks.iter().all(|c| c.len > 0), "no empty chunk");
                assert!(list.chunks.first().is_none_or(|c| c.start.is_none()));
            }
            b = next;
        }
    }
}
