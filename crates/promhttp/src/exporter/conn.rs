//! Serving one connection: TLS or protocol sniffing within the header-read
//! timeout, then HTTP/1.1 or HTTP/2 under the watchdog, until the connection ends,
//! expires, is evicted, or the server stops.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::activity::{Expired, Timeouts};
use super::io::{sniff, WriteStall};
use super::limits::Limits;
use super::routes::Routes;
use super::slots::Slot;
use super::stopped;
use crate::time::NEVER;

/// How long a connection closed for idleness gets to take its `GOAWAY` and go.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What every connection of one server is served with.
pub(super) struct ConnConfig {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    h2_allowed: bool,
    header_read_timeout: Duration,
    timeouts: Timeouts,
    #[cfg(feature = "web-config")]
    tls: Option<super::web_config::TlsAcceptor>,
}

impl ConnConfig {
    pub(super) fn new(
        l: &Limits,
        h2_allowed: bool,
        #[cfg(feature = "web-config")] tls: Option<super::web_config::TlsAcceptor>,
    ) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            // hyper adds this to `now()`: keep it representable.
            .header_read_timeout(l.header_read_timeout.min(NEVER))
            // Room for the largest head we accept, so that the one check of its
            // size (in the routes) decides, the same way on every transport;
            // hyper answers 431 itself to heads that do not fit.
            .max_buf_size(l.max_header_bytes.saturating_add(16 * 1024))
            .keep_alive(true);
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(l.http2_max_concurrent_streams)
            // HPACK counts 32 bytes more per header than we do; the routes decide.
            .max_header_list_size(
                u32::try_from(l.max_header_bytes.saturating_mul(2)).unwrap_or(u32::MAX),
            )
            // No keep-alive pings of ours; the idle timeout closes connections
            // with nothing to do, whatever the client pings.
            .keep_alive_interval(None);
        ConnConfig {
            http1,
            http2,
            h2_allowed,
            header_read_timeout: l.header_read_timeout,
            timeouts: Timeouts {
                idle: l.idle_timeout,
                stall: l.write_timeout,
                response: l.response_timeout,
            },
            #[cfg(feature = "web-config")]
            tls,
        }
    }
}

/// Why a connection is closed before its client closes it.
#[derive(Debug)]
enum Close {
    Expired(Expired),
    Evicted,
    Shutdown,
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Close::Expired(Expired::Idle) => "no request within the idle timeout",
            Close::Expired(Expired::Stalled) => {
                "the response made no progress within the write timeout"
            }
            Close::Expired(Expired::TooSlow) => {
                "the response took longer than the response timeout"
            }
            Close::Evicted => "evicted to make room for a new connection",
            Close::Shutdown => "the server is stopping",
        })
    }
}

/// Serves one accepted connection; returns when it is closed.
pub(super) async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    routes: Arc<Routes>,
    cfg: Arc<ConnConfig>,
    mut stop: watch::Receiver<bool>,
) {
    let io = WriteStall::new(tcp, cfg.timeouts.stall);
    #[cfg(feature = "web-config")]
    if let Some(tls) = &cfg.tls {
        let handshake = async {
            match tls.accept(io).await {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(%peer, "TLS handshake failed: {e}");
                    None
                }
            }
        };
        let Some(stream) = opening(&cfg, &slot, &mut stop, peer, handshake).await else {
            return;
        };
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
        return serve_http(
            stream,
            h2 && cfg.h2_allowed,
            peer,
            &cfg,
            routes,
            &slot,
            &mut stop,
        )
        .await;
    }
    let Some((io, h2)) = opening(&cfg, &slot, &mut stop, peer, sniff(io)).await else {
        return;
    };
    serve_http(
        io,
        h2 && cfg.h2_allowed,
        peer,
        &cfg,
        routes,
        &slot,
        &mut stop,
    )
    .await;
}

/// Runs a step of the opening (TLS handshake, or reading the first bytes that say
/// which protocol) within the header-read timeout: hyper has no timeout of its own
/// for it, so a client that sends nothing, or half an HTTP/2 preface, would hold
/// its slot for ever. `None`: the step failed or timed out, the connection was
/// evicted, or the server is stopping.
async fn opening<T>(
    cfg: &ConnConfig,
    slot: &Slot,
    stop: &mut watch::Receiver<bool>,
    peer: SocketAddr,
    step: impl std::future::Future<Output = Option<T>>,
) -> Option<T> {
    tokio::select! {
        r = tokio::time::timeout(cfg.header_read_timeout, step) => match r {
            Ok(v) => v,
            Err(_) => {
                tracing::debug!(%peer, "connection closed: nothing usable within {:?}", cfg.header_read_timeout);
                None
            }
        },
        _ = slot.evict.notified() => {
            tracing::debug!(%peer, "connection closed: {}", Close::Evicted);
            None
        }
        () = stopped(stop) => None,
    }
}

/// Serves HTTP on an opened connection under the watchdog.
async fn serve_http<IO>(
    io: IO,
    h2: bool,
    peer: SocketAddr,
    cfg: &ConnConfig,
    routes: Arc<Routes>,
    slot: &Slot,
    stop: &mut watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = slot.activity.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let routes = routes.clone();
        let request = activity.request();
        async move { Ok::<_, Infallible>(routes.route(req, request).await) }
    });
    let io = TokioIo::new(io);
    if h2 {
        drive(cfg.http2.serve_connection(io, svc), peer, cfg, slot, stop).await;
    } else {
        drive(cfg.http1.serve_connection(io, svc), peer, cfg, slot, stop).await;
    }
}

/// Polls the connection until it ends, or closes it when the watchdog, an
/// eviction or the server's shutdown says so.
async fn drive<C>(
    conn: C,
    peer: SocketAddr,
    cfg: &ConnConfig,
    slot: &Slot,
    stop: &mut watch::Receiver<bool>,
) where
    C: GracefulConnection,
    C::Error: fmt::Display,
{
    tokio::pin!(conn);
    let why = tokio::select! {
        ended = conn.as_mut() => {
            if let Err(e) = ended {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            return;
        }
        why = slot.activity.watchdog(cfg.timeouts) => Close::Expired(why),
        _ = slot.evict.notified() => Close::Evicted,
        () = stopped(stop) => Close::Shutdown,
    };
    tracing::debug!(%peer, "closing connection: {why}");
    match why {
        // Requests in flight finish; the server's drain timeout bounds this.
        Close::Shutdown => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
        // Nothing in flight (a response may still be on its way out): say
        // goodbye (HTTP/2 GOAWAY), briefly.
        Close::Expired(Expired::Idle) | Close::Evicted => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
        }
        // Dropping the connection closes it and frees every stream's page.
        Close::Expired(_) => {}
    }
}
