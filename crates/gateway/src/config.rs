//! Configuration: a TOML file, with the settings an operator changes per
//! deployment also taken from the environment (`PORTCULLIS_GATEWAY_*`) or
//! the command line, which win over the file.
//!
//! ```toml
//! listen = "127.0.0.1:8443"
//! state_dir = "/var/lib/portcullis-gateway"
//!
//! [console]
//! url = "https://portcullis.corp.example"
//! # or PORTCULLIS_GATEWAY_CREDENTIAL
//! credential = "pcg_…"
//!
//! [[upstream]]
//! # The MCP server's resource URL as registered in the console's catalog:
//! # clients connect here, tokens are bound to it, and its path routes.
//! resource = "https://mcp.corp.example/github"
//! url = "http://10.0.3.7:8080/mcp"
//! # Sent upstream on every request (the client's token never is).
//! headers = { Authorization = "Bearer upstream-secret" }
//! # Scopes every token for this server must carry.
//! scopes = ["repo"]
//! ```
//!
//! Other settings: `allowed_origins` (browser origins allowed besides each
//! upstream's own), `pin_max_age_secs` (default 5), `workers` (serving
//! threads; default one per CPU), `log_format`, and a
//! `[limits]` table (`max_request_bytes`, `max_list_bytes`,
//! `max_spool_bytes`, `upstream_timeout_secs`, `shutdown_grace_secs`, and
//! the listener's `header_timeout_secs`, `idle_timeout_secs`,
//! `body_timeout_secs`, `max_connections`, `max_connections_per_ip`).
//! `docs/gateway.md` documents each.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_listener::HttpLimits;
use serde::Deserialize;
use url::Url;

/// The whole configuration, validated.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address the gateway listens on.
    pub listen: SocketAddr,
    /// Where the last good bundle, the JWKS and the decision spool live.
    pub state_dir: PathBuf,
    pub console: ConsoleConfig,
    pub upstreams: Vec<Upstream>,
    pub limits: Limits,
    /// `json` or `text` logs.
    pub log_format: LogFormat,
    /// Browser origins allowed besides each upstream's own (a request with
    /// any other `Origin` header is refused: DNS rebinding).
    pub allowed_origins: Vec<String>,
    /// How old the gateway's knowledge of a server's live tool definitions
    /// may be when a `tools/call` is decided; older, it lists the
    /// upstream's tools itself first (0: before every call).
    pub pin_max_age: Duration,
    /// Threads serving requests, each with its own runtime and upstream
    /// connections (0: one per CPU this process may use).
    pub workers: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

/// How to reach the console.
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    /// The console's base URL (policy API, JWKS, decisions).
    pub url: Url,
    /// The `iss` of access tokens: the console's public URL exactly.
    pub issuer: String,
    /// The gateway's credential (`pcg_…`).
    pub credential: String,
    /// Long-poll length, seconds (0–60).
    pub poll_wait: Duration,
}

/// One upstream MCP server.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// The resource URL (RFC 8707) the console's catalog lists for it.
    pub resource: String,
    /// The path of `resource`: requests to it are this server's.
    pub path: String,
    /// The upstream MCP endpoint.
    pub url: Url,
    /// Headers sent upstream on every request (its own credentials).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Scopes a token must carry, all of them.
    pub scopes: Vec<String>,
}

/// Bounds that protect the gateway.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest MCP request body accepted, bytes.
    pub max_request_bytes: usize,
    /// Largest `tools/list` response the gateway buffers to filter, bytes.
    pub max_list_bytes: usize,
    /// Largest decision spool on disk, bytes.
    pub max_spool_bytes: u64,
    /// How long an upstream may take to start answering.
    pub upstream_timeout: Duration,
    /// The listener's: header, idle and body timeouts, connection caps,
    /// and how long in-flight requests get on shutdown (`shutdown_timeout`,
    /// the file's `shutdown_grace_secs`). The console's defaults.
    pub listener: HttpLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 4 << 20,
            max_list_bytes: 16 << 20,
            max_spool_bytes: 64 << 20,
            upstream_timeout: Duration::from_secs(30),
            listener: HttpLimits::default(),
        }
    }
}

