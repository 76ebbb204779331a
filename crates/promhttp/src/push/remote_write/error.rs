//! [`RemoteWriteError`]: why a writer could not be built or started.

use std::fmt;

/// Why a [`RemoteWriter`](super::RemoteWriter) could not be built or started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteWriteError {
    /// The URL does not parse, has no host, or has a scheme other than `http`.
    InvalidUrl(String),
    /// The URL is `https://`: TLS is not supported yet.
    HttpsNotSupported(String),
    /// An external label name is invalid or given twice.
    InvalidExternalLabel(String),
    /// A header name or value is invalid, or the header is one the protocol sets.
    InvalidHeader(String),
    /// An option is out of range (zero interval, zero capacity, ...).
    InvalidOption(String),
    /// [`RemoteWriter::start`](super::RemoteWriter::start) was called outside a Tokio runtime.
    NoRuntime,
}

impl fmt::Display for RemoteWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteWriteError::InvalidUrl(m) => write!(f, "invalid remote write URL: {m}"),
            RemoteWriteError::HttpsNotSupported(url) => write!(
                f,
                "remote write URL {url}: https is not supported yet; use http:// \
                 (for example through a TLS-terminating proxy)"
            ),
            RemoteWriteError::InvalidExternalLabel(m) => write!(f, "invalid external label: {m}"),
            RemoteWriteError::InvalidHeader(m) => write!(f, "invalid header: {m}"),
            RemoteWriteError::InvalidOption(m) => write!(f, "invalid option: {m}"),
            RemoteWriteError::NoRuntime => {
                f.write_str("RemoteWriter::start must be called within a Tokio runtime")
            }
        }
    }
}

impl std::error::Error for RemoteWriteError {}
