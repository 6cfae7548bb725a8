//! The SSRF guard: every URL the server fetches on an admin's or a remote
//! party's say-so (MCP discovery, IdP metadata, client ID metadata
//! documents) goes through [`Guard`].
//!
//! What it enforces, per request and per redirect hop:
//!
//! * scheme `http` or `https` only (`https` only when [`GuardConfig::https_only`]),
//!   no userinfo in the URL, no `https` → `http` downgrade on redirect;
//! * the address connected to is a globally routable unicast address (see
//!   [`AddressKind`] for what is refused) unless the URL's `host` or
//!   `host:port` is on [`GuardConfig::allowed_hosts`];
//! * the check happens on the addresses the connection actually uses: a
//!   custom [`reqwest::dns::Resolve`] resolves with tokio, drops refused
//!   addresses and fails when none are left, so there is no window between
//!   check and connect for DNS rebinding. Hosts that are IP literals never
//!   reach a resolver (hyper connects to them directly), so the guard checks
//!   them itself before each hop;
//! * redirects are followed by the guard, not by reqwest, so each hop is
//!   re-checked (scheme, literal address, allow list by `host:port`, hop
//!   count) and credentials (`Authorization`, `Cookie`) are dropped when the
//!   origin changes;
//! * one deadline ([`GuardConfig::timeout`]) covers all hops and the body,
//!   and the body is counted while it streams: reading stops with
//!   [`GuardError::TooLarge`] as soon as it passes
//!   [`GuardConfig::max_body_bytes`];
//! * no proxy (a proxy would resolve the target itself) and no transparent
//!   decompression (compression bombs).
//!
//! The guard deliberately exposes no raw `reqwest::Client`: with one, a
//! caller could reach an IP-literal URL or follow redirects unchecked.

mod ip;
mod stream;

use std::collections::HashSet;
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::time::Instant;
use url::{Host, Url};

pub use ip::{classify, AddressKind};
pub use stream::GuardedStream;

/// Settings of a [`Guard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// Hosts an admin explicitly allowed to resolve to otherwise refused
    /// addresses: `host` (any port) or `host:port`; IPv6 literals as `[::1]`
    /// or `[::1]:8080`. Domain names match case-insensitively, without a
    /// trailing dot; there are no wildcards.
    pub allowed_hosts: Vec<String>,
    /// Largest response body read, in bytes.
    pub max_body_bytes: usize,
    /// Deadline for a whole fetch: every redirect hop, headers and body.
    pub timeout: Duration,
    /// Deadline for establishing one connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Redirects followed before giving up.
    pub max_redirects: usize,
    /// Refuse plain `http`.
    pub https_only: bool,
    /// `User-Agent` sent with every request.
    pub user_agent: String,
    /// PEM certificates trusted as roots besides the system's and the
    /// webpki roots (an internal CA; the tests' CA).
    pub extra_roots_pem: Vec<Vec<u8>>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            max_body_bytes: 4 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_redirects: 3,
            https_only: false,
            user_agent: concat!("portcullis/", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_roots_pem: Vec::new(),
        }
    }
}

/// Why a URL or address was refused before connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockReason {
    /// A scheme other than `http`/`https`.
    Scheme(String),
    /// Plain `http` while the guard is `https_only`.
    HttpsRequired,
    /// `user:password@` in the URL.
    Userinfo,
    /// A redirect from `https` to `http`.
    Downgrade,
    /// The host is an IP literal of a refused kind.
    Literal(AddressKind),
    /// Every address the host resolves to is refused; the first one is shown.
    Resolved {
        /// The first refused address.
        addr: IpAddr,
        /// What it is.
        kind: AddressKind,
    },
}

