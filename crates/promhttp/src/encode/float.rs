//! Number formatting shared by the text formats.
//!
//! Prometheus clients in Go write floats with `strconv.FormatFloat(v, 'g', -1, 64)`:
//! the shortest digits that parse back to the same bits, in exponent form when the
//! decimal exponent is below -4 or at least 6 (`1e+06`, `1.7560473e+06`, `1e-05`,
//! `0.0001`). We write the same bytes, so dashboards and `le` label values do not
//! change when an exporter moves from Go to Rust. Special values are `NaN`, `+Inf`
//! and `-Inf` exactly (Rust's `Display` would write `inf`).
//!
//! OpenMetrics additionally needs a `.` or an exponent in every float (`1.0`, `0.0`,
//! `42.0`), which [`write_om_float`] adds.

/// Appends `v` as Go's `%g` with shortest precision (text format 0.0.4): `1e6` is
/// `1e+06`.
pub(crate) fn write_float(out: &mut Vec<u8>, v: f64) {
    if let Some(i) = small_integer(v) {
        write_i64(out, i);
        return;
    }
    write_general(out, v);
}

/// Appends `v` in OpenMetrics form: as [`write_float`], plus `.0` when the result
/// would otherwise look like an integer: `1.0` is `1.0`, not `1`.
pub(crate) fn write_om_float(out: &mut Vec<u8>, v: f64) {
    if let Some(i) = small_integer(v) {
        write_i64(out, i);
        out.extend_from_slice(b".0");
        return;
    }
    write_general(out, v);
}

/// Remembers how the label values it wrote (`le`, `quantile`) were formatted: a
/// page repeats the same bucket bounds for every series of a histogram.
pub(crate) struct FloatCache {
    openmetrics: bool,
    entries: Vec<(u64, u8, [u8; 32])>,
}

impl FloatCache {
    const MAX_ENTRIES: usize = 64;

    pub(crate) fn new(openmetrics: bool) -> Self {
        FloatCache {
            openmetrics,
            entries: Vec::new(),
        }
    }

    /// Appends `v` as [`write_float`] or [`write_om_float`] would.
    #[inline]
    pub(crate) fn write(&mut self, out: &mut Vec<u8>, v: f64) {
        let bits = v.to_bits();
        if let Some((_, len, buf)) = self.entries.iter().find(|e| e.0 == bits) {
            out.extend_from_slice(&buf[..usize::from(*len)]);
            return;
        }
        let start = out.len();
        if self.openmetrics {
            write_om_float(out, v);
        } else {
            write_float(out, v);
        }
        let written = &out[start..];
        if self.entries.len() < Self::MAX_ENTRIES && written.len() <= 32 {
            let mut buf = [0u8; 32];
            buf[..written.len()].copy_from_slice(written);
            self.entries.push((bits, written.len() as u8, buf));
        }
    }
}

/// Appends an unsigned integer in decimal.
pub(crate) fn write_u64(out: &mut Vec<u8>, n: u64) {
    const E8: u64 = 100_000_000;
    if n < E8 {
        // At most eight digits, the usual case: one word.
        push_digits(out, eight_digits(n as u32), significant(n as u32));
    } else if n < E8 * E8 {
        let (hi, lo) = ((n / E8) as u32, (n % E8) as u32);
        push_digits(out, eight_digits(hi), significant(hi));
        push_digits(out, eight_digits(lo), 8);
    } else {
        let (top, rest) = ((n / (E8 * E8)) as u32, n % (E8 * E8));
        let (mid, lo) = ((rest / E8) as u32, (rest % E8) as u32);
        push_digits(out, eight_digits(top), significant(top));
        push_digits(out, eight_digits(mid), 8);
        push_digits(out, eight_digits(lo), 8);
    }
}

/// Appends the count `n` as [`write_float`] writes `n as f64`: digits below
/// 10^6, the float form (`1e+06`) from there, as Go's writer has it. Bucket
/// counts and `_count` are integers: they skip the float checks.
#[inline]
pub(crate) fn write_count(out: &mut Vec<u8>, n: u64) {
    if n < 1_000_000 {
        push_digits(out, eight_digits(n as u32), significant(n as u32));
    } else {
        write_general(out, n as f64);
    }
}

