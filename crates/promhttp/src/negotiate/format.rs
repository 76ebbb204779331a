//! Format negotiation: the `Content-Type`s we serve and which `Accept` entry selects which.

use super::list::{Element, Elements, Q_MAX};
use crate::encode::{Escaping, Format};
use http::HeaderValue;

/// The negotiated response format and the exact `Content-Type` header value to send.
///
/// Only the values listed in the [module table](crate::negotiate) are ever produced by
/// [`negotiate_format`]; `header` is always a valid header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContentType {
    /// The body encoding to use.
    pub format: Format,
    /// The `Content-Type` value to send, e.g. `text/plain; version=0.0.4; charset=utf-8`.
    pub header: &'static str,
    /// How names outside the legacy character set are written: what the `Accept`
    /// entry's `escaping` parameter asked for, [`Escaping::Underscores`] without
    /// one (and always for text 0.0.4 and OpenMetrics 0.0.1, which have no such
    /// parameter).
    pub escaping: Escaping,
}

impl ContentType {
    /// Prometheus text format 0.0.4, `text/plain; version=0.0.4; charset=utf-8`:
    /// the default whenever nothing better is acceptable.
    pub const TEXT: ContentType = ContentType {
        format: Format::Text,
        header: "text/plain; version=0.0.4; charset=utf-8",
        escaping: Escaping::Underscores,
    };

    /// OpenMetrics 0.0.1 (same body as 1.0.0).
    pub(super) const OPENMETRICS_0_0_1: ContentType = ContentType {
        format: Format::OpenMetrics,
        header: "application/openmetrics-text; version=0.0.1; charset=utf-8",
        escaping: Escaping::Underscores,
    };

    /// Varint-delimited `io.prometheus.client.MetricFamily` messages,
    /// `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`.
    pub const PROTOBUF: ContentType = ContentType {
        format: Format::Protobuf,
        header: "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        escaping: Escaping::Underscores,
    };
}

/// Escaping schemes echoed back in `; escaping=...`, in the order of the tables
/// built by `with_escaping!`. Index `i` here is index `i + 1` there.
pub(super) const ESCAPING_SCHEMES: [Escaping; 4] = [
    Escaping::AllowUtf8,
    Escaping::Underscores,
    Escaping::Dots,
    Escaping::Values,
];

/// `[base, base; escaping=allow-utf-8, ...]`, in [`ESCAPING_SCHEMES`] order.
macro_rules! with_escaping {
    ($format:expr, $base:expr) => {
        [
            ContentType {
                format: $format,
                header: $base,
                escaping: Escaping::Underscores,
            },
            ContentType {
                format: $format,
                header: concat!($base, "; escaping=allow-utf-8"),
                escaping: Escaping::AllowUtf8,
            },
            ContentType {
                format: $format,
                header: concat!($base, "; escaping=underscores"),
                escaping: Escaping::Underscores,
            },
            ContentType {
                format: $format,
                header: concat!($base, "; escaping=dots"),
                escaping: Escaping::Dots,
            },
            ContentType {
                format: $format,
                header: concat!($base, "; escaping=values"),
                escaping: Escaping::Values,
            },
        ]
    };
}

/// Prometheus text 1.0.0, without and with each escaping scheme.
pub(super) const TEXT_1_0_0: [ContentType; 5] =
    with_escaping!(Format::Text, "text/plain; version=1.0.0; charset=utf-8");

/// Protobuf, without and with each escaping scheme (Prometheus sends none; a
/// scraper that does gets it echoed, as client_golang does).
pub(super) const PROTOBUF: [ContentType; 5] = with_escaping!(
    Format::Protobuf,
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
);

/// OpenMetrics 1.0.0, without and with each escaping scheme.
pub(super) const OPENMETRICS_1_0_0: [ContentType; 5] = with_escaping!(
    Format::OpenMetrics,
    "application/openmetrics-text; version=1.0.0; charset=utf-8"
);

/// OpenMetrics 2.0.0 (experimental, opt-in), without and with each escaping scheme.
pub(super) const OPENMETRICS_2_0_0: [ContentType; 5] = with_escaping!(
    Format::OpenMetrics2,
    "application/openmetrics-text; version=2.0.0; charset=utf-8"
);

