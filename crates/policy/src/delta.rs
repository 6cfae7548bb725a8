//! Policy deltas: the change from one revision's bundle to a newer one, so a
//! gateway that holds revision N gets revision N+1 as the few entries that
//! changed instead of the whole bundle (a 10,000-person bundle is 6 MB; a
//! grant change is a few hundred bytes).
//!
//! A delta names its base exactly — revision and the SHA-256 of the base
//! bundle's canonical JSON — and the SHA-256 of the bundle it produces. The
//! lists of a bundle are keyed by id (`client_id` for `blocked_clients`) and sorted, so a delta is, per
//! list, the entries to insert or replace (`upsert`, whole entries, sorted
//! by id) and the ids to drop (`remove`, sorted). Applying it is a sorted
//! merge; the result is checked against the `sha256` the console signed, so
//! a gateway ends up with byte-for-byte the bundle it would have fetched
//! whole. Signed deltas are checked by [`crate::signed::Loader::load_delta`];
//! the HTTP side (RFC 3229 `A-IM`, `226 IM Used`) is in `docs/policy-api.md`.
//!
//! ```
//! use portcullis_policy::delta::{content_sha256, Delta};
//! use portcullis_policy::{Bundle, Group};
//! # let json = r#"{"format":"portcullis.policy/v1","revision":1,"issued_at":"2025-06-15T09:30:00Z",
//! #   "servers":[],"groups":[{"id":"grp_a","name":"A"}],"principals":[],"rules":[]}"#;
//! let base = Bundle::from_json(json)?;
//! let mut next = base.clone();
//! next.revision = 2;
//! next.groups.push(Group { id: "grp_b".into(), name: "B".into() });
//! let delta = Delta::between(&base, &next)?;
//! assert_eq!(delta.groups.upsert.len(), 1);
//! let applied = delta.apply(&base)?;
//! assert_eq!(content_sha256(&applied)?, delta.sha256);
//! assert_eq!(applied, next);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::bundle::{Agent, BlockedClient, Bundle, Delegation, Group, Principal, Rule, Server};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// The value of [`Delta::format`].
pub const DELTA_FORMAT_V1: &str = "portcullis.policy-delta/v1";

/// The instance-manipulation name of a signed delta in RFC 3229 delta
/// encoding (`A-IM` request header, `IM` response header).
pub const DELTA_IM: &str = "portcullis-delta";

/// Why a delta could not be made or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    #[error("the delta is of format {0:?}, not {DELTA_FORMAT_V1:?}")]
    Format(String),
    #[error("the delta applies to revision {base}, not to the held revision {held}")]
    Base { held: u64, base: u64 },
    #[error("the delta's base hash does not match the held bundle")]
    BaseHash,
    #[error("the delta goes from revision {base} to {revision}, which is not forward")]
    NotForward { base: u64, revision: u64 },
    #[error("{list}: {message}")]
    Malformed { list: &'static str, message: String },
    #[error("the bundles are of different formats ({0:?} → {1:?})")]
    FormatChange(String, String),
    #[error("the bundle cannot be serialised: {0}")]
    Json(String),
}

/// The changes to one list of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Changes<T> {
    /// Entries to insert, or to replace the entry with the same id; sorted
    /// by id, at most one per id.
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub upsert: Vec<T>,
    /// Ids of entries to drop; sorted, none also in `upsert`.
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl<T> Default for Changes<T> {
    fn default() -> Self {
        Self {
            upsert: Vec::new(),
            remove: Vec::new(),
        }
    }
}

impl<T> Changes<T> {
    /// No change to this list.
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty() && self.remove.is_empty()
    }
}

/// An entry of a bundle list, known by its id.
pub(crate) trait Keyed: Clone + PartialEq {
    fn key(&self) -> &str;
}

impl Keyed for Server {
    fn key(&self) -> &str {
        &self.id
    }
}
impl Keyed for Group {
    fn key(&self) -> &str {
        &self.id
    }
}
impl Keyed for Principal {
    fn key(&self) -> &str {
        &self.id
    }
}
impl Keyed for Rule {
    fn key(&self) -> &str {
        &self.id
    }
}
impl Keyed for Agent {
    fn key(&self) -> &str {
        &self.id
    }
}
impl Keyed for Delegation {
    fn key(&self) -> &str {
        &self.id
    }
}
impl Keyed for BlockedClient {
    fn key(&self) -> &str {
        &self.client_id
    }
}