/// Everything that can go wrong with a guarded fetch. The `Display` texts are
/// written for an admin reading them in the console.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The URL does not parse or has no host.
    #[error("{url:?} is not a valid URL: {message}")]
    InvalidUrl {
        /// The offending URL (or redirect target).
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// Refused before connecting.
    #[error("{}", blocked_message(host, reason, *redirected))]
    Blocked {
        /// The host as it appears in the URL.
        host: String,
        /// Why.
        reason: BlockReason,
        /// The refused URL came from a redirect.
        redirected: bool,
    },
    /// The host name did not resolve.
    #[error("could not resolve {host}: {message}")]
    Dns {
        /// The host name.
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// The deadline passed (connect, headers or body).
    #[error("no complete answer within {} ms", after.as_millis())]
    Timeout {
        /// The deadline that passed.
        after: Duration,
    },
    /// The body passed the size limit; reading stopped there.
    #[error("the response is larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// More redirects than allowed.
    #[error("more than {limit} redirects")]
    TooManyRedirects {
        /// The limit.
        limit: usize,
    },
    /// Connecting failed (refused, unreachable, TLS).
    #[error("{0}")]
    Connect(String),
    /// The exchange failed after connecting (broken body, protocol error).
    #[error("{0}")]
    Transport(String),
    /// A non-success status, from [`Fetched::error_for_status`].
    #[error("the server answered HTTP {0}")]
    Http(u16),
    /// A bad [`GuardConfig`] (unparseable allow-list entry) or request.
    #[error("{0}")]
    Config(String),
}

impl GuardError {
    /// Whether the guard refused the target (as opposed to a network error).
    pub fn is_blocked(&self) -> bool {
        matches!(self, GuardError::Blocked { .. })
    }
}

fn blocked_message(host: &str, reason: &BlockReason, redirected: bool) -> String {
    let prefix = if redirected {
        "the server redirected to a refused target: "
    } else {
        ""
    };
    const ALLOW: &str = "allow the host in Settings to reach it";
    let body = match reason {
        BlockReason::Scheme(s) => format!("{s}: is not an allowed scheme (use http or https)"),
        BlockReason::HttpsRequired => format!("{host} must be reached over https"),
        BlockReason::Userinfo => "URLs with a user name or password are not allowed".to_owned(),
        BlockReason::Downgrade => format!("redirect from https to plain http ({host}) refused"),
        BlockReason::Literal(kind) => format!("{host} is {kind}; {ALLOW}"),
        BlockReason::Resolved { addr, kind } => {
            format!("{host} resolves to {addr}, {kind}; {ALLOW}")
        }
    };
    format!("{prefix}{body}")
}

/// The host part of an allow-list entry, normalised like URL hosts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum HostKey {
    Domain(String),
    Ip(IpAddr),
}

impl HostKey {
    fn from_url_host(host: Host<&str>) -> Self {
        match host {
            Host::Domain(d) => HostKey::Domain(normalise_domain(d)),
            Host::Ipv4(v4) => HostKey::Ip(IpAddr::V4(v4)),
            Host::Ipv6(v6) => HostKey::Ip(IpAddr::V6(v6)),
        }
    }
}

fn normalise_domain(d: &str) -> String {
    d.trim_end_matches('.').to_ascii_lowercase()
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowEntry {
    host: HostKey,
    port: Option<u16>,
}

fn parse_allow_entry(raw: &str) -> Result<AllowEntry, GuardError> {
    let bad = |why: &str| GuardError::Config(format!("allowed host {raw:?}: {why}"));
    let s = raw.trim();
    if s.is_empty() {
        return Err(bad("empty"));
    }
    if s.contains(['/', '@', '?', '#', '*']) || s.contains(char::is_whitespace) {
        return Err(bad("expected host or host:port"));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad("bad port"))?),
        };
        (format!("[{inside}]"), port)
    } else if s.parse::<std::net::Ipv6Addr>().is_ok() {
        (format!("[{s}]"), None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (s.to_owned(), None),
        }
    };
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| bad("bad port")))
        .transpose()?;
    let host = Host::parse(&host).map_err(|e| bad(&e.to_string()))?;
    let host = match host {
        Host::Domain(d) => HostKey::Domain(normalise_domain(&d)),
        Host::Ipv4(v4) => HostKey::Ip(IpAddr::V4(v4)),
        Host::Ipv6(v6) => HostKey::Ip(IpAddr::V6(v6)),
    };
    Ok(AllowEntry { host, port })
}

/// A request for [`Guard::send`] / [`Guard::fetch`].
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// HTTP method.
    pub method: Method,
    /// Absolute `http`/`https` URL.
    pub url: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Option<Bytes>,
}

