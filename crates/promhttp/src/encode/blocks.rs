//! [`Blocks`] and [`BlockArena`]: bytes kept for a page that is written again and again, stored in
//! 16-byte blocks so that appending them is a few fixed-size moves.
//!
//! The pieces of a kept page (label pairs, a line's name and `le` label) are tens
//! of bytes long. Appending a slice whose length is only known at run time is a
//! call into libc's `memcpy` for each piece; appending whole blocks of a size the
//! compiler knows is a pair of vector moves each, and the vector is then cut back
//! to the real length (the padding written past it is overwritten by what comes
//! next).

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

/// Bytes padded to whole 16-byte blocks, borrowed from [`Blocks`] or a [`BlockArena`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockSlice<'a> {
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
