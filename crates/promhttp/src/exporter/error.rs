//! What can go wrong starting or running the exporter.

use std::fmt;
use std::net::SocketAddr;

#[cfg(feature = "web-config")]
use super::web_config;

/// What can go wrong starting or running the exporter.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExporterError {
    /// The listen address could not be bound (in use, not permitted, ...). When
    /// it resolved to several addresses, each was tried: this is the last one.
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The listen address could not be resolved: a name that does not resolve or
    /// resolves to no address, a port that is not a number from 0 to 65535.
    /// Found by `start()`, before anything is bound.
    Resolve {
        /// The address as it was given.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A metric of the exporter's own could not be registered (a metric of that
    /// name is already in the registry, say). Found by `start()`, before anything
    /// is bound.
    Register {
        /// The metric's name.
        name: String,
        /// Why.
        source: prometheus::Error,
    },
    /// An option's value cannot work (a metrics path without a leading `/`, a zero
    /// timeout, ...). Found by `start()`, before anything is bound.
    InvalidOption {
        /// The builder method that set it, e.g. `"idle_timeout"`.
        option: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// The runtime of the blocking variant could not be started.
    Runtime(std::io::Error),
    /// The server task panicked or was cancelled.
    Task(String),
    /// The web configuration (TLS, basic auth, headers) is invalid.
    #[cfg(feature = "web-config")]
    WebConfig(web_config::WebConfigError),
}

impl fmt::Display for ExporterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExporterError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ExporterError::Resolve { addr, source } => {
                write!(f, "cannot resolve listen address {addr:?}: {source}")
            }
            ExporterError::Register { name, source } => {
                write!(f, "cannot register exporter metric {name}: {source}")
            }
            ExporterError::InvalidOption { option, reason } => {
                write!(f, "invalid exporter option {option}: {reason}")
            }
            ExporterError::Runtime(e) => write!(f, "cannot start the exporter runtime: {e}"),
            ExporterError::Task(m) => write!(f, "exporter task failed: {m}"),
            #[cfg(feature = "web-config")]
            ExporterError::WebConfig(e) => write!(f, "invalid web configuration: {e}"),
        }
    }
}

impl std::error::Error for ExporterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExporterError::Bind { source, .. } | ExporterError::Resolve { source, .. } => {
                Some(source)
            }
            ExporterError::Register { source, .. } => Some(source),
            ExporterError::Runtime(e) => Some(e),
            #[cfg(feature = "web-config")]
            ExporterError::WebConfig(e) => Some(e),
            _ => None,
        }
    }
}
