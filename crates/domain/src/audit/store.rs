//! Every SQL statement of the audit area (SQLite and PostgreSQL run the
//! same text).

use super::like_escape;
use super::model::EventRow;
use crate::db::{count_dyn, exec_dyn, fetch_all_dyn, fetch_page_dyn, Arg, Backend, Db, Exec, Tx};
use crate::error::Result;
use crate::{exec, fetch_all, fetch_one, fetch_optional, scalar};
use chrono::{DateTime, Utc};
use portcullis_types::AuditQuery;

/// The chain head: the last sequence number and its hash.
#[derive(sqlx::FromRow)]
pub(super) struct Head {
    pub seq: i64,
    pub hash: String,
}

/// Takes the next `n` sequence numbers (the head row is updated first,
/// which serialises concurrent appenders on both backends). Answers the
/// new last seq with the hash still of the event before the first new one.
pub(super) async fn advance_head(tx: &mut Tx, n: i64) -> Result<Head> {
    Ok(fetch_one!(
        tx.exec(),
        Head,
        "UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash",
        n
    )?)
}

/// Rows per INSERT statement: 17 binds each, far under SQLite's 32,766 and
/// PostgreSQL's 65,535.
const INSERT_CHUNK: usize = 500;

/// Inserts `rows` (their hashes computed, in order) and makes the last the
/// chain head.
pub(super) async fn insert(tx: &mut Tx, rows: &[EventRow]) -> Result<()> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    let backend = tx.backend();
    for chunk in rows.chunks(INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO audit_events (seq, id, occurred_at, actor_type, actor_id, actor_display, \
             action, target_type, target_id, target_display, outcome, source_ip, user_agent, \
             request_id, details, prev_hash, hash) VALUES {}",
            backend.values_list(chunk.len(), 17)
        );
        let mut args = Vec::with_capacity(chunk.len() * 17);
        for row in chunk {
            let text = |v: &Option<String>| v.clone().map_or(Arg::Null, Arg::Text);
            args.extend([
                Arg::Int(row.seq),
                Arg::Text(row.id.clone()),
                Arg::Time(row.occurred_at),
                Arg::Text(row.actor_type.clone()),
                text(&row.actor_id),
                Arg::Text(row.actor_display.clone()),
                Arg::Text(row.action.clone()),
                text(&row.target_type),
                text(&row.target_id),
                text(&row.target_display),
                Arg::Text(row.outcome.clone()),
                text(&row.source_ip),
                text(&row.user_agent),
                text(&row.request_id),
                Arg::Text(row.details.clone()),
                Arg::Text(row.prev_hash.clone()),
                Arg::Text(row.hash.clone()),
            ]);
        }
        exec_dyn(tx.exec(), &sql, &args).await?;
    }
    note_names(tx, &names_of(rows)).await?;
    let mut slots = std::collections::BTreeMap::<i64, i64>::new();
    for row in rows {
        *slots.entry(slot_of(row.occurred_at)).or_default() += 1;
    }
    add_counts(tx, slots).await?;
    exec!(
        tx.exec(),
        "UPDATE audit_head SET hash = $1 WHERE id = 1",
        &last.hash
    )?;
    Ok(())
}

/// The width of an `audit_counts` slot: a quarter hour (every time zone's
/// offset is a multiple of it, so a timeline bucket of a day in any zone
/// is whole slots).
pub(super) const SLOT_SECONDS: i64 = 900;

/// The `audit_counts` slot an event occurring at `at` falls in.
pub(super) fn slot_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(SLOT_SECONDS)
}

/// The whole slots in `[since, until)`: the first, when it starts, the
/// one after the last, when it starts; `None` when there is none.
pub(super) fn whole_slots(
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<(i64, DateTime<Utc>, i64, DateTime<Utc>)> {
    let at = |s: i64| DateTime::from_timestamp(s * SLOT_SECONDS, 0);
    let mut first = slot_of(since);
    if at(first) != Some(since) {
        first += 1;
    }
    let last = slot_of(until);
    (first < last).then_some((first, at(first)?, last, at(last)?))
}

/// `occurred_at` as whole seconds since the epoch, rounded down (as
/// SQLite's `%s` does; a plain cast on PostgreSQL would round half a
/// second up into the next bucket or slot).
fn epoch_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "CAST(strftime('%s', occurred_at) AS INTEGER)",
        Backend::Postgres => "CAST(FLOOR(EXTRACT(EPOCH FROM occurred_at)) AS BIGINT)",
    }
}

/// Adds `deltas` (slot → events added, negative for events deleted) to
/// `audit_counts`, one statement per chunk, and drops the slots left empty.
pub(super) async fn add_counts(
    tx: &mut Tx,
    deltas: impl IntoIterator<Item = (i64, i64)>,
) -> Result<()> {
    let backend = tx.backend();
    let deltas: Vec<(i64, i64)> = deltas.into_iter().filter(|(_, n)| *n != 0).collect();
    for chunk in deltas.chunks(INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO audit_counts (slot, n) VALUES {} \
             ON CONFLICT (slot) DO UPDATE SET n = audit_counts.n + excluded.n",
            backend.values_list(chunk.len(), 2)
        );
        let args: Vec<Arg> = chunk
            .iter()
            .flat_map(|(slot, n)| [Arg::Int(*slot), Arg::Int(*n)])
            .collect();
        exec_dyn(tx.exec(), &sql, &args).await?;
    }
    if deltas.iter().any(|(_, n)| *n < 0) {
        exec!(tx.exec(), "DELETE FROM audit_counts WHERE n <= 0")?;
    }
    Ok(())
}

