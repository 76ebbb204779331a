//! Compression negotiation: the content codings we offer and how `Accept-Encoding` picks one.

use super::list::Elements;
use http::HeaderValue;

/// A response content coding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// gzip (RFC 1952); `x-gzip` in a request means the same.
    Gzip,
    /// Zstandard (RFC 8878).
    Zstd,
}

impl Encoding {
    /// The coding's name as sent in `Content-Encoding`: `"identity"`, `"gzip"` or
    /// `"zstd"`. (A response with [`Encoding::Identity`] normally sends no
    /// `Content-Encoding` at all.)
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
        }
    }
}

/// Picks the response compression from the request's `Accept-Encoding` header lines.
///
/// `accept_encoding` is every `Accept-Encoding` value of the request; several
/// lines count as one comma-separated list. `offered` lists the codings the server
/// can produce, most preferred first.
///
/// Each offered coding gets the weight of its own entry (`gzip` and `x-gzip` both
/// name [`Encoding::Gzip`]; names are case-insensitive; if a coding is listed
/// twice, the first entry counts), else, for a compressed coding, the weight of a
/// `*` entry; `*` never applies to [`Encoding::Identity`]. The offered coding with
/// the highest weight above 0 wins, the earlier one in `offered` on a tie. An
/// unlisted identity competes with nothing (`gzip;q=0.1` selects gzip), and `*`
/// alone selects the first compressed coding in `offered`.
///
/// When no offered coding has a weight above 0 (missing or empty header, only
/// unknown codings, `*;q=0`, ...), the result is [`Encoding::Identity`], even if
/// the client excluded it (`identity;q=0`) and even if it is not in `offered`: a
/// scrape is never refused. Unparsable entries are skipped.
pub fn negotiate_encoding<'a>(
    accept_encoding: impl IntoIterator<Item = &'a HeaderValue>,
    offered: &[Encoding],
) -> Encoding {
    let (mut identity, mut gzip, mut zstd, mut star) = (None, None, None, None);
    for value in accept_encoding {
        for entry in Elements::new(value.as_bytes(), false) {
            let name = entry.ty;
            let slot = if name == b"*" {
                &mut star
            } else if name.eq_ignore_ascii_case(b"gzip") || name.eq_ignore_ascii_case(b"x-gzip") {
                &mut gzip
            } else if name.eq_ignore_ascii_case(b"zstd") {
                &mut zstd
            } else if name.eq_ignore_ascii_case(b"identity") {
                &mut identity
            } else {
                continue;
            };
            slot.get_or_insert(entry.q);
        }
    }
    let mut best: Option<(u16, Encoding)> = None;
    for &encoding in offered {
        let q = match encoding {
            Encoding::Identity => identity,
            Encoding::Gzip => gzip.or(star),
            Encoding::Zstd => zstd.or(star),
        }
        .unwrap_or(0);
        if q > best.map_or(0, |(best_q, _)| best_q) {
            best = Some((q, encoding));
        }
    }
    best.map_or(Encoding::Identity, |(_, encoding)| encoding)
}
