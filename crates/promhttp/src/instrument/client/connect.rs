//! [`InstrumentedConnector`]: hyper-util's `HttpConnector`, timing DNS and connects.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::Uri;
use hyper_util::client::legacy::connect::dns::{GaiAddrs, GaiFuture, GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use pin_project_lite::pin_project;
use tokio::net::TcpStream;
use tower_service::Service;

use super::{record_result, ClientMetrics};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the resolver tells the connect future it runs in: the DNS time, if any.
#[derive(Debug, Default)]
struct DnsSlot {
    resolved: AtomicBool,
    failed: AtomicBool,
    seconds_bits: AtomicU64,
}

tokio::task_local! {
    /// The slot of the connect under way in this task; the resolver's future is
    /// polled inside the connect future, so it sees the slot of its own connect.
    static DNS_SLOT: Arc<DnsSlot>;
}

/// hyper-util's [`GaiResolver`] (`getaddrinfo` on a blocking thread), timing each
/// resolution into `http_client_dns_duration_seconds`. Used by
/// [`InstrumentedConnector`].
#[derive(Clone)]
pub struct TimedResolver {
    inner: GaiResolver,
    metrics: ClientMetrics,
}

impl TimedResolver {
    /// A `GaiResolver` recording into `metrics`.
    pub fn new(metrics: &ClientMetrics) -> Self {
        TimedResolver {
            inner: GaiResolver::new(),
            metrics: metrics.clone(),
        }
    }
}

impl fmt::Debug for TimedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedResolver").finish_non_exhaustive()
    }
}

impl Service<Name> for TimedResolver {
    type Response = GaiAddrs;
    type Error = io::Error;
    type Future = ResolveFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        ResolveFuture {
            inner: self.inner.call(name),
            metrics: self.metrics.clone(),
            slot: DNS_SLOT.try_with(Arc::clone).ok(),
            start: Instant::now(),
        }
    }
}

pin_project! {
    /// The future of [`TimedResolver`]; dropped before it resolved, it records
    /// nothing.
    pub struct ResolveFuture {
        #[pin]
        inner: GaiFuture,
        metrics: ClientMetrics,
        slot: Option<Arc<DnsSlot>>,
        start: Instant,
    }
}

impl Future for ResolveFuture {
    type Output = Result<GaiAddrs, io::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let seconds = this.start.elapsed().as_secs_f64();
        record_result(&this.metrics.shared.dns, result.is_ok(), seconds);
        if let Err(e) = &result {
            tracing::debug!(error = %e, "HTTP client name resolution failed");
        }
        if let Some(slot) = this.slot.take() {
            slot.seconds_bits
                .store(seconds.to_bits(), Ordering::Relaxed);
            slot.failed.store(result.is_err(), Ordering::Relaxed);
            slot.resolved.store(true, Ordering::Relaxed);
        }
        Poll::Ready(result)
    }
}

impl fmt::Debug for ResolveFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolveFuture").finish_non_exhaustive()
    }
}

/// hyper-util's [`HttpConnector`] with a [`TimedResolver`], recording
/// `http_client_dns_duration_seconds` (each resolution; hosts that are IP addresses
/// need none) and `http_client_connect_duration_seconds` (each new connection, from
/// the connector's call to the connected socket, minus the DNS time; not observed
/// when the resolution failed). Go's `InstrumentTrace` `DNSStart`/`DNSDone` and
/// `ConnectStart`/`ConnectDone`, as histograms labelled `result="ok"|"error"`. A
/// destination the `HttpConnector` refuses before connecting (not `http` while
/// `enforce_http` is on, no host) is a connect error too.
///
/// Configure the `HttpConnector` (timeouts, `nodelay`, `enforce_http`, …) through
/// [`get_mut`](Self::get_mut). For `https`, `InstrumentedTlsConnector` (feature
/// `hyper-client-tls`) wraps this connector and also times the TLS handshake.
///
/// ```
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use promhttp::instrument::client::{ClientMetrics, InstrumentedConnector};
///
/// let metrics = ClientMetrics::new();
/// let mut connector = InstrumentedConnector::new(&metrics);
/// connector.get_mut().set_connect_timeout(Some(std::time::Duration::from_secs(5)));
/// let client = Client::builder(TokioExecutor::new())
///     .build::<_, http_body_util::Empty<bytes::Bytes>>(connector);
/// # let _ = client;
/// ```
#[derive(Clone)]
pub struct InstrumentedConnector {
    inner: HttpConnector<TimedResolver>,
    metrics: ClientMetrics,
}

impl InstrumentedConnector {
    /// An `HttpConnector` with a [`TimedResolver`], recording into `metrics`.
    pub fn new(metrics: &ClientMetrics) -> Self {
        InstrumentedConnector {
            inner: HttpConnector::new_with_resolver(TimedResolver::new(metrics)),
            metrics: metrics.clone(),
        }
    }

    /// The `HttpConnector`.
    pub fn get_ref(&self) -> &HttpConnector<TimedResolver> {
        &self.inner
    }

    /// The `HttpConnector`, to configure.
    pub fn get_mut(&mut self) -> &mut HttpConnector<TimedResolver> {
        &mut self.inner
    }
}

impl fmt::Debug for InstrumentedConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedConnector")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Service<Uri> for InstrumentedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<Uri>::poll_ready(&mut self.inner, cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = Service::<Uri>::call(&mut self.inner, dst);
        let metrics = self.metrics.clone();
        ConnectFuture {
            inner: Box::pin(async move {
                let slot = Arc::new(DnsSlot::default());
                let start = Instant::now();
                let result = DNS_SLOT.scope(slot.clone(), connecting).await;
                let total = start.elapsed().as_secs_f64();
                let dns_failed = slot.failed.load(Ordering::Relaxed);
                if !dns_failed {
                    let dns = if slot.resolved.load(Ordering::Relaxed) {
                        f64::from_bits(slot.seconds_bits.load(Ordering::Relaxed))
                    } else {
                        0.0
                    };
                    record_result(
                        &metrics.shared.connect,
                        result.is_ok(),
                        (total - dns).max(0.0),
                    );
                }
                if let Err(e) = &result {
                    tracing::debug!(error = %e, "HTTP client connect failed");
                }
                result.map_err(Into::into)
            }),
        }
    }
}

/// The future of [`InstrumentedConnector`]; dropped before it connected, it records
/// nothing.
pub struct ConnectFuture {
    inner: Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, BoxError>> + Send>>,
}

impl Future for ConnectFuture {
    type Output = Result<TokioIo<TcpStream>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ConnectFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectFuture").finish_non_exhaustive()
    }
}
