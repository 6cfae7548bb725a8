//! Logs (`tracing`, text or JSON) and Prometheus metrics.
//!
//! Text logs are one line an event: [`OneLineStderr`] escapes CR, LF and
//! other control characters inside an event (a field holding client input
//! cannot start a forged line). JSON logs escape them by being JSON.
//!
//! The metrics recorder is process-global (the `metrics` facade allows one),
//! installed once; every server in the process renders from it.

use crate::config::LogFormat;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Latency buckets in seconds for `http_request_duration_seconds`.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Initialises logging once for the process (later calls do nothing).
pub fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_writer(OneLineStderr).try_init(),
    };
}

/// Standard error for text logs, one line an event (see the module docs).
///
/// `tracing-subscriber` formats an event into one buffer and writes it with
/// one `write_all`, so one [`std::io::Write::write`] here is one whole event:
/// its final newline is kept and every other control character escaped.
/// Hand-written: the fmt layer has no option for this (it writes `%` fields
/// as they are), and a custom `FormatFields` would have to re-implement the
/// default format.
#[derive(Clone, Copy, Debug, Default)]
pub struct OneLineStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for OneLineStderr {
    type Writer = OneLine<std::io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        OneLine(std::io::stderr())
    }
}

/// A writer that escapes control characters within each write but its
/// final newline (see [`OneLineStderr`]).
#[derive(Debug)]
pub struct OneLine<W>(pub W);

impl<W: std::io::Write> std::io::Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(&one_line(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `event` with CR, LF, the other C0 controls and DEL written as `\r`,
/// `\n`, `\u{7}`…, except a last `\n`, tab, and ESC: ESC starts the
/// formatter's own colours, and `tracing-subscriber` (≥ 0.3.20) already
/// escapes ESC inside field values (RUSTSEC-2025-0055).
pub fn one_line(event: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let (body, end) = match event.split_last() {
        Some((b'\n', body)) => (body, &b"\n"[..]),
        _ => (event, &b""[..]),
    };
    // The usual event has nothing to escape: written as it is, no copy.
    if !body.iter().any(|b| is_escaped(*b)) {
        return event.into();
    }
    let mut out = Vec::with_capacity(event.len() + 16);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b if is_escaped(b) => out.extend_from_slice(format!("\\u{{{b:x}}}").as_bytes()),
            b => out.push(b),
        }
    }
    out.extend_from_slice(end);
    out.into()
}

fn is_escaped(b: u8) -> bool {
    (b < 0x20 && b != b'\t' && b != 0x1b) || b == 0x7f
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// `build_recorder` (unlike the exporter's own `install`) starts no upkeep:
/// every histogram sample would then be kept until the next `/metrics`
/// scrape — memory growing with every request on a console nobody scrapes.
/// One thread for the process folds them in every few seconds.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the metrics upkeep thread");
    }
}

/// The process-wide Prometheus handle, installing the recorder on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".to_owned()),
                    LATENCY_BUCKETS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests embedding us);
            // then this handle renders only what it records, which is nothing.
            let _ = metrics::set_global_recorder(recorder);
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::{one_line, OneLine};
    use std::sync::{Arc, Mutex};

    /// A shared buffer behind the same [`OneLine`] writer the console uses.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Client input with CR/LF logged through the text formatter stays on its
    /// event's line: the forged "line" is not a line of its own.
    #[test]
    fn text_logs_keep_one_line_an_event() {
        let buf = Captured::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_target(false)
            .with_ansi(false)
            .with_writer(move || OneLine(sink.clone()))
            .finish();
        let forged = "alice\r\n2026-12-03T00:00:00Z  INFO owner signed in email=mallory@evil.test";
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(client = %forged, "client assertion refused");
            tracing::warn!("{forged}");
            tracing::info!("next");
        });
        let out = String::from_utf8(buf.0.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines.iter().all(|l| !l.contains("\r")), "{out}");
        assert!(
            lines[0].contains("client=alice\\r\\n2026-12-03T00:00:00Z  INFO owner"),
            "{out}"
        );
        assert!(
            lines[1].contains("WARN") && lines[1].contains("alice\\r\\n2026"),
            "{out}"
        );
        assert!(lines[2].ends_with("next"), "{out}");
    }

    #[test]
    fn one_line_escapes_controls_but_the_final_newline() {
        assert_eq!(&*one_line(b"plain\n"), b"plain\n");
        assert_eq!(
            &*one_line(b"a\nb\rc\x07d\te\x7f\n"),
            b"a\\nb\\rc\\u{7}d\te\\u{7f}\n"
        );
        assert_eq!(&*one_line(b"no end\nhere"), b"no end\\nhere");
        assert_eq!(
            &*one_line(b"\x1b[2mcolour\x1b[0m\n"),
            b"\x1b[2mcolour\x1b[0m\n"
        );
    }
}