/// The events per slot in `[from, to)` (slots), as `audit_counts` keeps them.
pub(super) async fn slot_counts(ex: Exec<'_>, from: i64, to: i64) -> Result<Vec<(i64, i64)>> {
    Ok(fetch_all_dyn::<(i64, i64)>(
        ex,
        "SELECT slot, n FROM audit_counts WHERE slot >= $1 AND slot < $2 ORDER BY slot",
        &[Arg::Int(from), Arg::Int(to)],
    )
    .await?)
}

/// An actor's or target's (kind, id, display) as `audit_names` holds it.
pub(super) type NamePair = (&'static str, String, String);

/// The distinct name pairs `rows` carry: each actor (id '' when it has
/// none) and each target with an id.
pub(super) fn names_of<'a>(rows: impl IntoIterator<Item = &'a EventRow>) -> Vec<NamePair> {
    let mut pairs = std::collections::BTreeSet::new();
    for row in rows {
        pairs.insert((
            "actor",
            row.actor_id.clone().unwrap_or_default(),
            row.actor_display.clone(),
        ));
        if let Some(id) = &row.target_id {
            pairs.insert((
                "target",
                id.clone(),
                row.target_display.clone().unwrap_or_default(),
            ));
        }
    }
    pairs.into_iter().collect()
}

/// Adds `pairs` to `audit_names` (those already there stay as they are):
/// one statement per chunk, a lookup in a small index for a pair it holds.
pub(super) async fn note_names(tx: &mut Tx, pairs: &[NamePair]) -> Result<()> {
    let backend = tx.backend();
    for chunk in pairs.chunks(INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO audit_names (kind, id, display) VALUES {} ON CONFLICT DO NOTHING",
            backend.values_list(chunk.len(), 3)
        );
        let mut args = Vec::with_capacity(chunk.len() * 3);
        for (kind, id, display) in chunk {
            args.extend([
                Arg::Text((*kind).to_owned()),
                Arg::Text(id.clone()),
                Arg::Text(display.clone()),
            ]);
        }
        exec_dyn(tx.exec(), &sql, &args).await?;
    }
    Ok(())
}

/// `audit_names` rows that no event carries any more (each check reads
/// one id's events, or one name's among the actors without an id, through
/// an index).
const STALE_NAME: &str = "CASE \
    WHEN kind = 'target' THEN NOT EXISTS (SELECT 1 FROM audit_events e \
        WHERE e.target_id = audit_names.id \
        AND COALESCE(e.target_display, '') = audit_names.display) \
    WHEN id = '' THEN NOT EXISTS (SELECT 1 FROM audit_events e \
        WHERE e.actor_id IS NULL AND e.actor_display = audit_names.display) \
    ELSE NOT EXISTS (SELECT 1 FROM audit_events e \
        WHERE e.actor_id = audit_names.id AND e.actor_display = audit_names.display) END";

/// Takes out of `audit_names` the pairs no event carries any more: all of
/// them (`None`, after a purge) or those of `pairs` (after an erasure
/// rewrote them).
pub(super) async fn prune_names(tx: &mut Tx, pairs: Option<&[NamePair]>) -> Result<u64> {
    let Some(pairs) = pairs else {
        let sql = format!("DELETE FROM audit_names WHERE {STALE_NAME}");
        return Ok(exec_dyn(tx.exec(), &sql, &[]).await?);
    };
    let sql = format!(
        "DELETE FROM audit_names WHERE kind = $1 AND id = $2 AND display = $3 AND {STALE_NAME}"
    );
    let mut gone = 0;
    for (kind, id, display) in pairs {
        let args = [
            Arg::Text((*kind).to_owned()),
            Arg::Text(id.clone()),
            Arg::Text(display.clone()),
        ];
        gone += exec_dyn(tx.exec(), &sql, &args).await?;
    }
    Ok(gone)
}

/// The chain head as stored.
pub(super) async fn head(ex: Exec<'_>) -> Result<Head> {
    Ok(fetch_one!(
        ex,
        Head,
        "SELECT seq, hash FROM audit_head WHERE id = 1"
    )?)
}

/// An [`EventRow`]'s columns, in its order.
macro_rules! event_columns {
    () => {
        "seq, id, occurred_at, actor_type, actor_id, actor_display, action, \
         target_type, target_id, target_display, outcome, source_ip, user_agent, request_id, \
         details, prev_hash, hash, redacted_at, erasure_id, erased_hash"
    };
}

const SELECT_EVENT: &str = concat!("SELECT ", event_columns!(), " FROM audit_events");

/// The latest `limit` events about one target, newest first
/// (`audit_events_target_idx`).
pub(super) async fn about(
    ex: Exec<'_>,
    target_type: &str,
    target_id: &str,
    limit: i64,
) -> Result<Vec<EventRow>> {
    Ok(fetch_all!(
        ex,
        EventRow,
        &format!(
            "{SELECT_EVENT} WHERE target_type = $1 AND target_id = $2 ORDER BY seq DESC LIMIT $3"
        ),
        target_type,
        target_id,
        limit
    )?)
}

/// One event by its id (`audit_events_id_key`).
pub(super) async fn by_id(ex: Exec<'_>, id: &str) -> Result<Option<EventRow>> {
    Ok(fetch_optional!(
        ex,
        EventRow,
        &format!("{SELECT_EVENT} WHERE id = $1"),
        id
    )?)
}

/// Events from sequence number `from` on, at most `limit`, in order.
pub(super) async fn from_seq(ex: Exec<'_>, from: i64, limit: i64) -> Result<Vec<EventRow>> {
    Ok(fetch_all!(
        ex,
        EventRow,
        &format!("{SELECT_EVENT} WHERE seq >= $1 ORDER BY seq LIMIT $2"),
        from,
        limit
    )?)
}

/// Events `from..=to` in order (verify's pages through sqlx).
pub(super) async fn seq_range(ex: Exec<'_>, from: i64, to: i64) -> Result<Vec<EventRow>> {
    Ok(fetch_all!(
        ex,
        EventRow,
        &format!("{SELECT_EVENT} WHERE seq >= $1 AND seq <= $2 ORDER BY seq"),
        from,
        to
    )?)
}

