//! Protobuf wire primitives, shared by the exposition encoder and remote write:
//! keys, varints, doubles, strings, label pairs and length prefixes.
//!
//! Both schemas number almost every field below 16, so almost every key is one
//! byte: [`key`] makes those, [`long_key`] the two-byte keys of fields 16 and up
//! (the native-histogram `exemplars` of `metrics.proto`).

use crate::model::Label;

/// Wire type of varint fields (`int64`, `uint64`, enums).
pub(crate) const VARINT: u8 = 0;
/// Wire type of 64-bit fields (`double`).
pub(crate) const I64: u8 = 1;
/// Wire type of length-delimited fields (strings, messages).
pub(crate) const LEN: u8 = 2;

/// The key of a field: its number (below 16, so that the key is one byte) and wire
/// type.
pub(crate) const fn key(field: u8, wire_type: u8) -> u8 {
    assert!(
        field > 0 && field < 16,
        "a one-byte key needs a field number in 1..16"
    );
    field << 3 | wire_type
}

/// The two-byte key of a field numbered from 16 to 2047.
pub(crate) const fn long_key(field: u16, wire_type: u8) -> [u8; 2] {
    assert!(
        field >= 16 && field < 2048,
        "a two-byte key needs a field number in 16..2048"
    );
    let key = field << 3 | wire_type as u16;
    [(key as u8 & 0x7f) | 0x80, (key >> 7) as u8]
}

/// A `sint32` as protobuf's zigzag encoding writes it: small magnitudes, of
/// either sign, become small varints (0, -1, 1, -2 -> 0, 1, 2, 3).
#[inline]
pub(crate) fn zigzag32(value: i32) -> u64 {
    u64::from(((value << 1) ^ (value >> 31)) as u32)
}

/// A `sint64` as protobuf's zigzag encoding writes it.
#[inline]
pub(crate) fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The size of a length-delimited field (one-byte key) with `len` bytes of content.
#[inline]
pub(crate) fn delimited_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// The size of a label message (see [`put_label`]) without its key and length.
#[inline]
pub(crate) fn label_len(label: &Label) -> usize {
    delimited_len(label.name.len()) + delimited_len(label.value.len())
}

/// A label as a field with `key`: the message `{ string name = 1; string value = 2; }`
/// (`io.prometheus.client.LabelPair` and remote write's `prometheus.Label` alike),
/// both fields always written, its length known up front.
#[inline]
pub(crate) fn put_label(out: &mut Vec<u8>, key: u8, label: &Label) {
    out.push(key);
    put_varint(out, label_len(label) as u64);
    put_str(out, LABEL_NAME, &label.name);
    put_str(out, LABEL_VALUE, &label.value);
}

/// [`put_label`] for a label held as two strings.
#[cfg(feature = "prometheus-client")]
#[inline]
pub(crate) fn put_pair(out: &mut Vec<u8>, key: u8, name: &str, value: &str) {
    out.push(key);
    put_varint(
        out,
        (delimited_len(name.len()) + delimited_len(value.len())) as u64,
    );
    put_str(out, LABEL_NAME, name);
    put_str(out, LABEL_VALUE, value);
}

const LABEL_NAME: u8 = key(1, LEN);
const LABEL_VALUE: u8 = key(2, LEN);

