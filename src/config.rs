//! Configuration: `PORTCULLIS_*` environment variables and `DATABASE_URL`,
//! optionally a `portcullis.toml`, validated at start-up.
//!
//! Precedence: environment > file > default. A bad value stops the server
//! with a message naming the key. Every key is documented in the README
//! (keep [`KEYS`] and the README in step).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Every configuration key, its default and its meaning (README table).
pub const KEYS: &[(&str, &str, &str)] = &[
    ("DATABASE_URL", "sqlite:data/portcullis.db", "`sqlite:PATH` or `postgres://…`; the SQLite file and its folder are created when missing"),
    ("PORTCULLIS_ADDR", "127.0.0.1:3000", "listen address; port 0 picks a free port"),
    ("PORTCULLIS_PUBLIC_URL", "http://ADDR", "the URL admins and IdPs reach; https turns on `Secure`/`__Host-` cookies and HSTS"),
    ("PORTCULLIS_SITE_ROOT", "the site built into the binary, else target/site", "folder with the built site (CSS, JS, wasm: `scripts/build-site.sh` output) to serve instead of the one built into the binary; for development"),
    ("PORTCULLIS_LOG_FORMAT", "text", "`text` (human-readable) or `json`"),
    ("PORTCULLIS_LOG", "info", "log filter, `tracing` EnvFilter syntax"),
    ("PORTCULLIS_SESSION_IDLE_MINUTES", "60", "a console session unused this long ends"),
    ("PORTCULLIS_SESSION_MAX_HOURS", "12", "a console session ends this long after sign-in"),
    ("PORTCULLIS_DB_MAX_CONNECTIONS", "16", "database pool size"),
    ("PORTCULLIS_SQLITE_SYNCHRONOUS", "full", "SQLite only: `full` (every acknowledged write survives a power loss) or `normal` (faster writes; survives a crash of the process but a power loss can drop the last acknowledged writes, audit events included)"),
    ("PORTCULLIS_MAX_BODY_BYTES", "1048576", "largest request body accepted"),
    ("PORTCULLIS_HTTP_WORKERS", "0", "threads that accept and parse HTTP, each with its own event loop (0: one per CPU this process may use); the application's own work runs on the main runtime (`TOKIO_WORKER_THREADS`)"),
    ("PORTCULLIS_HTTP_HEADER_TIMEOUT_SECS", "10", "a new connection, or a request whose first byte arrived, must have sent its whole request head within this (slow-header clients are cut off)"),
    ("PORTCULLIS_HTTP_IDLE_TIMEOUT_SECS", "60", "a kept-alive connection with no request in flight is closed after this"),
    ("PORTCULLIS_HTTP_BODY_TIMEOUT_SECS", "30", "a request body must arrive in full within this after its head"),
    ("PORTCULLIS_HTTP_MAX_CONNECTIONS", "10000", "open connections in all; more are closed as they are accepted (keep it under the process's file-descriptor limit)"),
    ("PORTCULLIS_HTTP_MAX_CONNECTIONS_PER_IP", "1000", "open connections from one source address (a load balancer is one address: set this above what it opens)"),
    ("PORTCULLIS_HTTP_SHUTDOWN_SECS", "10", "at shutdown, how long requests in flight (long-polls end at once) get to finish before their connections are cut"),
    ("PORTCULLIS_TRUSTED_PROXIES", "", "comma-separated addresses or CIDRs of the load balancers / reverse proxies in front of the console; only from these is the forwarding header read, and the client is its right-most hop that is not one of them (audit records, sign-in limits)"),
    ("PORTCULLIS_FORWARDED_HEADER", "x-forwarded-for", "the header those proxies write: `x-forwarded-for` or `forwarded` (RFC 7239); the other is ignored"),
    ("PORTCULLIS_FETCH_ALLOWED_HOSTS", "", "comma-separated `host` or `host:port` the console may fetch from although they resolve to private, loopback or link-local addresses (MCP discovery of internal servers); everything else such is refused"),
    ("PORTCULLIS_SECRET_KEY", "", "base64 of 32 random bytes that seals secrets stored in the database (bundle signing keys); replicas sharing a database must share it. Empty: read `PORTCULLIS_SECRET_KEY_FILE`"),
    ("PORTCULLIS_SECRET_KEY_PREVIOUS", "", "comma-separated base64 keys that still open secrets sealed before a rotation (never seal); `portcullis secret-key rotate` keeps replaced keys in `<PORTCULLIS_SECRET_KEY_FILE>.previous` with a deadline instead"),
    ("PORTCULLIS_SECRET_KEY_FILE", "secret.key beside the SQLite file, else data/secret.key", "file holding the secret key, created (mode 0600) with a random key when missing"),
    ("PORTCULLIS_POLICY_RECHECK_SECONDS", "5", "how often the policy API checks for a new revision without a change signal (signals arrive at once, also across PostgreSQL replicas; this is the safety net)"),
    ("PORTCULLIS_BOOTSTRAP_OWNER_EMAIL", "owner@portcullis.local", "email of the first owner, created with a set-up link on an empty console"),
    ("PORTCULLIS_SCIM_REQUESTS_PER_MINUTE", "120000", "SCIM requests one directory token may make per minute (per replica) before it gets 429 with Retry-After (0: no limit); a brake against a runaway client, far above what IdPs send (2,000/s: above the in-process SCIM benchmark's peak and issue 21's 500/s goal)"),
    ("PORTCULLIS_SSO_STARTS_PER_MINUTE", "60", "SSO sign-ins one source address may start per minute (per replica) before it gets 429 (0: no limit)"),
    ("PORTCULLIS_API_KEY_REQUESTS_PER_MINUTE", "6000", "admin API requests one API key may make per minute (per replica) before it gets 429 with Retry-After (0: no limit); a brake against a runaway script"),
    ("PORTCULLIS_API_KEY_FAILURES_PER_MINUTE", "30", "unknown, revoked or expired API keys one source address may present to the admin API per minute (per replica); past it the address gets 429 with Retry-After for the rest of the minute, before any lookup (0: no limit)"),
    ("PORTCULLIS_AUDIT_CHECKPOINT_EVENTS", "1000", "the console signs a checkpoint of the audit chain's head after this many new events…"),
    ("PORTCULLIS_AUDIT_CHECKPOINT_MINUTES", "10", "…or when the newest checkpoint is this old and events followed it (keep the exported checkpoints: `portcullis audit verify --checkpoint` catches a truncated or rewritten log against them)"),
    ("PORTCULLIS_AUDIT_WITNESS_URL", "", "http(s) URL each new audit checkpoint is POSTed to as JSON (fetched through the SSRF guard: a private or loopback host must be in PORTCULLIS_FETCH_ALLOWED_HOSTS); retried until it answers 2xx. Empty: no witness"),
    ("PORTCULLIS_AUDIT_RETENTION_DAYS", "400", "audit events older than this are deleted (hourly, from a signed purge record the rest of the chain verifies from), unless an owner placed a legal hold"),
    ("PORTCULLIS_AUDIT_DECISION_RETENTION_DAYS", "PORTCULLIS_AUDIT_RETENTION_DAYS", "gateway decisions older than this lose their content (actor, target, details; the chain still verifies); at most PORTCULLIS_AUDIT_RETENTION_DAYS"),
    ("PORTCULLIS_CONFIG", "portcullis.toml", "optional TOML file with the same keys in lower case without the prefix (`addr = \"…\"`); empty: no file"),
];

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub addr: SocketAddr,
    /// Without a trailing slash; `None` means "derive from the bound address".
    pub public_url: Option<String>,
    /// A site folder named explicitly; `None` serves the one built into
    /// the binary (`http::assets::Site::open`).
    pub site_root: Option<PathBuf>,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub session_idle_minutes: i64,
    pub session_max_hours: i64,
    pub db_max_connections: u32,
    /// SQLite's `synchronous` setting.
    pub sqlite_synchronous: portcullis_domain::SqliteSync,
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 means one per CPU this process may use.
    pub http_workers: usize,
    /// Timeouts and connection caps of the listener.
    pub http_limits: portcullis_listener::HttpLimits,
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: crate::http::forwarded::TrustedProxies,
    /// Hosts allowed past the SSRF guard's address checks.
    pub fetch_allowed_hosts: Vec<String>,
    /// PEM bundle trusted for server-side fetches besides the system roots.
    pub fetch_ca_file: Option<PathBuf>,
    pub bootstrap_owner_email: String,
    /// The secret key given directly (`PORTCULLIS_SECRET_KEY`).
    pub secret_key: Option<[u8; 32]>,
    /// Where the secret key is kept otherwise.
    pub secret_key_file: PathBuf,
    /// Keys that still open what they sealed (`PORTCULLIS_SECRET_KEY_PREVIOUS`).
    pub secret_key_previous: Vec<[u8; 32]>,
    pub policy_recheck_seconds: i64,
    /// Lifetime of OAuth access tokens, in minutes.
    pub access_token_minutes: i64,
    /// Failed token requests per address per 10 minutes.
    pub oauth_failed_tokens_per_ip: i64,
    /// Tokens per OAuth client per minute (0: no limit).
    pub oauth_client_tokens_per_minute: i64,
    /// SCIM requests per directory token per minute (0: no limit).
    pub scim_requests_per_minute: i64,
    /// SSO starts per source address per minute (0: no limit).
    pub sso_starts_per_minute: i64,
    /// Admin API requests per API key per minute (0: no limit).
    pub api_key_requests_per_minute: i64,
    /// Unknown API keys per source address per minute (0: no limit).
    pub api_key_failures_per_minute: i64,
    /// New audit events after which the chain head is signed.
    pub audit_checkpoint_events: i64,
    /// Age of the newest checkpoint after which a newer head is signed.
    pub audit_checkpoint_minutes: i64,
    /// Where each new audit checkpoint is POSTed, if anywhere.
    pub audit_witness_url: Option<String>,
    /// Days audit events are kept.
    pub audit_retention_days: i64,
    /// Days gateway decisions keep their content (at most the above).
    pub audit_decision_retention_days: i64,
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// The TOML file's shape: the same keys, lower case, without the prefix.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    addr: Option<String>,
    public_url: Option<String>,
    site_root: Option<String>,
    log_format: Option<String>,
    log: Option<String>,
    session_idle_minutes: Option<i64>,
    session_max_hours: Option<i64>,
    db_max_connections: Option<u32>,
    sqlite_synchronous: Option<String>,
    max_body_bytes: Option<usize>,
    http_workers: Option<usize>,
    http_header_timeout_secs: Option<u64>,
    http_idle_timeout_secs: Option<u64>,
    http_body_timeout_secs: Option<u64>,
    http_max_connections: Option<u64>,
    http_max_connections_per_ip: Option<u64>,
    http_shutdown_secs: Option<u64>,
    trusted_proxies: Option<String>,
    forwarded_header: Option<String>,
    fetch_allowed_hosts: Option<String>,
    fetch_ca_file: Option<String>,
    bootstrap_owner_email: Option<String>,
    secret_key: Option<String>,
    secret_key_file: Option<String>,
    secret_key_previous: Option<String>,
    policy_recheck_seconds: Option<i64>,
    access_token_minutes: Option<i64>,
    oauth_failed_tokens_per_ip: Option<i64>,
    oauth_client_tokens_per_minute: Option<i64>,
    scim_requests_per_minute: Option<i64>,
    sso_starts_per_minute: Option<i64>,
    api_key_requests_per_minute: Option<i64>,
    api_key_failures_per_minute: Option<i64>,
    audit_checkpoint_events: Option<i64>,
    audit_checkpoint_minutes: Option<i64>,
    audit_witness_url: Option<String>,
    audit_retention_days: Option<i64>,
    audit_decision_retention_days: Option<i64>,
}

