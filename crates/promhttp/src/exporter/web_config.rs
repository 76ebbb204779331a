//! The exporter-toolkit web configuration file (`--web.config.file`), in Rust.
//!
//! Exporters built on Go's `exporter-toolkit` share one YAML file that turns on TLS,
//! client certificates (mTLS), HTTP basic auth and a few security headers. This module
//! reads the same file format, checks it strictly, and builds what the server needs:
//!
//! - [`WebConfig`]: the parsed and validated file ([`WebConfig::from_file`],
//!   [`WebConfig::from_yaml`]). Unknown keys, keys given twice (such as a user listed
//!   twice), bad values, missing or unreadable certificate files, malformed bcrypt
//!   hashes and bcrypt costs above [`MAX_BCRYPT_COST`] are errors at load time, and
//!   every [`WebConfigError`] names the key at fault.
//! - [`TlsAcceptor`]: a rustls server configuration that re-reads the certificate, key
//!   and client CA files when they change on disk, for certificate rotation without a
//!   restart. Call [`TlsAcceptor::acceptor`] for each new connection.
//! - [`BasicAuth`]: bcrypt basic auth with a cache of successful logins, a defence
//!   against user enumeration by timing, and an unambiguous cache key
//!   (CVE-2022-46146).
//!
//! # The file format
//!
//! ```yaml
//! tls_server_config:
//!   # Server certificate and key: a file each, or inline PEM (`cert`, `key`).
//!   # Relative paths resolve against the directory of the configuration file.
//!   cert_file: server.crt
//!   key_file: server.key
//!   # NoClientCert (default), RequestClientCert, RequireAnyClientCert,
//!   # VerifyClientCertIfGiven or RequireAndVerifyClientCert. Only the last one
//!   # actually authenticates clients.
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: ca.pem          # or `client_ca` with inline PEM
//!   # The client certificate must carry one of these DNS, IP, e-mail or URI SANs.
//!   client_allowed_sans: [prometheus.example.com]
//!   min_version: TLS12              # TLS12 (default) or TLS13
//!   max_version: TLS13              # TLS12 or TLS13 (default)
//!   cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]   # TLS 1.2 only
//!   prefer_server_cipher_suites: true
//!   curve_preferences: [X25519, CurveP256]
//! http_server_config:
//!   http2: true                     # offer h2 in ALPN (default true)
//!   headers:                        # added to every response
//!     X-Frame-Options: deny
//! basic_auth_users:
//!   prometheus: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG
//! rate_limit:
//!   interval: 1s
//!   burst: 10
//! ```
//!
//! An empty file means plain HTTP with no authentication.
//!
//! # Differences from exporter-toolkit
//!
//! rustls is not Go's `crypto/tls`, and a few choices here are stricter:
//!
//! - **Protocol versions**: only TLS 1.2 and 1.3 exist in rustls. `min_version: TLS10`
//!   or `TLS11` is accepted and means TLS 1.2 (a warning is logged); a `max_version`
//!   below TLS 1.2 is an error.
//! - **Cipher suites**: rustls implements only modern AEAD suites with ECDHE key
//!   exchange. `cipher_suites` takes the Go names and applies to TLS 1.2 only, as in Go
//!   (TLS 1.3 suites are always enabled). The supported names are
//!   `TLS_ECDHE_{ECDSA,RSA}_WITH_AES_128_GCM_SHA256`,
//!   `TLS_ECDHE_{ECDSA,RSA}_WITH_AES_256_GCM_SHA384` and
//!   `TLS_ECDHE_{ECDSA,RSA}_WITH_CHACHA20_POLY1305_SHA256`. Go names that rustls lacks
//!   (the CBC and plain-RSA suites) are skipped with a warning; names Go does not know
//!   are errors, and so is a list in which no TLS 1.2 suite is left.
//! - **Curves**: `X25519`, `CurveP256` and `CurveP384`. `CurveP521` is skipped with a
//!   warning (not in rustls' *ring* provider); a list with no usable curve is an error.
//! - **Client CAs**: a CA file without a single certificate is an error (Go silently
//!   trusts nothing). `VerifyClientCertIfGiven` and `RequireAndVerifyClientCert` need a
//!   CA (Go would fall back to the system roots).
//! - **Ambiguous settings are errors**: `cert` together with `cert_file` (likewise for
//!   `key` and `client_ca`), `client_allowed_sans` without a client certificate policy,
//!   and a `tls_server_config` section that sets anything (such as `min_version`) but no
//!   certificate. exporter-toolkit silently picks one or serves plain HTTP.
//! - **bcrypt cost**: hashes in `basic_auth_users` must have a cost from
//!   [`MIN_BCRYPT_COST`] (4) to [`MAX_BCRYPT_COST`] (14); Go accepts up to 31. At cost
//!   31, every check (and making the dummy hash for unknown users at start-up) takes
//!   about 40 hours of CPU. exporter-toolkit's documentation uses cost 10.
//! - **Reloads**: exporter-toolkit re-reads the whole file on every request. Here the
//!   YAML is read once; [`TlsAcceptor`] picks up changed certificate, key and CA files.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use promhttp::exporter::web_config::WebConfig;
//!
//! let yaml = r#"
//! http_server_config:
//!   headers:
//!     X-Content-Type-Options: nosniff
//! basic_auth_users:
//!   prometheus: $2b$04$jt0gDNDuYWFgIoziVBRFbunlVjWxMq9M00CwI0Gtm/TGXx81JoTkC
//! "#;
//! let config = WebConfig::from_yaml(yaml, Path::new("/etc/exporter")).unwrap();
//! assert!(config.tls.is_none());
//! assert_eq!(config.http.header_map().len(), 1);
//! let auth = config.basic_auth().unwrap().expect("users are configured");
//! // "prometheus:s3cret", base64-encoded.
//! let header = http::HeaderValue::from_static("Basic cHJvbWV0aGV1czpzM2NyZXQ=");
//! assert!(auth.check(Some(&header)));
//!
//! // Errors name the key at fault.
//! let err = WebConfig::from_yaml("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
//!                                Path::new(".")).unwrap_err();
//! assert_eq!(err.key(), "http_server_config.headers.X-Frame-Options");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};

