//! The group's URL: the gateway's base URL checked and normalized, and the
//! `/metrics/job/<job>{/<name>/<value>}` path with the Pushgateway's encodings.

use base64::Engine as _;
use http::Uri;

use super::PushError;

/// `http://` added when there is no scheme, trailing `/`s trimmed, checked.
pub(super) fn normalize_base_url(url: &str) -> Result<String, PushError> {
    let given = url;
    let url = url.trim();
    let invalid = |reason: &str| PushError::InvalidUrl {
        url: given.to_owned(),
        reason: reason.to_owned(),
    };
    if url.is_empty() {
        return Err(invalid("empty"));
    }
    let with_scheme = match url.find("://") {
        Some(i) => {
            let scheme = &url[..i];
            if !scheme.eq_ignore_ascii_case("http") {
                if scheme.eq_ignore_ascii_case("https") {
                    return Err(PushError::UnsupportedScheme {
                        url: given.to_owned(),
                    });
                }
                return Err(invalid(&format!(
                    "scheme {scheme:?} is not supported, only http://"
                )));
            }
            format!("http://{}", &url[i + 3..])
        }
        None => format!("http://{url}"),
    };
    let base = with_scheme.trim_end_matches('/').to_owned();
    if base.contains('?') || base.contains('#') {
        return Err(invalid("a query or fragment is not allowed"));
    }
    let uri: Uri = base.parse().map_err(|e| invalid(&format!("{e}")))?;
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?.as_str();
    if authority.contains('@') {
        return Err(invalid(
            "credentials in the URL are not supported: use PusherBuilder::basic_auth",
        ));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    Ok(base)
}

/// `/metrics/job/<job>{/<name>/<value>}` with the Pushgateway's encodings.
pub(super) fn group_path(job: &str, grouping: &[(String, String)]) -> String {
    let mut path = String::from("/metrics");
    push_component(&mut path, "job", job);
    for (name, value) in grouping {
        push_component(&mut path, name, value);
    }
    path
}

/// Appends `/<name>/<value>`, or `/<name>@base64/<base64 value>` when the value
/// is empty (`=`), contains `/`, or is `.` or `..`.
fn push_component(path: &mut String, name: &str, value: &str) {
    path.push('/');
    path.push_str(name);
    if value.is_empty() {
        path.push_str("@base64/=");
    } else if value.contains('/') || value == "." || value == ".." {
        path.push_str("@base64/");
        path.push_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value));
    } else {
        path.push('/');
        percent_encode(value, path);
    }
}

/// Percent-encodes all but the RFC 3986 unreserved characters.
fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}
