//! The reloading acceptor: [`TlsAcceptor`] and its builder, which rebuild the rustls
//! configuration when the certificate, key or CA files change on disk.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::ServerConfig;

use super::{build_server_config, check_http2_ciphers};
use crate::exporter::web_config::{TlsServerConfig, WebConfigError};

const ALPN_H2: &[u8] = b"h2";
const ALPN_HTTP11: &[u8] = b"http/1.1";
/// What identifies one version of a file on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    dev_ino: (u64, u64),
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        #[cfg(unix)]
        dev_ino: {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        },
    })
}

fn watched_files(cfg: &TlsServerConfig) -> Vec<PathBuf> {
    [&cfg.cert_file, &cfg.key_file, &cfg.client_ca_file]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}

struct State {
    current: Arc<ServerConfig>,
    stamps: Vec<Option<FileStamp>>,
    last_check: Instant,
    /// After a failed reload: when to try the same files again.
    retry_at: Option<Instant>,
}

/// How long to wait before loading files that failed to load but did not change since.
const RETRY_FAILED_RELOAD: Duration = Duration::from_secs(10);

struct Shared {
    cfg: TlsServerConfig,
    files: Vec<PathBuf>,
    alpn: Vec<Vec<u8>>,
    reload_interval: Duration,
    state: Mutex<State>,
}

/// The TLS side of the server: a rustls configuration built from a
/// [`TlsServerConfig`] that follows certificate rotation.
///
/// Before each new connection, [`acceptor`](Self::acceptor) checks the modification
/// time, size and inode of `cert_file`, `key_file` and `client_ca_file` (at most once
/// per [reload interval](TlsAcceptorBuilder::reload_interval); by default on every
/// call, like exporter-toolkit) and rebuilds the configuration when any of them changed.
/// Connections already open keep the configuration they started with. If the new files
/// are broken (half-written, key and certificate not matching), the last good
/// configuration stays in use, the error is logged with `tracing::error!`, and the
/// files are tried again when they next change. Inline PEM (`cert`, `key`,
/// `client_ca`) never changes.
///
/// Cloning is cheap and clones share the state.
///
/// ALPN offers `h2` and `http/1.1`, or only `http/1.1` when HTTP/2 is turned off
/// ([`TlsAcceptorBuilder::http2`]); serve the protocol the client picked
/// (`ServerConnection::alpn_protocol`), or let a server that auto-detects HTTP/2 do it.
///
/// `client_allowed_sans` is enforced during the handshake: a client certificate without
/// an allowed SAN fails the handshake.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::path::Path;
/// use promhttp::exporter::web_config::{TlsAcceptor, WebConfig};
///
/// let config = WebConfig::from_file(Path::new("/etc/exporter/web-config.yml"))?;
/// let tls: Option<TlsAcceptor> = config.tls_acceptor()?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
/// loop {
///     let (tcp, _peer) = listener.accept().await?;
///     if let Some(tls) = &tls {
///         let acceptor = tls.acceptor(); // picks up rotated certificates
///         tokio::spawn(async move {
///             if let Ok(stream) = acceptor.accept(tcp).await {
///                 // serve HTTP on `stream`
/// #               drop(stream);
///             }
///         });
///     }
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct TlsAcceptor {
    shared: Arc<Shared>,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("config", &self.shared.cfg)
            .field("alpn", &self.shared.alpn)
            .field("reload_interval", &self.shared.reload_interval)
            .finish_non_exhaustive()
    }
}

/// Options for a [`TlsAcceptor`]; from [`TlsAcceptor::builder`].
#[derive(Debug, Clone)]
pub struct TlsAcceptorBuilder {
    cfg: TlsServerConfig,
    http2: bool,
    reload_interval: Duration,
}