/// The digits of `n` (< 10^8) in the low bytes of a word, the first in the
/// lowest, and how many there are.
#[inline]
pub(super) fn digits(n: u32) -> (u64, usize) {
    let len = significant(n);
    (eight_digits(n) >> (8 * (8 - len)), len)
}

/// The eight decimal digits of `n` (< 10^8, leading zeros included) as ASCII,
/// the first digit in the lowest byte: computed in a register (each step splits
/// every lane of the word in two: 4 + 4 digits, then 2 + 2, then 1 + 1), so the
/// digits are stored with one write instead of byte by byte.
#[inline]
fn eight_digits(n: u32) -> u64 {
    debug_assert!(n < 100_000_000);
    // Two 32-bit lanes of four digits, the leading ones in the low lane.
    let mut x = u64::from(n / 10_000) | (u64::from(n % 10_000) << 32);
    // Each lane v < 10^4 becomes v / 100 (low 16 bits) and v % 100 (high 16):
    // v * 10486 >> 20 is v / 100 for every v below 43,699.
    let q = ((x * 10_486) >> 20) & 0x0000_007f_0000_007f;
    x = q | ((x - q * 100) << 16);
    // Each 16-bit lane v < 100 becomes v / 10 and v % 10 (v * 103 >> 10 is v / 10
    // for every v below 179).
    let q = ((x * 103) >> 10) & 0x000f_000f_000f_000f;
    x = q | ((x - q * 10) << 8);
    x | 0x3030_3030_3030_3030
}

/// How many decimal digits `n` (< 10^8) has (1 for 0).
#[inline]
fn significant(n: u32) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1_000..=9_999 => 4,
        10_000..=99_999 => 5,
        100_000..=999_999 => 6,
        1_000_000..=9_999_999 => 7,
        _ => 8,
    }
}

/// Appends the last `len` (1 to 8) of the eight digits in `digits`. The whole
/// word is appended and the vector cut back: a copy of known size is one move,
/// where a copy of one to eight bytes of unknown size is a call into libc's
/// `memcpy`.
#[inline]
fn push_digits(out: &mut Vec<u8>, digits: u64, len: usize) {
    let start = out.len();
    out.extend_from_slice(&(digits >> (8 * (8 - len))).to_le_bytes());
    out.truncate(start + len);
}

/// Appends a signed integer in decimal.
pub(crate) fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// `Some(i)` when `v` is an integer whose `%g` form has no exponent (|v| < 1e6).
#[inline]
pub(super) fn small_integer(v: f64) -> Option<i64> {
    // `fract` would be a call into libm (`trunc`) on the baseline x86-64 target;
    // the round trip through `i64` is two instructions. Exact: |v| < 1e6.
    // Negative zero becomes 0, as in Go's writer.
    let i = v as i64;
    (v.abs() < 1e6 && i as f64 == v).then_some(i)
}

fn write_general(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(general(v).as_bytes());
}

/// A number formatted into a fixed buffer (at most 24 bytes are ever written:
/// `-1.7976931348623157e+308`), so that a writer can move it as one 32-byte
/// block and keep only `len` of it.
#[derive(Clone, Copy)]
pub(crate) struct Formatted {
    bytes: [u8; 32],
    len: u8,
}

impl Formatted {
    fn new() -> Formatted {
        Formatted {
            bytes: [0; 32],
            len: 0,
        }
    }

    /// The whole buffer: the number, then padding.
    #[inline]
    pub(crate) fn block(&self) -> &[u8; 32] {
        &self.bytes
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len()).unwrap_or(&self.bytes)
    }

    fn push(&mut self, b: u8) {
        let at = self.len();
        if let Some(slot) = self.bytes.get_mut(at) {
            *slot = b;
            self.len += 1;
        }
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }
}

/// `v` as [`write_float`] writes it when it is not a small integer.
#[inline]
pub(crate) fn general(v: f64) -> Formatted {
    // A non-integer of magnitude 1e-4 up to 1e6 (the most common float on a
    // page: a histogram's `_sum`, a float gauge) is written by Go without an
    // exponent, exactly as ryu writes it (ryu's plain form covers 1e-5 up to
    // 1e16, and has no trailing zero but an integer's `.0`): no layout needed.
    let a = v.abs();
    if (1e-4..1e6).contains(&a) && (v as i64) as f64 != v {
        let mut f = Formatted::new();
        // SAFETY: `ryu::raw::format64` writes at most 24 bytes to the pointer and
        // needs a finite value (the range above has only finite ones); the buffer
        // has 32.
        let len = unsafe { ryu::raw::format64(v, f.bytes.as_mut_ptr()) };
        f.len = len as u8;
        return f;
    }
    layout(v)
}