mod auth;
mod raw;
mod san;
mod tls;

pub use auth::BasicAuth;
pub use tls::{TlsAcceptor, TlsAcceptorBuilder};

#[cfg(test)]
mod tests;

/// The highest bcrypt cost accepted in `basic_auth_users`.
///
/// Each step of cost doubles bcrypt's work. On a current core, cost 10 takes about
/// 70 ms, so cost 14 takes about 1 s, cost 15 about 2 s and cost 31 about 40 hours.
/// [`BasicAuth`] pays that for every login that is not cached yet and for every unknown
/// user (it checks them against a dummy hash of the same cost, so they take as long as
/// known users), one check at a time, and [`BasicAuth::new`] pays it once to make that
/// dummy before the server starts. At 14, an uncached scrape costs about 1 s, well
/// inside Prometheus' default 10 s scrape timeout even with a few checks queued ahead
/// of it; every step above doubles that, and a hash such as `$2y$31$…` would keep a
/// core busy for days before anything is served. exporter-toolkit users hash at cost
/// 10 to 12 (`htpasswd -nBC 10`), so 14 leaves room above them. Go's `bcrypt` accepts
/// up to 31, so this is stricter than exporter-toolkit.
pub const MAX_BCRYPT_COST: u32 = 14;

/// The lowest bcrypt cost accepted in `basic_auth_users`: bcrypt's own minimum (Go's
/// `bcrypt.MinCost`).
pub const MIN_BCRYPT_COST: u32 = 4;