/// A configuration error, naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    pub pin_max_age_secs: Option<u64>,
    pub workers: Option<usize>,
    #[serde(default)]
    pub console: FileConsole,
    #[serde(default)]
    pub upstream: Vec<FileUpstream>,
    #[serde(default)]
    pub limits: FileLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConsole {
    pub url: Option<String>,
    pub issuer: Option<String>,
    pub credential: Option<String>,
    pub poll_wait_secs: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUpstream {
    pub resource: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    pub max_request_bytes: Option<usize>,
    pub max_list_bytes: Option<usize>,
    pub max_spool_bytes: Option<u64>,
    pub upstream_timeout_secs: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
    pub header_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
}

impl FileLimits {
    fn validate(self) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        let secs = |name: &str, v: Option<u64>, default: Duration, max: u64| match v {
            None => Ok(default),
            Some(v) if (1..=max).contains(&v) => Ok(Duration::from_secs(v)),
            Some(_) => Err(err(format!("limits.{name}"), format!("use 1 to {max}"))),
        };
        let count = |name: &str, v: Option<usize>, default: usize| match v {
            None => Ok(default),
            Some(v) if (1..=1_000_000).contains(&v) => Ok(v),
            Some(_) => Err(err(format!("limits.{name}"), "use 1 to 1000000")),
        };
        let l = d.listener;
        Ok(Limits {
            max_request_bytes: self.max_request_bytes.unwrap_or(d.max_request_bytes),
            max_list_bytes: self.max_list_bytes.unwrap_or(d.max_list_bytes),
            max_spool_bytes: self.max_spool_bytes.unwrap_or(d.max_spool_bytes),
            upstream_timeout: self
                .upstream_timeout_secs
                .map_or(d.upstream_timeout, Duration::from_secs),
            listener: HttpLimits {
                header_timeout: secs(
                    "header_timeout_secs",
                    self.header_timeout_secs,
                    l.header_timeout,
                    3600,
                )?,
                idle_timeout: secs(
                    "idle_timeout_secs",
                    self.idle_timeout_secs,
                    l.idle_timeout,
                    86_400,
                )?,
                body_timeout: secs(
                    "body_timeout_secs",
                    self.body_timeout_secs,
                    l.body_timeout,
                    3600,
                )?,
                max_connections: count("max_connections", self.max_connections, l.max_connections)?,
                max_connections_per_ip: count(
                    "max_connections_per_ip",
                    self.max_connections_per_ip,
                    l.max_connections_per_ip,
                )?,
                shutdown_timeout: secs(
                    "shutdown_grace_secs",
                    self.shutdown_grace_secs,
                    l.shutdown_timeout,
                    3600,
                )?,
            },
        })
    }
}

impl FileConfig {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err("config", format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| err("config", format!("{}: {e}", path.display())))
    }

    /// Validates the file (with overrides already applied) into a [`Config`].
    pub fn validate(self) -> Result<Config, ConfigError> {
        let listen = self
            .listen
            .as_deref()
            .unwrap_or("127.0.0.1:8443")
            .parse::<SocketAddr>()
            .map_err(|e| err("listen", format!("not an address (host:port): {e}")))?;
        let state_dir = self
            .state_dir
            .ok_or_else(|| err("state_dir", "required (where the last good bundle is kept)"))?;
        let url = self
            .console
            .url
            .ok_or_else(|| err("console.url", "required"))?;
        let url = Url::parse(&url).map_err(|e| err("console.url", e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(err("console.url", "use an http or https URL"));
        }
        let issuer = self
            .console
            .issuer
            .unwrap_or_else(|| url.as_str().trim_end_matches('/').to_owned());
        let credential = self
            .console
            .credential
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                err(
                    "console.credential",
                    "required (the gateway's pcg_… credential from the console)",
                )
            })?;
        let poll_wait = self.console.poll_wait_secs.unwrap_or(30);
        if poll_wait > 60 {
            return Err(err("console.poll_wait_secs", "use 0 to 60"));
        }
        if self.upstream.is_empty() {
            return Err(err(
                "upstream",
                "configure at least one upstream MCP server",
            ));
        }
        let mut upstreams: Vec<Upstream> = Vec::with_capacity(self.upstream.len());
        for (i, u) in self.upstream.into_iter().enumerate() {
            let upstream = u.validate(i)?;
            if upstreams.iter().any(|o| o.path == upstream.path) {
                return Err(err(
                    format!("upstream[{i}].resource"),
                    format!("another upstream already serves path {}", upstream.path),
                ));
            }
            upstreams.push(upstream);
        }
        let mut allowed_origins = Vec::with_capacity(self.allowed_origins.len());
        for (i, o) in self.allowed_origins.iter().enumerate() {
            let origin = Url::parse(o)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/")
                .map(|u| u.origin().ascii_serialization())
                .ok_or_else(|| {
                    err(
                        format!("allowed_origins[{i}]"),
                        "use an origin such as https://app.example.com",
                    )
                })?;
            allowed_origins.push(origin);
        }
        let workers = self.workers.unwrap_or(0);
        if workers > 1024 {
            return Err(err("workers", "use 0 (one per CPU) to 1024"));
        }
        let limits = self.limits.validate()?;
        Ok(Config {
            listen,
            state_dir,
            console: ConsoleConfig {
                url,
                issuer,
                credential,
                poll_wait: Duration::from_secs(poll_wait),
            },
            upstreams,
            limits,
            log_format: self.log_format.unwrap_or(LogFormat::Json),
            allowed_origins,
            pin_max_age: Duration::from_secs(self.pin_max_age_secs.unwrap_or(5)),
            workers,
        })
    }
}