/// A string field: key, length, bytes.
#[inline]
pub(crate) fn put_str(out: &mut Vec<u8>, key: u8, s: &str) {
    out.push(key);
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A `double` field: key, eight little-endian bytes.
#[inline]
pub(crate) fn put_double(out: &mut Vec<u8>, key: u8, value: f64) {
    out.push(key);
    out.extend_from_slice(&value.to_le_bytes());
}

/// A base-128 varint, least significant group first; an `int64` is written as its
/// two's complement (`value as u64`), ten bytes when negative.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The number of bytes of `value` as a varint, 1 to 10.
#[inline]
pub(crate) fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Room reserved for the length of a message whose size is only estimated before it
/// is written: [`begin_len`] reserves the varint's bytes, [`end_len`] fills them in.
/// A wrong estimate costs a move of the message's bytes, never correctness.
pub(crate) struct LenSlot {
    /// Where the varint starts.
    at: usize,
    /// How many bytes were reserved for it.
    width: usize,
}

/// Reserves room for the length of a message of about `guess` bytes, to be written next.
#[inline]
pub(crate) fn begin_len(out: &mut Vec<u8>, guess: usize) -> LenSlot {
    let at = out.len();
    let width = varint_len(guess as u64);
    out.resize(at + width, 0);
    LenSlot { at, width }
}

/// Writes the length of the message written since [`begin_len`], moving the message
/// when its length needs a different number of bytes than reserved.
#[inline]
pub(crate) fn end_len(out: &mut Vec<u8>, slot: LenSlot) {
    let body = slot.at + slot.width;
    let len = (out.len() - body) as u64;
    let width = varint_len(len);
    if width != slot.width {
        move_body(out, body, slot.width, width);
    }
    let mut value = len;
    let varint = &mut out[slot.at..slot.at + width];
    let (last, rest) = varint.split_last_mut().expect("a varint has a byte");
    for byte in rest {
        *byte = value as u8 | 0x80;
        value >>= 7;
    }
    *last = value as u8;
}

/// Moves the bytes from `body` to the end of `out` so that `new_width` bytes precede
/// them instead of `old_width`.
#[inline(never)]
fn move_body(out: &mut Vec<u8>, body: usize, old_width: usize, new_width: usize) {
    let end = out.len();
    if new_width > old_width {
        let grow = new_width - old_width;
        out.resize(end + grow, 0);
        out.copy_within(body..end, body + grow);
    } else {
        let shrink = old_width - new_width;
        out.copy_within(body..end, body - shrink);
        out.truncate(end - shrink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_byte() {
        assert_eq!(key(1, LEN), 0x0a);
        assert_eq!(key(1, I64), 0x09);
        assert_eq!(key(2, VARINT), 0x10);
        assert_eq!(key(15, LEN), 0x7a);
    }

    #[test]
    fn long_keys_are_two_bytes() {
        // Field 16, wire type 2: (16 << 3 | 2) = 130 = 0x82 0x01 as a varint.
        assert_eq!(long_key(16, LEN), [0x82, 0x01]);
        assert_eq!(long_key(2047, VARINT), [0xf8, 0x7f]);
    }

    #[test]
    fn zigzag_interleaves_signs() {
        let small: Vec<u64> = [0, -1, 1, -2, 2].into_iter().map(zigzag32).collect();
        assert_eq!(small, [0, 1, 2, 3, 4]);
        assert_eq!(zigzag32(i32::MAX), u64::from(u32::MAX) - 1);
        assert_eq!(zigzag32(i32::MIN), u64::from(u32::MAX));
        let small: Vec<u64> = [0, -1, 1, -2, 2].into_iter().map(zigzag64).collect();
        assert_eq!(small, [0, 1, 2, 3, 4]);
        assert_eq!(zigzag64(i64::MAX), u64::MAX - 1);
        assert_eq!(zigzag64(i64::MIN), u64::MAX);
    }

    #[test]
    fn a_label_is_two_strings_both_always_written() {
        let label = Label::new("job", "");
        let mut out = Vec::new();
        put_label(&mut out, key(1, LEN), &label);
        assert_eq!(out, [0x0a, 7, 0x0a, 3, b'j', b'o', b'b', 0x12, 0]);
        assert_eq!(delimited_len(label_len(&label)), out.len());
    }

    #[test]
    fn doubles_are_little_endian() {
        let mut out = Vec::new();
        put_double(&mut out, key(1, I64), 1.0);
        assert_eq!(out, [0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
    }
}