/// Verify's read of a SQLite file in place (`links`): an [`EventRow`]'s
/// columns, in its order, for `seq` in `?1..=?2`.
pub(super) const SQLITE_LINKS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM audit_events WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq"
);

/// The highest `seq` stored (0 for an empty log): where verify's pages
/// end, so a row past the head is read too.
pub(super) async fn max_seq(ex: Exec<'_>) -> Result<i64> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COALESCE(MAX(seq), 0) FROM audit_events"
    )?)
}

/// The explorer's, the list's and the export's filter, its values
/// normalised. Only the filters set become SQL (built at run time), so each
/// query is one the planner can serve from an index: the action prefix from
/// `audit_events_action_idx`, the actor from `audit_events_actor_idx`, a
/// target id from `audit_events_target_id_idx`, the newest-first keyset
/// walk from the primary key. A name or a source prefix is looked up in an
/// index first ([`Filter::resolve`]): few matches are read through it,
/// none reads nothing.
#[derive(Debug)]
pub(super) struct Filter {
    /// An action, exact or as a dotted prefix.
    action: String,
    /// Actor text: an exact id, or a display-name substring (any case).
    actor: String,
    /// Target text: an exact id, or a display-name substring (any case).
    target: String,
    outcome: Option<&'static str>,
    /// A source address or its prefix.
    source: String,
    /// Lower-case free text.
    text: String,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    /// How `actor` and `target` are matched ([`Filter::resolve`]).
    actor_match: NameMatch,
    target_match: NameMatch,
    /// The time range as a range of `seq` ([`Filter::resolve`]): every
    /// match lies in `seq_after < seq < seq_before`.
    seq_after: Option<i64>,
    seq_before: Option<i64>,
    /// The source prefix as a range of `audit_events_source_idx`, when
    /// few events lie in it.
    source_range: Option<(String, String)>,
    /// An index showed that nothing matches: no query reads the log.
    nothing: bool,
    /// The database's dialect (the source range and free-text terms
    /// differ).
    backend: Backend,
    /// Which actors' and targets' names free text is part of
    /// ([`Filter::resolve`]).
    text_names: TextNames,
}

/// The actors and targets whose names (or, for a target, id) hold free
/// text without a space, found in `audit_names`: only their events' names
/// are matched (an id's events under other names still are not). `None`:
/// every event's names are (not looked up, more than [`MAX_NAMED_IDS`]
/// ids, or an actor without an id has such a name).
#[derive(Debug, Default)]
struct TextNames {
    actors: Option<Vec<String>>,
    targets: Option<Vec<String>>,
}

/// How an actor or target filter is matched.
#[derive(Debug, Default)]
enum NameMatch {
    /// No filter.
    #[default]
    Off,
    /// Some event has the value as its id: that id alone (its index).
    Id,
    /// Part of the names of these ids, which few events carry
    /// ([`ids_named`]): read through the id's index (none: nothing
    /// matches).
    Ids(Vec<String>),
    /// Part of a name, matched by the newest-first walk.
    Scan,
}

impl NameMatch {
    /// How `value` (trimmed) is matched in `kind`'s (`actor`, `target`)
    /// column `column` (`actor_id`, `target_id`).
    async fn resolve(
        db: &Db,
        kind: &'static str,
        column: &'static str,
        value: &str,
    ) -> Result<Self> {
        if value.is_empty() {
            return Ok(Self::Off);
        }
        if id_exists(db.exec(), column, value).await? {
            return Ok(Self::Id);
        }
        Ok(match ids_named(db, kind, column, value).await? {
            Some(ids) => Self::Ids(ids),
            None => Self::Scan,
        })
    }
}

/// At most this many matches (found by counting in an index) are read
/// through that index and sorted; with more, matches are dense enough
/// that the newest-first walk finds a page soon.
const FEW_MATCHES: i64 = 5_000;

/// A name filter matching more ids than this is served by the walk.
const MAX_NAMED_IDS: i64 = 100;

/// How much earlier an event may be stamped than one appended before it:
/// a time is taken when a transaction starts and the event gets its `seq`
/// when it commits, after other appenders (and replicas' clocks differ a
/// little). The time filters' `seq` bounds allow this much.
const APPEND_SKEW_SECS: i64 = 3600;

