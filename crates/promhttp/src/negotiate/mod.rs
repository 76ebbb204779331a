//! Content negotiation: which body format (`Accept`) and which compression
//! (`Accept-Encoding`) a scrape response uses.
//!
//! Both [`negotiate_format`] and [`negotiate_encoding`] are total: they never fail,
//! never panic and never allocate. A missing, empty or unparsable header simply
//! yields the default (Prometheus text 0.0.4, no compression); a scrape is never
//! refused with `406 Not Acceptable`.
//!
//! # Formats (`Accept`)
//!
//! Each list entry is a media range with parameters and an optional weight `q`
//! (RFC 9110 §12.5.1). Types, subtypes and parameter names are case-insensitive;
//! parameter values may be tokens or quoted strings and are compared exactly, except
//! `encoding` and `escaping`, which are case-insensitive. Unknown parameters (such as
//! `charset`) are ignored; of a repeated parameter the first counts. An entry that
//! does not parse, including one with a malformed `q` (`q=foo`, `q=1.5`,
//! `q=0.1.2`), is skipped.
//!
//! | entry (`;q=` aside) | served `Content-Type` | [`Format`] |
//! |---|---|---|
//! | `application/vnd.google.protobuf` with `proto=io.prometheus.client.MetricFamily` and `encoding=delimited` | `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited` ² | `Protobuf` |
//! | `application/openmetrics-text` with `version=1.0.0` or no `version` ¹ | `application/openmetrics-text; version=1.0.0; charset=utf-8` ² | `OpenMetrics` |
//! | `application/openmetrics-text; version=0.0.1` ¹ | `application/openmetrics-text; version=0.0.1; charset=utf-8` | `OpenMetrics` |
//! | `application/openmetrics-text; version=2.0.0` ³ | `application/openmetrics-text; version=2.0.0; charset=utf-8` ² | `OpenMetrics2` |
//! | `text/plain; version=1.0.0` | `text/plain; version=1.0.0; charset=utf-8` ² | `Text` |
//! | `text/plain` with `version=0.0.4` or no `version`; `text/*`; `*/*` | `text/plain; version=0.0.4; charset=utf-8` | `Text` |
//! | anything else (`application/*`, `text/plain; version=0.0.2`, protobuf without the exact `proto`/`encoding`, OpenMetrics when disabled, ...) | not acceptable | |
//!
//! ¹ Only when OpenMetrics is enabled. ³ Only when OpenMetrics 2.0 is enabled
//! ([`HandlerBuilder::openmetrics_2`](crate::HandlerBuilder::openmetrics_2); never
//! through [`negotiate_format`]), and only for that exact version. ² Followed by `; escaping=E` when the entry
//! carried `escaping=E` with `E` one of `allow-utf-8`, `underscores`, `dots`,
//! `values`; other `escaping` values are ignored. The scheme is
//! [`ContentType::escaping`] ([`Escaping::Underscores`] when the entry named none,
//! and always for text 0.0.4 and OpenMetrics 0.0.1): metric and label names
//! outside the legacy character set are escaped as it says, or, with
//! `allow-utf-8`, written as they are (quoted in the text formats:
//! `{"http.server.duration",le="0.1"} 3`). Legacy names are the same under every
//! scheme but `dots`, which doubles their underscores.
//!
//! [`Escaping::Underscores`]: crate::encode::Escaping::Underscores
//!
//! The acceptable entry with the highest `q` wins; among equal weights the one that
//! comes first in the header wins; `q=0` means "not acceptable". When no entry is
//! acceptable the answer is text 0.0.4. Wildcards never select protobuf or
//! OpenMetrics.
//!
//! # Compression (`Accept-Encoding`)
//!
//! | entry | applies to |
//! |---|---|
//! | `gzip`, `x-gzip` | [`Encoding::Gzip`] |
//! | `zstd` | [`Encoding::Zstd`] |
//! | `identity` | [`Encoding::Identity`] |
//! | `*` | every offered compressed coding not named by its own entry (never `identity`) |
//! | anything else (`br`, `deflate`, ...) | ignored |
//!
//! Only codings the server offers can win; the one with the highest `q` (above 0)
//! wins, ties going to the server's preference order. Otherwise, the answer is
//! [`Encoding::Identity`].
//!
//! ```
//! use http::header::{HeaderMap, ACCEPT, ACCEPT_ENCODING};
//! use promhttp::encode::Format;
//! use promhttp::negotiate::{negotiate_encoding, negotiate_format, Encoding};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(ACCEPT, "application/openmetrics-text;version=1.0.0,text/plain;q=0.5".parse().unwrap());
//! headers.insert(ACCEPT_ENCODING, "gzip, zstd".parse().unwrap());
//!
//! let ct = negotiate_format(headers.get_all(ACCEPT), true);
//! assert_eq!(ct.format, Format::OpenMetrics);
//! assert_eq!(ct.header, "application/openmetrics-text; version=1.0.0; charset=utf-8");
//! assert_eq!(negotiate_format(headers.get_all(ACCEPT), false), promhttp::negotiate::ContentType::TEXT);
//!
//! let offered = [Encoding::Gzip, Encoding::Zstd, Encoding::Identity];
//! assert_eq!(negotiate_encoding(headers.get_all(ACCEPT_ENCODING), &offered), Encoding::Gzip);
//! assert_eq!(negotiate_encoding(None, &offered), Encoding::Identity);
//! ```
//!
//! [`Format`]: crate::encode::Format

mod encoding;
mod format;
mod list;
#[cfg(test)]
mod tests;

pub use encoding::{negotiate_encoding, Encoding};
pub(crate) use format::negotiate_format_offering;
pub use format::{negotiate_format, ContentType};