/// A parsed and validated web configuration file.
///
/// Build it with [`WebConfig::from_file`] or [`WebConfig::from_yaml`], or in code and
/// then call [`WebConfig::validate`]. `WebConfig::default()` is plain HTTP with no
/// authentication.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WebConfig {
    /// `tls_server_config`: `None` serves plain HTTP.
    pub tls: Option<TlsServerConfig>,
    /// `http_server_config`.
    pub http: HttpServerConfig,
    /// `basic_auth_users`: user name → bcrypt hash. Empty means no basic auth.
    pub basic_auth_users: BTreeMap<String, String>,
    /// `rate_limit`: `None` (or an interval of 0 in the file) means no limit.
    pub rate_limit: Option<RateLimitConfig>,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls)
            .field("http", &self.http)
            .field(
                "basic_auth_users",
                &self
                    .basic_auth_users
                    .keys()
                    .map(|user| (user.as_str(), "<secret>"))
                    .collect::<BTreeMap<_, _>>(),
            )
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// `tls_server_config`: the server certificate, client certificate policy and
/// protocol limits.
///
/// Exactly one of `cert_file`/`cert` and one of `key_file`/`key` must be set. At most
/// one of `client_ca_file`/`client_ca`.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsServerConfig {
    /// `cert_file`: PEM file with the server certificate chain (leaf first).
    pub cert_file: Option<PathBuf>,
    /// `key_file`: PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// `cert`: the certificate chain as inline PEM.
    pub cert: Option<String>,
    /// `key`: the private key as inline PEM. Never printed by `Debug`.
    pub key: Option<String>,
    /// `client_auth_type`.
    pub client_auth_type: ClientAuthType,
    /// `client_ca_file`: PEM file with the CA certificates that sign client certificates.
    pub client_ca_file: Option<PathBuf>,
    /// `client_ca`: the client CA certificates as inline PEM.
    pub client_ca: Option<String>,
    /// `client_allowed_sans`: when not empty, a client certificate must carry at least
    /// one DNS, IP, e-mail or URI subject alternative name that equals an entry.
    pub client_allowed_sans: Vec<String>,
    /// `min_version` (default TLS 1.2).
    pub min_version: TlsVersion,
    /// `max_version` (default TLS 1.3).
    pub max_version: TlsVersion,
    /// `cipher_suites`: Go cipher suite names, TLS 1.2 only, in preference order. Empty
    /// means all of rustls' suites. See the [module docs](self) for the names rustls has.
    pub cipher_suites: Vec<String>,
    /// `prefer_server_cipher_suites` (default true): the server's order of
    /// `cipher_suites` wins over the client's.
    pub prefer_server_cipher_suites: bool,
    /// `curve_preferences`: Go curve names (`X25519`, `CurveP256`, `CurveP384`,
    /// `CurveP521`), in preference order. Empty means rustls' defaults.
    pub curve_preferences: Vec<String>,
}

impl Default for TlsServerConfig {
    fn default() -> Self {
        TlsServerConfig {
            cert_file: None,
            key_file: None,
            cert: None,
            key: None,
            client_auth_type: ClientAuthType::NoClientCert,
            client_ca_file: None,
            client_ca: None,
            client_allowed_sans: Vec::new(),
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: Vec::new(),
            prefer_server_cipher_suites: true,
            curve_preferences: Vec::new(),
        }
    }
}

impl fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerConfig")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("cert", &self.cert.as_ref().map(|_| "<inline PEM>"))
            .field("key", &self.key.as_ref().map(|_| "<secret>"))
            .field("client_auth_type", &self.client_auth_type)
            .field("client_ca_file", &self.client_ca_file)
            .field(
                "client_ca",
                &self.client_ca.as_ref().map(|_| "<inline PEM>"),
            )
            .field("client_allowed_sans", &self.client_allowed_sans)
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .field("cipher_suites", &self.cipher_suites)
            .field(
                "prefer_server_cipher_suites",
                &self.prefer_server_cipher_suites,
            )
            .field("curve_preferences", &self.curve_preferences)
            .finish()
    }
}

impl TlsServerConfig {
    /// Checks the settings and loads the certificate, key and CA once, so that a
    /// missing file or a key that does not match its certificate is reported now.
    /// [`TlsAcceptor::new`] does the same.
    pub fn validate(&self) -> Result<(), WebConfigError> {
        tls::build_server_config(self, &[]).map(|_| ())
    }
}