impl FileUpstream {
    /// Parses `RESOURCE=URL` (the `--upstream` flag).
    pub fn parse_flag(flag: &str) -> Result<FileUpstream, ConfigError> {
        let (resource, url) = flag
            .split_once('=')
            .ok_or_else(|| err("--upstream", "use RESOURCE_URL=UPSTREAM_URL"))?;
        Ok(FileUpstream {
            resource: resource.to_owned(),
            url: url.to_owned(),
            headers: BTreeMap::new(),
            scopes: Vec::new(),
        })
    }

    fn validate(self, i: usize) -> Result<Upstream, ConfigError> {
        let field = |name: &str| format!("upstream[{i}].{name}");
        let resource =
            Url::parse(&self.resource).map_err(|e| err(field("resource"), e.to_string()))?;
        if !matches!(resource.scheme(), "http" | "https")
            || resource.query().is_some()
            || resource.fragment().is_some()
        {
            return Err(err(
                field("resource"),
                "use an http(s) URL without query or fragment",
            ));
        }
        let url = Url::parse(&self.url).map_err(|e| err(field("url"), e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(err(field("url"), "use an http or https URL"));
        }
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in self.headers {
            let header_name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| err(field("headers"), format!("{name:?} is not a header name")))?;
            let mut header_value = http::HeaderValue::from_str(&value).map_err(|_| {
                err(
                    field("headers"),
                    format!("the value of {name} cannot be sent in a header"),
                )
            })?;
            header_value.set_sensitive(true);
            headers.push((header_name, header_value));
        }
        for scope in &self.scopes {
            if scope.is_empty()
                || scope.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\')
            {
                return Err(err(field("scopes"), format!("{scope:?} is not a scope")));
            }
        }
        let path = match resource.path() {
            "" => "/".to_owned(),
            p => p.to_owned(),
        };
        if path.starts_with("/.well-known/")
            || matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics")
        {
            return Err(err(
                field("resource"),
                format!("path {path} is reserved by the gateway"),
            ));
        }
        Ok(Upstream {
            resource: self.resource,
            path,
            url,
            headers,
            scopes: self.scopes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> FileConfig {
        FileConfig {
            state_dir: Some("/tmp/x".into()),
            console: FileConsole {
                url: Some("http://127.0.0.1:3000/".into()),
                credential: Some("pcg_x".into()),
                ..FileConsole::default()
            },
            upstream: vec![FileUpstream::parse_flag(
                "http://127.0.0.1:8443/github=http://127.0.0.1:9000/mcp",
            )
            .unwrap_or_else(|e| panic!("{e}"))],
            ..FileConfig::default()
        }
    }

    #[test]
    fn defaults_and_the_issuer_from_the_console_url() {
        let c = base().validate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.console.issuer, "http://127.0.0.1:3000");
        assert_eq!(c.upstreams[0].path, "/github");
        assert_eq!(c.console.poll_wait, Duration::from_secs(30));
        assert_eq!(c.workers, 0, "one worker per CPU unless configured");
        let l = &c.limits.listener;
        assert_eq!(
            (l.header_timeout, l.idle_timeout, l.body_timeout),
            (
                Duration::from_secs(10),
                Duration::from_secs(60),
                Duration::from_secs(30)
            )
        );
        assert_eq!(
            (l.max_connections, l.max_connections_per_ip),
            (10_000, 1_000)
        );
        assert_eq!(l.shutdown_timeout, Duration::from_secs(10));
    }

    #[test]
    fn errors_name_the_setting() {
        let mut f = base();
        f.workers = Some(5000);
        assert_eq!(f.validate().err().map(|e| e.field), Some("workers".into()));
        let mut f = base();
        f.console.credential = None;
        assert_eq!(
            f.validate().err().map(|e| e.field),
            Some("console.credential".into())
        );
        let mut f = base();
        f.upstream.push(f.upstream[0].clone());
        assert_eq!(
            f.validate().err().map(|e| e.field),
            Some("upstream[1].resource".into())
        );
        let mut f = base();
        f.upstream[0].resource = "http://x/.well-known/oauth-protected-resource".into();
        assert_eq!(
            f.validate().err().map(|e| e.field),
            Some("upstream[0].resource".into())
        );
        let mut f = base();
        f.upstream[0]
            .headers
            .insert("Authorization".into(), "bad\nvalue".into());
        assert_eq!(
            f.validate().err().map(|e| e.field),
            Some("upstream[0].headers".into())
        );
        let mut f = base();
        f.limits.header_timeout_secs = Some(0);
        assert_eq!(
            f.validate().err().map(|e| e.field),
            Some("limits.header_timeout_secs".into())
        );
        let mut f = base();
        f.limits.max_connections_per_ip = Some(0);
        assert_eq!(
            f.validate().err().map(|e| e.field),
            Some("limits.max_connections_per_ip".into())
        );
        let mut f = base();
        f.console.poll_wait_secs = Some(61);
        assert_eq!(
            f.validate().err().map(|e| e.field),
            Some("console.poll_wait_secs".into())
        );
    }
}
