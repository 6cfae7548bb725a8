//! Rate limits: one component for every per-key brake of the console —
//! OAuth's failed token requests, token issuance and registrations
//! ([`crate::oauth::limits`]), SCIM requests per directory token, SSO
//! sign-ins started per source address, admin API requests per API key and
//! unknown API keys per source address ([`RateLimits`]); sign-in failures
//! per account and address are counted in the database instead (they must
//! hold across replicas and restarts: `console`).
//!
//! Fixed windows kept in memory, per replica: a limit of N per window lets
//! N through on each replica, which is what a brake against floods needs.
//! Windows follow the domain's clock (tests move it). Memory is bounded:
//! the maps are swept of ended windows when they grow past [`MAX_KEYS`],
//! and a new key is not tracked while a sweep leaves them full (the limit
//! then fails open for new keys rather than growing without bound).
//! Refusals are counted ([`Limiter::hits`], `/metrics`
//! `rate_limit_hits_total{limit}`), never audited one by one.
//!
//! Hand-written rather than `governor`: the windows must run on the
//! domain's injectable clock (tests advance it by minutes), and a fixed
//! window per key is all these brakes need.

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Tracked keys per map before ended windows are swept.
pub const MAX_KEYS: usize = 100_000;

/// When this process last wrote a key's "last used" time: such a write is
/// due at most once per interval per key, so a busy path (a SCIM token, an
/// OAuth grant on the refresh path) saves the UPDATE on all but one request
/// of each interval, and concurrent requests do not each write it.
#[derive(Clone)]
pub struct TouchLog {
    every: Duration,
    map: std::sync::Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
}

impl TouchLog {
    /// A log that lets a key's write through once per `every`.
    pub fn every(every: Duration) -> Self {
        Self {
            every,
            map: std::sync::Arc::default(),
        }
    }

    /// Whether `key`'s use should be written now (not written by this
    /// process within the interval); notes it if so. Bounded like the
    /// windows: past [`MAX_KEYS`] the lapsed entries are swept, and while
    /// that leaves the log full a new key is written without being noted.
    pub fn due(&self, key: &str, now: DateTime<Utc>) -> bool {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|t| now - *t < self.every) {
            return false;
        }
        if map.len() >= MAX_KEYS {
            let every = self.every;
            map.retain(|_, t| now - *t < every);
            if map.len() >= MAX_KEYS {
                return true;
            }
        }
        map.insert(key.to_owned(), now);
        true
    }
}

#[derive(Clone, Copy)]
struct Window {
    start: DateTime<Utc>,
    count: u64,
}

/// Fixed-window counters keyed by a string.
pub struct Windows {
    len: Duration,
    map: Mutex<HashMap<String, Window>>,
}