/// The change from the bundle of `base_revision` to the bundle of
/// `revision` (the payload of a signed delta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Always [`DELTA_FORMAT_V1`].
    pub format: String,
    /// The revision the delta applies to.
    pub base_revision: u64,
    /// Hex SHA-256 of the base bundle's canonical JSON.
    pub base_sha256: String,
    /// The revision it produces.
    pub revision: u64,
    /// The produced bundle's `issued_at`.
    pub issued_at: String,
    /// Hex SHA-256 of the produced bundle's canonical JSON.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Changes::is_empty")]
    pub servers: Changes<Server>,
    #[serde(default, skip_serializing_if = "Changes::is_empty")]
    pub groups: Changes<Group>,
    #[serde(default, skip_serializing_if = "Changes::is_empty")]
    pub principals: Changes<Principal>,
    #[serde(default, skip_serializing_if = "Changes::is_empty")]
    pub rules: Changes<Rule>,
    /// Keyed by `client_id` (added within v1, absent when unchanged).
    #[serde(default, skip_serializing_if = "Changes::is_empty")]
    pub blocked_clients: Changes<BlockedClient>,
    /// Keyed by `id` (added within v1, absent when unchanged).
    #[serde(default, skip_serializing_if = "Changes::is_empty")]
    pub agents: Changes<Agent>,
    /// Keyed by `id` (added within v1, absent when unchanged).
    #[serde(default, skip_serializing_if = "Changes::is_empty")]
    pub agent_rules: Changes<Rule>,
    /// Keyed by `id` (added within v1, absent when unchanged).
    #[serde(default, skip_serializing_if = "Changes::is_empty")]
    pub delegations: Changes<Delegation>,
}

