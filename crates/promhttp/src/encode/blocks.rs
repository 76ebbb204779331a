//! [`Blocks`] and [`BlockArena`]: bytes kept for a page that is written again and again, stored in
//! 16-byte blocks so that appending them is a few fixed-size moves.
//!
//! The pieces of a kept page (label pairs, a line's name and `le` label) are tens
//! of bytes long. Appending a slice whose length is only known at run time is a
//! call into libc's `memcpy` for each piece; appending whole blocks of a size the
//! compiler knows is a pair of vector moves each, and the vector is then cut back
//! to the real length (the padding written past it is overwritten by what comes
//! next).

use std::mem::MaybeUninit;

use super::float::{general, Formatted};

/// Bytes padded with zeros to whole 16-byte blocks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Blocks {
    blocks: Box<[[u8; 16]]>,
    len: usize,
}

impl Blocks {
    pub(crate) fn new(bytes: &[u8]) -> Blocks {
        let blocks = bytes
            .chunks(16)
            .map(|chunk| {
                let mut block = [0u8; 16];
                block[..chunk.len()].copy_from_slice(chunk);
                block
            })
            .collect();
        Blocks {
            blocks,
            len: bytes.len(),
        }
    }

    /// Appends the bytes to `out`.
    #[inline]
    pub(crate) fn append_to(&self, out: &mut Vec<u8>) {
        self.view().append_to(out);
    }

    /// The bytes as a [`BlockSlice`].
    #[inline]
    pub(crate) fn view(&self) -> BlockSlice<'_> {
        BlockSlice {
            blocks: &self.blocks,
            len: self.len,
        }
    }
}

/// Bytes padded to whole 16-byte blocks, borrowed from [`Blocks`] or a
/// [`BlockArena`] (`pub` in a crate-private module: the metric kinds' unnameable
/// trait takes it).
#[derive(Clone, Copy, Debug)]
pub struct BlockSlice<'a> {
    blocks: &'a [[u8; 16]],
    len: usize,
}

impl BlockSlice<'_> {
    /// The bytes, without the padding.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        let all = self.blocks.as_flattened();
        all.get(..self.len).unwrap_or(all)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The length [`Cursor::blocks`] needs free to write these bytes.
    #[inline]
    pub(crate) fn padded_len(&self) -> usize {
        self.blocks.len() * 16
    }

    /// Appends the bytes to `out`.
    #[inline]
    pub(crate) fn append_to(&self, out: &mut Vec<u8>) {
        let end = out.len() + self.len;
        out.reserve(self.blocks.len() * 16);
        for block in self.blocks.iter() {
            out.extend_from_slice(block);
        }
        out.truncate(end);
    }
}

/// Many byte strings in one allocation, each padded to whole 16-byte blocks: the
/// label pairs of every series of a family, in page order. One allocation for
/// them all instead of one per series saves the allocator's overhead and the
/// padding of each (about 80 of the 144 bytes a series' label pairs took alone),
/// and a scrape reads them in the order it writes them.
#[derive(Debug, Default)]
pub(crate) struct BlockArena {
    blocks: Box<[[u8; 16]]>,
    /// Per string: its first block and its length in bytes.
    spans: Box<[(usize, usize)]>,
}

impl BlockArena {
    /// The arena of `count` strings, the `i`th appended to the (empty) vector
    /// given to `write(i, ..)`.
    pub(crate) fn new(count: usize, mut write: impl FnMut(usize, &mut Vec<u8>)) -> BlockArena {
        let mut blocks: Vec<[u8; 16]> = Vec::new();
        let mut spans = Vec::with_capacity(count);
        let mut one = Vec::new();
        for i in 0..count {
            one.clear();
            write(i, &mut one);
            spans.push((blocks.len(), one.len()));
            blocks.extend(one.chunks(16).map(|chunk| {
                let mut block = [0u8; 16];
                block[..chunk.len()].copy_from_slice(chunk);
                block
            }));
        }
        BlockArena {
            blocks: blocks.into_boxed_slice(),
            spans: spans.into_boxed_slice(),
        }
    }