impl Filter {
    /// The filter for `q`, its actor and target resolved against the log:
    /// a value some event has as its id matches that id alone (served by
    /// the index), anything else matches part of the name (a scan). One
    /// `id = x OR name LIKE '%x%'` term would keep the database off the
    /// index for the links from people, servers and the rest.
    pub async fn resolve(q: &AuditQuery, db: &Db) -> Result<Self> {
        let mut f = Self::new(q, db.backend());
        f.actor_match = NameMatch::resolve(db, "actor", "actor_id", &f.actor).await?;
        f.target_match = NameMatch::resolve(db, "target", "target_id", &f.target).await?;
        f.nothing = [&f.actor_match, &f.target_match]
            .iter()
            .any(|m| matches!(m, NameMatch::Ids(ids) if ids.is_empty()));
        if let Some((low, high)) = prefix_range(&f.source).filter(|_| !f.nothing) {
            let term = source_range_term(db.backend(), "$1", "$2");
            let sql = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM audit_events WHERE {term} LIMIT $3) AS few"
            );
            let args = [
                Arg::Text(low.clone()),
                Arg::Text(high.clone()),
                Arg::Int(FEW_MATCHES + 1),
            ];
            match count_dyn(db.exec(), &sql, &args).await? {
                0 => f.nothing = true,
                n if n <= FEW_MATCHES => f.source_range = Some((low, high)),
                _ => {}
            }
        }
        if f.nothing {
            return Ok(f);
        }
        if !f.text.is_empty() && !f.text.contains(' ') {
            f.text_names = TextNames {
                actors: names_holding(db, "actor", &f.text, false).await?,
                targets: names_holding(db, "target", &f.text, true).await?,
            };
        }
        // A time range becomes a `seq` range too, found through the time
        // index, so the newest-first walk starts at the range and stops at
        // its far end (an old day was a walk through every newer event).
        // An event stamped before `since - skew` was appended before every
        // event of the range, and one stamped at `until + skew` or later
        // after all of them (see [`APPEND_SKEW_SECS`]).
        let skew = chrono::Duration::seconds(APPEND_SKEW_SECS);
        if let Some(since) = f.since {
            f.seq_after = seq_where(
                db.exec(),
                "occurred_at < $1 ORDER BY occurred_at DESC",
                since - skew,
            )
            .await?;
        }
        if let Some(until) = f.until {
            f.seq_before = seq_where(
                db.exec(),
                "occurred_at >= $1 ORDER BY occurred_at",
                until + skew,
            )
            .await?;
        }
        Ok(f)
    }

    fn new(q: &AuditQuery, backend: Backend) -> Self {
        Self {
            action: q.action.trim().to_owned(),
            actor: q.actor.trim().to_owned(),
            target: q.target.trim().to_owned(),
            outcome: q.outcome.map(|o| o.as_str()),
            // Addresses are stored as the standard library writes them
            // (IPv6 in lower case); a prefix in lower case is also a range.
            source: q.source.trim().to_lowercase(),
            text: q.text.trim().to_lowercase(),
            since: q.since,
            until: q.until,
            actor_match: NameMatch::Off,
            target_match: NameMatch::Off,
            seq_after: None,
            seq_before: None,
            source_range: None,
            nothing: false,
            backend,
            text_names: TextNames::default(),
        }
    }

    /// ` WHERE …` (or nothing) with its binds pushed onto `args`.
    fn clause(&self, args: &mut Vec<Arg>) -> String {
        let mut terms: Vec<String> = Vec::new();
        if self.nothing {
            return " WHERE 1 = 0".to_owned();
        }
        if !self.action.is_empty() {
            let exact = bind(args, Arg::Text(self.action.clone()));
            let prefix = bind(args, Arg::Text(format!("{}.%", like_escape(&self.action))));
            terms.push(format!(
                "(action = {exact} OR action LIKE {prefix} ESCAPE '\\')"
            ));
        }
        // An exact id, or part of the name in any case.
        for (value, column, how) in [
            (&self.actor, "actor", &self.actor_match),
            (&self.target, "target", &self.target_match),
        ] {
            // The ids first, so the database reads their index; the name
            // term below keeps the match exact (an id may have had other
            // names).
            if let NameMatch::Ids(ids) = how {
                let list: Vec<String> = ids
                    .iter()
                    .map(|id| bind(args, Arg::Text(id.clone())))
                    .collect();
                terms.push(format!("{column}_id IN ({})", list.join(", ")));
            }
            if let NameMatch::Id = how {
                let id = bind(args, Arg::Text(value.clone()));
                terms.push(format!("{column}_id = {id}"));
            } else if !matches!(how, NameMatch::Off) {
                let id = bind(args, Arg::Text(value.clone()));
                let like = bind(
                    args,
                    Arg::Text(format!("%{}%", like_escape(&value.to_lowercase()))),
                );
                terms.push(format!(
                    "({column}_id = {id} OR LOWER({column}_display) LIKE {like} ESCAPE '\\')"
                ));
            }
        }
        if let Some(outcome) = self.outcome {
            let o = bind(args, Arg::Text(outcome.to_owned()));
            terms.push(format!("outcome = {o}"));
        }
        if !self.source.is_empty() {
            if let Some((low, high)) = &self.source_range {
                let low = bind(args, Arg::Text(low.clone()));
                let high = bind(args, Arg::Text(high.clone()));
                terms.push(source_range_term(self.backend, &low, &high));
            }
            let like = bind(args, Arg::Text(format!("{}%", like_escape(&self.source))));
            terms.push(format!("source_ip LIKE {like} ESCAPE '\\'"));
        }
        if !self.text.is_empty() {
            let like = bind(args, Arg::Text(format!("%{}%", like_escape(&self.text))));
            let term = self.text_term(&like, args);
            terms.push(term);
        }
        if let Some(since) = self.since {
            let t = bind(args, Arg::Time(since));
            terms.push(format!("occurred_at >= {t}"));
        }
        if let Some(until) = self.until {
            let t = bind(args, Arg::Time(until));
            terms.push(format!("occurred_at < {t}"));
        }
        if let Some(seq) = self.seq_after {
            let s = bind(args, Arg::Int(seq));
            terms.push(format!("seq > {s}"));
        }
        if let Some(seq) = self.seq_before {
            let s = bind(args, Arg::Int(seq));
            terms.push(format!("seq < {s}"));
        }
        if terms.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", terms.join(" AND "))
        }
    }

    /// The clause with one more term, `extra` (its binds already in
    /// `args` after the filter's).
    fn clause_and(
        &self,
        args: &mut Vec<Arg>,
        extra: impl FnOnce(&mut Vec<Arg>) -> String,
    ) -> String {
        let clause = self.clause(args);
        let term = extra(args);
        if clause.is_empty() {
            format!(" WHERE {term}")
        } else {
            format!("{clause} AND {term}")
        }
    }
}

/// Pushes `a` onto `args` and answers its placeholder (`$n`).
fn bind(args: &mut Vec<Arg>, a: Arg) -> String {
    args.push(a);
    format!("${}", args.len())
}

/// The searched text fields, in the order they are joined for free text.
const TEXT_FIELDS: [&str; 5] = [
    "action",
    "actor_display",
    "COALESCE(target_display, '')",
    "COALESCE(target_id, '')",
    "details",
];