/// Hex SHA-256 of a bundle's canonical JSON, hashed as it is written: the
/// text (18 MB for 100,000 people) is never held whole.
pub fn content_sha256(bundle: &Bundle) -> Result<String, DeltaError> {
    /// Feeds what serde_json writes to the hash.
    struct Hashing(sha2::Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // serde_json writes in small pieces; the buffer hands the hash whole
    // blocks.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, Hashing(sha2::Sha256::new()));
    serde_json::to_writer(&mut out, bundle).map_err(|e| DeltaError::Json(e.to_string()))?;
    let hashing = out
        .into_inner()
        .map_err(|e| DeltaError::Json(e.error().to_string()))?;
    Ok(hex::encode(hashing.0.finalize()))
}

/// Hex SHA-256 of `bytes` (for callers that already hold the canonical JSON).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The changes between two lists sorted by id.
fn diff<T: Keyed>(base: &[T], next: &[T]) -> Changes<T> {
    let mut out = Changes::default();
    let (mut i, mut j) = (0, 0);
    while i < base.len() || j < next.len() {
        match (base.get(i), next.get(j)) {
            (Some(b), Some(n)) if b.key() == n.key() => {
                if b != n {
                    out.upsert.push(n.clone());
                }
                i += 1;
                j += 1;
            }
            (Some(b), Some(n)) if b.key() < n.key() => {
                out.remove.push(b.key().to_owned());
                i += 1;
            }
            (_, Some(n)) => {
                out.upsert.push(n.clone());
                j += 1;
            }
            (Some(b), None) => {
                out.remove.push(b.key().to_owned());
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Whether the keys are strictly ascending (sorted, no duplicates).
fn strictly_ascending<'a>(mut keys: impl Iterator<Item = &'a str>) -> bool {
    let Some(mut prev) = keys.next() else {
        return true;
    };
    for k in keys {
        if k <= prev {
            return false;
        }
        prev = k;
    }
    true
}

/// An entry of the base list of [`apply_list`]: borrowed (cloned into the
/// result) or owned (moved into it, no allocation).
trait Entry<T> {
    fn entry(&self) -> &T;
    fn owned(self) -> T;
}
impl<T: Clone> Entry<T> for &T {
    fn entry(&self) -> &T {
        self
    }
    fn owned(self) -> T {
        self.clone()
    }
}
impl<T> Entry<T> for T {
    fn entry(&self) -> &T {
        self
    }
    fn owned(self) -> T {
        self
    }
}

/// `base` with `changes` applied (a sorted merge). Refuses unsorted or
/// duplicated ids, an id both upserted and removed, and the removal of an
/// id the base does not have.
fn apply_list<T: Keyed, E: Entry<T>>(
    list: &'static str,
    base: impl ExactSizeIterator<Item = E>,
    changes: &Changes<T>,
) -> Result<Vec<T>, DeltaError> {
    let bad = |message: &str| DeltaError::Malformed {
        list,
        message: message.to_owned(),
    };
    if !strictly_ascending(changes.upsert.iter().map(Keyed::key)) {
        return Err(bad("upsert ids are not sorted and unique"));
    }
    if !strictly_ascending(changes.remove.iter().map(String::as_str)) {
        return Err(bad("remove ids are not sorted and unique"));
    }
    let mut out = Vec::with_capacity(base.len() + changes.upsert.len());
    let mut ups = changes.upsert.iter().peekable();
    let mut rms = changes.remove.iter().peekable();
    for entry in base {
        let key = entry.entry().key();
        while let Some(u) = ups.next_if(|u| u.key() < key) {
            if rms.peek().is_some_and(|r| r.as_str() == u.key()) {
                return Err(bad("an id is both upserted and removed"));
            }
            out.push(u.clone());
        }
        if rms.peek().is_some_and(|r| r.as_str() < key) {
            return Err(bad("removes an id the base does not have"));
        }
        let removed = rms.next_if(|r| r.as_str() == key).is_some();
        match ups.next_if(|u| u.key() == key) {
            Some(_) if removed => return Err(bad("an id is both upserted and removed")),
            Some(u) => out.push(u.clone()),
            None if removed => {}
            None => out.push(entry.owned()),
        }
    }
    if rms.next().is_some() {
        return Err(bad("removes an id the base does not have"));
    }
    out.extend(ups.cloned());
    Ok(out)
}

/// The bundle `$delta` makes of `$base`, each list merged from
/// `$base.<list>.$iter()` (`iter`: entries cloned; `into_iter`: moved).
macro_rules! applied {
    ($delta:ident, $base:ident, $format:expr, $iter:ident) => {
        Bundle {
            format: $format,
            revision: $delta.revision,
            issued_at: $delta.issued_at.clone(),
            servers: apply_list("servers", $base.servers.$iter(), &$delta.servers)?,
            groups: apply_list("groups", $base.groups.$iter(), &$delta.groups)?,
            principals: apply_list("principals", $base.principals.$iter(), &$delta.principals)?,
            rules: apply_list("rules", $base.rules.$iter(), &$delta.rules)?,
            blocked_clients: apply_list(
                "blocked_clients",
                $base.blocked_clients.$iter(),
                &$delta.blocked_clients,
            )?,
            agents: apply_list("agents", $base.agents.$iter(), &$delta.agents)?,
            agent_rules: apply_list(
                "agent_rules",
                $base.agent_rules.$iter(),
                &$delta.agent_rules,
            )?,
            delegations: apply_list(
                "delegations",
                $base.delegations.$iter(),
                &$delta.delegations,
            )?,
        }
    };
}

impl Delta {
    /// The delta that turns `base` into `next` (both as the console builds
    /// them: lists sorted by id). Hashes both bundles.
    pub fn between(base: &Bundle, next: &Bundle) -> Result<Delta, DeltaError> {
        Self::between_hashed(base, &content_sha256(base)?, next, &content_sha256(next)?)
    }

    /// [`Delta::between`] with the two content hashes already known.
    pub fn between_hashed(
        base: &Bundle,
        base_sha256: &str,
        next: &Bundle,
        next_sha256: &str,
    ) -> Result<Delta, DeltaError> {
        if base.format != next.format {
            return Err(DeltaError::FormatChange(
                base.format.clone(),
                next.format.clone(),
            ));
        }
        if next.revision <= base.revision {
            return Err(DeltaError::NotForward {
                base: base.revision,
                revision: next.revision,
            });
        }
        Ok(Delta {
            format: DELTA_FORMAT_V1.to_owned(),
            base_revision: base.revision,
            base_sha256: base_sha256.to_owned(),
            revision: next.revision,
            issued_at: next.issued_at.clone(),
            sha256: next_sha256.to_owned(),
            servers: diff(&base.servers, &next.servers),
            groups: diff(&base.groups, &next.groups),
            principals: diff(&base.principals, &next.principals),
            rules: diff(&base.rules, &next.rules),
            blocked_clients: diff(&base.blocked_clients, &next.blocked_clients),
            agents: diff(&base.agents, &next.agents),
            agent_rules: diff(&base.agent_rules, &next.agent_rules),
            delegations: diff(&base.delegations, &next.delegations),
        })
    }

    /// The compact JSON a signed delta carries.
    pub fn to_json(&self) -> Result<String, DeltaError> {
        serde_json::to_string(self).map_err(|e| DeltaError::Json(e.to_string()))
    }

    /// Applies the delta to `base`, which must be its base revision. Does
    /// not check `base_sha256` or `sha256` (that needs the canonical JSON
    /// of both; [`crate::signed::Loader::load_delta`] does it).
    pub fn apply(&self, base: &Bundle) -> Result<Bundle, DeltaError> {
        self.check_base(base)?;
        Ok(applied!(self, base, base.format.clone(), iter))
    }

    /// [`Delta::apply`] to a base the caller gives up: its unchanged
    /// entries are moved into the result rather than cloned (at 100,000
    /// people, about half the time, and no copy to free later). On error
    /// the base is gone.
    pub fn apply_owned(&self, base: Bundle) -> Result<Bundle, DeltaError> {
        self.check_base(&base)?;
        Ok(applied!(self, base, base.format, into_iter))
    }

    /// The format, base revision and direction [`Delta::apply`] requires.
    fn check_base(&self, base: &Bundle) -> Result<(), DeltaError> {
        if self.format != DELTA_FORMAT_V1 {
            return Err(DeltaError::Format(self.format.clone()));
        }
        if self.base_revision != base.revision {
            return Err(DeltaError::Base {
                held: base.revision,
                base: self.base_revision,
            });
        }
        if self.revision <= self.base_revision {
            return Err(DeltaError::NotForward {
                base: self.base_revision,
                revision: self.revision,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn g(id: &str, name: &str) -> Group {
        Group {
            id: id.to_owned(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn content_hash_is_the_hash_of_the_canonical_json() {
        let json = r#"{"format":"portcullis.policy/v1","revision":7,"issued_at":"2025-06-15T09:30:00Z","servers":[],"groups":[],"principals":[],"rules":[]}"#;
        let mut bundle = Bundle::from_json(json).unwrap();
        // More than the 64 KiB buffer, so the hash is fed in several pieces.
        bundle.groups = (0..6000)
            .map(|i| g(&format!("grp_{i:05}"), "é\"\u{1F600}"))
            .collect();
        let text = bundle.to_canonical_json().unwrap();
        assert!(text.len() > 128 * 1024);
        assert_eq!(
            content_sha256(&bundle).unwrap(),
            sha256_hex(text.as_bytes())
        );
    }

    #[test]
    fn diff_and_merge_cover_insert_replace_remove_at_every_position() {
        let base = vec![g("b", "1"), g("d", "1"), g("f", "1")];
        let next = vec![
            g("a", "1"),
            g("b", "2"),
            g("e", "1"),
            g("f", "1"),
            g("z", "1"),
        ];
        let c = diff(&base, &next);
        assert_eq!(
            c.upsert.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
            ["a", "b", "e", "z"]
        );
        assert_eq!(c.remove, ["d"]);
        assert_eq!(apply_list("groups", base.iter(), &c), Ok(next.clone()));
        // Moved rather than cloned: the same list.
        assert_eq!(apply_list("groups", base.into_iter(), &c), Ok(next));
    }

    #[test]
    fn blocked_clients_travel_in_deltas_and_stay_out_of_the_json_when_empty() {
        let json = r#"{"format":"portcullis.policy/v1","revision":1,"issued_at":"2025-06-15T09:30:00Z","servers":[],"groups":[],"principals":[],"rules":[]}"#;
        let base = Bundle::from_json(json).unwrap();
        assert!(base.blocked_clients.is_empty());
        assert_eq!(
            base.to_canonical_json().unwrap(),
            json,
            "absent field stays absent"
        );
        let mut next = base.clone();
        next.revision = 2;
        next.blocked_clients = vec![
            BlockedClient {
                client_id: "cli_a".into(),
            },
            BlockedClient {
                client_id: "https://app.example/client.json".into(),
            },
        ];
        let d = Delta::between(&base, &next).unwrap();
        assert_eq!(d.blocked_clients.upsert, next.blocked_clients);
        assert!(d
            .to_json()
            .unwrap()
            .contains(r#""blocked_clients":{"upsert":[{"client_id":"cli_a"}"#));
        assert_eq!(d.apply(&base).unwrap(), next);
        assert!(next.to_canonical_json().unwrap().ends_with(
            r#""rules":[],"blocked_clients":[{"client_id":"cli_a"},{"client_id":"https://app.example/client.json"}]}"#
        ));
        // Unblocking one is a removal by client_id.
        let mut third = next.clone();
        third.revision = 3;
        third.blocked_clients.remove(0);
        let d = Delta::between(&next, &third).unwrap();
        assert_eq!(d.blocked_clients.remove, ["cli_a"]);
        assert!(d.blocked_clients.upsert.is_empty());
        assert_eq!(d.apply(&next).unwrap(), third);
        // A delta that touches nothing else says nothing about the other lists.
        assert!(d.servers.is_empty() && d.rules.is_empty());
    }

    #[test]
    fn agents_travel_in_deltas_and_stay_out_of_the_json_when_empty() {
        let json = r#"{"format":"portcullis.policy/v1","revision":1,"issued_at":"2025-06-15T09:30:00Z","servers":[],"groups":[],"principals":[],"rules":[]}"#;
        let base = Bundle::from_json(json).unwrap();
        assert!(base.agents.is_empty());
        let agent = |id: &str, active| Agent {
            id: id.into(),
            name: "triage bot".into(),
            active,
        };
        let mut next = base.clone();
        next.revision = 2;
        next.agents = vec![agent("agt_a", true), agent("agt_b", true)];
        let d = Delta::between(&base, &next).unwrap();
        assert_eq!(d.agents.upsert, next.agents);
        assert_eq!(d.apply(&base).unwrap(), next);
        assert!(next.to_canonical_json().unwrap().ends_with(
            r#""rules":[],"agents":[{"id":"agt_a","name":"triage bot","active":true},{"id":"agt_b","name":"triage bot","active":true}]}"#
        ));
        // The kill switch is a replacement of one entry.
        let mut third = next.clone();
        third.revision = 3;
        third.agents[1].active = false;
        let d = Delta::between(&next, &third).unwrap();
        assert_eq!(d.agents.upsert, [agent("agt_b", false)]);
        assert!(d.agents.remove.is_empty() && d.principals.is_empty());
        assert_eq!(d.apply(&next).unwrap(), third);
    }

    #[test]
    fn malformed_changes_are_refused_with_the_list_named() {
        let base = vec![g("b", "1"), g("d", "1")];
        let cases = [
            (
                vec![g("c", "1"), g("a", "1")],
                vec![],
                "upsert ids are not sorted",
            ),
            (
                vec![g("a", "1"), g("a", "2")],
                vec![],
                "upsert ids are not sorted",
            ),
            (
                vec![],
                vec!["d".to_owned(), "b".to_owned()],
                "remove ids are not sorted",
            ),
            (
                vec![],
                vec!["c".to_owned()],
                "removes an id the base does not have",
            ),
            (
                vec![],
                vec!["x".to_owned()],
                "removes an id the base does not have",
            ),
            (
                vec![g("b", "2")],
                vec!["b".to_owned()],
                "both upserted and removed",
            ),
            (
                vec![g("c", "2")],
                vec!["c".to_owned()],
                "both upserted and removed",
            ),
        ];
        for (upsert, remove, want) in cases {
            let changes = Changes { upsert, remove };
            let err = apply_list("groups", base.iter(), &changes).unwrap_err();
            // Owned, the same refusal.
            assert_eq!(
                apply_list("groups", base.clone().into_iter(), &changes).unwrap_err(),
                err
            );
            let DeltaError::Malformed { list, message } = &err else {
                panic!("unexpected {err:?}");
            };
            assert_eq!(*list, "groups");
            assert!(message.contains(want), "{message} should say {want}");
        }
    }
}
