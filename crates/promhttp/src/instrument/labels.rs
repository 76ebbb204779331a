//! Bounded label values: the `method` allow-list, the `code` range, and interners
//! that give each distinct value of a request-derived label a small id, up to a limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use http::Method;

use crate::util::{read, write};

/// The methods that are always their own `method` value, lower-cased (Go's list).
pub(crate) const STANDARD_METHODS: [&str; 10] = [
    "get", "put", "head", "post", "delete", "connect", "options", "notify", "trace", "patch",
];

/// The id of `unknown` in the method table.
pub(crate) const METHOD_UNKNOWN: u16 = STANDARD_METHODS.len() as u16;

/// The method table: standard methods, `unknown`, then opt-in extra methods.
#[derive(Debug)]
pub(crate) struct Methods {
    /// Extra methods, lower-cased, with their ids (from `METHOD_UNKNOWN + 1`).
    extra: Vec<Arc<str>>,
}

impl Methods {
    pub(crate) fn new(extra: Vec<Arc<str>>) -> Self {
        Methods { extra }
    }

    /// The id of a request's method: the standard methods in all-upper or all-lower
    /// case, an extra method in any case, otherwise `unknown`.
    #[inline]
    pub(crate) fn id(&self, method: &Method) -> u16 {
        // The common methods are constants of `http`: compare without looking at text.
        let fast = match *method {
            Method::GET => Some(0),
            Method::PUT => Some(1),
            Method::HEAD => Some(2),
            Method::POST => Some(3),
            Method::DELETE => Some(4),
            Method::CONNECT => Some(5),
            Method::OPTIONS => Some(6),
            Method::TRACE => Some(8),
            Method::PATCH => Some(9),
            _ => None,
        };
        if let Some(id) = fast {
            return id;
        }
        let m = method.as_str();
        for (i, s) in STANDARD_METHODS.iter().enumerate() {
            if m == *s
                || (m.len() == s.len()
                    && m.bytes()
                        .zip(s.bytes())
                        .all(|(a, b)| a == b.to_ascii_uppercase()))
            {
                return i as u16;
            }
        }
        for (i, e) in self.extra.iter().enumerate() {
            if m.eq_ignore_ascii_case(e) {
                return METHOD_UNKNOWN + 1 + i as u16;
            }
        }
        METHOD_UNKNOWN
    }

    /// The label value of an id.
    pub(crate) fn value(&self, id: u16) -> crate::model::Str {
        use crate::model::Str;
        if let Some(s) = STANDARD_METHODS.get(id as usize) {
            return Str::Static(s);
        }
        match id.checked_sub(METHOD_UNKNOWN + 1) {
            Some(i) => match self.extra.get(i as usize) {
                Some(s) => Str::Shared(s.clone()),
                None => Str::Static("unknown"),
            },
            None => Str::Static("unknown"),
        }
    }
}

/// The `code` id of a status: the code itself within 100–599, `0` (`unknown`) otherwise.
#[inline]
pub(crate) fn code_id(status: u16) -> u16 {
    if (100..=599).contains(&status) {
        status
    } else {
        0
    }
}

/// The `code` id of a round trip that got no response (transport error); only the
/// client instrumentation uses it (`code_id` never returns it).
pub(crate) const CODE_ERROR: u16 = 1;

/// The label value of a code id.
pub(crate) fn code_value(id: u16) -> crate::model::Str {
    if id == CODE_ERROR {
        return crate::model::Str::Static("error");
    }
    use std::sync::OnceLock;
    static CODES: OnceLock<Box<[Arc<str>]>> = OnceLock::new();
    let codes = CODES.get_or_init(|| (100..=599u16).map(|c| Arc::from(c.to_string())).collect());
    match id.checked_sub(100).and_then(|i| codes.get(i as usize)) {
        Some(s) => crate::model::Str::Shared(s.clone()),
        None => crate::model::Str::Static("unknown"),
    }
}

/// Id of the value used when a request has no value for the label.
pub(crate) const ID_NONE: u32 = 0;
/// Id of the overflow value.
pub(crate) const ID_OVERFLOW: u32 = 1;
/// The most distinct values an [`Interner`] keeps, whatever limit it is given:
/// with the two fixed values, their ids use all of `u32` (a larger limit would
/// make ids wrap around onto the fixed ones).
pub(crate) const MAX_DISTINCT_VALUES: usize = (u32::MAX - 1) as usize;

/// Gives each distinct value of one request-derived label an id, for at most `max`
/// distinct values (at most [`MAX_DISTINCT_VALUES`]); later new values get
/// [`ID_OVERFLOW`] and are counted.
///
/// Values are compared exactly (a hash map with equality on the text), so two
/// different values never share a series.
#[derive(Debug)]
pub(crate) struct Interner {
    pub(crate) name: Arc<str>,
    max: usize,
    none_value: Arc<str>,
    overflow_value: Arc<str>,
    ids: RwLock<HashMap<Arc<str>, u32>>,
    values: RwLock<Vec<Arc<str>>>,
    pub(crate) overflows: AtomicU64,
}

impl Interner {
    pub(crate) fn new(
        name: Arc<str>,
        max: usize,
        none_value: Arc<str>,
        overflow_value: Arc<str>,
    ) -> Self {
        Interner {
            name,
            max: max.min(MAX_DISTINCT_VALUES),
            values: RwLock::new(vec![none_value.clone(), overflow_value.clone()]),
            none_value,
            overflow_value,
            ids: RwLock::new(HashMap::new()),
            overflows: AtomicU64::new(0),
        }
    }