/// `client_auth_type`: whether and how the server asks for client certificates.
///
/// The names and meanings are Go's `tls.ClientAuthType`. Only
/// [`RequireAndVerifyClientCert`](Self::RequireAndVerifyClientCert) authenticates
/// every client; the others let clients in without a certificate or without checking it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClientAuthType {
    /// Do not ask for a client certificate (the default).
    #[default]
    NoClientCert,
    /// Ask for a certificate, accept connections without one, and do not verify it.
    RequestClientCert,
    /// Require a certificate but do not verify it (`RequireClientCert` is an alias).
    RequireAnyClientCert,
    /// Verify a certificate against the client CAs if the client sends one.
    VerifyClientCertIfGiven,
    /// Require a certificate signed by the client CAs.
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthType::NoClientCert => "NoClientCert",
            ClientAuthType::RequestClientCert => "RequestClientCert",
            ClientAuthType::RequireAnyClientCert => "RequireAnyClientCert",
            ClientAuthType::VerifyClientCertIfGiven => "VerifyClientCertIfGiven",
            ClientAuthType::RequireAndVerifyClientCert => "RequireAndVerifyClientCert",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "NoClientCert" => ClientAuthType::NoClientCert,
            "RequestClientCert" => ClientAuthType::RequestClientCert,
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuthType::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuthType::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuthType::RequireAndVerifyClientCert,
            _ => return None,
        })
    }
}

impl fmt::Display for ClientAuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TLS protocol version for `min_version` / `max_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.2 (`TLS12`).
    Tls12,
    /// TLS 1.3 (`TLS13`).
    Tls13,
}

impl TlsVersion {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLS12",
            TlsVersion::Tls13 => "TLS13",
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `http_server_config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpServerConfig {
    /// `http2` (default true): offer HTTP/2 (`h2`) in TLS ALPN. exporter-toolkit reads
    /// it once at start-up.
    pub http2: bool,
    /// `headers`: added to every response. Only `Content-Security-Policy`,
    /// `X-Frame-Options` (`deny` or `sameorigin`), `X-Content-Type-Options` (`nosniff`),
    /// `X-XSS-Protection` and `Strict-Transport-Security` are allowed, spelled exactly
    /// so.
    pub headers: BTreeMap<String, String>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            http2: true,
            headers: BTreeMap::new(),
        }
    }
}

/// The headers that `http_server_config.headers` may set, with their allowed values
/// (empty: any valid header value).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Content-Security-Policy", &[]),
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
];

impl HttpServerConfig {
    /// Checks the header names and values.
    pub fn validate(&self) -> Result<(), WebConfigError> {
        for (name, value) in &self.headers {
            let key = format!("http_server_config.headers.{name}");
            let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name) else {
                return Err(WebConfigError::new(
                    key,
                    format!(
                        "HTTP header {name:?} can not be configured (allowed: {})",
                        ALLOWED_HEADERS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(WebConfigError::new(
                    key,
                    format!("invalid value for {name}: expected one of {allowed:?}, got {value:?}"),
                ));
            }
            if HeaderValue::from_str(value).is_err() {
                return Err(WebConfigError::new(
                    key,
                    format!("invalid value for {name}: {value:?} is not a valid HTTP header value"),
                ));
            }
        }
        Ok(())
    }

    /// The configured headers, ready to add to responses. Entries that fail
    /// [`validate`](Self::validate) are left out.
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                map.insert(name, value);
            }
        }
        map
    }
}

/// `rate_limit`: a token bucket in front of the whole server (the server enforces it).
///
/// In the file, `interval` is a Go duration (`"1s"`, `"250ms"`, or an integer number of
/// nanoseconds) and `burst` a count. An interval of 0 disables the limiter; the longest
/// is Go's largest duration, `i64::MAX` nanoseconds (about 292 years), as in
/// exporter-toolkit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Time between two requests (one token is added per interval). Never zero, and at
    /// most `i64::MAX` nanoseconds (so that `Instant + interval` cannot overflow).
    pub interval: Duration,
    /// How many requests may arrive back to back. exporter-toolkit (Go's
    /// `x/time/rate`) lets no request through when this is 0.
    pub burst: u32,
}