impl TlsAcceptorBuilder {
    /// Offer HTTP/2 in ALPN (default true). Pass `http_server_config.http2`.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Check the files for changes at most once per `interval` (default zero: on every
    /// [`TlsAcceptor::acceptor`] call; a check is three `stat` calls).
    pub fn reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval;
        self
    }

    /// Loads the files and builds the acceptor. Fails on any configuration error.
    pub fn build(self) -> Result<TlsAcceptor, WebConfigError> {
        check_http2_ciphers(&self.cfg, self.http2)?;
        let alpn = if self.http2 {
            vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()]
        } else {
            vec![ALPN_HTTP11.to_vec()]
        };
        let files = watched_files(&self.cfg);
        // Stamp first: a change while we read is seen at the next check.
        let stamps = files.iter().map(|p| stamp(p)).collect();
        let current = build_server_config(&self.cfg, &alpn)?;
        Ok(TlsAcceptor {
            shared: Arc::new(Shared {
                cfg: self.cfg,
                files,
                alpn,
                reload_interval: self.reload_interval,
                state: Mutex::new(State {
                    current,
                    stamps,
                    last_check: Instant::now(),
                    retry_at: None,
                }),
            }),
        })
    }
}

impl TlsAcceptor {
    /// Builds an acceptor with the defaults: HTTP/2 offered, files checked on every
    /// connection.
    pub fn new(cfg: &TlsServerConfig) -> Result<Self, WebConfigError> {
        Self::builder(cfg).build()
    }

    /// Starts a builder for the given settings.
    pub fn builder(cfg: &TlsServerConfig) -> TlsAcceptorBuilder {
        TlsAcceptorBuilder {
            cfg: cfg.clone(),
            http2: true,
            reload_interval: Duration::ZERO,
        }
    }

    /// The acceptor for a new connection, reflecting the files as they are now.
    ///
    /// May do blocking file-system calls (a few `stat`s; reads only when a file
    /// changed), which are short enough to call from an async accept loop.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server_config())
    }

    /// Accepts a TLS connection on `io` with [`acceptor`](Self::acceptor).
    pub async fn accept<IO>(&self, io: IO) -> std::io::Result<tokio_rustls::server::TlsStream<IO>>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        self.acceptor().accept(io).await
    }

    /// The current rustls configuration (after a reload check).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let mut state = self.lock();
        if state.last_check.elapsed() >= self.shared.reload_interval {
            let _ = self.reload_locked(&mut state);
        }
        state.current.clone()
    }

    /// Checks the files now, whatever the interval. `Ok(true)`: they changed and the new
    /// configuration is in use; `Ok(false)`: nothing changed; `Err`: they changed but are
    /// unusable, and the previous configuration stays in use (the error is also logged).
    pub fn reload(&self) -> Result<bool, WebConfigError> {
        let mut state = self.lock();
        self.reload_locked(&mut state)
    }

    /// The settings this acceptor was built from.
    pub fn config(&self) -> &TlsServerConfig {
        &self.shared.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::util::lock(&self.shared.state)
    }

    fn reload_locked(&self, state: &mut State) -> Result<bool, WebConfigError> {
        let now = Instant::now();
        state.last_check = now;
        let stamps: Vec<_> = self.shared.files.iter().map(|p| stamp(p)).collect();
        let retry_due = state.retry_at.is_some_and(|at| now >= at);
        if stamps == state.stamps && !retry_due {
            return Ok(false);
        }
        // Remember the new stamps even on failure: retry when the files change again
        // (or after a pause), instead of logging the same error on every connection.
        state.stamps = stamps;
        match build_server_config(&self.shared.cfg, &self.shared.alpn) {
            Ok(config) => {
                state.current = config;
                state.retry_at = None;
                tracing::info!("TLS certificate files changed; new configuration loaded");
                Ok(true)
            }
            Err(err) => {
                state.retry_at = Some(now + RETRY_FAILED_RELOAD);
                tracing::error!(
                    error = %err,
                    "TLS certificate files changed but cannot be loaded; keeping the previous configuration"
                );
                Err(err)
            }
        }
    }
}