/// [`general`] the long way: ryu's digits laid out as Go's `%g` lays them out.
fn layout(v: f64) -> Formatted {
    let mut f = Formatted::new();
    let out = &mut f;
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return f;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return f;
    }
    // ryu gives the shortest round-trip digits, as `87.11699999999999`, `1e-7` or
    // `1.2345e20`; we take its digits and decimal exponent and lay them out as Go does.
    let mut fmt = ryu::Buffer::new();
    let s = fmt.format_finite(v).as_bytes();
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let e_pos = s.iter().position(|&c| c == b'e').unwrap_or(s.len());
    let (mantissa, exp_part) = s.split_at(e_pos);
    let written_exp: i32 = match exp_part.get(1..) {
        Some(e) => parse_exp(e),
        None => 0,
    };
    // Significant digits, and where the decimal point sits relative to the first one.
    let mut digits = [0u8; 24];
    let mut nd = 0;
    let mut point = None;
    let mut leading = 0i32;
    for &c in mantissa {
        if c == b'.' {
            point = Some(nd as i32 + leading);
        } else if c == b'0' && nd == 0 {
            leading += 1;
        } else if nd < digits.len() {
            digits[nd] = c;
            nd += 1;
        }
    }
    // Trailing zeros of an integer part (`100.0`, `1e16` as `10000000000000000.0`).
    while nd > 1 && digits[nd - 1] == b'0' {
        nd -= 1;
    }
    let int_digits = point.unwrap_or((mantissa.len()) as i32);
    // Value = 0.d1d2d3... * 10^(int_digits - leading) * 10^written_exp
    let exp = int_digits - leading - 1 + written_exp;
    let digits = &digits[..nd];
    if neg {
        out.push(b'-');
    }
    if !(-4..6).contains(&exp) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push(b'0');
        }
        if a >= 100 {
            out.push(b'0' + (a / 100) as u8);
        }
        if a >= 10 {
            out.push(b'0' + (a / 10 % 10) as u8);
        }
        out.push(b'0' + (a % 10) as u8);
    } else if exp < 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-exp - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.extend_from_slice(digits);
            for _ in digits.len()..int_len {
                out.push(b'0');
            }
        } else {
            out.extend_from_slice(&digits[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..]);
        }
    }
    f
}