impl FetchRequest {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: None,
        }
    }

    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    /// `POST url` with `body`.
    pub fn post(url: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self::new(Method::POST, url).body(body)
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Appends a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

/// A response whose body has not been read yet; read it with
/// [`FetchResponse::chunk`] or [`FetchResponse::bytes`], which enforce the
/// size limit and the deadline.
#[derive(Debug)]
pub struct FetchResponse {
    inner: reqwest::Response,
    limit: usize,
    read: usize,
    deadline: Instant,
    timeout: Duration,
}

impl FetchResponse {
    /// The status of the final (non-redirect) response.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// Its headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The URL after redirects.
    pub fn url(&self) -> &Url {
        self.inner.url()
    }

    /// The next piece of the body, `None` at its end. Fails with
    /// [`GuardError::TooLarge`] as soon as the total passes the limit (or
    /// when `Content-Length` announces more), and with
    /// [`GuardError::Timeout`] at the fetch's deadline.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, GuardError> {
        if self.read == 0 {
            if let Some(len) = self.inner.content_length() {
                if len > self.limit as u64 {
                    return Err(GuardError::TooLarge { limit: self.limit });
                }
            }
        }
        let next = tokio::time::timeout_at(self.deadline, self.inner.chunk())
            .await
            .map_err(|_| GuardError::Timeout {
                after: self.timeout,
            })?
            .map_err(|e| body_error(&e, self.timeout))?;
        if let Some(chunk) = &next {
            self.read = self.read.saturating_add(chunk.len());
            if self.read > self.limit {
                return Err(GuardError::TooLarge { limit: self.limit });
            }
        }
        Ok(next)
    }

    /// The whole body, within the limit.
    pub async fn bytes(mut self) -> Result<Bytes, GuardError> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

/// A response with its body read.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Status of the final response.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// The URL after redirects.
    pub url: Url,
    /// The body (at most [`GuardConfig::max_body_bytes`]).
    pub body: Bytes,
}

impl Fetched {
    /// `Err(GuardError::Http(status))` unless the status is 2xx.
    pub fn error_for_status(self) -> Result<Self, GuardError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(GuardError::Http(self.status.as_u16()))
        }
    }
}

/// The SSRF guard; cheap to clone (shared clients).
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

