//! Label values for a lookup: string slices, arrays, tuples, or a struct of your own;
//! and how a series stores them.

use std::hash::{BuildHasher, Hash, Hasher};

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

/// An exemplar's labels from the `(name, value)` pairs the recording methods take.
pub(crate) fn exemplar_labels(pairs: &[(&str, &str)]) -> Vec<crate::model::Label> {
    pairs
        .iter()
        .map(|(n, v)| crate::model::Label::new((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// The label values of a stored series, in one allocation: each value's length
/// (4 bytes, little-endian), then its bytes.
#[derive(Debug)]
pub(crate) struct StoredValues(Box<[u8]>);

impl StoredValues {
    /// Copies `values`; `None` when one is longer than 4 GiB.
    pub(crate) fn new(values: &(impl LabelValues + ?Sized)) -> Option<Self> {
        let n = values.count();
        let bytes: usize = (0..n).map(|i| values.value(i).len() + 4).sum();
        let mut out = Vec::with_capacity(bytes);
        for i in 0..n {
            let v = values.value(i).as_bytes();
            out.extend_from_slice(&u32::try_from(v.len()).ok()?.to_le_bytes());
            out.extend_from_slice(v);
        }
        Some(StoredValues(out.into_boxed_slice()))
    }

    /// No values (a family without labels, or the overflow series).
    pub(crate) fn empty() -> Self {
        StoredValues(Box::new([]))
    }

    /// Whether there are no values.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values' bytes, in order.
    fn raw(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut rest = &self.0[..];
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            let (value, tail) = tail.split_at_checked(len)?;
            rest = tail;
            Some(value)
        })
    }

    /// The values, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        // Every value was copied from a `&str`: the check cannot fail.
        self.raw()
            .map(|v| std::str::from_utf8(v).unwrap_or_default())
    }

    /// The value at `index`, or `""` past the end.
    pub(crate) fn get(&self, index: usize) -> &str {
        self.iter().nth(index).unwrap_or_default()
    }

    /// Whether these are exactly the values of `given`.
    #[inline]
    pub(crate) fn equals(&self, given: &(impl LabelValues + ?Sized)) -> bool {
        let mut i = 0;
        for v in self.raw() {
            if i >= given.count() || given.value(i).as_bytes() != v {
                return false;
            }
            i += 1;
        }
        i == given.count()
    }

    /// The hash of the values, as [`hash_values`] computes it.
    pub(crate) fn hash_with(&self, hasher: &impl BuildHasher) -> u64 {
        hash_strs(hasher, self.iter())
    }
}

/// The hash of a label set under a family's keyed hasher. Each value is hashed as a
/// `str` is (its bytes, then a byte UTF-8 never has), so `["ab", "c"]` and
/// `["a", "bc"]` differ; equality is still checked value by value.
#[inline]
pub(crate) fn hash_values(hasher: &impl BuildHasher, values: &(impl LabelValues + ?Sized)) -> u64 {
    hash_strs(hasher, (0..values.count()).map(|i| values.value(i)))
}

#[inline]
fn hash_strs<'a>(hasher: &impl BuildHasher, values: impl Iterator<Item = &'a str>) -> u64 {
    let mut h = hasher.build_hasher();
    for v in values {
        v.hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_values_do_not_collide() {
        let s = foldhash::fast::RandomState::default();
        assert_ne!(hash_values(&s, &["ab", "c"]), hash_values(&s, &["a", "bc"]));
        assert_ne!(hash_values(&s, &["", "x"]), hash_values(&s, &["x", ""]));
        assert_eq!(
            hash_values(&s, &("GET", "200")),
            hash_values(&s, &["GET", "200"])
        );
        assert_eq!(("a", String::from("b")).value(1), "b");
    }

    #[test]
    fn stored_values_read_back_exactly() {
        let v = StoredValues::new(&["", "ab", "ü佖"]).unwrap();
        assert_eq!(v.iter().collect::<Vec<_>>(), ["", "ab", "ü佖"]);
        assert_eq!((v.get(1), v.get(7)), ("ab", ""));
        assert!(v.equals(&["", "ab", "ü佖"]));
        assert!(!v.equals(&["", "ab"]));
        assert!(!v.equals(&["", "ab", "ü佖", ""]));
        assert!(!v.equals(&["a", "b", "ü佖"]));
        let s = foldhash::fast::RandomState::default();
        assert_eq!(v.hash_with(&s), hash_values(&s, &["", "ab", "ü佖"]));
        assert!(
            StoredValues::empty().is_empty()
                && StoredValues::new(&[""]).is_some_and(|v| !v.is_empty())
        );
    }
}