impl Filter {
    /// The free-text term: the lower-case text (bound as the pattern
    /// `like`) is part of the action, actor name, target name or id, or
    /// details, in any case. Those fields are joined by spaces, so text
    /// without a space matches within one field: each is matched on its
    /// own, which spares building and lower-casing the joined string for
    /// every event read (SQLite's `LIKE` ignores ASCII case as its `LOWER`
    /// folds only ASCII), and the names only for the ids `audit_names`
    /// says may match (a list lookup per event instead of three `LIKE`s).
    /// Text with a space may span two fields and is matched in the joined
    /// string.
    fn text_term(&self, like: &str, args: &mut Vec<Arg>) -> String {
        let matched = |field: &str| match self.backend {
            Backend::Sqlite => format!("{field} LIKE {like} ESCAPE '\\'"),
            Backend::Postgres => format!("LOWER({field}) LIKE {like} ESCAPE '\\'"),
        };
        if self.text.contains(' ') {
            return matched(&format!("({})", TEXT_FIELDS.join(" || ' ' || ")));
        }
        let mut any = vec![matched("action"), matched("details")];
        for (ids, column, fields) in [
            (&self.text_names.actors, "actor_id", &["actor_display"][..]),
            (
                &self.text_names.targets,
                "target_id",
                &["target_display", "target_id"][..],
            ),
        ] {
            let each: Vec<String> = fields.iter().map(|f| matched(f)).collect();
            let each = each.join(" OR ");
            match ids {
                None => any.push(each),
                Some(ids) if ids.is_empty() => {}
                Some(ids) => {
                    let list: Vec<String> = ids
                        .iter()
                        .map(|id| bind(args, Arg::Text(id.clone())))
                        .collect();
                    any.push(format!("({column} IN ({}) AND ({each}))", list.join(", ")));
                }
            }
        }
        format!("({})", any.join(" OR "))
    }
}

/// The ids of the `kind` ("actor" or "target") whose names (or, with
/// `ids_too`, ids) hold the lower-case `text`, from `audit_names`; `None`
/// when more than [`MAX_NAMED_IDS`] do or an actor without an id has such
/// a name.
async fn names_holding(
    db: &Db,
    kind: &'static str,
    text: &str,
    ids_too: bool,
) -> Result<Option<Vec<String>>> {
    let rows: Vec<(String,)> = fetch_all_dyn(
        db.exec(),
        "SELECT DISTINCT id FROM audit_names WHERE kind = $1 AND (LOWER(display) LIKE $2 \
         ESCAPE '\\' OR ($4 AND LOWER(id) LIKE $2 ESCAPE '\\')) LIMIT $3",
        &[
            Arg::Text(kind.to_owned()),
            Arg::Text(format!("%{}%", like_escape(text))),
            Arg::Int(MAX_NAMED_IDS + 1),
            Arg::Bool(ids_too),
        ],
    )
    .await?;
    if rows.len() as i64 > MAX_NAMED_IDS || rows.iter().any(|(id,)| id.is_empty()) {
        return Ok(None);
    }
    Ok(Some(rows.into_iter().map(|(id,)| id).collect()))
}

/// The `seq` of the first event in `order` (a `WHERE` condition on
/// `occurred_at` and an `ORDER BY` the time index serves) at `at`.
async fn seq_where(ex: Exec<'_>, order: &str, at: DateTime<Utc>) -> Result<Option<i64>> {
    let sql = format!("SELECT seq FROM audit_events WHERE {order} LIMIT 1");
    let row: Vec<(i64,)> = fetch_all_dyn(ex, &sql, &[Arg::Time(at)]).await?;
    Ok(row.first().map(|r| r.0))
}

/// The ids of the `kind` ("actor" or "target") names `value` is part of
/// (any case), from `audit_names`: `Some` (empty when no name has it) when
/// at most [`FEW_MATCHES`] events carry them, counted in the id's index;
/// `None` (the newest-first walk, which finds a page of dense matches
/// soon) when more do, when the ids are many, or when an actor without an
/// id has such a name.
async fn ids_named(
    db: &Db,
    kind: &'static str,
    column: &'static str,
    value: &str,
) -> Result<Option<Vec<String>>> {
    let Some(ids) = names_holding(db, kind, &value.to_lowercase(), false).await? else {
        return Ok(None);
    };
    if ids.is_empty() {
        return Ok(Some(ids));
    }
    let mut args: Vec<Arg> = ids.iter().cloned().map(Arg::Text).collect();
    let list: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    args.push(Arg::Int(FEW_MATCHES + 1));
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM audit_events WHERE {column} IN ({}) LIMIT ${}) \
         AS few",
        list.join(", "),
        args.len()
    );
    Ok((count_dyn(db.exec(), &sql, &args).await? <= FEW_MATCHES).then_some(ids))
}

/// The range of `audit_events_source_idx` holding the addresses that start
/// with `prefix` (ASCII, as addresses are): `[prefix, prefix with its last
/// byte one higher)`.
fn prefix_range(prefix: &str) -> Option<(String, String)> {
    let last = *prefix.as_bytes().last()?;
    if !prefix.is_ascii() || last >= 0x7f {
        return None;
    }
    let mut high = prefix[..prefix.len() - 1].to_owned();
    high.push(char::from(last + 1));
    Some((prefix.to_owned(), high))
}

/// `low <= source_ip < high` in byte order (PostgreSQL's index is in the
/// "C" collation, whatever the database's).
fn source_range_term(backend: Backend, low: &str, high: &str) -> String {
    match backend {
        Backend::Sqlite => format!("source_ip >= {low} AND source_ip < {high}"),
        Backend::Postgres => {
            format!("source_ip COLLATE \"C\" >= {low} AND source_ip COLLATE \"C\" < {high}")
        }
    }
}