struct Inner {
    config: GuardConfig,
    allow: Vec<AllowEntry>,
    /// Resolver refuses every non-public address.
    strict: reqwest::Client,
    /// Resolver lets allow-listed names resolve to anything. Used only for
    /// hops whose `host:port` matches an allow-list entry.
    lenient: reqwest::Client,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// Builds a guard; fails on an unparseable allow-list entry.
    pub fn new(config: GuardConfig) -> Result<Self, GuardError> {
        let allow = config
            .allowed_hosts
            .iter()
            .map(|e| parse_allow_entry(e))
            .collect::<Result<Vec<_>, _>>()?;
        let allowed_names: HashSet<String> = allow
            .iter()
            .filter_map(|e| match &e.host {
                HostKey::Domain(d) => Some(d.clone()),
                HostKey::Ip(_) => None,
            })
            .collect();
        let strict = build_client(&config, GuardResolver::default())?;
        let lenient = build_client(
            &config,
            GuardResolver {
                allowed_names: Arc::new(allowed_names),
            },
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                allow,
                strict,
                lenient,
            }),
        })
    }

    /// The settings this guard was built with.
    pub fn config(&self) -> &GuardConfig {
        &self.inner.config
    }

    /// Checks what can be checked without DNS (scheme, userinfo, literal
    /// address) and returns the parsed URL. Useful to validate an admin's
    /// input early; [`Guard::send`] checks again, and also after DNS.
    pub fn check_url(&self, url: &str) -> Result<Url, GuardError> {
        let parsed = parse_url(url)?;
        self.check_hop(&parsed, false)?;
        Ok(parsed)
    }

    /// Sends `request`, following redirects through the guard, and returns
    /// the response with its body still unread.
    pub async fn send(&self, request: FetchRequest) -> Result<FetchResponse, GuardError> {
        let timeout = self.inner.config.timeout;
        let deadline = Instant::now() + timeout;
        tokio::time::timeout_at(deadline, self.send_inner(request, deadline))
            .await
            .map_err(|_| GuardError::Timeout { after: timeout })?
    }

    /// Sends `request` and reads the whole body.
    pub async fn fetch(&self, request: FetchRequest) -> Result<Fetched, GuardError> {
        let response = self.send(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let url = response.url().clone();
        let body = response.bytes().await?;
        Ok(Fetched {
            status,
            headers,
            url,
            body,
        })
    }

    /// `GET url` and the whole body.
    pub async fn get(&self, url: &str) -> Result<Fetched, GuardError> {
        self.fetch(FetchRequest::get(url)).await
    }

    fn is_allowed(&self, url: &Url) -> bool {
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return false;
        };
        let key = HostKey::from_url_host(host);
        self.inner
            .allow
            .iter()
            .any(|e| e.host == key && e.port.is_none_or(|p| p == port))
    }

    /// The checks done before each hop; returns whether the hop uses the
    /// lenient client.
    fn check_hop(&self, url: &Url, redirected: bool) -> Result<bool, GuardError> {
        let host_str = url.host_str().unwrap_or_default().to_owned();
        let blocked = |reason| GuardError::Blocked {
            host: host_str.clone(),
            reason,
            redirected,
        };
        match url.scheme() {
            "https" => {}
            "http" if !self.inner.config.https_only => {}
            "http" => return Err(blocked(BlockReason::HttpsRequired)),
            other => return Err(blocked(BlockReason::Scheme(other.to_owned()))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(blocked(BlockReason::Userinfo));
        }
        let Some(host) = url.host() else {
            return Err(GuardError::InvalidUrl {
                url: url.to_string(),
                message: "no host".to_owned(),
            });
        };
        let allowed = self.is_allowed(url);
        if !allowed {
            let literal = match host {
                Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
                Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
                Host::Domain(_) => None,
            };
            if let Some(kind) = literal.and_then(classify) {
                return Err(blocked(BlockReason::Literal(kind)));
            }
        }
        Ok(allowed)
    }

    async fn send_inner(
        &self,
        request: FetchRequest,
        deadline: Instant,
    ) -> Result<FetchResponse, GuardError> {
        let config = &self.inner.config;
        let FetchRequest {
            mut method,
            url,
            mut headers,
            mut body,
        } = request;
        let mut url = parse_url(&url)?;
        let mut hop = 0usize;
        loop {
            let redirected = hop > 0;
            let lenient = self.check_hop(&url, redirected)?;
            let client = if lenient {
                &self.inner.lenient
            } else {
                &self.inner.strict
            };
            tracing::debug!(%url, %method, hop, lenient, "guarded fetch");
            let mut builder = client
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(b) = &body {
                builder = builder.body(b.clone());
            }
            let response = builder
                .send()
                .await
                .map_err(|e| request_error(&e, &url, redirected, config.timeout))?;
            let status = response.status();
            let is_redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
            let location = response.headers().get(header::LOCATION).cloned();
            let (true, Some(location)) = (is_redirect, location) else {
                return Ok(FetchResponse {
                    inner: response,
                    limit: config.max_body_bytes,
                    read: 0,
                    deadline,
                    timeout: config.timeout,
                });
            };
            drop(response);
            if hop >= config.max_redirects {
                return Err(GuardError::TooManyRedirects {
                    limit: config.max_redirects,
                });
            }
            hop += 1;
            let location = location.to_str().map_err(|_| GuardError::InvalidUrl {
                url: String::from_utf8_lossy(location.as_bytes()).into_owned(),
                message: "redirect target is not ASCII".to_owned(),
            })?;
            let next = url.join(location).map_err(|e| GuardError::InvalidUrl {
                url: location.to_owned(),
                message: e.to_string(),
            })?;
            if url.scheme() == "https" && next.scheme() == "http" {
                return Err(GuardError::Blocked {
                    host: next.host_str().unwrap_or_default().to_owned(),
                    reason: BlockReason::Downgrade,
                    redirected: true,
                });
            }
            let to_get = match status.as_u16() {
                303 => method != Method::HEAD,
                301 | 302 => method == Method::POST,
                _ => false,
            };
            if to_get {
                method = Method::GET;
                body = None;
                for h in [
                    header::CONTENT_TYPE,
                    header::CONTENT_LENGTH,
                    header::CONTENT_ENCODING,
                ] {
                    headers.remove(h);
                }
            }
            if next.origin() != url.origin() {
                for h in [
                    header::AUTHORIZATION,
                    header::COOKIE,
                    header::PROXY_AUTHORIZATION,
                ] {
                    headers.remove(h);
                }
            }
            url = next;
        }
    }
}

