//! The YAML layer: strict serde structs that mirror the file, then conversion into the
//! public types with errors that name the key.

use std::collections::btree_map::{BTreeMap, Entry};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::{
    ClientAuthType, HttpServerConfig, RateLimitConfig, TlsServerConfig, TlsVersion, WebConfig,
    WebConfigError,
};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<Entries<Scalar, Scalar>>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<Entries<String, Scalar>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    interval: Option<Scalar>,
    burst: Option<i64>,
}

/// A YAML mapping as its entries in file order, repeated keys included. A map type would
/// keep only one of two entries with the same key, silently; exporter-toolkit's strict
/// YAML decoder refuses them ("already set in map"), and so does [`unique`].
struct Entries<K, V>(Vec<(K, V)>);

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<K, V> {
            type Value = Entries<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(EntriesVisitor(PhantomData))
    }
}

/// The entries as a map, or an error naming `section.key` for a key given twice.
/// `what` names the entries in the message ("user", "header").
fn unique(
    entries: impl IntoIterator<Item = (String, String)>,
    section: &str,
    what: &str,
) -> Result<BTreeMap<String, String>, WebConfigError> {
    let mut map = BTreeMap::new();
    for (key, value) in entries {
        match map.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(value);
            }
            Entry::Occupied(slot) => {
                return Err(WebConfigError::new(
                    format!("{section}.{}", slot.key()),
                    format!(
                        "{what} {:?} is listed more than once; keep one entry",
                        slot.key()
                    ),
                ));
            }
        }
    }
    Ok(map)
}

/// A YAML scalar read as text, as Go's YAML decoder does for string fields
/// (`X-XSS-Protection: 1`, a user called `123`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Scalar {
    text: String,
    /// The scalar was an integer (for durations: nanoseconds).
    integer: Option<i128>,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar {
                    text: v.to_owned(),
                    integer: None,
                })
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                self.visit_str(if v { "true" } else { "false" })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar {
                    text: v.to_string(),
                    integer: Some(v.into()),
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar {
                    text: v.to_string(),
                    integer: Some(v.into()),
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

/// `""` and a missing key mean the same, as in exporter-toolkit.
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Joins a relative path with the configuration file's directory.
fn path_in(base: &Path, s: Option<String>) -> Option<PathBuf> {
    non_empty(s).map(|s| {
        let p = PathBuf::from(s);
        if p.is_absolute() {
            p
        } else {
            base.join(p)
        }
    })
}

pub(super) fn parse(text: &str, base_dir: &Path) -> Result<WebConfig, WebConfigError> {
    // An empty document (or one with only comments) is `null`: no TLS, no auth.
    let raw: Option<RawConfig> = serde_norway::from_str(text)
        .map_err(|e| WebConfigError::new("", format!("invalid YAML: {e}")))?;
    let raw = raw.unwrap_or_default();

    let tls = match raw.tls_server_config {
        Some(t) => convert_tls(t, base_dir)?,
        None => None,
    };

    let http = match raw.http_server_config {
        None => HttpServerConfig::default(),
        Some(h) => HttpServerConfig {
            http2: h.http2.unwrap_or(true),
            headers: unique(
                h.headers
                    .map(|e| e.0)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.text)),
                "http_server_config.headers",
                "header",
            )?,
        },
    };

    // By text: `123` and `"123"` are the same user, as in Go.
    let basic_auth_users = unique(
        raw.basic_auth_users
            .map(|e| e.0)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.text, v.text)),
        "basic_auth_users",
        "user",
    )?;

    let rate_limit = match raw.rate_limit {
        None => None,
        Some(r) => convert_rate_limit(r)?,
    };

    Ok(WebConfig {
        tls,
        http,
        basic_auth_users,
        rate_limit,
    })
}