/// Whether some event has `value` in `column` (`actor_id` or
/// `target_id`, each the head of an index).
async fn id_exists(ex: Exec<'_>, column: &'static str, value: &str) -> Result<bool> {
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM audit_events WHERE {column} = $1 LIMIT 1) AS one"
    );
    Ok(count_dyn(ex, &sql, &[Arg::Text(value.to_owned())]).await? > 0)
}

/// How many events match `f`.
pub(super) async fn count(ex: Exec<'_>, f: &Filter) -> Result<i64> {
    let mut args = Vec::new();
    let sql = format!("SELECT COUNT(*) FROM audit_events{}", f.clause(&mut args));
    Ok(count_dyn(ex, &sql, &args).await?)
}

/// A page of the events matching `f`, newest first, from `offset`.
pub(super) async fn list(
    ex: Exec<'_>,
    f: &Filter,
    limit: i64,
    offset: i64,
) -> Result<Vec<EventRow>> {
    let mut args = Vec::new();
    let head = format!("{SELECT_EVENT}{}", f.clause(&mut args));
    Ok(fetch_page_dyn(ex, &head, args, "seq DESC", limit, offset).await?)
}

/// The events matching `f` before `before` (a seq; from the newest when
/// absent), newest first, at most `limit`: the explorer's keyset pages.
pub(super) async fn page_before(
    ex: Exec<'_>,
    f: &Filter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<EventRow>> {
    let mut args = Vec::new();
    let clause = match before {
        Some(seq) => f.clause_and(&mut args, |a| {
            a.push(Arg::Int(seq));
            format!("seq < ${}", a.len())
        }),
        None => f.clause(&mut args),
    };
    args.push(Arg::Int(limit));
    let sql = format!(
        "{SELECT_EVENT}{clause} ORDER BY seq DESC LIMIT ${}",
        args.len()
    );
    Ok(fetch_all_dyn(ex, &sql, &args).await?)
}

/// The events matching `f` after `after` (a seq), oldest first, at most
/// `limit`: the export's keyset pages, and the explorer's newer pages.
pub(super) async fn page_after(
    ex: Exec<'_>,
    f: &Filter,
    after: i64,
    limit: i64,
) -> Result<Vec<EventRow>> {
    let mut args = Vec::new();
    let clause = f.clause_and(&mut args, |a| {
        a.push(Arg::Int(after));
        format!("seq > ${}", a.len())
    });
    args.push(Arg::Int(limit));
    let sql = format!("{SELECT_EVENT}{clause} ORDER BY seq LIMIT ${}", args.len());
    Ok(fetch_all_dyn(ex, &sql, &args).await?)
}

/// Whether an event matching `f` lies on the far side of `seq`: older
/// (`older`) or newer.
pub(super) async fn any_beyond(ex: Exec<'_>, f: &Filter, seq: i64, older: bool) -> Result<bool> {
    let mut args = Vec::new();
    let clause = f.clause_and(&mut args, |a| {
        a.push(Arg::Int(seq));
        format!("seq {} ${}", if older { "<" } else { ">" }, a.len())
    });
    let sql = format!("SELECT COUNT(*) FROM (SELECT 1 FROM audit_events{clause} LIMIT 1) AS one");
    Ok(count_dyn(ex, &sql, &args).await? > 0)
}

/// Events matching `f` in `[since, until)` per bucket of `width` seconds:
/// (bucket index, count) for the buckets that have any.
pub(super) async fn timeline(
    ex: Exec<'_>,
    f: &Filter,
    since: DateTime<Utc>,
    width: i64,
) -> Result<Vec<(i64, i64)>> {
    let mut args = Vec::new();
    let clause = f.clause(&mut args);
    args.push(Arg::Int(since.timestamp()));
    let origin = args.len();
    args.push(Arg::Int(width.max(1)));
    let w = args.len();
    let epoch = epoch_sql(f.backend);
    let sql = format!(
        "SELECT ({epoch} - ${origin}) / ${w} AS bucket, COUNT(*) AS n FROM audit_events{clause} \
         GROUP BY 1 ORDER BY 1"
    );
    Ok(fetch_all_dyn::<(i64, i64)>(ex, &sql, &args).await?)
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct CheckpointRow {
    pub seq: i64,
    pub hash: String,
    pub signed_at: DateTime<Utc>,
    pub kid: String,
    pub jws: String,
}

const SELECT_CHECKPOINT: &str = "SELECT seq, hash, signed_at, kid, jws FROM audit_checkpoints";

/// The newest checkpoint.
pub(super) async fn last_checkpoint(ex: Exec<'_>) -> Result<Option<CheckpointRow>> {
    Ok(fetch_optional!(
        ex,
        CheckpointRow,
        &format!("{SELECT_CHECKPOINT} ORDER BY seq DESC LIMIT 1")
    )?)
}

/// Every checkpoint, oldest first.
pub(super) async fn checkpoints(ex: Exec<'_>) -> Result<Vec<CheckpointRow>> {
    Ok(fetch_all!(
        ex,
        CheckpointRow,
        &format!("{SELECT_CHECKPOINT} ORDER BY seq")
    )?)
}

/// Stores a checkpoint unless one of the same head exists (another replica
/// signed it meanwhile).
pub(super) async fn insert_checkpoint(ex: Exec<'_>, row: &CheckpointRow) -> Result<()> {
    exec!(
        ex,
        "INSERT INTO audit_checkpoints (seq, hash, signed_at, kid, jws) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
        row.seq,
        &row.hash,
        row.signed_at,
        &row.kid,
        &row.jws
    )?;
    Ok(())
}

/// Checkpoints the witness has not accepted, oldest first.
pub(super) async fn unwitnessed(ex: Exec<'_>, limit: i64) -> Result<Vec<CheckpointRow>> {
    Ok(fetch_all!(
        ex,
        CheckpointRow,
        &format!("{SELECT_CHECKPOINT} WHERE witnessed_at IS NULL ORDER BY seq LIMIT $1"),
        limit
    )?)
}

/// The witness accepted checkpoint `seq` at `at`.
pub(super) async fn witnessed(ex: Exec<'_>, seq: i64, at: DateTime<Utc>) -> Result<()> {
    exec!(
        ex,
        "UPDATE audit_checkpoints SET witnessed_at = $2, witness_error = NULL WHERE seq = $1",
        seq,
        at
    )?;
    Ok(())
}

/// The witness did not take checkpoint `seq`: why.
pub(super) async fn witness_failed(ex: Exec<'_>, seq: i64, error: &str) -> Result<()> {
    exec!(
        ex,
        "UPDATE audit_checkpoints SET witness_error = $2 WHERE seq = $1",
        seq,
        error
    )?;
    Ok(())
}

// Retention (see `retention`).

/// Locks the chain head for the transaction (no appender or other purge
/// runs meanwhile) and answers it.
pub(super) async fn lock_head(tx: &mut Tx) -> Result<Head> {
    Ok(fetch_one!(
        tx.exec(),
        Head,
        "UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash"
    )?)
}

/// The last event that happened before `at`, if any.
pub(super) async fn last_seq_before(ex: Exec<'_>, at: DateTime<Utc>) -> Result<Option<i64>> {
    Ok(scalar!(
        ex,
        Option<i64>,
        "SELECT MAX(seq) FROM audit_events WHERE occurred_at < $1",
        at
    )?)
}

/// The hash of event `seq`, if it is stored.
pub(super) async fn hash_of(ex: Exec<'_>, seq: i64) -> Result<Option<String>> {
    Ok(fetch_optional!(
        ex,
        (String,),
        "SELECT hash FROM audit_events WHERE seq = $1",
        seq
    )?
    .map(|(h,)| h))
}

/// The oldest event's time.
pub(super) async fn oldest_event_at(ex: Exec<'_>) -> Result<Option<DateTime<Utc>>> {
    Ok(fetch_optional!(
        ex,
        (DateTime<Utc>,),
        "SELECT occurred_at FROM audit_events ORDER BY seq LIMIT 1"
    )?
    .map(|(t,)| t))
}

/// A signed purge record as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct PurgeRow {
    pub kind: String,
    pub after_seq: i64,
    pub through_seq: i64,
    pub count: i64,
    pub hash: String,
    pub purged_at: DateTime<Utc>,
    pub kid: String,
    pub jws: String,
}

/// Every purge record, by kind then range.
pub(super) async fn purges(ex: Exec<'_>) -> Result<Vec<PurgeRow>> {
    Ok(fetch_all!(
        ex,
        PurgeRow,
        "SELECT kind, after_seq, through_seq, count, hash, purged_at, kid, jws \
         FROM audit_purges ORDER BY kind, through_seq"
    )?)
}

/// Stores a purge record.
pub(super) async fn insert_purge(tx: &mut Tx, row: &PurgeRow) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO audit_purges (kind, after_seq, through_seq, count, hash, purged_at, kid, jws) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &row.kind,
        row.after_seq,
        row.through_seq,
        row.count,
        &row.hash,
        row.purged_at,
        &row.kid,
        &row.jws
    )?;
    Ok(())
}

