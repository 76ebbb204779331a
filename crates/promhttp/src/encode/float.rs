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
    // The digits go left-aligned into a fixed-size buffer that is appended whole
    // and cut back: a copy of known size is a few moves, where a copy of one to
    // three bytes of unknown size is a call into libc's memcpy, which dominated
    // the kept page's scrapes.
    let digits = decimal_digits(n);
    let mut buf = [0u8; 20];
    let mut rest = n;
    for slot in buf[..digits].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let len = out.len();
    out.extend_from_slice(&buf);
    out.truncate(len + digits);
}

/// How many decimal digits `n` has (1 for 0).
#[inline]
fn decimal_digits(n: u64) -> usize {
    let mut digits = 1;
    let mut bound = 10u64;
    while digits < 20 && n >= bound {
        digits += 1;
        bound = bound.saturating_mul(10);
    }
    digits
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
fn small_integer(v: f64) -> Option<i64> {
    if v.abs() < 1e6 && v.fract() == 0.0 {
        // Exact: |v| < 1e6. Negative zero becomes 0, as in Go's writer.
        Some(v as i64)
    } else {
        None
    }
}

fn write_general(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
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
        write_u64(out, u64::from(a));
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

    proptest! {
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