fn convert_tls(t: RawTls, base: &Path) -> Result<Option<TlsServerConfig>, WebConfigError> {
    let key = |k: &str| format!("tls_server_config.{k}");
    let set_anything = t.cert.as_deref().is_some_and(|s| !s.is_empty())
        || t.key.as_deref().is_some_and(|s| !s.is_empty())
        || t.client_ca.as_deref().is_some_and(|s| !s.is_empty())
        || t.cert_file.as_deref().is_some_and(|s| !s.is_empty())
        || t.key_file.as_deref().is_some_and(|s| !s.is_empty())
        || t.client_auth_type.as_deref().is_some_and(|s| !s.is_empty())
        || t.client_ca_file.as_deref().is_some_and(|s| !s.is_empty())
        || t.cipher_suites.as_ref().is_some_and(|v| !v.is_empty())
        || t.curve_preferences.as_ref().is_some_and(|v| !v.is_empty())
        || t.min_version.as_deref().is_some_and(|s| !s.is_empty())
        || t.max_version.as_deref().is_some_and(|s| !s.is_empty())
        || t.prefer_server_cipher_suites.is_some()
        || t.client_allowed_sans.is_some();
    if !set_anything {
        // `tls_server_config:` with nothing in it: plain HTTP, as in exporter-toolkit.
        return Ok(None);
    }

    // The same order of checks as exporter-toolkit: certificate, then key, then the rest.
    super::tls::check_presence(
        non_empty(t.cert_file.clone()).is_some(),
        non_empty(t.cert.clone()).is_some(),
        non_empty(t.key_file.clone()).is_some(),
        non_empty(t.key.clone()).is_some(),
    )?;
    let client_auth_type = match non_empty(t.client_auth_type) {
        None => ClientAuthType::NoClientCert,
        Some(s) => ClientAuthType::parse(&s).ok_or_else(|| {
            WebConfigError::new(
                key("client_auth_type"),
                format!(
                    "invalid ClientAuth {s:?}: expected one of NoClientCert, RequestClientCert, \
                     RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
                ),
            )
        })?,
    };
    let min_version = parse_version(t.min_version, true, TlsVersion::Tls12)
        .map_err(|m| WebConfigError::new(key("min_version"), m))?;
    let max_version = parse_version(t.max_version, false, TlsVersion::Tls13)
        .map_err(|m| WebConfigError::new(key("max_version"), m))?;
    if let Some(sans) = &t.client_allowed_sans {
        if sans.is_empty() {
            return Err(WebConfigError::new(
                key("client_allowed_sans"),
                "an empty list would reject every client; leave the key out instead",
            ));
        }
    }

    Ok(Some(TlsServerConfig {
        cert_file: path_in(base, t.cert_file),
        key_file: path_in(base, t.key_file),
        cert: non_empty(t.cert),
        key: non_empty(t.key),
        client_auth_type,
        client_ca_file: path_in(base, t.client_ca_file),
        client_ca: non_empty(t.client_ca),
        client_allowed_sans: t.client_allowed_sans.unwrap_or_default(),
        min_version,
        max_version,
        cipher_suites: t.cipher_suites.unwrap_or_default(),
        prefer_server_cipher_suites: t.prefer_server_cipher_suites.unwrap_or(true),
        curve_preferences: t.curve_preferences.unwrap_or_default(),
    }))
}

fn parse_version(
    s: Option<String>,
    is_min: bool,
    default: TlsVersion,
) -> Result<TlsVersion, String> {
    let Some(s) = non_empty(s) else {
        return Ok(default);
    };
    match s.as_str() {
        "TLS12" => Ok(TlsVersion::Tls12),
        "TLS13" => Ok(TlsVersion::Tls13),
        "TLS10" | "TLS11" if is_min => {
            tracing::warn!(
                min_version = %s,
                "rustls does not implement TLS 1.0 or 1.1; using TLS12 as the minimum version"
            );
            Ok(TlsVersion::Tls12)
        }
        "TLS10" | "TLS11" => Err(format!(
            "{s} is not supported: rustls implements only TLS12 and TLS13"
        )),
        _ => Err(format!(
            "unknown TLS version {s:?} (expected TLS12 or TLS13)"
        )),
    }
}

fn convert_rate_limit(r: RawRateLimit) -> Result<Option<RateLimitConfig>, WebConfigError> {
    let interval = match r.interval {
        None => Duration::ZERO,
        Some(Scalar {
            integer: Some(nanos),
            ..
        }) => {
            if nanos < 0 {
                return Err(WebConfigError::new(
                    "rate_limit.interval",
                    "must not be negative",
                ));
            }
            // Too long for Go (more than i64::MAX ns): refused by WebConfig::validate.
            let nanos = u64::try_from(nanos).map_err(|_| {
                WebConfigError::new("rate_limit.interval", format!("{nanos} ns is too long"))
            })?;
            Duration::from_nanos(nanos)
        }
        Some(Scalar { text, .. }) => {
            parse_go_duration(&text).map_err(|m| WebConfigError::new("rate_limit.interval", m))?
        }
    };
    let burst = r.burst.unwrap_or(0);
    let burst = u32::try_from(burst).map_err(|_| {
        WebConfigError::new(
            "rate_limit.burst",
            format!("must be between 0 and {}, got {burst}", u32::MAX),
        )
    })?;
    if interval.is_zero() {
        return Ok(None);
    }
    Ok(Some(RateLimitConfig { interval, burst }))
}

/// Parses a Go `time.ParseDuration` string (`"1s"`, `"1m30s"`, `"1.5h"`, `"250ms"`,
/// `"0"`). Negative durations are refused.
pub(super) fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?} (examples: 1s, 500ms, 1m30s)");
    let rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(format!("negative duration {s:?}"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    let mut rest = rest;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += value * unit;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}
