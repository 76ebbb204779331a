//! [`InstrumentedTlsConnector`]: the [`InstrumentedConnector`] with a rustls
//! handshake for `https`, timed into `http_client_tls_handshake_duration_seconds`.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tower_service::Service;

use super::{record_result, ClientMetrics, InstrumentedConnector};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector for hyper-util's legacy client: the [`InstrumentedConnector`] (DNS
/// and TCP connect timed as usual), then, for `https` destinations, a TLS handshake
/// with [`tokio_rustls`], timed into `http_client_tls_handshake_duration_seconds`
/// (`result="ok"|"error"`; from the connected socket to the end of the handshake,
/// certificate verification included). Other schemes (`http`) get the plain TCP
/// stream: no handshake, nothing observed.
///
/// The caller supplies the [`rustls::ClientConfig`] (trust roots, client
/// certificate, versions). If its `alpn_protocols` is empty, it is set to
/// `http/1.1`; given protocols are kept as they are. When the server picks `h2`,
/// the connection is marked as negotiated HTTP/2, so the client must have HTTP/2
/// enabled to offer it. The server name is the URI's host, a DNS name or an IP
/// address (the certificate must then hold that address). The underlying
/// `HttpConnector` has `enforce_http` turned off, so that it accepts `https`
/// URIs; configure it otherwise through [`get_mut`](Self::get_mut).
///
/// ```
/// use std::sync::Arc;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use promhttp::instrument::client::tls::InstrumentedTlsConnector;
/// use promhttp::instrument::client::ClientMetrics;
///
/// let mut roots = rustls::RootCertStore::empty();
/// // roots.add(...) the CA certificates to trust.
/// let config = rustls::ClientConfig::builder_with_provider(Arc::new(
///     rustls::crypto::ring::default_provider(),
/// ))
/// .with_safe_default_protocol_versions()?
/// .with_root_certificates(roots)
/// .with_no_client_auth();
///
/// let metrics = ClientMetrics::new();
/// let connector = InstrumentedTlsConnector::new(&metrics, config);
/// let client = Client::builder(TokioExecutor::new())
///     .build::<_, http_body_util::Empty<bytes::Bytes>>(connector);
/// # let _ = client;
/// # Ok::<(), rustls::Error>(())
/// ```
#[derive(Clone)]
pub struct InstrumentedTlsConnector {
    http: InstrumentedConnector,
    tls: TlsConnector,
    metrics: ClientMetrics,
}

impl InstrumentedTlsConnector {
    /// An [`InstrumentedConnector`] and a TLS client with `config`, recording into
    /// `metrics`.
    pub fn new(metrics: &ClientMetrics, config: ClientConfig) -> Self {
        InstrumentedTlsConnector::with_connector(
            metrics,
            InstrumentedConnector::new(metrics),
            config,
        )
    }

    /// The same with an [`InstrumentedConnector`] of the caller's (configured, or
    /// recording into other metrics); its `enforce_http` is turned off.
    pub fn with_connector(
        metrics: &ClientMetrics,
        mut http: InstrumentedConnector,
        mut config: ClientConfig,
    ) -> Self {
        http.get_mut().enforce_http(false);
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        InstrumentedTlsConnector {
            http,
            tls: TlsConnector::from(Arc::new(config)),
            metrics: metrics.clone(),
        }
    }

    /// The TCP connector.
    pub fn get_ref(&self) -> &InstrumentedConnector {
        &self.http
    }

    /// The TCP connector, to configure (timeouts, `nodelay`, …).
    pub fn get_mut(&mut self) -> &mut InstrumentedConnector {
        &mut self.http
    }

    /// The TLS client configuration, ALPN included.
    pub fn config(&self) -> &Arc<ClientConfig> {
        self.tls.config()
    }
}

impl fmt::Debug for InstrumentedTlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedTlsConnector")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// The server name of an `https` URI: its host, brackets of an IPv6 literal
/// removed.
fn server_name(dst: &Uri) -> Result<ServerName<'static>, BoxError> {
    let host = dst
        .host()
        .ok_or_else(|| -> BoxError { format!("no host in {dst}").into() })?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_owned())
        .map_err(|e| -> BoxError { format!("invalid TLS server name {host:?}: {e}").into() })
}

