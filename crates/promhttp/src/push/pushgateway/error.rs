//! [`PushError`]: why a push, add or delete failed, and whether to retry.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use super::Method;
use crate::gather::GatherError;

/// Why a push, add or delete failed (or a [`Pusher`](super::Pusher) or
/// [`PeriodicPusher`](super::PeriodicPusher) could not be built or started).
///
/// Each variant says what failed and carries the offending value; its text names
/// them, e.g. `unexpected status code 400 while pushing to http://…/metrics/job/x: …`.
/// [`is_retryable`](Self::is_retryable) says whether sending again may help.
/// The variants shared with [`RemoteWriteError`](crate::push::remote_write::RemoteWriteError)
/// (`InvalidUrl`, `UnsupportedScheme`, `InvalidOption`, `InvalidHeader`,
/// `Transport`, `Timeout`, `Status`, `NoRuntime`) mean the same there.
#[derive(Debug)]
#[non_exhaustive]
pub enum PushError {
    /// The gateway URL cannot be used.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL's scheme is `https`, which is not supported yet.
    UnsupportedScheme {
        /// The URL as given.
        url: String,
    },
    /// A setting is out of range: an empty job name, a zero timeout or interval.
    InvalidOption {
        /// The setting, as its builder method is named (`job`, `timeout`, `interval`).
        option: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// A grouping label cannot be used: not a valid label name, `job`, or given twice.
    InvalidGroupingLabel {
        /// The label name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header cannot be sent: an invalid name or value, or one the client sets.
    InvalidHeader {
        /// The header name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Gathering the metrics reported problems; nothing was sent.
    Gather {
        /// The problems, each with its [kind](crate::gather::GatherError::kind).
        errors: Vec<GatherError>,
    },
    /// A pushed metric carries the `job` label or a grouping label, which the
    /// gateway sets from the URL; nothing was sent.
    LabelClash {
        /// The metric family.
        family: String,
        /// The label.
        label: String,
    },
    /// The request could not be sent or its answer not read (refused connection,
    /// reset, ...).
    Transport {
        /// What was being done.
        method: Method,
        /// The full URL.
        url: String,
        /// The underlying error (also [`source`](std::error::Error::source)); the
        /// text shows it with its causes.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No complete answer within the time limit.
    Timeout {
        /// What was being done.
        method: Method,
        /// The full URL.
        url: String,
        /// The time limit.
        timeout: Duration,
    },
    /// The gateway answered with an unexpected status.
    Status {
        /// What was being done.
        method: Method,
        /// The full URL.
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// The gateway's message (at most its first 4 KiB, lossy UTF-8), as sent:
        /// the error's text shows it on one line, with control characters escaped.
        body: String,
    },
    /// [`PeriodicPusher::start`](super::PeriodicPusher::start) was called
    /// outside a Tokio runtime.
    NoRuntime,
    /// A blocking call could not run (its runtime or thread could not start, or
    /// panicked), or the periodic pusher's task was lost.
    Runtime {
        /// What went wrong.
        reason: String,
    },
}

impl PushError {
    /// The HTTP status of a [`PushError::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            PushError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether retrying the same request later may succeed: transport errors,
    /// timeouts and 5xx answers. A 4xx (invalid or inconsistent metrics) and
    /// configuration or content errors will fail again.
    pub fn is_retryable(&self) -> bool {
        match self {
            PushError::Transport { .. } | PushError::Timeout { .. } => true,
            PushError::Status { status, .. } => status.is_server_error(),
            _ => false,
        }
    }
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::InvalidUrl { url, reason } => {
                write!(f, "invalid Pushgateway URL {url:?}: {reason}")
            }
            PushError::UnsupportedScheme { url } => write!(
                f,
                "unsupported Pushgateway URL {url:?}: only http:// is supported (https is not supported yet)"
            ),
            PushError::InvalidOption { option, reason } => {
                write!(f, "invalid Pushgateway client setting {option}: {reason}")
            }
            PushError::InvalidGroupingLabel { name, reason } => {
                write!(f, "invalid grouping label {name:?}: {reason}")
            }
            PushError::InvalidHeader { name, reason } => {
                write!(f, "invalid header {name:?}: {reason}")
            }
            PushError::Gather { errors } => {
                write!(f, "gathering the metrics to push failed, nothing was sent:")?;
                for e in errors {
                    write!(f, " {e};")?;
                }
                Ok(())
            }
            PushError::LabelClash { family, label } => write!(
                f,
                "pushed metric {family:?} already contains the label {label:?}, which the Pushgateway \
                 sets from the job and grouping labels; nothing was sent"
            ),
            PushError::Transport {
                method,
                url,
                source,
            } => write!(
                f,
                "error while {} {url}: {}",
                method.doing(),
                crate::util::error_chain(&**source)
            ),
            PushError::Timeout {
                method,
                url,
                timeout,
            } => write!(
                f,
                "no answer within {timeout:?} while {} {url}",
                method.doing()
            ),
            PushError::Status {
                method,
                url,
                status,
                body,
            } => write!(
                f,
                "unexpected status code {} while {} {url}: {}",
                status.as_u16(),
                method.doing(),
                crate::push::escape_control(body.trim_end())
            ),
            PushError::NoRuntime => {
                f.write_str("the periodic pusher must be started inside a Tokio runtime")
            }
            PushError::Runtime { reason } => write!(f, "push could not run: {reason}"),
        }
    }
}

impl std::error::Error for PushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PushError::Transport { source, .. } => Some(&**source),
            PushError::Gather { errors } => errors.first().map(|e| e as _),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_error_text() {
        let e = PushError::Status {
            method: Method::Push,
            url: "http://gw/metrics/job/testjob".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: "fake error\n".into(),
        };
        assert_eq!(
            e.to_string(),
            "unexpected status code 500 while pushing to http://gw/metrics/job/testjob: fake error"
        );
        assert!(e.is_retryable());
        assert_eq!(e.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    }

    #[test]
    fn transport_error_text_and_source() {
        let cause = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = PushError::Transport {
            method: Method::Delete,
            url: "http://gw/metrics/job/j".into(),
            source: Box::new(cause),
        };
        assert_eq!(
            e.to_string(),
            "error while deleting http://gw/metrics/job/j: refused"
        );
        assert_eq!(
            std::error::Error::source(&e).map(|s| s.to_string()),
            Some("refused".into())
        );
        assert!(e.is_retryable());
        assert_eq!(e.status(), None);
        let e = PushError::InvalidOption {
            option: "timeout",
            reason: "must not be zero".into(),
        };
        assert!(!e.is_retryable());
        assert!(std::error::Error::source(&e).is_none());
    }

    #[test]
    fn status_error_text_escapes_control_characters() {
        let e = PushError::Status {
            method: Method::Add,
            url: "http://gw/metrics/job/j".into(),
            status: StatusCode::BAD_REQUEST,
            body: "\u{1b}[31mred\u{1b}[0m\r\nforged line\u{7}\0 Προμηθεύς ✓\n".into(),
        };
        let text = e.to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert_eq!(
            text,
            "unexpected status code 400 while adding to http://gw/metrics/job/j: \
             \\x1b[31mred\\x1b[0m\\r\\nforged line\\x07\\x00 Προμηθεύς ✓"
        );
    }
}
