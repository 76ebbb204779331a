//! Compressing a rendered page, with the compressor contexts a handler keeps
//! between scrapes.
//!
//! A deflate context is a few hundred KiB (zlib-rs: 64 KiB window, 64 KiB chain,
//! 128 KiB hash head, 64 KiB pending output), and gzip is what Prometheus asks
//! for at every scrape. Made anew for each page, it was allocated and freed once
//! per scrape on the render thread, and with glibc that churn, beside the page
//! buffers, left the render thread's arena holding several contexts' worth of
//! freed memory. The handler now keeps one context per coding, made at the first
//! scrape that needs it and reset for each page; a render that finds it in use
//! by another render (a second kind of page compressed at the same moment) makes
//! a context of its own for that page and drops it afterwards, so renders never
//! wait for each other here.

#[cfg(any(feature = "gzip", feature = "zstd"))]
use std::sync::Mutex;

use crate::negotiate::Encoding;
#[cfg(any(feature = "zstd", all(test, feature = "gzip")))]
use crate::util::lock;
#[cfg(feature = "gzip")]
use crate::util::try_lock;

/// The compressor contexts of one handler.
#[derive(Default)]
pub(crate) struct Compressors {
    #[cfg(feature = "gzip")]
    gzip: Mutex<Option<flate2::Compress>>,
    #[cfg(feature = "zstd")]
    zstd: Mutex<Option<zstd::bulk::Compressor<'static>>>,
}

impl Compressors {
    /// Appends `data` compressed with `encoding` to `out`, growing `out` only if
    /// its spare capacity is too small.
    pub(crate) fn compress(
        &self,
        encoding: Encoding,
        levels: (u32, i32),
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let _ = levels;
        match encoding {
            Encoding::Identity => {
                out.extend_from_slice(data);
                Ok(())
            }
            #[cfg(feature = "gzip")]
            Encoding::Gzip => {
                let level = flate2::Compression::new(levels.0);
                let new = || flate2::Compress::new_gzip(level, 15);
                match try_lock(&self.gzip) {
                    Some(mut slot) => {
                        let deflate = slot.get_or_insert_with(new);
                        // A context left mid-stream by a failed page starts over too.
                        deflate.reset();
                        gzip(deflate, data, out)
                    }
                    None => gzip(&mut new(), data, out),
                }
            }
            #[cfg(feature = "zstd")]
            Encoding::Zstd => {
                let mut slot = lock(&self.zstd);
                let c = match slot.as_mut() {
                    Some(c) => c,
                    None => slot.insert(zstd::bulk::Compressor::new(levels.1)?),
                };
                out.reserve(zstd::zstd_safe::compress_bound(data.len()));
                c.compress_to_buffer(data, out).map(drop)
            }
            #[allow(unreachable_patterns)]
            other => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("{} support is not compiled in", other.as_str()),
            )),
        }
    }

    /// Whether a gzip context is kept.
    #[cfg(all(test, feature = "gzip"))]
    pub(crate) fn has_gzip(&self) -> bool {
        lock(&self.gzip).is_some()
    }
}

/// Compresses `data` into one gzip member appended to `out`, with a freshly reset
/// `deflate` (made by [`flate2::Compress::new_gzip`], which writes the gzip header
/// and trailer itself).
#[cfg(feature = "gzip")]
fn gzip(deflate: &mut flate2::Compress, data: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    use flate2::{FlushCompress, Status};
    loop {
        if out.len() == out.capacity() {
            // Out of room (a page that grew past the last one's size, or the first
            // page): half as much again, at least an eighth of the input.
            let more = (out.len() / 2).max(data.len() / 8).max(4096);
            out.reserve_exact(more);
        }
        let (read, written) = (deflate.total_in(), deflate.total_out());
        let at = usize::try_from(read).unwrap_or(usize::MAX);
        let rest = data.get(at..).unwrap_or_default();
        match deflate.compress_vec(rest, out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return Ok(()),
            Ok(Status::Ok | Status::BufError) => {}
            Err(e) => return Err(std::io::Error::other(e)),
        }
        if (read, written) == (deflate.total_in(), deflate.total_out())
            && out.len() < out.capacity()
        {
            // No progress with room to spare: never expected of deflate; not a loop.
            return Err(std::io::Error::other(
                "gzip: the compressor made no progress",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "gzip")]
    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out)
            .expect("a valid gzip member");
        out
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn the_kept_gzip_context_compresses_page_after_page() {
        let c = Compressors::default();
        let pages: Vec<Vec<u8>> = (0..4u32)
            .map(|i| {
                (0..20_000u32 * (i + 1))
                    .flat_map(|n| format!("x_total{{n=\"{}\"}} {}\n", n % 977, n * i).into_bytes())
                    .collect()
            })
            .collect();
        for (i, page) in pages.iter().enumerate() {
            // Whatever room `out` starts with: none, a little, plenty.
            let mut out = Vec::with_capacity([0, 100, 1 << 20, 0][i]);
            c.compress(Encoding::Gzip, (1, 3), page, &mut out).unwrap();
            assert_eq!(&gunzip(&out), page, "page {i}");
            assert!(c.has_gzip());
        }
        // An empty page is a valid gzip member too.
        let mut out = Vec::new();
        c.compress(Encoding::Gzip, (6, 3), b"", &mut out).unwrap();
        assert!(gunzip(&out).is_empty());
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn a_render_that_finds_the_context_in_use_makes_its_own() {
        let c = Compressors::default();
        let page = b"a 1\nb 2\n".repeat(5000);
        let held = lock(&c.gzip);
        let mut out = Vec::new();
        c.compress(Encoding::Gzip, (1, 3), &page, &mut out).unwrap();
        assert_eq!(gunzip(&out), page);
        assert!(held.is_none(), "the kept slot was not touched");
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_appends_one_frame() {
        let c = Compressors::default();
        let page = b"a 1\nb 2\n".repeat(5000);
        let mut out = Vec::new();
        c.compress(Encoding::Zstd, (1, 3), &page, &mut out).unwrap();
        assert_eq!(zstd::stream::decode_all(&out[..]).unwrap(), page);
    }
}
