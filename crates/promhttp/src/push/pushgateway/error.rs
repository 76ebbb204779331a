//! [`PushError`]: why a push, add or delete failed, and whether to retry.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use super::Method;
use crate::gather::GatherError;

/// Why a push, add or delete failed (or a [`Pusher`](super::Pusher) could not be built).
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
    /// The URL's scheme is not `http` (`https` is not supported yet).
    UnsupportedScheme {
        /// The URL as given.
        url: String,
    },
    /// A setting is invalid: empty job, bad grouping label, bad header, a format
    /// the Pushgateway cannot read, a zero interval.
    InvalidConfig(String),
    /// Gathering the metrics reported problems; nothing was sent.
    Gather(Vec<GatherError>),
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
        /// The underlying error, with its causes.
        message: String,
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
    /// A blocking call could not run (its runtime or thread failed), or the
    /// periodic pusher's task was lost.
    Runtime(String),
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
            PushError::InvalidConfig(msg) => write!(f, "invalid Pushgateway client setting: {msg}"),
            PushError::Gather(errors) => {
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
                message,
            } => write!(f, "error while {} {url}: {message}", method.doing()),
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
            PushError::Runtime(msg) => write!(f, "push could not run: {msg}"),
        }
    }
}

impl std::error::Error for PushError {}

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