fn parse_url(url: &str) -> Result<Url, GuardError> {
    let parsed = Url::parse(url.trim()).map_err(|e| GuardError::InvalidUrl {
        url: url.to_owned(),
        message: e.to_string(),
    })?;
    if parsed.host().is_none() {
        return Err(GuardError::InvalidUrl {
            url: url.to_owned(),
            message: "no host".to_owned(),
        });
    }
    Ok(parsed)
}

fn build_client(
    config: &GuardConfig,
    resolver: GuardResolver,
) -> Result<reqwest::Client, GuardError> {
    let mut builder = reqwest::Client::builder();
    for pem in &config.extra_roots_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| GuardError::Config(format!("extra root certificate: {e}")))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .use_rustls_tls()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .connect_timeout(config.connect_timeout)
        .user_agent(config.user_agent.clone())
        .dns_resolver(Arc::new(resolver))
        .build()
        .map_err(|e| GuardError::Config(format!("HTTP client: {e}")))
}

/// Resolves with tokio and drops refused addresses (unless the name is
/// allow-listed). The failure types below travel inside reqwest's error and
/// are recovered by [`request_error`].
#[derive(Debug, Default, Clone)]
struct GuardResolver {
    allowed_names: Arc<HashSet<String>>,
}

#[derive(Debug)]
enum ResolveFailure {
    Blocked {
        host: String,
        addr: IpAddr,
        kind: AddressKind,
    },
    Dns {
        host: String,
        message: String,
    },
}

impl fmt::Display for ResolveFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveFailure::Blocked { host, addr, kind } => {
                write!(f, "{host} resolves to {addr}, {kind}")
            }
            ResolveFailure::Dns { host, message } => write!(f, "{host}: {message}"),
        }
    }
}

impl StdError for ResolveFailure {}

impl Resolve for GuardResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = normalise_domain(name.as_str());
        let allowed = self.allowed_names.contains(&host);
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| ResolveFailure::Dns {
                    host: host.clone(),
                    message: e.to_string(),
                })?
                .collect();
            if resolved.is_empty() {
                return Err(ResolveFailure::Dns {
                    host,
                    message: "no addresses".to_owned(),
                }
                .into());
            }
            if allowed {
                let addrs: Addrs = Box::new(resolved.into_iter());
                return Ok(addrs);
            }
            let mut refused = None;
            let mut public = Vec::with_capacity(resolved.len());
            for addr in resolved {
                match classify(addr.ip()) {
                    None => public.push(addr),
                    Some(kind) => {
                        refused.get_or_insert((addr.ip(), kind));
                    }
                }
            }
            match (public.is_empty(), refused) {
                (true, Some((addr, kind))) => {
                    Err(ResolveFailure::Blocked { host, addr, kind }.into())
                }
                _ => {
                    let addrs: Addrs = Box::new(public.into_iter());
                    Ok(addrs)
                }
            }
        })
    }
}

fn sources<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |e: &&'a (dyn StdError + 'static)| (*e).source())
}