impl Service<Uri> for InstrumentedTlsConnector {
    type Response = MaybeTlsStream;
    type Error = BoxError;
    type Future = TlsConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<Uri>::poll_ready(&mut self.http, cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let is_https = dst.scheme() == Some(&http::uri::Scheme::HTTPS);
        if !is_https {
            let connecting = self.http.call(dst);
            return TlsConnectFuture {
                inner: Box::pin(async move {
                    let tcp = connecting.await?;
                    Ok(MaybeTlsStream {
                        inner: Inner::Plain(tcp),
                    })
                }),
            };
        }
        let name = server_name(&dst);
        let connecting = self.http.call(dst);
        let tls = self.tls.clone();
        let metrics = self.metrics.clone();
        TlsConnectFuture {
            inner: Box::pin(async move {
                // Checked before the connect, which is then not made for nothing.
                let name = name?;
                let tcp = connecting.await?.into_inner();
                let start = Instant::now();
                let result = tls.connect(name, tcp).await;
                let seconds = start.elapsed().as_secs_f64();
                record_result(&metrics.shared.tls, result.is_ok(), seconds);
                match result {
                    Ok(stream) => Ok(MaybeTlsStream {
                        inner: Inner::Tls(Box::new(TokioIo::new(stream))),
                    }),
                    Err(e) => {
                        tracing::debug!(error = %e, "HTTP client TLS handshake failed");
                        Err(e.into())
                    }
                }
            }),
        }
    }
}

/// The future of [`InstrumentedTlsConnector`]; dropped before the end of the
/// handshake, it records no handshake.
pub struct TlsConnectFuture {
    inner: Pin<Box<dyn Future<Output = Result<MaybeTlsStream, BoxError>> + Send>>,
}

impl Future for TlsConnectFuture {
    type Output = Result<MaybeTlsStream, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for TlsConnectFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnectFuture").finish_non_exhaustive()
    }
}

/// The connection made by [`InstrumentedTlsConnector`]: TLS over TCP for `https`,
/// plain TCP otherwise.
pub struct MaybeTlsStream {
    inner: Inner,
}

enum Inner {
    Plain(TokioIo<TcpStream>),
    // Boxed: a rustls connection is about a kilobyte.
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl MaybeTlsStream {
    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls(_))
    }

    /// The TCP stream.
    pub fn tcp(&self) -> &TcpStream {
        match &self.inner {
            Inner::Plain(io) => io.inner(),
            Inner::Tls(io) => io.inner().get_ref().0,
        }
    }

    /// The TLS session (negotiated version, cipher suite, ALPN, peer
    /// certificates), for a TLS connection.
    pub fn tls_session(&self) -> Option<&ClientConnection> {
        match &self.inner {
            Inner::Plain(_) => None,
            Inner::Tls(io) => Some(io.inner().get_ref().1),
        }
    }
}

impl fmt::Debug for MaybeTlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaybeTlsStream")
            .field("tls", &self.is_tls())
            .field("tcp", self.tcp())
            .finish()
    }
}

impl Connection for MaybeTlsStream {
    fn connected(&self) -> Connected {
        let connected = self.tcp().connected();
        match self.tls_session() {
            Some(session) if session.alpn_protocol() == Some(b"h2") => connected.negotiated_h2(),
            _ => connected,
        }
    }
}

impl Read for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Inner::Tls(io) => Pin::new(&mut **io).poll_read(cx, buf),
        }
    }
}

impl Write for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Inner::Tls(io) => Pin::new(&mut **io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(io) => Pin::new(io).poll_flush(cx),
            Inner::Tls(io) => Pin::new(&mut **io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Inner::Tls(io) => Pin::new(&mut **io).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Inner::Plain(io) => io.is_write_vectored(),
            Inner::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Inner::Tls(io) => Pin::new(&mut **io).poll_write_vectored(cx, bufs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host() {
        let name =
            |u: &str| server_name(&u.parse::<Uri>().expect("uri")).map(|n| n.to_str().into_owned());
        assert_eq!(
            name("https://localhost:8443/").ok().as_deref(),
            Some("localhost")
        );
        assert_eq!(
            name("https://127.0.0.1/").ok().as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(name("https://[::1]:443/").ok().as_deref(), Some("::1"));
        assert!(name("/relative").is_err());
    }
}