fn parse_exp(s: &[u8]) -> i32 {
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let mut n: i32 = 0;
    for &c in s {
        n = n * 10 + i32::from(c - b'0');
    }
    if neg {
        -n
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn go(v: f64) -> String {
        let mut out = Vec::new();
        write_float(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn om(v: f64) -> String {
        let mut out = Vec::new();
        write_om_float(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn matches_go_g_format() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (42.0, "42"),
            (999999.0, "999999"),
            (1e6, "1e+06"),
            (1756047.3, "1.7560473e+06"),
            (3.14e42, "3.14e+42"),
            (-1.23e-45, "-1.23e-45"),
            (0.23, "0.23"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e-10, "1e-10"),
            (87.11699999999999, "87.11699999999999"),
            (12.5, "12.5"),
            (123456.7, "123456.7"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (2.5, "2.5"),
            (0.005, "0.005"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
        ];
        for (v, want) in cases {
            assert_eq!(go(*v), *want, "value {v:?}");
        }
    }

    #[test]
    fn openmetrics_forms() {
        // The canonical `le` and quantile values of the OpenMetrics specification.
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (10.0, "10.0"),
            (0.001, "0.001"),
            (0.95, "0.95"),
            (1.7, "1.7"),
            (1e-10, "1e-10"),
            (1e-9, "1e-09"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1e10, "1e+10"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(om(*v), *want, "value {v:?}");
        }
    }

    #[test]
    fn cache_writes_what_the_formatters_write() {
        for om in [false, true] {
            let mut cache = FloatCache::new(om);
            for round in 0..3 {
                for i in 0..100 {
                    let v = i as f64 * 0.37 - 5.0;
                    let mut a = Vec::new();
                    cache.write(&mut a, v);
                    let mut b = Vec::new();
                    if om {
                        write_om_float(&mut b, v);
                    } else {
                        write_float(&mut b, v);
                    }
                    assert_eq!(a, b, "round {round} value {v}");
                }
            }
        }
    }

    #[test]
    fn every_digit_count() {
        let mut edges = vec![0, 1, u64::MAX];
        let mut p = 1u64;
        while let Some(next) = p.checked_mul(10) {
            edges.extend([next - 1, next, next + 1]);
            p = next;
        }
        for v in edges {
            let mut out = b"x".to_vec();
            write_u64(&mut out, v);
            assert_eq!(out, format!("x{v}").into_bytes());
        }
    }

    #[test]
    fn integers() {
        let mut out = Vec::new();
        write_u64(&mut out, 0);
        out.push(b' ');
        write_u64(&mut out, u64::MAX);
        out.push(b' ');
        write_i64(&mut out, i64::MIN);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0 18446744073709551615 -9223372036854775808"
        );
    }

    #[test]
    fn counts_from_a_million_are_floats() {
        for (n, want) in [
            (0, "0"),
            (999_999, "999999"),
            (1_000_000, "1e+06"),
            (1_756_047, "1.756047e+06"),
            (u64::MAX, "1.8446744073709552e+19"),
        ] {
            let mut out = Vec::new();
            write_count(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    /// The digits computed in a register, for every value below 10^5 and a
    /// stride through the rest of the eight-digit range.
    #[test]
    fn eight_digits_in_a_word() {
        for n in (0..100_000u32).chain((100_000..100_000_000).step_by(997)) {
            let mut out = Vec::new();
            write_u64(&mut out, u64::from(n));
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    proptest! {
        #[test]
        fn integers_as_display_writes_them(n in any::<u64>(), shift in 0u32..64) {
            let n = n >> shift;
            let mut out = b"x".to_vec();
            write_u64(&mut out, n);
            prop_assert_eq!(out, format!("x{n}").into_bytes());
        }

        /// A count is written as the float of the same value.
        #[test]
        fn counts_as_floats(n in any::<u64>(), shift in 0u32..64) {
            let n = n >> shift;
            let (mut a, mut b) = (Vec::new(), Vec::new());
            write_count(&mut a, n);
            write_float(&mut b, n as f64);
            prop_assert_eq!(a, b);
        }
    }

    /// The plain form ryu writes is the layout's, around the edges of its range.
    #[test]
    fn plain_form_is_the_layout() {
        let edges = [1e-4, 1e6, 0.5, 1.5, 999_999.5, 87.11699999999999];
        for e in edges {
            // The 64 floats either side of the edge (positive values only, so
            // one more bit is the next float up), and their negatives.
            let bits = f64::to_bits(e);
            for b in bits - 64..=bits + 64 {
                for v in [f64::from_bits(b), -f64::from_bits(b)] {
                    assert_eq!(general(v).as_bytes(), layout(v).as_bytes(), "value {v:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn plain_form_is_the_layout_anywhere(bits in any::<u64>(), v in -2e6f64..2e6f64, scale in -6i32..7) {
            let w = f64::from_bits(bits);
            prop_assert_eq!(general(w).as_bytes().to_vec(), layout(w).as_bytes().to_vec(), "{:?}", w);
            let v = v * 10f64.powi(scale);
            prop_assert_eq!(general(v).as_bytes().to_vec(), layout(v).as_bytes().to_vec(), "{:?}", v);
        }

        #[test]
        fn round_trips_bit_exact(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            for s in [go(v), om(v)] {
                let back: f64 = s.parse().unwrap();
                if v.is_nan() {
                    prop_assert!(back.is_nan());
                } else if v == 0.0 {
                    prop_assert_eq!(back, 0.0);
                } else {
                    prop_assert_eq!(back.to_bits(), v.to_bits(), "{} -> {}", v, s);
                }
            }
            let o = om(v);
            prop_assert!(o.contains('.') || o.contains('e') || o.ends_with("Inf") || o == "NaN", "{}", o);
        }

        #[test]
        fn round_trips_ordinary_values(v in -1e9f64..1e9f64) {
            let s = go(v);
            prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), if v == 0.0 { 0f64.to_bits() } else { v.to_bits() });
        }
    }
}
