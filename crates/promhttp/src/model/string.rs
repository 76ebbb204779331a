//! [`Str`]: the strings of the model, owned, shared or static.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// An immutable string that is owned, shared or static, so sources never copy.
#[derive(Clone)]
pub enum Str {
    /// A string moved in from its owner.
    Owned(String),
    /// A string shared with the source that keeps it.
    Shared(Arc<str>),
    /// A string known at compile time.
    Static(&'static str),
}

impl Str {
    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        match self {
            Str::Owned(s) => s,
            Str::Shared(s) => s,
            Str::Static(s) => s,
        }
    }
}

impl Default for Str {
    fn default() -> Self {
        Str::Static("")
    }
}

impl Deref for Str {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Str {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str::Owned(s)
    }
}
impl From<&'static str> for Str {
    fn from(s: &'static str) -> Self {
        Str::Static(s)
    }
}
impl From<Arc<str>> for Str {
    fn from(s: Arc<str>) -> Self {
        Str::Shared(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_variants_compare_by_text() {
        let a = Str::from(String::from("x"));
        let b = Str::from(Arc::<str>::from("x"));
        let c = Str::from("x");
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.cmp(&Str::from("y")), Ordering::Less);
    }
}