    /// The `i`th string (empty past the last one).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> BlockSlice<'_> {
        let (start, len) = self.spans.get(i).copied().unwrap_or_default();
        let blocks = self
            .blocks
            .get(start..start + len.div_ceil(16))
            .unwrap_or_default();
        BlockSlice { blocks, len }
    }
}

/// Writes into the spare capacity of a `Vec<u8>` with its position in a
/// register: a line of a kept page is several pieces and a number, and appending
/// each with `Vec` methods loads, checks and stores the vector's length once per
/// piece (a chain of stores and reloads through memory). Pieces are written as
/// whole blocks of a size known at compile time ([`Blocks`], eight digits in one
/// word, a [`Formatted`] number), each past the last piece's end, which the
/// next overwrites. See [`write_within`].
pub(crate) struct Cursor<'a> {
    buf: &'a mut [MaybeUninit<u8>],
    pos: usize,
    /// Whether a write did not fit (the bytes are then dropped).
    short: bool,
}

/// Lets `write` append at most `max` bytes to `out` through a [`Cursor`]; `true`
/// when it did. When a write does not fit in `max` (a caller's bound was wrong),
/// `out` is left as it was and the result is `false`, so the caller can write the
/// same bytes another way.
#[inline]
pub(crate) fn write_within(
    out: &mut Vec<u8>,
    max: usize,
    write: impl FnOnce(&mut Cursor<'_>),
) -> bool {
    out.reserve(max);
    let len = out.len();
    let mut cursor = Cursor {
        buf: out.spare_capacity_mut(),
        pos: 0,
        short: false,
    };
    write(&mut cursor);
    if cursor.short {
        return false;
    }
    let written = cursor.pos;
    // SAFETY: the cursor initialized the first `pos` bytes of the spare capacity
    // (every write covers from the position before it to at least the position
    // after it, and none fell short), which `len + pos` therefore ends within.
    unsafe { out.set_len(len + written) };
    true
}

impl Cursor<'_> {
    /// Writes all of `block` and moves on by `len` (at most `N`).
    #[inline(always)]
    fn put<const N: usize>(&mut self, block: &[u8; N], len: usize) {
        debug_assert!(len <= N);
        match self.buf.get_mut(self.pos..self.pos + N) {
            Some(dst) => {
                // SAFETY: `dst` is `N` bytes long, `block` is `N` bytes, and they
                // cannot overlap (`dst` is spare capacity, borrowed mutably). A
                // copy of `N` known bytes is one or two vector moves; writing
                // `MaybeUninit` bytes one at a time is not merged into them.
                unsafe {
                    std::ptr::copy_nonoverlapping(block.as_ptr(), dst.as_mut_ptr().cast::<u8>(), N)
                };
                self.pos += len;
            }
            None => self.short = true,
        }
    }

    /// Appends one byte.
    #[inline(always)]
    pub(crate) fn byte(&mut self, b: u8) {
        self.put(&[b], 1);
    }

    /// Appends the bytes of `blocks`.
    #[inline(always)]
    pub(crate) fn blocks(&mut self, blocks: BlockSlice<'_>) {
        let start = self.pos;
        for block in blocks.blocks.iter() {
            self.put(block, 16);
        }
        if !self.short {
            self.pos = start + blocks.len;
        }
    }

    /// Appends a count as [`write_count`](super::float::write_count) does.
    #[inline(always)]
    pub(crate) fn count(&mut self, n: u64) {
        if n < 1_000_000 {
            let (word, len) = super::float::digits(n as u32);
            self.put(&word.to_le_bytes(), len);
        } else {
            self.formatted(&general(n as f64));
        }
    }

    /// Appends a float as [`write_float`](super::float::write_float) does.
    #[inline(always)]
    pub(crate) fn float(&mut self, v: f64) {
        match super::float::small_integer(v) {
            Some(i) => {
                if i < 0 {
                    self.byte(b'-');
                }
                let (word, len) = super::float::digits(i.unsigned_abs() as u32);
                self.put(&word.to_le_bytes(), len);
            }
            None => self.formatted(&general(v)),
        }
    }

    #[inline(always)]
    fn formatted(&mut self, f: &Formatted) {
        self.put(f.block(), f.len());
    }
}