/// Picks the response format from the request's `Accept` header lines.
///
/// `accept` is every `Accept` value of the request (e.g. `headers.get_all(ACCEPT)`
/// or `headers.get(ACCEPT)`); several lines count as one comma-separated list, in
/// order. `openmetrics` enables the OpenMetrics offers; when `false` the result is
/// never [`Format::OpenMetrics`].
///
/// The acceptable entry with the highest weight wins, the first such entry in header
/// order on a tie; see the [module documentation](crate::negotiate) for what each entry
/// matches. Entries that do not parse (including a malformed `q`, e.g. `q=foo`,
/// `q=1.5`, `q=0.1.2`) are skipped; a quoted string that is not closed ends at the
/// end of its header line. If no entry is acceptable, the result is
/// [`ContentType::TEXT`].
pub fn negotiate_format<'a>(
    accept: impl IntoIterator<Item = &'a HeaderValue>,
    openmetrics: bool,
) -> ContentType {
    negotiate_format_offering(accept, openmetrics, false)
}

/// As [`negotiate_format`], also offering OpenMetrics 2.0.0 when `openmetrics_2`:
/// an entry `application/openmetrics-text; version=2.0.0` selects it then, and
/// only then (no entry without that exact version does).
pub(crate) fn negotiate_format_offering<'a>(
    accept: impl IntoIterator<Item = &'a HeaderValue>,
    openmetrics: bool,
    openmetrics_2: bool,
) -> ContentType {
    let mut best: Option<(u16, ContentType)> = None;
    for value in accept {
        for entry in Elements::new(value.as_bytes(), true) {
            if entry.q == 0 || best.is_some_and(|(q, _)| q >= entry.q) {
                continue;
            }
            if let Some(ct) = match_media_range(&entry, openmetrics, openmetrics_2) {
                if entry.q == Q_MAX {
                    // Nothing later can beat the first full-weight match.
                    return ct;
                }
                best = Some((entry.q, ct));
            }
        }
    }
    best.map_or(ContentType::TEXT, |(_, ct)| ct)
}

/// What a single `Accept` entry selects, if anything we serve.
fn match_media_range(
    entry: &Element<'_>,
    openmetrics: bool,
    openmetrics_2: bool,
) -> Option<ContentType> {
    let (ty, sub) = (entry.ty, entry.sub);
    if ty == b"*" {
        // The parser only lets `*/*` through.
        return Some(ContentType::TEXT);
    }
    if ty.eq_ignore_ascii_case(b"text") {
        if sub == b"*" {
            return Some(ContentType::TEXT);
        }
        if !sub.eq_ignore_ascii_case(b"plain") {
            return None;
        }
        return match entry.param(b"version") {
            None => Some(ContentType::TEXT),
            Some(v) if v.matches(b"0.0.4") => Some(ContentType::TEXT),
            Some(v) if v.matches(b"1.0.0") => Some(TEXT_1_0_0[escaping_index(entry)]),
            Some(_) => None,
        };
    }
    if !ty.eq_ignore_ascii_case(b"application") {
        return None;
    }
    if sub.eq_ignore_ascii_case(b"vnd.google.protobuf") {
        let proto = entry
            .param(b"proto")
            .is_some_and(|v| v.matches(b"io.prometheus.client.MetricFamily"));
        let encoding = entry
            .param(b"encoding")
            .is_some_and(|v| v.matches_ignore_case(b"delimited"));
        return (proto && encoding).then(|| PROTOBUF[escaping_index(entry)]);
    }
    let version = entry.param(b"version");
    if openmetrics_2
        && sub.eq_ignore_ascii_case(b"openmetrics-text")
        && version.is_some_and(|v| v.matches(b"2.0.0"))
    {
        return Some(OPENMETRICS_2_0_0[escaping_index(entry)]);
    }
    if openmetrics && sub.eq_ignore_ascii_case(b"openmetrics-text") {
        return match version {
            None => Some(OPENMETRICS_1_0_0[escaping_index(entry)]),
            Some(v) if v.matches(b"1.0.0") => Some(OPENMETRICS_1_0_0[escaping_index(entry)]),
            Some(v) if v.matches(b"0.0.1") => Some(ContentType::OPENMETRICS_0_0_1),
            Some(_) => None,
        };
    }
    None
}

/// Index into [`TEXT_1_0_0`] / [`OPENMETRICS_1_0_0`] / [`PROTOBUF`]: 0 without a
/// known `escaping`.
fn escaping_index(entry: &Element<'_>) -> usize {
    entry.param(b"escaping").map_or(0, |v| {
        ESCAPING_SCHEMES
            .iter()
            .position(|s| v.matches_ignore_case(s.as_str().as_bytes()))
            .map_or(0, |i| i + 1)
    })
}