    /// The id of `value` (`None`: the label's fixed value for "no value").
    pub(crate) fn id(&self, value: Option<&str>) -> u32 {
        let Some(v) = value else { return ID_NONE };
        if let Some(id) = read(&self.ids).get(v) {
            return *id;
        }
        // The fixed values are their own ids, so that a request value equal to one of
        // them does not make a second series with the same labels.
        if v == &*self.none_value {
            return ID_NONE;
        }
        if v == &*self.overflow_value {
            return ID_OVERFLOW;
        }
        let mut ids = write(&self.ids);
        if let Some(id) = ids.get(v) {
            return *id;
        }
        let overflow = || {
            self.overflows.fetch_add(1, Ordering::Relaxed);
            ID_OVERFLOW
        };
        if ids.len() >= self.max {
            drop(ids);
            return overflow();
        }
        let mut values = write(&self.values);
        // `max` keeps every id within u32; checked all the same.
        let Ok(id) = u32::try_from(values.len()) else {
            drop((values, ids));
            return overflow();
        };
        let value: Arc<str> = Arc::from(v);
        values.push(value.clone());
        ids.insert(value, id);
        id
    }

    /// The label value of an id.
    pub(crate) fn value(&self, id: u32) -> Arc<str> {
        match read(&self.values).get(id as usize) {
            Some(v) => v.clone(),
            None => self.overflow_value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_sanitized() {
        let m = Methods::new(vec![Arc::from("propfind")]);
        let id = |s: &str| m.id(&Method::from_bytes(s.as_bytes()).unwrap_or(Method::GET));
        assert_eq!(m.value(id("GET")), "get");
        assert_eq!(m.value(id("get")), "get");
        assert_eq!(m.value(id("NOTIFY")), "notify");
        assert_eq!(m.value(id("notify")), "notify");
        assert_eq!(m.value(id("Get")), "unknown");
        assert_eq!(m.value(id("FOO1")), "unknown");
        assert_eq!(m.value(id("PropFind")), "propfind");
        assert_eq!(m.value(999), "unknown");
    }

    #[test]
    fn codes_are_sanitized() {
        assert_eq!(code_value(code_id(200)), "200");
        assert_eq!(code_value(code_id(308)), "308");
        assert_eq!(code_value(code_id(100)), "100");
        assert_eq!(code_value(code_id(599)), "599");
        assert_eq!(code_value(code_id(99)), "unknown");
        assert_eq!(code_value(code_id(600)), "unknown");
        assert_eq!(code_value(code_id(999)), "unknown");
        // No status maps to the client's `error` id.
        assert_eq!(code_value(code_id(1)), "unknown");
        assert_eq!(code_value(CODE_ERROR), "error");
    }

    #[test]
    fn interner_is_exact_and_bounded() {
        let i = Interner::new("l".into(), 2, "none".into(), "overflow".into());
        // A pair whose FNV-1a hashes collide (client_golang#220) stays apart.
        let a = i.id(Some("77kepQFQ8Kl"));
        let b = i.id(Some("!0IC=VloaY"));
        assert_ne!(a, b);
        assert_eq!(i.id(Some("77kepQFQ8Kl")), a);
        assert_eq!(i.id(Some("third")), ID_OVERFLOW);
        assert_eq!(i.id(Some("fourth")), ID_OVERFLOW);
        assert_eq!(i.overflows.load(Ordering::Relaxed), 2);
        assert_eq!(i.id(None), ID_NONE);
        assert_eq!(i.id(Some("none")), ID_NONE);
        assert_eq!(i.id(Some("overflow")), ID_OVERFLOW);
        assert_eq!(&*i.value(a), "77kepQFQ8Kl");
        assert_eq!(&*i.value(ID_NONE), "none");
    }

    #[test]
    fn interner_limit_fits_the_ids() {
        // Ids are u32: a larger limit (usize::MAX for "no limit") is capped so that
        // no id can wrap around onto the none or overflow ids.
        let i = Interner::new("l".into(), usize::MAX, "none".into(), "overflow".into());
        assert_eq!(i.max, MAX_DISTINCT_VALUES);
        assert!(u32::try_from(i.max + 1).is_ok());
        let small = Interner::new("l".into(), 7, "none".into(), "overflow".into());
        assert_eq!(small.max, 7);
    }

    proptest::proptest! {
        #[test]
        fn any_method_is_standard_extra_or_unknown(m in "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}") {
            let methods = Methods::new(vec![Arc::from("propfind")]);
            let method = Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET);
            let v = methods.value(methods.id(&method));
            let allowed = STANDARD_METHODS.contains(&v.as_str()) || v == "unknown" || v == "propfind";
            proptest::prop_assert!(allowed, "{} -> {}", m, v);
            if v != "unknown" {
                proptest::prop_assert!(method.as_str().eq_ignore_ascii_case(&v));
            }
        }

        #[test]
        fn interner_ids_are_exact(values in proptest::collection::vec("[a-c]{0,3}", 0..64), max in 1usize..8) {
            let i = Interner::new("l".into(), max, "none".into(), "overflow".into());
            let mut seen: std::collections::HashMap<String, u32> = Default::default();
            for v in &values {
                let id = i.id(Some(v));
                if id != ID_OVERFLOW {
                    proptest::prop_assert_eq!(&*i.value(id), v.as_str());
                    if let Some(prev) = seen.insert(v.clone(), id) {
                        proptest::prop_assert_eq!(prev, id);
                    }
                }
            }
            let distinct: std::collections::HashSet<u32> = seen.values().copied().collect();
            proptest::prop_assert_eq!(distinct.len(), seen.len());
            proptest::prop_assert!(seen.len() <= max);
        }
    }
}
