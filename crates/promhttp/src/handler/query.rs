//! The `name[]` filter of a scrape's query string.

use std::sync::Arc;

/// The `name[]` query parameters, sorted and deduplicated; `None` when there are none.
pub(super) fn name_filter(query: Option<&str>) -> Option<Arc<[String]>> {
    let mut seen = false;
    let mut names: Vec<String> = Vec::new();
    for pair in query?.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k).as_deref() == Some("name[]") {
            seen = true;
            // A name that is not UTF-8 matches no family, like an unknown name.
            names.push(percent_decode(v).unwrap_or_default());
        }
    }
    if !seen {
        return None;
    }
    names.sort();
    names.dedup();
    Some(names.into())
}

/// Decodes `%XX` and `+` of a query component; `None` if it is not UTF-8.
pub(super) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}
