//! [`PushFormat`]: the body formats the Pushgateway reads.

use crate::encode::Format;
use crate::negotiate::ContentType;

/// The body format of a push or add: one of the two the Pushgateway reads.
///
/// The Pushgateway (1.x) parses varint-delimited protobuf and text 0.0.4; it
/// refuses OpenMetrics, so there is no such value here.
///
/// ```
/// use promhttp::push::{PushFormat, Pusher};
///
/// let pusher = Pusher::builder("127.0.0.1:9091", "batch")
///     .format(PushFormat::Text)
///     .build()?;
/// assert_eq!(pusher.format(), PushFormat::Text);
/// # Ok::<(), promhttp::push::PushError>(())
/// ```
///
/// ```compile_fail
/// // OpenMetrics, which the Pushgateway refuses, cannot be asked for.
/// let _ = promhttp::push::PushFormat::OpenMetrics;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PushFormat {
    /// Varint-delimited `io.prometheus.client.MetricFamily` messages (the default):
    /// `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`.
    #[default]
    Protobuf,
    /// Prometheus text format 0.0.4: `text/plain; version=0.0.4; charset=utf-8`.
    ///
    /// Text has no native histograms: a push whose metrics hold one is sent as
    /// [`Protobuf`](Self::Protobuf) instead (the Pushgateway stores native
    /// histograms and serves them to scrapers that ask for protobuf), so nothing
    /// is lost; [`PushBody::format`] says which format a body has.
    Text,
}

impl PushFormat {
    /// The `Content-Type` the body is sent with.
    pub fn content_type(self) -> &'static str {
        match self {
            PushFormat::Protobuf => ContentType::PROTOBUF.header,
            PushFormat::Text => ContentType::TEXT.header,
        }
    }
}

/// What a push sends: the encoded metrics and their format (see
/// [`Pusher::body_from`](super::Pusher::body_from)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushBody {
    pub(super) format: PushFormat,
    pub(super) bytes: Vec<u8>,
}

impl PushBody {
    /// The format of [`bytes`](Self::bytes): the configured one, except that a
    /// [`PushFormat::Text`] push of native histograms is [`PushFormat::Protobuf`].
    pub fn format(&self) -> PushFormat {
        self.format
    }

    /// The encoded metrics.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded metrics, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl From<PushFormat> for Format {
    fn from(format: PushFormat) -> Format {
        match format {
            PushFormat::Protobuf => Format::Protobuf,
            PushFormat::Text => Format::Text,
        }
    }
}