/// An invalid web configuration: which key, and why.
///
/// `Display` prints `[file: ]key: message`, for example
/// `tls_server_config.cert_file: /etc/x/server.crt: No such file or directory (os error 2)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebConfigError {
    file: Option<PathBuf>,
    key: String,
    message: String,
}

impl WebConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        WebConfigError {
            file: None,
            key: key.into(),
            message: message.into(),
        }
    }

    fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }

    /// The dotted path of the key at fault (`tls_server_config.cert_file`), or `""` when
    /// the error is about the whole file (unreadable, not YAML).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The configuration file, when the configuration came from
    /// [`WebConfig::from_file`].
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for WebConfigError {}

/// The longest `rate_limit.interval`: Go's largest `time.Duration`.
const MAX_RATE_LIMIT_INTERVAL: Duration = Duration::from_nanos(i64::MAX as u64);

impl WebConfig {
    /// Reads, parses and validates a web configuration file. Relative certificate, key
    /// and CA paths resolve against the file's directory. Errors carry the file name.
    pub fn from_file(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| WebConfigError::new("", e.to_string()).in_file(path))?;
        let base = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        Self::from_yaml(&text, base).map_err(|e| e.in_file(path))
    }

    /// Parses and validates a web configuration from YAML text. Relative certificate,
    /// key and CA paths resolve against `base_dir`.
    pub fn from_yaml(text: &str, base_dir: &Path) -> Result<WebConfig, WebConfigError> {
        let config = raw::parse(text, base_dir)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the whole configuration: header names and values, bcrypt hashes and their
    /// costs (without computing any bcrypt), the rate limit, and the TLS settings,
    /// loading the certificate, key and CA files once.
    /// [`from_file`](Self::from_file) and [`from_yaml`](Self::from_yaml) call it; call it
    /// yourself for a configuration built in code.
    pub fn validate(&self) -> Result<(), WebConfigError> {
        self.http.validate()?;
        auth::validate_users(&self.basic_auth_users)?;
        if let Some(limit) = &self.rate_limit {
            if limit.interval.is_zero() {
                return Err(WebConfigError::new(
                    "rate_limit.interval",
                    "must not be zero (leave rate_limit out to disable it)",
                ));
            }
            if limit.interval > MAX_RATE_LIMIT_INTERVAL {
                return Err(WebConfigError::new(
                    "rate_limit.interval",
                    format!(
                        "{:?} is longer than Go's largest duration, 2562047h47m16.854775807s \
                         (about 292 years)",
                        limit.interval
                    ),
                ));
            }
        }
        if let Some(tls) = &self.tls {
            tls::check_http2_ciphers(tls, self.http.http2)?;
            tls.validate()?;
        }
        Ok(())
    }

    /// The TLS acceptor for this configuration (ALPN offers `h2` only when
    /// `http_server_config.http2` is true), or `None` for plain HTTP.
    pub fn tls_acceptor(&self) -> Result<Option<TlsAcceptor>, WebConfigError> {
        self.tls
            .as_ref()
            .map(|tls| TlsAcceptor::builder(tls).http2(self.http.http2).build())
            .transpose()
    }

    /// The basic-auth checker, or `None` when no users are configured (no auth).
    /// Validates the users first (a cost above [`MAX_BCRYPT_COST`] is an error, found
    /// without hashing), then costs one bcrypt hash the first time a given cost is seen
    /// (see [`BasicAuth::new`]).
    pub fn basic_auth(&self) -> Result<Option<BasicAuth>, WebConfigError> {
        if self.basic_auth_users.is_empty() {
            return Ok(None);
        }
        BasicAuth::new(&self.basic_auth_users).map(Some)
    }
}