impl Windows {
    pub fn new(len: Duration) -> Self {
        Self {
            len,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        // A panic while holding the lock leaves only counters behind.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The count of `key`'s current window.
    pub fn count(&self, key: &str, now: DateTime<Utc>) -> u64 {
        self.lock()
            .get(key)
            .filter(|w| now - w.start < self.len)
            .map_or(0, |w| w.count)
    }

    /// Adds one to `key`'s window unless it already holds `max`; true when
    /// added.
    pub fn take(&self, key: &str, now: DateTime<Utc>, max: u64) -> bool {
        let mut map = self.lock();
        if let Some(w) = map.get_mut(key) {
            if now - w.start >= self.len {
                *w = Window {
                    start: now,
                    count: 0,
                };
            }
            if w.count >= max {
                return false;
            }
            w.count += 1;
            return true;
        }
        if map.len() >= MAX_KEYS {
            let len = self.len;
            map.retain(|_, w| now - w.start < len);
        }
        if max > 0 && map.len() < MAX_KEYS {
            map.insert(
                key.to_owned(),
                Window {
                    start: now,
                    count: 1,
                },
            );
        }
        max > 0
    }
}

/// One limit: at most `max` per key per window (0: no limit), with its
/// refusal count.
pub struct Limiter {
    name: &'static str,
    max: u64,
    windows: Windows,
    hits: AtomicU64,
}

impl Limiter {
    pub fn new(name: &'static str, window: Duration, max: u64) -> Self {
        Self {
            name,
            max,
            windows: Windows::new(window),
            hits: AtomicU64::new(0),
        }
    }

    /// Spends one of `key`'s window; `Err(seconds)` (and counted) when its
    /// budget is spent, the seconds being when to try again at the latest.
    pub fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), u64> {
        if self.max == 0 || self.windows.take(key, now, self.max) {
            return Ok(());
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        tracing::info!(limit = self.name, "rate limit hit");
        Err(self.windows.len.num_seconds().max(1) as u64)
    }

    /// Like [`Limiter::check`] but spends nothing: `Err(seconds)` (and
    /// counted) when `key`'s window is already spent. With
    /// [`Limiter::spend`], for limits on failures: refuse while the budget
    /// of failures is spent, count a failure only once it happened.
    pub fn spent(&self, key: &str, now: DateTime<Utc>) -> Result<(), u64> {
        if self.max == 0 || self.windows.count(key, now) < self.max {
            return Ok(());
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        tracing::info!(limit = self.name, "rate limit hit");
        Err(self.windows.len.num_seconds().max(1) as u64)
    }

    /// Spends one of `key`'s window if any is left (a failure counted by
    /// the caller; never refuses).
    pub fn spend(&self, key: &str, now: DateTime<Utc>) {
        if self.max > 0 {
            self.windows.take(key, now, self.max);
        }
    }

    /// The `limit` label.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Refusals since start.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

/// The console's own limits (OAuth's are in [`crate::oauth::limits`]).
pub struct RateLimits {
    /// SCIM requests per directory token per minute.
    pub scim: Limiter,
    /// SSO sign-ins started per source address per minute (`/sso/start`,
    /// each a redirect to the IdP and a row).
    pub sso_start: Limiter,
    /// Admin API requests per API key per minute: a brake on a runaway
    /// script (each request is a lookup, most an audit record).
    pub api_key: Limiter,
    /// Unknown, revoked or expired API keys presented per source address
    /// per minute; past it the address is refused before any lookup for the
    /// rest of the window (a flood of guesses costs no query).
    pub api_key_failure: Limiter,
}

impl RateLimits {
    pub fn new(settings: &crate::Settings) -> Self {
        let per_minute = |name, max| Limiter::new(name, Duration::minutes(1), max);
        Self {
            scim: per_minute("scim", settings.scim_requests_per_minute),
            sso_start: per_minute("sso_start", settings.sso_starts_per_minute),
            api_key: per_minute("api_key", settings.api_key_requests_per_minute),
            api_key_failure: per_minute("api_key_failure", settings.api_key_failures_per_ip),
        }
    }

    /// Every limit, for `/metrics`.
    pub fn all(&self) -> [&Limiter; 4] {
        [
            &self.scim,
            &self.sso_start,
            &self.api_key,
            &self.api_key_failure,
        ]
    }
}

/// `s` seconds into a fixed test day: the windows' tests move through it.
#[cfg(test)]
pub(crate) fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maps_stay_bounded() {
        let w = Windows::new(Duration::minutes(1));
        for i in 0..MAX_KEYS + 10 {
            w.take(&format!("k{i}"), t(0), 5);
        }
        assert_eq!(w.lock().len(), MAX_KEYS);
        // Once the old windows ended, a sweep makes room.
        assert!(w.take("new", t(61), 5));
        assert_eq!(w.lock().len(), 1);
    }

    #[test]
    fn a_limiter_refuses_past_its_budget_until_the_window_ends() {
        let l = Limiter::new("scim", Duration::minutes(1), 3);
        for _ in 0..3 {
            assert_eq!(l.check("dir_a", t(0)), Ok(()));
        }
        assert_eq!(l.check("dir_a", t(30)), Err(60));
        assert_eq!(l.check("dir_b", t(30)), Ok(()), "another key has its own");
        assert_eq!(l.check("dir_a", t(60)), Ok(()), "a new window");
        assert_eq!(l.hits(), 1);
        let unlimited = Limiter::new("scim", Duration::minutes(1), 0);
        assert!((0..1000).all(|_| unlimited.check("k", t(0)).is_ok()));
    }

    #[test]
    fn a_failure_limit_refuses_once_its_failures_are_spent() {
        let l = Limiter::new("api_key_failure", Duration::minutes(1), 2);
        assert_eq!(l.spent("10.0.0.1", t(0)), Ok(()), "nothing spent yet");
        l.spend("10.0.0.1", t(0));
        assert_eq!(l.spent("10.0.0.1", t(1)), Ok(()), "one of two spent");
        l.spend("10.0.0.1", t(2));
        assert_eq!(l.spent("10.0.0.1", t(3)), Err(60));
        assert_eq!(
            l.spent("10.0.0.1", t(4)),
            Err(60),
            "checking spends nothing"
        );
        assert_eq!(l.spent("10.0.0.2", t(4)), Ok(()), "another address");
        assert_eq!(l.spent("10.0.0.1", t(60)), Ok(()), "a new window");
        assert_eq!(l.hits(), 2);
        let unlimited = Limiter::new("api_key_failure", Duration::minutes(1), 0);
        unlimited.spend("k", t(0));
        assert_eq!(unlimited.spent("k", t(0)), Ok(()));
    }

    #[test]
    fn a_touch_is_due_once_per_interval_per_key() {
        let log = TouchLog::every(Duration::minutes(1));
        assert!(log.due("tok_a", t(0)), "the first use is written");
        assert!(!log.due("tok_a", t(1)), "a concurrent use is not");
        assert!(log.due("tok_b", t(1)), "another key has its own");
        assert!(!log.due("tok_a", t(59)));
        assert!(log.due("tok_a", t(60)), "a minute on, written again");
        for i in 0..MAX_KEYS + 10 {
            log.due(&format!("k{i}"), t(61));
        }
        let len = || log.map.lock().map_or(0, |m| m.len());
        assert_eq!(len(), MAX_KEYS, "full: new keys are written, not noted");
        let past = format!("k{}", MAX_KEYS + 5);
        assert!(
            log.due(&past, t(62)) && log.due(&past, t(62)),
            "written each time"
        );
        assert!(
            !log.due("k0", t(62)),
            "a noted key still waits its interval"
        );
        assert!(log.due("late", t(200)), "lapsed entries are swept");
        assert_eq!(len(), 1);
    }
}
