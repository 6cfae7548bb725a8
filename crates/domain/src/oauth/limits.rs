//! Abuse limits of the authorization server: failed token requests per
//! source address, tokens issued per client, registrations per address.
//!
//! Refusals are counted, not audited one by one (a flood must not flood the
//! audit log): [`Limits::hits`] feeds `/metrics` and the Clients page.
//! The windows are [`crate::ratelimit::Windows`] (fixed, in memory, per
//! replica, bounded); registrations are also counted in the database, so
//! their limit holds across replicas.

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::ratelimit::Windows;
pub use crate::ratelimit::MAX_KEYS;
use portcullis_types::ClientId;
/// The window of the failed-token-request limit.
pub const FAILED_TOKEN_WINDOW_MINUTES: i64 = 10;

/// The limits, with how many times each refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Dynamic registrations per source address per hour.
    Registration,
    /// Failed token requests per source address per window.
    FailedTokenRequests,
    /// Tokens issued per client per minute.
    ClientIssuance,
}

impl Limit {
    pub const ALL: [Limit; 3] = [
        Limit::Registration,
        Limit::FailedTokenRequests,
        Limit::ClientIssuance,
    ];

    /// The `limit` label on `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Registration => "registration",
            Limit::FailedTokenRequests => "failed_token_requests",
            Limit::ClientIssuance => "client_issuance",
        }
    }
}

/// The abuse limits and their hit counters.
pub struct Limits {
    failed_token_max: u64,
    client_tokens_max: u64,
    failed_tokens: Windows,
    issued: Windows,
    hits: [AtomicU64; 3],
    /// Issuance-limit hits per client since start (the Clients page).
    client_hits: Mutex<HashMap<String, u64>>,
}

impl Limits {
    /// `failed_token_max` failed token requests per address per
    /// [`FAILED_TOKEN_WINDOW_MINUTES`]; `client_tokens_max` tokens per client
    /// per minute (0: no limit).
    pub fn new(failed_token_max: u64, client_tokens_max: u64) -> Self {
        Self {
            failed_token_max,
            client_tokens_max,
            failed_tokens: Windows::new(Duration::minutes(FAILED_TOKEN_WINDOW_MINUTES)),
            issued: Windows::new(Duration::minutes(1)),
            hits: Default::default(),
            client_hits: Mutex::new(HashMap::new()),
        }
    }

    fn hit(&self, limit: Limit) {
        let i = Limit::ALL.iter().position(|l| *l == limit).unwrap_or(0);
        self.hits[i].fetch_add(1, Ordering::Relaxed);
        tracing::info!(limit = limit.as_str(), "oauth limit hit");
    }

    /// Counts a refusal by a limit kept elsewhere (registrations).
    pub fn refused(&self, limit: Limit) {
        self.hit(limit);
    }

    /// Whether `ip` may make another token request (false, and counted,
    /// once it has failed too often in the window).
    pub fn token_request_allowed(&self, ip: &str, now: DateTime<Utc>) -> bool {
        if self.failed_tokens.count(ip, now) >= self.failed_token_max {
            self.hit(Limit::FailedTokenRequests);
            return false;
        }
        true
    }

    /// Notes a failed token request from `ip`.
    pub fn token_request_failed(&self, ip: &str, now: DateTime<Utc>) {
        self.failed_tokens.take(ip, now, u64::MAX);
    }

    /// Whether `client_id` may be issued another token this minute; false
    /// (and counted) when its budget is spent. Only tokens actually issued
    /// ([`Limits::issued`]) spend it, so failed requests do not.
    pub fn may_issue(&self, client_id: &ClientId, now: DateTime<Utc>) -> bool {
        let client_id = client_id.as_str();
        if self.client_tokens_max == 0 || self.issued.count(client_id, now) < self.client_tokens_max
        {
            return true;
        }
        self.hit(Limit::ClientIssuance);
        let mut per = self.client_hits.lock().unwrap_or_else(|p| p.into_inner());
        if per.len() < MAX_KEYS || per.contains_key(client_id) {
            *per.entry(client_id.to_owned()).or_default() += 1;
        }
        false
    }

    /// Notes a token issued to `client_id` (spends its budget).
    pub fn issued(&self, client_id: &ClientId, now: DateTime<Utc>) {
        if self.client_tokens_max > 0 {
            self.issued.take(client_id.as_str(), now, u64::MAX);
        }
    }

    /// How many requests each limit refused since this process started.
    pub fn hits(&self) -> Vec<(Limit, u64)> {
        Limit::ALL
            .iter()
            .zip(&self.hits)
            .map(|(l, n)| (*l, n.load(Ordering::Relaxed)))
            .collect()
    }

    /// Issuance-limit refusals of `client_id` since this process started.
    pub fn client_hits(&self, client_id: &ClientId) -> u64 {
        self.client_hits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(client_id.as_str())
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::t;

    #[test]
    fn failed_token_requests_lock_an_address_for_the_rest_of_the_window() {
        let l = Limits::new(3, 0);
        for _ in 0..3 {
            assert!(l.token_request_allowed("10.0.0.1", t(0)));
            l.token_request_failed("10.0.0.1", t(0));
        }
        assert!(!l.token_request_allowed("10.0.0.1", t(1)));
        assert!(
            l.token_request_allowed("10.0.0.2", t(1)),
            "other addresses unaffected"
        );
        assert!(!l.token_request_allowed("10.0.0.1", t(599)));
        assert!(l.token_request_allowed("10.0.0.1", t(600)), "a new window");
        assert_eq!(l.hits()[1], (Limit::FailedTokenRequests, 2));
    }

    #[test]
    fn issuance_is_limited_per_client_per_minute_and_zero_means_unlimited() {
        let l = Limits::new(10, 2);
        let issue = |c: &str, at| {
            let c = ClientId::from(c);
            let ok = l.may_issue(&c, at);
            if ok {
                l.issued(&c, at);
            }
            ok
        };
        assert!(issue("cli_a", t(0)));
        assert!(l.may_issue(&"cli_a".into(), t(0)), "asking does not spend");
        assert!(issue("cli_a", t(1)));
        assert!(!issue("cli_a", t(2)));
        assert!(issue("cli_b", t(2)));
        assert!(issue("cli_a", t(60)));
        assert_eq!(l.client_hits(&"cli_a".into()), 1);
        assert_eq!(l.client_hits(&"cli_b".into()), 0);
        assert_eq!(l.hits()[2], (Limit::ClientIssuance, 1));
        let unlimited = Limits::new(10, 0);
        assert!((0..10_000).all(|_| {
            unlimited.issued(&"cli_a".into(), t(0));
            unlimited.may_issue(&"cli_a".into(), t(0))
        }));
    }
}
