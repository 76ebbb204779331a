//! [`Blocks`]: bytes kept for a page that is written again and again, stored in
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_exactly_the_bytes() {
        let source: Vec<u8> = (0..100u8).map(|b| b.wrapping_mul(7) | 1).collect();
        for len in 0..source.len() {
            let blocks = Blocks::new(&source[..len]);
            assert_eq!(blocks.as_bytes(), &source[..len]);
            assert_eq!(blocks.is_empty(), len == 0);
            let mut out = b"head".to_vec();
            blocks.append_to(&mut out);
            blocks.append_to(&mut out);
            let mut want = b"head".to_vec();
            want.extend_from_slice(&source[..len]);
            want.extend_from_slice(&source[..len]);
            assert_eq!(out, want, "length {len}");
        }
    }
}
