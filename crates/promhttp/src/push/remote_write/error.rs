//! [`RemoteWriteError`]: why a writer could not be built or started, or why a
//! request failed, and whether to retry it.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

/// Why a [`RemoteWriter`](super::RemoteWriter) could not be built or started, or
/// why one of its requests failed.
///
/// [`RemoteWriterBuilder::build`](super::RemoteWriterBuilder::build) and
/// [`RemoteWriter::start`](super::RemoteWriter::start) return the first kind
/// (`InvalidUrl` to `NoRuntime`). The request errors (`Transport`, `Timeout`,
/// `Status`) are what the running writer logs for each failed request (`warn`
/// when it retries, `error` when the batch is dropped); [`is_retryable`](Self::is_retryable)
/// is how it decides. The variant names are those of [`PushError`](crate::push::PushError)
/// for the same problems.
#[derive(Debug)]
#[non_exhaustive]
pub enum RemoteWriteError {
    /// The URL does not parse, has no host, or has a scheme other than `http`.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL is `https://`: TLS is not supported yet.
    UnsupportedScheme {
        /// The URL as given.
        url: String,
    },
    /// An option is out of range (zero interval, zero capacity, ...).
    InvalidOption {
        /// The option, as its builder method is named (`interval`, `queue_capacity`, ...).
        option: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// An external label name is invalid.
    InvalidExternalLabel {
        /// The label name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header cannot be sent: an invalid name or value, or one the protocol sets.
    InvalidHeader {
        /// The header name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// [`RemoteWriter::start`](super::RemoteWriter::start) was called outside a Tokio runtime.
    NoRuntime,
    /// A request could not be sent or its answer not read (refused connection,
    /// reset, ...). Retried.
    Transport {
        /// The receiver's URL.
        url: String,
        /// The underlying error (also [`source`](std::error::Error::source)); the
        /// text shows it with its causes.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No complete answer within the request [`timeout`](super::RemoteWriterBuilder::timeout).
    /// Retried.
    Timeout {
        /// The receiver's URL.
        url: String,
        /// The time limit.
        timeout: Duration,
    },
    /// The receiver answered with a status other than `2xx`. Retried for `5xx`
    /// and `429`; any other status means the data was refused.
    Status {
        /// The receiver's URL.
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// The receiver's message (at most its first 1 KiB, lossy UTF-8), as
        /// sent: the error's text shows it on one line, control characters escaped.
        body: String,
        /// The answer's `Retry-After`, when it had a valid one (seconds or an HTTP
        /// date, relative to when the answer came).
        retry_after: Option<Duration>,
    },
}

impl RemoteWriteError {
    /// The HTTP status of a [`RemoteWriteError::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            RemoteWriteError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether sending the same batch again may succeed: transport errors,
    /// timeouts, `5xx` and `429 Too Many Requests`. Any other status (`4xx`, and
    /// `1xx`/`3xx`: redirects are not followed) means the receiver refused the
    /// data; configuration errors will fail again.
    pub fn is_retryable(&self) -> bool {
        match self {
            RemoteWriteError::Transport { .. } | RemoteWriteError::Timeout { .. } => true,
            RemoteWriteError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }

    /// The `Retry-After` of a [`RemoteWriteError::Status`] answer, if it had one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RemoteWriteError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for RemoteWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteWriteError::InvalidUrl { url, reason } => {
                write!(f, "invalid remote write URL {url:?}: {reason}")
            }
            RemoteWriteError::UnsupportedScheme { url } => write!(
                f,
                "unsupported remote write URL {url:?}: https is not supported yet; use http:// \
                 (for example through a TLS-terminating proxy)"
            ),
            RemoteWriteError::InvalidOption { option, reason } => {
                write!(f, "invalid remote write option {option}: {reason}")
            }
            RemoteWriteError::InvalidExternalLabel { name, reason } => {
                write!(f, "invalid external label {name:?}: {reason}")
            }
            RemoteWriteError::InvalidHeader { name, reason } => {
                write!(f, "invalid header {name:?}: {reason}")
            }
            RemoteWriteError::NoRuntime => {
                f.write_str("RemoteWriter::start must be called within a Tokio runtime")
            }
            RemoteWriteError::Transport { url, source } => write!(
                f,
                "error while writing to {url}: {}",
                crate::util::error_chain(&**source)
            ),
            RemoteWriteError::Timeout { url, timeout } => {
                write!(f, "no answer within {timeout:?} while writing to {url}")
            }
            RemoteWriteError::Status {
                url, status, body, ..
            } => write!(
                f,
                "unexpected status code {} while writing to {url}: {}",
                status.as_u16(),
                crate::push::escape_control(body.trim())
            ),
        }
    }
}

impl std::error::Error for RemoteWriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RemoteWriteError::Transport { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<Duration>) -> RemoteWriteError {
        RemoteWriteError::Status {
            url: "http://r/api/v1/write".into(),
            status: StatusCode::from_u16(code).unwrap(),
            body: "out of order sample\n".into(),
            retry_after,
        }
    }

    #[test]
    fn which_failures_are_retried() {
        for code in [500, 502, 503, 429] {
            assert!(status(code, None).is_retryable(), "{code}");
        }
        for code in [400, 401, 404, 409, 413, 100, 301, 307] {
            assert!(!status(code, None).is_retryable(), "{code}");
        }
        let timeout = RemoteWriteError::Timeout {
            url: "http://r/w".into(),
            timeout: Duration::from_secs(30),
        };
        assert!(timeout.is_retryable());
        assert_eq!(
            timeout.to_string(),
            "no answer within 30s while writing to http://r/w"
        );
        let transport = RemoteWriteError::Transport {
            url: "http://r/w".into(),
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            )),
        };
        assert!(transport.is_retryable());
        assert_eq!(
            transport.to_string(),
            "error while writing to http://r/w: connection refused"
        );
        assert!(std::error::Error::source(&transport).is_some());
        assert!(!RemoteWriteError::NoRuntime.is_retryable());
    }

    #[test]
    fn status_text_and_retry_after() {
        let e = status(429, Some(Duration::from_secs(7)));
        assert_eq!(e.status(), Some(StatusCode::TOO_MANY_REQUESTS));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(
            e.to_string(),
            "unexpected status code 429 while writing to http://r/api/v1/write: out of order sample"
        );
        let hostile = RemoteWriteError::Status {
            url: "http://r/w".into(),
            status: StatusCode::BAD_REQUEST,
            body: "\u{1b}[31mred\u{1b}[0m\r\nforged line\u{7}\0 Προμηθεύς ✓\n".into(),
            retry_after: None,
        };
        let text = hostile.to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(
            text.ends_with("\\x1b[31mred\\x1b[0m\\r\\nforged line\\x07\\x00 Προμηθεύς ✓"),
            "{text}"
        );
    }
}