/// Deletes the events up to `through`, the checkpoints before it and the
/// purge records it supersedes (older prefixes, decision ranges it
/// covers). Answers how many events went.
pub(super) async fn delete_prefix(tx: &mut Tx, through: i64) -> Result<i64> {
    // Their slots lose them first (counted by the time each occurred, in
    // whatever order they were stamped).
    let sql = format!(
        "SELECT {} / {SLOT_SECONDS} AS slot, COUNT(*) AS n FROM audit_events \
         WHERE seq <= $1 GROUP BY 1",
        epoch_sql(tx.backend())
    );
    let gone: Vec<(i64, i64)> = fetch_all_dyn(tx.exec(), &sql, &[Arg::Int(through)]).await?;
    add_counts(tx, gone.into_iter().map(|(slot, n)| (slot, -n))).await?;
    let deleted = exec!(
        tx.exec(),
        "DELETE FROM audit_events WHERE seq <= $1",
        through
    )?;
    exec!(
        tx.exec(),
        "DELETE FROM audit_checkpoints WHERE seq < $1",
        through
    )?;
    exec!(
        tx.exec(),
        "DELETE FROM audit_purges WHERE through_seq <= $1",
        through
    )?;
    Ok(deleted as i64)
}

/// The gateway decisions in `after`+1 ..= `through` not yet blanked, as
/// (seq, hash), oldest first, at most `limit`.
pub(super) async fn decisions_to_blank(
    ex: Exec<'_>,
    after: i64,
    through: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>> {
    Ok(fetch_all!(
        ex,
        (i64, String),
        "SELECT seq, hash FROM audit_events WHERE seq > $1 AND seq <= $2 \
         AND action = 'gateway.decision' AND redacted_at IS NULL ORDER BY seq LIMIT $3",
        after,
        through,
        limit
    )?)
}

/// Blanks the content of the gateway decisions in `after`+1 ..= `through`.
pub(super) async fn blank_decisions(
    tx: &mut Tx,
    after: i64,
    through: i64,
    at: DateTime<Utc>,
) -> Result<i64> {
    Ok(exec!(
        tx.exec(),
        "UPDATE audit_events SET actor_id = NULL, actor_display = '', target_type = NULL, \
         target_id = NULL, target_display = NULL, source_ip = NULL, user_agent = NULL, \
         request_id = NULL, details = '{}', redacted_at = $3 \
         WHERE seq > $1 AND seq <= $2 AND action = 'gateway.decision' AND redacted_at IS NULL",
        after,
        through,
        at
    )? as i64)
}

/// The legal hold, if one is in place.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct HoldRow {
    pub reason: String,
    pub placed_at: DateTime<Utc>,
    pub placed_by: String,
}