/// What a line's number and newline need free at most: the longest number (24
/// bytes) written as a 32-byte block, and the newline's.
pub(crate) const NUMBER_ROOM: usize = 32 + 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_exactly_the_bytes() {
        let source: Vec<u8> = (0..100u8).map(|b| b.wrapping_mul(7) | 1).collect();
        for len in 0..source.len() {
            let blocks = Blocks::new(&source[..len]);
            assert_eq!(blocks.view().as_bytes(), &source[..len]);
            assert_eq!(blocks.view().is_empty(), len == 0);
            let mut out = b"head".to_vec();
            blocks.append_to(&mut out);
            blocks.append_to(&mut out);
            let mut want = b"head".to_vec();
            want.extend_from_slice(&source[..len]);
            want.extend_from_slice(&source[..len]);
            assert_eq!(out, want, "length {len}");
        }
    }

    #[test]
    fn an_arena_gives_back_each_string() {
        let strings: Vec<Vec<u8>> = (0..40usize)
            .map(|n| (0..n * 3).map(|b| (b as u8).wrapping_mul(13) | 1).collect())
            .collect();
        let arena = BlockArena::new(strings.len(), |i, out| out.extend_from_slice(&strings[i]));
        assert_eq!(arena.spans.len(), strings.len());
        let mut out = b"head".to_vec();
        let mut want = out.clone();
        for (i, s) in strings.iter().enumerate() {
            let got = arena.get(i);
            assert_eq!(got.as_bytes(), &s[..], "string {i}");
            assert_eq!(got.is_empty(), s.is_empty());
            got.append_to(&mut out);
            want.extend_from_slice(s);
            assert_eq!(out, want, "after string {i}");
        }
        assert!(arena.get(strings.len()).is_empty());
        // Each string starts on a block of its own: at most 15 bytes of padding.
        let bytes: usize = strings.iter().map(Vec::len).sum();
        assert!(arena.blocks.len() * 16 < bytes + 16 * strings.len());
    }
}

#[cfg(test)]
mod cursor_tests {
    use super::*;
    use crate::encode::float::{write_count, write_float};

    fn pieces(c: &mut Cursor<'_>, blocks: &Blocks, n: u64, v: f64) {
        c.blocks(blocks.view());
        c.count(n);
        c.byte(b' ');
        c.float(v);
        c.byte(b'\n');
    }

    #[test]
    fn writes_what_vec_methods_write() {
        let blocks = Blocks::new(b"name_bucket{a=\"x\",le=\"0.5\"} ");
        let numbers = [
            (0, 0.0),
            (7, -3.0),
            (999_999, 87.11699999999999),
            (1_000_000, 1e6),
            (u64::MAX, f64::NAN),
            (12, -0.0001),
            (123_456, f64::NEG_INFINITY),
        ];
        for (n, v) in numbers {
            let mut want = b"head ".to_vec();
            want.extend_from_slice(blocks.view().as_bytes());
            write_count(&mut want, n);
            want.push(b' ');
            write_float(&mut want, v);
            want.push(b'\n');
            let mut out = b"head ".to_vec();
            let max = blocks.view().padded_len() + 2 * NUMBER_ROOM + 1;
            assert!(write_within(&mut out, max, |c| pieces(c, &blocks, n, v)));
            assert_eq!(out, want, "{n} {v}");
        }
    }

    /// A bound too small leaves the vector as it was.
    #[test]
    fn a_write_that_does_not_fit_writes_nothing() {
        let blocks = Blocks::new(b"0123456789abcdef0123");
        for max in 0..blocks.view().padded_len() + 2 * NUMBER_ROOM {
            let mut out = Vec::with_capacity(0);
            out.extend_from_slice(b"kept");
            out.shrink_to_fit();
            let written = write_within(&mut out, max, |c| pieces(c, &blocks, 5, 0.5));
            if written {
                assert_eq!(out, b"kept0123456789abcdef01235 0.5\n");
            } else {
                assert_eq!(out, b"kept");
            }
        }
    }
}
