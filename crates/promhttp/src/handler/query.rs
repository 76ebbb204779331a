//! The `name[]` filter of a scrape's query string.

use std::borrow::Cow;
use std::sync::Arc;

/// The `name[]` query parameters, sorted and deduplicated; `None` when there are none.
pub(super) fn name_filter(query: Option<&str>) -> Option<Arc<[String]>> {
    let mut seen = false;
    let mut names: Vec<String> = Vec::new();
    for pair in query?.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(k).as_deref() == Some("name[]") {
            seen = true;
            // A name that is not UTF-8 matches no family, like an unknown name.
            names.push(decode(v).unwrap_or_default());
        }
    }
    if !seen {
        return None;
    }
    names.sort();
    names.dedup();
    Some(names.into())
}

/// Decodes a query component as forms do (`+` is a space, then `%XX`; a `%` not
/// followed by two hex digits stays as it is); `None` if the bytes are not UTF-8.
pub(super) fn decode(component: &str) -> Option<String> {
    let spaced = component.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}