pub(super) async fn legal_hold(ex: Exec<'_>) -> Result<Option<HoldRow>> {
    Ok(fetch_optional!(
        ex,
        HoldRow,
        "SELECT reason, placed_at, placed_by FROM audit_legal_hold WHERE id = 1"
    )?)
}

/// Places the hold; `false` when one was already in place.
pub(super) async fn place_hold(tx: &mut Tx, hold: &HoldRow) -> Result<bool> {
    Ok(exec!(
        tx.exec(),
        "INSERT INTO audit_legal_hold (id, reason, placed_at, placed_by) VALUES (1, $1, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
        &hold.reason,
        hold.placed_at,
        &hold.placed_by
    )? == 1)
}

/// Lifts the hold; `false` when none was in place.
pub(super) async fn lift_hold(tx: &mut Tx) -> Result<bool> {
    Ok(exec!(tx.exec(), "DELETE FROM audit_legal_hold WHERE id = 1")? == 1)
}

/// The names a person goes by in the events not yet erased: the actor
/// display of their own actions and the target display of events about
/// them (`audit_events_actor_idx`, `audit_events_target_id_idx`), and
/// whether any event names them as a person at all.
pub(super) async fn person_names(ex: Exec<'_>, person: &str) -> Result<(bool, Vec<String>)> {
    #[derive(sqlx::FromRow)]
    struct Name {
        name: Option<String>,
    }
    let rows = fetch_all!(
        ex,
        Name,
        "SELECT DISTINCT actor_display AS name FROM audit_events \
         WHERE actor_id = $1 AND actor_type IN ('person', 'console_user') AND erasure_id IS NULL \
         UNION SELECT DISTINCT target_display AS name FROM audit_events \
         WHERE target_id = $1 AND target_type IN ('directory_user', 'console_user') \
         AND erasure_id IS NULL",
        person
    )?;
    let known = !rows.is_empty();
    Ok((known, rows.into_iter().filter_map(|r| r.name).collect()))
}

/// Whether an erasure already took `person`'s data out.
pub(super) async fn erased_before(ex: Exec<'_>, person: &str) -> Result<bool> {
    Ok(scalar!(
        ex,
        i64,
        "SELECT COUNT(*) FROM audit_erasures WHERE person_id = $1",
        person
    )? > 0)
}

/// Events after `after` not yet erased nor blanked that may hold `person`'s
/// data: theirs by id, or naming them (`names`, lower case) in a display or
/// the details; oldest first, at most `limit`.
pub(super) async fn erasure_candidates(
    ex: Exec<'_>,
    person: &str,
    names: &[String],
    after: i64,
    limit: i64,
) -> Result<Vec<EventRow>> {
    let mut args = vec![Arg::Int(after), Arg::Text(person.to_owned())];
    args.push(Arg::Text(format!("%{}%", like_escape(person))));
    let mut terms = vec![
        "actor_id = $2".to_owned(),
        "target_id = $2".to_owned(),
        "details LIKE $3 ESCAPE '\\'".to_owned(),
    ];
    for name in names {
        args.push(Arg::Text(format!("%{}%", like_escape(name))));
        let n = args.len();
        terms.push(format!(
            "LOWER(actor_display || ' ' || COALESCE(target_display, '') || ' ' || details) \
             LIKE ${n} ESCAPE '\\'"
        ));
    }
    args.push(Arg::Int(limit));
    let sql = format!(
        "{SELECT_EVENT} WHERE seq > $1 AND erasure_id IS NULL AND redacted_at IS NULL \
         AND ({}) ORDER BY seq LIMIT ${}",
        terms.join(" OR "),
        args.len()
    );
    Ok(fetch_all_dyn(ex, &sql, &args).await?)
}

/// Writes an erased row's new content and its erasure.
pub(super) async fn update_erased(tx: &mut Tx, row: &EventRow) -> Result<()> {
    exec!(
        tx.exec(),
        "UPDATE audit_events SET actor_display = $1, target_display = $2, source_ip = $3, \
         user_agent = $4, details = $5, erasure_id = $6, erased_hash = $7 WHERE seq = $8",
        &row.actor_display,
        &row.target_display,
        &row.source_ip,
        &row.user_agent,
        &row.details,
        &row.erasure_id,
        &row.erased_hash,
        row.seq
    )?;
    Ok(())
}

/// A signed erasure record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct ErasureRow {
    pub id: String,
    pub person_id: String,
    pub pseudonym: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub count: i64,
    pub digest: String,
    pub erased_at: DateTime<Utc>,
    pub kid: String,
    pub jws: String,
}

pub(super) async fn insert_erasure(tx: &mut Tx, row: &ErasureRow) -> Result<()> {
    exec!(
        tx.exec(),
        "INSERT INTO audit_erasures (id, person_id, pseudonym, first_seq, last_seq, count, \
         digest, erased_at, kid, jws) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &row.id,
        &row.person_id,
        &row.pseudonym,
        row.first_seq,
        row.last_seq,
        row.count,
        &row.digest,
        row.erased_at,
        &row.kid,
        &row.jws
    )?;
    Ok(())
}

/// Every erasure record, oldest first.
pub(super) async fn erasures(ex: Exec<'_>) -> Result<Vec<ErasureRow>> {
    Ok(fetch_all!(
        ex,
        ErasureRow,
        "SELECT id, person_id, pseudonym, first_seq, last_seq, count, digest, erased_at, kid, \
         jws FROM audit_erasures ORDER BY first_seq, id"
    )?)
}

/// The id of event `seq`.
pub(super) async fn id_of(ex: Exec<'_>, seq: i64) -> Result<String> {
    Ok(scalar!(
        ex,
        String,
        "SELECT id FROM audit_events WHERE seq = $1",
        seq
    )?)
}
