//! Label values for a lookup: string slices, arrays, tuples, or a struct of your own.

/// The values of a label set, in the order of the family's label names.
///
/// Implemented for slices, arrays and vectors of strings and for tuples of up to
/// eight string-like values, so `with_label_values(&["GET", "200"])` and
/// `with_labels(&("GET", code))` both work. A struct implements it to make a typed
/// label set, checked by the compiler where it is built:
///
/// ```
/// use promhttp::metrics::{IntCounterVec, LabelValues, Opts};
///
/// struct Request<'a> {
///     method: &'a str,
///     cached: bool,
/// }
///
/// impl LabelValues for Request<'_> {
///     fn count(&self) -> usize {
///         2
///     }
///     fn value(&self, index: usize) -> &str {
///         match index {
///             0 => self.method,
///             _ if self.cached => "true",
///             _ => "false",
///         }
///     }
/// }
///
/// let requests =
///     IntCounterVec::new(Opts::new("requests_total", "Requests."), &["method", "cached"]).unwrap();
/// requests.with_labels(&Request { method: "GET", cached: true }).inc();
/// assert_eq!(requests.with_label_values(&["GET", "true"]).get(), 1);
/// ```
pub trait LabelValues {
    /// How many values there are.
    fn count(&self) -> usize;
    /// The value at `index` (below [`count`](Self::count)).
    fn value(&self, index: usize) -> &str;
}

impl<S: AsRef<str>> LabelValues for [S] {
    fn count(&self) -> usize {
        self.len()
    }
    fn value(&self, index: usize) -> &str {
        self[index].as_ref()
    }
}

impl<S: AsRef<str>, const N: usize> LabelValues for [S; N] {
    fn count(&self) -> usize {
        N
    }
    fn value(&self, index: usize) -> &str {
        self[index].as_ref()
    }
}

impl<S: AsRef<str>> LabelValues for Vec<S> {
    fn count(&self) -> usize {
        self.len()
    }
    fn value(&self, index: usize) -> &str {
        self[index].as_ref()
    }
}

impl<T: LabelValues + ?Sized> LabelValues for &T {
    fn count(&self) -> usize {
        (**self).count()
    }
    fn value(&self, index: usize) -> &str {
        (**self).value(index)
    }
}

macro_rules! tuple_label_values {
    ($n:expr; $($t:ident $i:tt),+) => {
        impl<$($t: AsRef<str>),+> LabelValues for ($($t,)+) {
            fn count(&self) -> usize {
                $n
            }
            fn value(&self, index: usize) -> &str {
                match index {
                    $($i => self.$i.as_ref(),)+
                    _ => "",
                }
            }
        }
    };
}

tuple_label_values!(1; A 0);
tuple_label_values!(2; A 0, B 1);
tuple_label_values!(3; A 0, B 1, C 2);
tuple_label_values!(4; A 0, B 1, C 2, D 3);
tuple_label_values!(5; A 0, B 1, C 2, D 3, E 4);
tuple_label_values!(6; A 0, B 1, C 2, D 3, E 4, F 5);
tuple_label_values!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_label_values!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// The hash of a label set: each value's length, then its bytes, so no two
/// different sets are joined into the same input (`["ab", "c"]` and `["a", "bc"]`
/// hash differently), and lookups still compare values exactly.
pub(crate) fn hash_values(values: &(impl LabelValues + ?Sized)) -> u64 {
    let mut h = Fx(0);
    for i in 0..values.count() {
        let v = values.value(i).as_bytes();
        h.add(v.len() as u64);
        let mut chunks = v.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            h.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            h.add(u64::from_le_bytes(word));
        }
    }
    // Spread the high bits down: the map uses the low ones.
    h.0 ^ (h.0 >> 29)
}

/// The multiply-rotate hash rustc uses for its own tables: fast on short keys.
struct Fx(u64);

impl Fx {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Whether `stored` holds exactly the values of `given`.
pub(crate) fn same_values(
    stored: &[crate::model::Str],
    given: &(impl LabelValues + ?Sized),
) -> bool {
    stored.len() == given.count()
        && stored
            .iter()
            .enumerate()
            .all(|(i, s)| s.as_str() == given.value(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_values_do_not_collide() {
        assert_ne!(hash_values(&["ab", "c"]), hash_values(&["a", "bc"]));
        assert_ne!(hash_values(&["", "x"]), hash_values(&["x", ""]));
        assert_eq!(hash_values(&("GET", "200")), hash_values(&["GET", "200"]));
        assert_eq!(("a", String::from("b")).value(1), "b");
    }
}
