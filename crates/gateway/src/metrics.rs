//! `/metrics` in the Prometheus text format.
//!
//! A handful of counters and one histogram, kept in atomics per gateway
//! instance rather than through the process-global `metrics` recorder the
//! console uses: tests run several gateways (and a console) in one process,
//! and each must report only its own figures.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the upstream latency buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
pub struct Metrics {
    pub allowed: AtomicU64,
    pub denied: AtomicU64,
    /// Requests refused before policy (no or bad token, wrong scope).
    pub unauthorized: AtomicU64,
    /// Tools hidden or refused because their live definition changed.
    pub pin_mismatches: AtomicU64,
    pub bundle_loads: AtomicU64,
    pub bundle_errors: AtomicU64,
    pub decisions_sent: AtomicU64,
    pub decisions_spooled: AtomicU64,
    pub decisions_dropped: AtomicU64,
    pub upstream_errors: AtomicU64,
    /// Connections closed unread: over the total cap, over the per-address cap.
    refused_total: AtomicU64,
    refused_per_ip: AtomicU64,
    /// Connections closed by the header-read or the keep-alive idle timeout.
    header_timeouts: AtomicU64,
    idle_timeouts: AtomicU64,
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_micros: AtomicU64,
}

/// The listener reports its refusals and timeouts here.
impl portcullis_listener::Observer for Metrics {
    fn refused(&self, cap: &'static str) {
        match cap {
            "per_ip" => &self.refused_per_ip,
            _ => &self.refused_total,
        }
        .fetch_add(1, Relaxed);
    }

    fn timed_out(&self, phase: &'static str) {
        match phase {
            "header" => &self.header_timeouts,
            _ => &self.idle_timeouts,
        }
        .fetch_add(1, Relaxed);
    }
}

impl Metrics {
    /// Records how long an upstream took to answer (to its headers).
    pub fn upstream_latency(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        if let Some(b) = self.latency.get(bucket) {
            b.fetch_add(1, Relaxed);
        }
        self.latency_sum_micros
            .fetch_add(took.as_micros().min(u128::from(u64::MAX)) as u64, Relaxed);
    }

    /// The text exposition; `revision` and `age` describe the active bundle.
    pub fn render(&self, revision: Option<u64>, age: Option<Duration>, spool_bytes: u64) -> String {
        let mut out = String::with_capacity(2048);
        let mut counter = |name: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        counter(
            "gateway_decisions_total",
            "tools/call decisions by outcome.",
            &[
                ("{outcome=\"allowed\"}", self.allowed.load(Relaxed)),
                ("{outcome=\"denied\"}", self.denied.load(Relaxed)),
            ],
        );
        counter(
            "gateway_unauthorized_total",
            "Requests refused for their token (missing, invalid, blocked client, scope).",
            &[("", self.unauthorized.load(Relaxed))],
        );
        counter(
            "gateway_pin_mismatches_total",
            "Tools hidden or refused because their live definition differs from the approved one.",
            &[("", self.pin_mismatches.load(Relaxed))],
        );
        counter(
            "gateway_bundle_loads_total",
            "Bundles and deltas activated.",
            &[("", self.bundle_loads.load(Relaxed))],
        );
        counter(
            "gateway_bundle_errors_total",
            "Fetches or activations that failed (the last good bundle stayed active).",
            &[("", self.bundle_errors.load(Relaxed))],
        );
        counter(
            "gateway_decision_logs_total",
            "Decision records by fate: sent to the console, spooled to disk, dropped (spool full).",
            &[
                ("{fate=\"sent\"}", self.decisions_sent.load(Relaxed)),
                ("{fate=\"spooled\"}", self.decisions_spooled.load(Relaxed)),
                ("{fate=\"dropped\"}", self.decisions_dropped.load(Relaxed)),
            ],
        );
        counter(
            "gateway_upstream_errors_total",
            "Upstream requests that failed before an answer.",
            &[("", self.upstream_errors.load(Relaxed))],
        );
        counter(
            "gateway_connections_refused_total",
            "Connections closed before anything was read, by the cap they were over.",
            &[
                ("{reason=\"total\"}", self.refused_total.load(Relaxed)),
                ("{reason=\"per_ip\"}", self.refused_per_ip.load(Relaxed)),
            ],
        );
        counter(
            "gateway_connection_timeouts_total",
            "Connections closed by the header-read or the keep-alive idle timeout.",
            &[
                ("{phase=\"header\"}", self.header_timeouts.load(Relaxed)),
                ("{phase=\"idle\"}", self.idle_timeouts.load(Relaxed)),
            ],
        );
        let _ = writeln!(
            out,
            "# HELP gateway_bundle_revision The policy revision enforced (absent before the first bundle).\n# TYPE gateway_bundle_revision gauge"
        );
        if let Some(r) = revision {
            let _ = writeln!(out, "gateway_bundle_revision {r}");
        }
        let _ = writeln!(
            out,
            "# HELP gateway_bundle_age_seconds Time since the enforced bundle was issued.\n# TYPE gateway_bundle_age_seconds gauge"
        );
        if let Some(a) = age {
            let _ = writeln!(out, "gateway_bundle_age_seconds {:.3}", a.as_secs_f64());
        }
        let _ = writeln!(
            out,
            "# HELP gateway_decision_spool_bytes Bytes of decision records waiting on disk.\n# TYPE gateway_decision_spool_bytes gauge\ngateway_decision_spool_bytes {spool_bytes}"
        );
        let _ = writeln!(
            out,
            "# HELP gateway_upstream_latency_seconds Time to the upstream's response headers.\n# TYPE gateway_upstream_latency_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.latency.get(i).map_or(0, |b| b.load(Relaxed));
            let _ = writeln!(
                out,
                "gateway_upstream_latency_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self
            .latency
            .get(BUCKETS.len())
            .map_or(0, |b| b.load(Relaxed));
        let _ = writeln!(
            out,
            "gateway_upstream_latency_seconds_bucket{{le=\"+Inf\"}} {cumulative}\ngateway_upstream_latency_seconds_sum {:.6}\ngateway_upstream_latency_seconds_count {cumulative}",
            self.latency_sum_micros.load(Relaxed) as f64 / 1e6
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.upstream_latency(Duration::from_micros(300));
        m.upstream_latency(Duration::from_millis(3));
        m.upstream_latency(Duration::from_secs(9));
        m.allowed.fetch_add(2, Relaxed);
        portcullis_listener::Observer::refused(&m, "per_ip");
        portcullis_listener::Observer::timed_out(&m, "header");
        portcullis_listener::Observer::timed_out(&m, "header");
        let text = m.render(Some(7), None, 0);
        assert!(
            text.contains("gateway_upstream_latency_seconds_bucket{le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("gateway_upstream_latency_seconds_bucket{le=\"0.005\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("gateway_upstream_latency_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("gateway_decisions_total{outcome=\"allowed\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("gateway_bundle_revision 7\n"), "{text}");
        assert!(
            text.contains("gateway_connections_refused_total{reason=\"per_ip\"} 1\n")
                && text.contains("gateway_connections_refused_total{reason=\"total\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("gateway_connection_timeouts_total{phase=\"header\"} 2\n"),
            "{text}"
        );
    }
}