/// The innermost message of an error chain, e.g. "Connection refused (os error 111)".
fn root_message(e: &(dyn StdError + 'static)) -> String {
    sources(e)
        .last()
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn request_error(e: &reqwest::Error, url: &Url, redirected: bool, timeout: Duration) -> GuardError {
    for cause in sources(e) {
        if let Some(failure) = cause.downcast_ref::<ResolveFailure>() {
            return match failure {
                ResolveFailure::Blocked { host, addr, kind } => GuardError::Blocked {
                    host: host.clone(),
                    reason: BlockReason::Resolved {
                        addr: *addr,
                        kind: *kind,
                    },
                    redirected,
                },
                ResolveFailure::Dns { host, message } => GuardError::Dns {
                    host: host.clone(),
                    message: message.clone(),
                },
            };
        }
    }
    if e.is_timeout() {
        return GuardError::Timeout { after: timeout };
    }
    let target = match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => url.to_string(),
    };
    if e.is_connect() {
        GuardError::Connect(format!(
            "could not connect to {target}: {}",
            root_message(e)
        ))
    } else {
        GuardError::Transport(format!("request to {target} failed: {}", root_message(e)))
    }
}

fn body_error(e: &reqwest::Error, timeout: Duration) -> GuardError {
    if e.is_timeout() {
        GuardError::Timeout { after: timeout }
    } else {
        GuardError::Transport(format!("reading the response failed: {}", root_message(e)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn guard(allowed: &[&str]) -> Guard {
        Guard::new(GuardConfig {
            allowed_hosts: allowed.iter().map(|s| s.to_string()).collect(),
            ..GuardConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn allow_entries_parse() {
        let e = parse_allow_entry("MCP.Internal.").unwrap();
        assert_eq!(e.host, HostKey::Domain("mcp.internal".into()));
        assert_eq!(e.port, None);
        let e = parse_allow_entry("mcp.internal:8443").unwrap();
        assert_eq!(e.port, Some(8443));
        let e = parse_allow_entry("[::1]:8080").unwrap();
        assert_eq!(e.host, HostKey::Ip("::1".parse().unwrap()));
        assert_eq!(e.port, Some(8080));
        let e = parse_allow_entry("::1").unwrap();
        assert_eq!(e.port, None);
        let e = parse_allow_entry("127.0.0.1:9").unwrap();
        assert_eq!(e.host, HostKey::Ip("127.0.0.1".parse().unwrap()));
        for bad in [
            "", "http://x", "a:b", "a:99999", "*.corp", "[::1", "x/y", "u@h",
        ] {
            assert!(parse_allow_entry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn literal_checks() {
        let g = guard(&["127.0.0.1:8080", "10.0.0.5"]);
        assert!(g.check_url("http://127.0.0.1:8080/mcp").is_ok());
        assert!(g.check_url("http://127.0.0.1:8081/mcp").is_err());
        assert!(g.check_url("http://10.0.0.5:1234/").is_ok());
        assert!(g.check_url("http://10.0.0.6/").is_err());
        // The URL parser normalises odd IPv4 spellings before the check.
        assert!(g.check_url("http://2130706433/").is_err());
        assert!(g.check_url("http://0x7f.1/").is_err());
        assert!(g.check_url("http://[::ffff:7f00:1]/").is_err());
        assert!(g.check_url("https://example.com/").is_ok());
    }

    #[test]
    fn scheme_and_userinfo() {
        let g = guard(&[]);
        for url in ["ftp://example.com/", "file:///etc/passwd", "gopher://x/"] {
            let err = g.check_url(url).unwrap_err();
            assert!(
                err.is_blocked() || matches!(err, GuardError::InvalidUrl { .. }),
                "{url}"
            );
        }
        let err = g.check_url("https://user:pw@example.com/").unwrap_err();
        assert!(matches!(
            err,
            GuardError::Blocked {
                reason: BlockReason::Userinfo,
                ..
            }
        ));
        let https = Guard::new(GuardConfig {
            https_only: true,
            ..GuardConfig::default()
        })
        .unwrap();
        assert!(https.check_url("http://example.com/").is_err());
        assert!(https.check_url("https://example.com/").is_ok());
    }

    #[test]
    fn messages_read_well() {
        let err = GuardError::Blocked {
            host: "mcp.internal".into(),
            reason: BlockReason::Resolved {
                addr: "10.0.0.5".parse().unwrap(),
                kind: AddressKind::Private,
            },
            redirected: false,
        };
        assert_eq!(
            err.to_string(),
            "mcp.internal resolves to 10.0.0.5, a private address; allow the host in Settings to reach it"
        );
        let g = guard(&[]);
        let err = g
            .check_url("http://169.254.169.254/latest/meta-data")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "169.254.169.254 is the cloud instance metadata endpoint; allow the host in Settings to reach it"
        );
    }
}