impl Config {
    /// Loads from the process environment (and the optional file).
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::load(&std::env::vars().collect())
    }

    /// Loads from `env` (and the file it names, or `portcullis.toml` when present).
    pub fn load(env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let file = match env.get("PORTCULLIS_CONFIG").map(String::as_str) {
            Some("") => FileConfig::default(),
            Some(p) => read_file(Path::new(p), true)?,
            None => read_file(Path::new("portcullis.toml"), false)?,
        };
        let get = |key: &str, from_file: Option<String>| -> Option<String> {
            env.get(key)
                .cloned()
                .filter(|v| !v.is_empty())
                .or(from_file)
        };
        let num = |key: &str,
                   from_file: Option<i64>,
                   default: i64,
                   min: i64,
                   max: i64|
         -> Result<i64, ConfigError> {
            let v = match env.get(key).filter(|v| !v.is_empty()) {
                Some(s) => s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| err(key, format!("`{s}` is not a whole number")))?,
                None => from_file.unwrap_or(default),
            };
            if v < min || v > max {
                return Err(err(key, format!("{v} is out of range ({min}–{max})")));
            }
            Ok(v)
        };

        let database_url = get("DATABASE_URL", file.database_url)
            .unwrap_or_else(|| "sqlite:data/portcullis.db".to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(err(
                "DATABASE_URL",
                "must start with sqlite: or postgres://",
            ));
        }
        let addr_s =
            get("PORTCULLIS_ADDR", file.addr).unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let addr = addr_s.parse::<SocketAddr>().map_err(|_| {
            err(
                "PORTCULLIS_ADDR",
                format!("`{addr_s}` is not an IP:port address"),
            )
        })?;
        let public_url = match get("PORTCULLIS_PUBLIC_URL", file.public_url) {
            None => None,
            Some(u) => {
                let parsed = url::Url::parse(&u).map_err(|e| {
                    err("PORTCULLIS_PUBLIC_URL", format!("`{u}` is not a URL: {e}"))
                })?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                    return Err(err(
                        "PORTCULLIS_PUBLIC_URL",
                        "must be an http:// or https:// URL with a host",
                    ));
                }
                if parsed.query().is_some() || parsed.fragment().is_some() {
                    return Err(err(
                        "PORTCULLIS_PUBLIC_URL",
                        "must not have a query or fragment",
                    ));
                }
                Some(u.trim_end_matches('/').to_owned())
            }
        };
        let site_root = get("PORTCULLIS_SITE_ROOT", file.site_root)
            .or_else(|| {
                env.get("LEPTOS_SITE_ROOT")
                    .cloned()
                    .filter(|v| !v.is_empty())
            })
            .map(PathBuf::from);
        let log_format = match get("PORTCULLIS_LOG_FORMAT", file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(err(
                    "PORTCULLIS_LOG_FORMAT",
                    format!("`{other}` is not `text` or `json`"),
                ))
            }
        };
        let log_filter = get("PORTCULLIS_LOG", file.log).unwrap_or_else(|| "info".to_owned());
        tracing_subscriber::EnvFilter::try_new(&log_filter)
            .map_err(|e| err("PORTCULLIS_LOG", e.to_string()))?;
        let session_idle_minutes = num(
            "PORTCULLIS_SESSION_IDLE_MINUTES",
            file.session_idle_minutes,
            60,
            1,
            24 * 60,
        )?;
        let session_max_hours = num(
            "PORTCULLIS_SESSION_MAX_HOURS",
            file.session_max_hours,
            12,
            1,
            24 * 30,
        )?;
        let db_max_connections = num(
            "PORTCULLIS_DB_MAX_CONNECTIONS",
            file.db_max_connections.map(i64::from),
            16,
            1,
            1000,
        )? as u32;
        let sqlite_synchronous = match get("PORTCULLIS_SQLITE_SYNCHRONOUS", file.sqlite_synchronous)
            .filter(|v| !v.is_empty())
        {
            Some(v) => v
                .parse()
                .map_err(|m: String| err("PORTCULLIS_SQLITE_SYNCHRONOUS", m))?,
            None => portcullis_domain::SqliteSync::Full,
        };
        let max_body_bytes = num(
            "PORTCULLIS_MAX_BODY_BYTES",
            file.max_body_bytes.map(|v| v as i64),
            1 << 20,
            1024,
            64 << 20,
        )? as usize;
        let http_workers = num(
            "PORTCULLIS_HTTP_WORKERS",
            file.http_workers.map(|v| v as i64),
            0,
            0,
            256,
        )? as usize;
        let secs = |key: &str, file: Option<u64>, default: i64, max: i64| {
            num(key, file.map(|v| v as i64), default, 1, max)
                .map(|v| std::time::Duration::from_secs(v as u64))
        };
        let http_limits = portcullis_listener::HttpLimits {
            header_timeout: secs(
                "PORTCULLIS_HTTP_HEADER_TIMEOUT_SECS",
                file.http_header_timeout_secs,
                10,
                3600,
            )?,
            idle_timeout: secs(
                "PORTCULLIS_HTTP_IDLE_TIMEOUT_SECS",
                file.http_idle_timeout_secs,
                60,
                86_400,
            )?,
            body_timeout: secs(
                "PORTCULLIS_HTTP_BODY_TIMEOUT_SECS",
                file.http_body_timeout_secs,
                30,
                3600,
            )?,
            max_connections: num(
                "PORTCULLIS_HTTP_MAX_CONNECTIONS",
                file.http_max_connections.map(|v| v as i64),
                10_000,
                1,
                1_000_000,
            )? as usize,
            max_connections_per_ip: num(
                "PORTCULLIS_HTTP_MAX_CONNECTIONS_PER_IP",
                file.http_max_connections_per_ip.map(|v| v as i64),
                1_000,
                1,
                1_000_000,
            )? as usize,
            shutdown_timeout: secs(
                "PORTCULLIS_HTTP_SHUTDOWN_SECS",
                file.http_shutdown_secs,
                10,
                3600,
            )?,
        };
        let forwarded_header = get("PORTCULLIS_FORWARDED_HEADER", file.forwarded_header)
            .filter(|h| !h.is_empty())
            .map_or(
                Ok(crate::http::forwarded::ForwardedHeader::XForwardedFor),
                |h| {
                    h.parse()
                        .map_err(|m: String| err("PORTCULLIS_FORWARDED_HEADER", m))
                },
            )?;
        let trusted_proxies = crate::http::forwarded::TrustedProxies::parse(
            &get("PORTCULLIS_TRUSTED_PROXIES", file.trusted_proxies).unwrap_or_default(),
            forwarded_header,
        )
        .map_err(|m| err("PORTCULLIS_TRUSTED_PROXIES", m))?;
        let fetch_allowed_hosts: Vec<String> =
            get("PORTCULLIS_FETCH_ALLOWED_HOSTS", file.fetch_allowed_hosts)
                .unwrap_or_default()
                .split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect();
        portcullis_discovery::Guard::new(portcullis_discovery::GuardConfig {
            allowed_hosts: fetch_allowed_hosts.clone(),
            ..Default::default()
        })
        .map_err(|e| err("PORTCULLIS_FETCH_ALLOWED_HOSTS", e.to_string()))?;
        let fetch_ca_file = get("PORTCULLIS_FETCH_CA_FILE", file.fetch_ca_file)
            .filter(|f| !f.is_empty())
            .map(PathBuf::from);
        if let Some(f) = &fetch_ca_file {
            let pem = std::fs::read(f)
                .map_err(|e| err("PORTCULLIS_FETCH_CA_FILE", format!("{}: {e}", f.display())))?;
            portcullis_discovery::Guard::new(portcullis_discovery::GuardConfig {
                extra_roots_pem: vec![pem],
                ..Default::default()
            })
            .map_err(|e| err("PORTCULLIS_FETCH_CA_FILE", e.to_string()))?;
        }
        let bootstrap_owner_email = get(
            "PORTCULLIS_BOOTSTRAP_OWNER_EMAIL",
            file.bootstrap_owner_email,
        )
        .unwrap_or_else(|| "owner@portcullis.local".to_owned());
        portcullis_domain::console::normalize_email(
            "PORTCULLIS_BOOTSTRAP_OWNER_EMAIL",
            &bootstrap_owner_email,
        )
        .map_err(|e| err("PORTCULLIS_BOOTSTRAP_OWNER_EMAIL", e.to_string()))?;
        let secret_key = get("PORTCULLIS_SECRET_KEY", file.secret_key)
            .map(|k| {
                portcullis_domain::secrets::SecretBox::parse_key(&k)
                    .map_err(|m| err("PORTCULLIS_SECRET_KEY", m))
            })
            .transpose()?;
        let secret_key_previous = get("PORTCULLIS_SECRET_KEY_PREVIOUS", file.secret_key_previous)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .enumerate()
            .map(|(i, k)| {
                portcullis_domain::secrets::SecretBox::parse_key(k).map_err(|m| {
                    err(
                        "PORTCULLIS_SECRET_KEY_PREVIOUS",
                        format!("key {}: {m}", i + 1),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let secret_key_file = get("PORTCULLIS_SECRET_KEY_FILE", file.secret_key_file)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                sqlite_dir_of(&database_url)
                    .unwrap_or_else(|| PathBuf::from("data"))
                    .join("secret.key")
            });
        let policy_recheck_seconds = num(
            "PORTCULLIS_POLICY_RECHECK_SECONDS",
            file.policy_recheck_seconds,
            5,
            1,
            3600,
        )?;
        let access_token_minutes = num(
            "PORTCULLIS_ACCESS_TOKEN_MINUTES",
            file.access_token_minutes,
            10,
            1,
            1440,
        )?;
        let oauth_failed_tokens_per_ip = num(
            "PORTCULLIS_OAUTH_FAILED_TOKENS_PER_IP",
            file.oauth_failed_tokens_per_ip,
            30,
            1,
            1_000_000,
        )?;
        let oauth_client_tokens_per_minute = num(
            "PORTCULLIS_OAUTH_CLIENT_TOKENS_PER_MINUTE",
            file.oauth_client_tokens_per_minute,
            6_000,
            0,
            10_000_000,
        )?;
        let scim_requests_per_minute = num(
            "PORTCULLIS_SCIM_REQUESTS_PER_MINUTE",
            file.scim_requests_per_minute,
            120_000,
            0,
            100_000_000,
        )?;
        let sso_starts_per_minute = num(
            "PORTCULLIS_SSO_STARTS_PER_MINUTE",
            file.sso_starts_per_minute,
            60,
            0,
            1_000_000,
        )?;
        let api_key_requests_per_minute = num(
            "PORTCULLIS_API_KEY_REQUESTS_PER_MINUTE",
            file.api_key_requests_per_minute,
            6_000,
            0,
            100_000_000,
        )?;
        let api_key_failures_per_minute = num(
            "PORTCULLIS_API_KEY_FAILURES_PER_MINUTE",
            file.api_key_failures_per_minute,
            30,
            0,
            1_000_000,
        )?;
        let audit_checkpoint_events = num(
            "PORTCULLIS_AUDIT_CHECKPOINT_EVENTS",
            file.audit_checkpoint_events,
            1_000,
            1,
            100_000_000,
        )?;
        let audit_checkpoint_minutes = num(
            "PORTCULLIS_AUDIT_CHECKPOINT_MINUTES",
            file.audit_checkpoint_minutes,
            10,
            1,
            7 * 24 * 60,
        )?;
        let audit_retention_days = num(
            "PORTCULLIS_AUDIT_RETENTION_DAYS",
            file.audit_retention_days,
            400,
            1,
            36_500,
        )?;
        let audit_decision_retention_days = num(
            "PORTCULLIS_AUDIT_DECISION_RETENTION_DAYS",
            file.audit_decision_retention_days,
            audit_retention_days,
            1,
            36_500,
        )?;
        if audit_decision_retention_days > audit_retention_days {
            return Err(err(
                "PORTCULLIS_AUDIT_DECISION_RETENTION_DAYS",
                format!(
                    "{audit_decision_retention_days} days is longer than PORTCULLIS_AUDIT_RETENTION_DAYS ({audit_retention_days}): decisions cannot outlive the log"
                ),
            ));
        }
        let audit_witness_url = match get("PORTCULLIS_AUDIT_WITNESS_URL", file.audit_witness_url) {
            None => None,
            Some(u) => {
                let parsed = url::Url::parse(&u).map_err(|e| {
                    err(
                        "PORTCULLIS_AUDIT_WITNESS_URL",
                        format!("`{u}` is not a URL: {e}"),
                    )
                })?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                    return Err(err(
                        "PORTCULLIS_AUDIT_WITNESS_URL",
                        "must be an http:// or https:// URL with a host",
                    ));
                }
                Some(u)
            }
        };
        Ok(Config {
            audit_retention_days,
            audit_decision_retention_days,
            audit_checkpoint_events,
            audit_checkpoint_minutes,
            audit_witness_url,
            access_token_minutes,
            api_key_requests_per_minute,
            api_key_failures_per_minute,
            scim_requests_per_minute,
            sso_starts_per_minute,
            oauth_failed_tokens_per_ip,
            oauth_client_tokens_per_minute,
            policy_recheck_seconds,
            database_url,
            secret_key,
            secret_key_file,
            secret_key_previous,
            addr,
            public_url,
            site_root,
            log_format,
            log_filter,
            session_idle_minutes,
            session_max_hours,
            db_max_connections,
            sqlite_synchronous,
            max_body_bytes,
            http_workers,
            http_limits,
            trusted_proxies,
            fetch_allowed_hosts,
            fetch_ca_file,
            bootstrap_owner_email,
        })
    }

    /// The public URL, given the address actually bound.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }

    /// The domain settings derived from this configuration. Reads the
    /// secret key, creating its file with a fresh key on first start.
    pub fn domain_settings(&self) -> Result<portcullis_domain::Settings, ConfigError> {
        Ok(portcullis_domain::Settings {
            session_idle: chrono::Duration::minutes(self.session_idle_minutes),
            session_absolute: chrono::Duration::hours(self.session_max_hours),
            fetch_allowed_hosts: self.fetch_allowed_hosts.clone(),
            fetch_extra_roots_pem: match &self.fetch_ca_file {
                Some(f) => vec![std::fs::read(f).map_err(|e| ConfigError {
                    key: "PORTCULLIS_FETCH_CA_FILE".into(),
                    message: format!("{}: {e}", f.display()),
                })?],
                None => Vec::new(),
            },
            secrets: self.secret_box()?,
            policy_recheck: std::time::Duration::from_secs(self.policy_recheck_seconds as u64),
            access_token_ttl: chrono::Duration::minutes(self.access_token_minutes),
            oauth_failed_tokens_per_ip: self.oauth_failed_tokens_per_ip.unsigned_abs(),
            oauth_client_tokens_per_minute: self.oauth_client_tokens_per_minute.unsigned_abs(),
            scim_requests_per_minute: self.scim_requests_per_minute.unsigned_abs(),
            sso_starts_per_minute: self.sso_starts_per_minute.unsigned_abs(),
            api_key_requests_per_minute: self.api_key_requests_per_minute.unsigned_abs(),
            api_key_failures_per_ip: self.api_key_failures_per_minute.unsigned_abs(),
            audit_checkpoint_events: self.audit_checkpoint_events,
            audit_checkpoint_interval: chrono::Duration::minutes(self.audit_checkpoint_minutes),
            audit_witness_url: self.audit_witness_url.clone(),
            audit_retention_days: self.audit_retention_days,
            audit_decision_retention_days: self.audit_decision_retention_days,
        })
    }

    /// The secret box: the current key, and the keys it replaced that still
    /// open what they sealed (the environment's, and the rotation file's
    /// still in their grace period).
    pub fn secret_box(&self) -> Result<portcullis_domain::secrets::SecretBox, ConfigError> {
        let key = self.load_secret_key()?;
        let mut previous = self.secret_key_previous.clone();
        let file = crate::secret_key::previous_file(&self.secret_key_file);
        previous.extend(
            crate::secret_key::read_previous(&file, chrono::Utc::now())
                .map_err(|m| err("PORTCULLIS_SECRET_KEY_FILE", m))?
                .into_iter()
                .map(|p| p.key),
        );
        Ok(portcullis_domain::secrets::SecretBox::with_previous(
            &key, &previous,
        ))
    }

    pub(crate) fn load_secret_key(&self) -> Result<[u8; 32], ConfigError> {
        use portcullis_domain::secrets::SecretBox;
        const KEY: &str = "PORTCULLIS_SECRET_KEY_FILE";
        if let Some(k) = self.secret_key {
            return Ok(k);
        }
        let path = &self.secret_key_file;
        match std::fs::read_to_string(path) {
            Ok(text) => SecretBox::parse_key(&text)
                .map_err(|m| err(KEY, format!("{}: {m}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use base64::Engine;
                use std::io::Write;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| err(KEY, format!("cannot create {}: {e}", dir.display())))?;
                }
                let key = SecretBox::generate_key();
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts
                    .open(path)
                    .map_err(|e| err(KEY, format!("cannot create {}: {e}", path.display())))?;
                writeln!(
                    f,
                    "{}",
                    base64::engine::general_purpose::STANDARD.encode(key)
                )
                .map_err(|e| err(KEY, format!("cannot write {}: {e}", path.display())))?;
                // On disk before anything is sealed with it: a key lost to
                // a power cut would make every sealed secret unreadable.
                f.sync_all()
                    .map_err(|e| err(KEY, format!("cannot sync {}: {e}", path.display())))?;
                sync_dir(path).map_err(|e| {
                    err(
                        KEY,
                        format!("cannot sync the folder of {}: {e}", path.display()),
                    )
                })?;
                tracing::info!(path = %path.display(), "created a new secret key");
                Ok(key)
            }
            Err(e) => Err(err(KEY, format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// For SQLite URLs, the folder the database file lives in (created at start).
    pub fn sqlite_dir(&self) -> Option<PathBuf> {
        sqlite_dir_of(&self.database_url)
    }
}

/// Syncs the folder holding `path`, so a file just created in it survives
/// a power loss (its directory entry is on disk too).
pub(crate) fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn sqlite_dir_of(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let path = rest.trim_start_matches("//").split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
}

fn read_file(path: &Path, explicit: bool) -> Result<FileConfig, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| err("PORTCULLIS_CONFIG", format!("{}: {e}", path.display()))),
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            Ok(FileConfig::default())
        }
        Err(e) => Err(err("PORTCULLIS_CONFIG", format!("{}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        m.entry("PORTCULLIS_CONFIG".into()).or_default();
        m
    }

    /// With nothing set, the defaults give a local SQLite console on port 3000.
    #[test]
    fn config_load_defaults_when_unset() {
        let mut e = env(&[]);
        e.remove("PORTCULLIS_CONFIG");
        let c = Config::load(&e).map_err(|e| e.to_string());
        let c = c.as_ref().map_err(String::as_str);
        assert_eq!(
            c.map(|c| c.addr.to_string()),
            Ok("127.0.0.1:3000".to_owned())
        );
        assert_eq!(
            c.map(|c| c.database_url.as_str()),
            Ok("sqlite:data/portcullis.db")
        );
        assert_eq!(c.map(|c| c.sqlite_dir()), Ok(Some(PathBuf::from("data"))));
    }

    /// A bad value names its key.
    #[test]
    fn config_load_bad_values_name_the_key() {
        let cases = [
            ("PORTCULLIS_ADDR", "localhost"),
            ("PORTCULLIS_PUBLIC_URL", "ftp://x"),
            ("PORTCULLIS_LOG_FORMAT", "yaml"),
            ("PORTCULLIS_SESSION_IDLE_MINUTES", "ten"),
            ("PORTCULLIS_SESSION_MAX_HOURS", "0"),
            ("DATABASE_URL", "mysql://x"),
            ("PORTCULLIS_FETCH_ALLOWED_HOSTS", "mcp.internal:notaport"),
            ("PORTCULLIS_BOOTSTRAP_OWNER_EMAIL", "not-an-email"),
            ("PORTCULLIS_SECRET_KEY", "c2hvcnQ="),
            ("PORTCULLIS_POLICY_RECHECK_SECONDS", "0"),
            ("PORTCULLIS_API_KEY_REQUESTS_PER_MINUTE", "-1"),
            ("PORTCULLIS_API_KEY_FAILURES_PER_MINUTE", "many"),
            ("PORTCULLIS_AUDIT_RETENTION_DAYS", "0"),
            // Longer than the default 400-day retention.
            ("PORTCULLIS_AUDIT_DECISION_RETENTION_DAYS", "500"),
        ];
        for (key, value) in cases {
            let e = Config::load(&env(&[(key, value)]));
            assert_eq!(
                e.map(|_| ()).map_err(|e| e.key),
                Err(key.to_owned()),
                "{key}={value}"
            );
        }
    }

    /// The secret key file is made once (0600) and read back the same; a
    /// damaged one is an error naming PORTCULLIS_SECRET_KEY_FILE.
    #[test]
    fn config_secret_key_file_is_created_once_and_checked() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite:{}/db/p.db", dir.path().display());
        let c = Config::load(&env(&[("DATABASE_URL", &url)])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.secret_key_file, dir.path().join("db/secret.key"));
        let first = c.load_secret_key().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.load_secret_key().ok(),
            Some(first),
            "read back, not remade"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&c.secret_key_file)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_default();
            assert_eq!(mode, 0o600);
        }
        std::fs::write(&c.secret_key_file, "not a key").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.load_secret_key().map_err(|e| e.key),
            Err("PORTCULLIS_SECRET_KEY_FILE".to_owned())
        );
    }

    /// An explicitly named file that does not exist is an error naming PORTCULLIS_CONFIG.
    #[test]
    fn config_load_missing_explicit_file_fails() {
        let e = Config::load(&env(&[("PORTCULLIS_CONFIG", "/nonexistent/p.toml")]));
        assert_eq!(
            e.map(|_| ()).map_err(|e| e.key),
            Err("PORTCULLIS_CONFIG".to_owned())
        );
    }

    /// File values apply, and the environment wins over them; unknown file keys are refused.
    #[test]
    fn config_load_file_then_env_precedence() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "addr = \"127.0.0.1:4000\"\nsession_idle_minutes = 15\n",
        )?;
        let p = path.display().to_string();
        let c = Config::load(&env(&[("PORTCULLIS_CONFIG", &p)]))?;
        assert_eq!((c.addr.port(), c.session_idle_minutes), (4000, 15));
        let c = Config::load(&env(&[
            ("PORTCULLIS_CONFIG", &p),
            ("PORTCULLIS_ADDR", "127.0.0.1:5000"),
        ]))?;
        assert_eq!(c.addr.port(), 5000);
        std::fs::write(&path, "adr = \"typo\"\n")?;
        let e = Config::load(&env(&[("PORTCULLIS_CONFIG", &p)]));
        assert_eq!(
            e.map(|_| ()).map_err(|e| e.key),
            Err("PORTCULLIS_CONFIG".to_owned())
        );
        Ok(())
    }
}
