//! Guarded raw connections (TCP, TLS) for protocols that are not HTTP:
//! syslog to a SIEM. The same rules as a fetch: the host is resolved here,
//! every address of a refused kind is dropped unless `host:port` (or
//! `host`) is on the allow list, and the connection uses only the
//! addresses checked, so DNS rebinding has no window. TLS verifies the
//! server's certificate against the webpki roots plus
//! [`GuardConfig::extra_roots_pem`], with the host name as SNI.

use super::{classify, BlockReason, Guard, GuardError, HostKey};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

/// A connected stream: written to, then shut down.
pub type GuardedStream = Box<dyn AsyncWrite + Unpin + Send>;

impl Guard {
    /// Connects to `host:port` over TCP, or TLS when `tls`, within
    /// [`GuardConfig::connect_timeout`](super::GuardConfig::connect_timeout).
    pub async fn connect(
        &self,
        host: &str,
        port: u16,
        tls: bool,
    ) -> Result<GuardedStream, GuardError> {
        let config = &self.inner.config;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let key = match host.parse::<IpAddr>() {
            Ok(ip) => HostKey::Ip(ip),
            Err(_) => HostKey::Domain(super::normalise_domain(host)),
        };
        let allowed = self
            .inner
            .allow
            .iter()
            .any(|e| e.host == key && e.port.is_none_or(|p| p == port));
        let resolved: Vec<SocketAddr> = match &key {
            HostKey::Ip(ip) => vec![SocketAddr::new(*ip, port)],
            HostKey::Domain(name) => tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|e| GuardError::Dns {
                    host: host.to_owned(),
                    message: e.to_string(),
                })?
                .collect(),
        };
        let mut refused = None;
        let addrs: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|a| match classify(a.ip()) {
                Some(kind) if !allowed => {
                    refused.get_or_insert((a.ip(), kind));
                    false
                }
                _ => true,
            })
            .collect();
        if addrs.is_empty() {
            return Err(match refused {
                Some((addr, kind)) => GuardError::Blocked {
                    host: host.to_owned(),
                    reason: match key {
                        HostKey::Ip(_) => BlockReason::Literal(kind),
                        HostKey::Domain(_) => BlockReason::Resolved { addr, kind },
                    },
                    redirected: false,
                },
                None => GuardError::Dns {
                    host: host.to_owned(),
                    message: "no addresses".to_owned(),
                },
            });
        }
        let connect = async {
            let mut last = None;
            for addr in &addrs {
                match TcpStream::connect(addr).await {
                    Ok(s) => return Ok(s),
                    Err(e) => last = Some(e),
                }
            }
            Err(GuardError::Connect(format!(
                "{host}:{port}: {}",
                last.map(|e| e.to_string()).unwrap_or_default()
            )))
        };
        let tcp = tokio::time::timeout(config.connect_timeout, connect)
            .await
            .map_err(|_| GuardError::Timeout {
                after: config.connect_timeout,
            })??;
        tcp.set_nodelay(true).ok();
        if !tls {
            return Ok(Box::new(tcp));
        }
        let connector = tokio_rustls::TlsConnector::from(self.tls_config()?);
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| GuardError::Config(format!("{host}: {e}")))?;
        let stream = tokio::time::timeout(config.connect_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| GuardError::Timeout {
                after: config.connect_timeout,
            })?
            .map_err(|e| GuardError::Connect(format!("{host}:{port}: TLS: {e}")))?;
        Ok(Box::new(stream))
    }

    /// The TLS client settings: webpki roots and the extra roots.
    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, GuardError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for pem in &self.inner.config.extra_roots_pem {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert =
                    cert.map_err(|e| GuardError::Config(format!("extra root certificate: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| GuardError::Config(format!("extra root certificate: {e}")))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| GuardError::Config(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}
