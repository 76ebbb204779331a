//! TLS: the rustls server configuration, client certificate verification with a SAN
//! allow-list, and reloading of the certificate, key and CA files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{ring as ring_provider, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};

use super::san;
use super::{ClientAuthType, TlsServerConfig, TlsVersion, WebConfigError};

const ALPN_H2: &[u8] = b"h2";
const ALPN_HTTP11: &[u8] = b"http/1.1";

fn key(k: &str) -> String {
    format!("tls_server_config.{k}")
}

/// Exactly one of each pair must be given.
pub(super) fn check_presence(
    cert_file: bool,
    cert: bool,
    key_file: bool,
    key_inline: bool,
) -> Result<(), WebConfigError> {
    match (cert_file, cert) {
        (false, false) => {
            return Err(WebConfigError::new(
                key("cert_file"),
                "missing one of cert or cert_file",
            ))
        }
        (true, true) => {
            return Err(WebConfigError::new(
                key("cert"),
                "set only one of cert or cert_file",
            ))
        }
        _ => {}
    }
    match (key_file, key_inline) {
        (false, false) => Err(WebConfigError::new(
            key("key_file"),
            "missing one of key or key_file",
        )),
        (true, true) => Err(WebConfigError::new(
            key("key"),
            "set only one of key or key_file",
        )),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------
// Cipher suites, curves and versions.

enum Cipher {
    /// A TLS 1.2 suite rustls has.
    Tls12(SupportedCipherSuite),
    /// A TLS 1.3 suite: always enabled, as in Go.
    Tls13,
    /// A suite Go accepts but rustls does not implement (CBC, RSA key exchange).
    Unsupported,
}

fn lookup_cipher(name: &str) -> Option<Cipher> {
    use ring_provider::cipher_suite as cs;
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
            Cipher::Tls12(cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
        }
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
            Cipher::Tls12(cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
        }
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            Cipher::Tls12(cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => {
            Cipher::Tls12(cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
        }
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => {
            Cipher::Tls12(cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            Cipher::Tls12(cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256)
        }
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => {
            Cipher::Tls13
        }
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
        | "TLS_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_RSA_WITH_AES_256_CBC_SHA"
        | "TLS_RSA_WITH_AES_128_GCM_SHA256"
        | "TLS_RSA_WITH_AES_256_GCM_SHA384" => Cipher::Unsupported,
        _ => return None,
    })
}

const SUPPORTED_CIPHERS: &str = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, \
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, \
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, \
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256";

/// The TLS 1.2 suites of the configuration, in order; `None` when the list is empty
/// (all suites). Warns about suites rustls lacks.
fn tls12_suites(
    cfg: &TlsServerConfig,
) -> Result<Option<Vec<SupportedCipherSuite>>, WebConfigError> {
    if cfg.cipher_suites.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for name in &cfg.cipher_suites {
        match lookup_cipher(name) {
            None => {
                return Err(WebConfigError::new(
                    key("cipher_suites"),
                    format!("unknown cipher: {name} (rustls supports {SUPPORTED_CIPHERS})"),
                ))
            }
            Some(Cipher::Tls12(suite)) => {
                if !out.contains(&suite) {
                    out.push(suite);
                }
            }
            Some(Cipher::Tls13) => {}
            Some(Cipher::Unsupported) => tracing::warn!(
                cipher = %name,
                "cipher suite not implemented by rustls; skipped"
            ),
        }
    }
    if out.is_empty() && cfg.min_version <= TlsVersion::Tls12 {
        return Err(WebConfigError::new(
            key("cipher_suites"),
            format!(
                "no TLS 1.2 cipher suite that rustls implements is listed (rustls supports \
                 {SUPPORTED_CIPHERS}); TLS 1.3 suites are always enabled"
            ),
        ));
    }
    Ok(Some(out))
}

/// HTTP/2 over TLS 1.2 needs an ECDHE AES-128-GCM suite (RFC 7540 section 9.2.2), which
/// Go's HTTP/2 server enforces at start-up; so do we.
pub(super) fn check_http2_ciphers(
    cfg: &TlsServerConfig,
    http2: bool,
) -> Result<(), WebConfigError> {
    if !http2 || cfg.min_version > TlsVersion::Tls12 || cfg.max_version < TlsVersion::Tls12 {
        return Ok(());
    }
    let Some(suites) = tls12_suites(cfg)? else {
        return Ok(());
    };
    use ring_provider::cipher_suite as cs;
    if suites.iter().any(|s| {
        *s == cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            || *s == cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    }) {
        return Ok(());
    }
    Err(WebConfigError::new(
        key("cipher_suites"),
        "HTTP/2 over TLS 1.2 requires TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or \
         TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256; add one, set min_version: TLS13, or set \
         http_server_config.http2: false",
    ))
}

fn kx_groups(
    cfg: &TlsServerConfig,
) -> Result<Option<Vec<&'static dyn rustls::crypto::SupportedKxGroup>>, WebConfigError> {
    if cfg.curve_preferences.is_empty() {
        return Ok(None);
    }
    use ring_provider::kx_group;
    let mut out: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
    for name in &cfg.curve_preferences {
        let group = match name.as_str() {
            "X25519" => kx_group::X25519,
            "CurveP256" => kx_group::SECP256R1,
            "CurveP384" => kx_group::SECP384R1,
            "CurveP521" => {
                tracing::warn!(curve = %name, "curve not implemented by rustls (ring); skipped");
                continue;
            }
            _ => {
                return Err(WebConfigError::new(
                    key("curve_preferences"),
                    format!("unknown curve: {name} (rustls supports X25519, CurveP256, CurveP384)"),
                ))
            }
        };
        if !out.iter().any(|g| g.name() == group.name()) {
            out.push(group);
        }
    }
    if out.is_empty() {
        return Err(WebConfigError::new(
            key("curve_preferences"),
            "no curve that rustls implements is listed (X25519, CurveP256, CurveP384)",
        ));
    }
    Ok(Some(out))
}

fn versions(
    cfg: &TlsServerConfig,
) -> Result<Vec<&'static SupportedProtocolVersion>, WebConfigError> {
    if cfg.min_version > cfg.max_version {
        return Err(WebConfigError::new(
            key("min_version"),
            format!(
                "min_version {} is above max_version {}",
                cfg.min_version, cfg.max_version
            ),
        ));
    }
    let mut out = Vec::new();
    if cfg.min_version <= TlsVersion::Tls12 {
        out.push(&rustls::version::TLS12);
    }
    if cfg.max_version >= TlsVersion::Tls13 {
        out.push(&rustls::version::TLS13);
    }
    Ok(out)
}

fn crypto_provider(cfg: &TlsServerConfig) -> Result<CryptoProvider, WebConfigError> {
    let mut provider = ring_provider::default_provider();
    if let Some(tls12) = tls12_suites(cfg)? {
        let tls13 = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)));
        provider.cipher_suites = tls12.into_iter().chain(tls13).collect();
    }
    if let Some(groups) = kx_groups(cfg)? {
        provider.kx_groups = groups;
    }
    Ok(provider)
}

// ---------------------------------------------------------------------------------
// PEM loading.

/// Reads a file or takes the inline PEM; `file_key`/`inline_key` name the settings.
fn pem_source(
    file: Option<&Path>,
    inline: Option<&str>,
    file_key: &str,
    inline_key: &str,
) -> Result<Option<(Vec<u8>, String)>, WebConfigError> {
    if let Some(path) = file {
        let data = std::fs::read(path)
            .map_err(|e| WebConfigError::new(key(file_key), format!("{}: {e}", path.display())))?;
        return Ok(Some((data, key(file_key))));
    }
    Ok(inline.map(|s| (s.as_bytes().to_vec(), key(inline_key))))
}

fn parse_certs(
    data: &[u8],
    setting: &str,
    path: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let what = |m: String| match path {
        Some(p) => WebConfigError::new(setting, format!("{}: {m}", p.display())),
        None => WebConfigError::new(setting, m),
    };
    let certs = CertificateDer::pem_slice_iter(data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| what(format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(what("no PEM-encoded CERTIFICATE found".into()));
    }
    Ok(certs)
}

fn load_cert_chain(cfg: &TlsServerConfig) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let (data, setting) = pem_source(
        cfg.cert_file.as_deref(),
        cfg.cert.as_deref(),
        "cert_file",
        "cert",
    )?
    .ok_or_else(|| WebConfigError::new(key("cert_file"), "missing one of cert or cert_file"))?;
    parse_certs(&data, &setting, cfg.cert_file.as_deref())
}

fn load_key(cfg: &TlsServerConfig) -> Result<(PrivateKeyDer<'static>, String), WebConfigError> {
    let (data, setting) = pem_source(
        cfg.key_file.as_deref(),
        cfg.key.as_deref(),
        "key_file",
        "key",
    )?
    .ok_or_else(|| WebConfigError::new(key("key_file"), "missing one of key or key_file"))?;
    let where_ = cfg
        .key_file
        .as_deref()
        .map(|p| format!("{}: ", p.display()))
        .unwrap_or_default();
    // Never echo key material in errors.
    let key = PrivateKeyDer::from_pem_slice(&data).map_err(|e| {
        WebConfigError::new(
            setting.clone(),
            format!("{where_}no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })?;
    Ok((key, setting))
}

/// The client CA store, or `None` when no CA is configured.
fn load_client_cas(cfg: &TlsServerConfig) -> Result<Option<RootCertStore>, WebConfigError> {
    if cfg.client_ca_file.is_some() && cfg.client_ca.is_some() {
        return Err(WebConfigError::new(
            key("client_ca"),
            "set only one of client_ca or client_ca_file",
        ));
    }
    // Read before checking the policy, like exporter-toolkit: a missing file is
    // reported as such.
    let Some((data, setting)) = pem_source(
        cfg.client_ca_file.as_deref(),
        cfg.client_ca.as_deref(),
        "client_ca_file",
        "client_ca",
    )?
    else {
        return Ok(None);
    };
    if cfg.client_auth_type == ClientAuthType::NoClientCert {
        return Err(WebConfigError::new(
            key("client_auth_type"),
            "client CA's have been configured without a Client Auth Policy (set \
             client_auth_type, normally to RequireAndVerifyClientCert)",
        ));
    }
    let certs = parse_certs(&data, &setting, cfg.client_ca_file.as_deref())?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(WebConfigError::new(
            setting,
            "no usable CA certificate (X.509 v3 expected)",
        ));
    }
    Ok(Some(roots))
}

// ---------------------------------------------------------------------------------
// Client certificate verifiers.

/// `RequestClientCert` / `RequireAnyClientCert`: the client proves it holds the key of
/// the certificate it sends, but the certificate itself is not checked (Go semantics).
#[derive(Debug)]
struct UncheckedClientCert {
    mandatory: bool,
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for UncheckedClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Wraps another verifier and then requires one of the allowed SANs
/// (`client_allowed_sans`), like exporter-toolkit's `VerifyPeerCertificate`.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let sans = san::subject_alt_names(end_entity.as_ref()).map_err(|e| {
            tracing::debug!(error = e, "could not read the client certificate's SANs");
            rustls::Error::InvalidCertificate(CertificateError::BadEncoding)
        })?;
        if sans
            .iter()
            .any(|s| self.allowed.iter().any(|a| s.matches(a)))
        {
            return Ok(verified);
        }
        tracing::debug!(
            found = ?sans.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "client certificate has no allowed SAN"
        );
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn client_verifier(
    cfg: &TlsServerConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, WebConfigError> {
    let roots = load_client_cas(cfg)?;
    let auth = cfg.client_auth_type;
    if !cfg.client_allowed_sans.is_empty() && auth == ClientAuthType::NoClientCert {
        return Err(WebConfigError::new(
            key("client_allowed_sans"),
            "needs a client_auth_type that asks for client certificates \
             (normally RequireAndVerifyClientCert)",
        ));
    }
    let hints = roots.as_ref().map(|r| r.subjects()).unwrap_or_default();
    let inner: Arc<dyn ClientCertVerifier> = match (auth, roots) {
        (ClientAuthType::NoClientCert, _) => return Ok(None),
        (ClientAuthType::RequestClientCert | ClientAuthType::RequireAnyClientCert, _) => {
            Arc::new(UncheckedClientCert {
                mandatory: auth == ClientAuthType::RequireAnyClientCert,
                hints,
                algorithms: provider.signature_verification_algorithms,
            })
        }
        (_, Some(roots)) => {
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if auth == ClientAuthType::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| WebConfigError::new(key("client_ca_file"), e.to_string()))?
        }
        (_, None) => {
            return Err(WebConfigError::new(
                key("client_ca_file"),
                format!("client_auth_type {auth} needs client_ca_file or client_ca"),
            ))
        }
    };
    if cfg.client_allowed_sans.is_empty() {
        return Ok(Some(inner));
    }
    Ok(Some(Arc::new(AllowedSans {
        inner,
        allowed: cfg.client_allowed_sans.clone(),
    })))
}

/// Builds the rustls configuration, reading every file once.
pub(super) fn build_server_config(
    cfg: &TlsServerConfig,
    alpn: &[Vec<u8>],
) -> Result<Arc<ServerConfig>, WebConfigError> {
    check_presence(
        cfg.cert_file.is_some(),
        cfg.cert.is_some(),
        cfg.key_file.is_some(),
        cfg.key.is_some(),
    )?;
    let versions = versions(cfg)?;
    let provider = Arc::new(crypto_provider(cfg)?);
    let chain = load_cert_chain(cfg)?;
    let (key_der, key_setting) = load_key(cfg)?;
    let verifier = client_verifier(cfg, &provider)?;
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| WebConfigError::new(key("cipher_suites"), e.to_string()))?;
    let builder = match verifier {
        None => builder.with_no_client_auth(),
        Some(v) => builder.with_client_cert_verifier(v),
    };
    let mut config = builder.with_single_cert(chain, key_der).map_err(|e| {
        WebConfigError::new(
            key_setting,
            format!("the private key is unusable or does not match the certificate: {e}"),
        )
    })?;
    config.alpn_protocols = alpn.to_vec();
    config.ignore_client_order = cfg.prefer_server_cipher_suites;
    Ok(Arc::new(config))
}

// ---------------------------------------------------------------------------------
// Reloading.

/// What identifies one version of a file on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    dev_ino: (u64, u64),
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        #[cfg(unix)]
        dev_ino: {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        },
    })
}

fn watched_files(cfg: &TlsServerConfig) -> Vec<PathBuf> {
    [&cfg.cert_file, &cfg.key_file, &cfg.client_ca_file]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}

struct State {
    current: Arc<ServerConfig>,
    stamps: Vec<Option<FileStamp>>,
    last_check: Instant,
    /// After a failed reload: when to try the same files again.
    retry_at: Option<Instant>,
}

/// How long to wait before loading files that failed to load but did not change since.
const RETRY_FAILED_RELOAD: Duration = Duration::from_secs(10);

struct Shared {
    cfg: TlsServerConfig,
    files: Vec<PathBuf>,
    alpn: Vec<Vec<u8>>,
    reload_interval: Duration,
    state: Mutex<State>,
}

/// The TLS side of the server: a rustls configuration built from a
/// [`TlsServerConfig`] that follows certificate rotation.
///
/// Before each new connection, [`acceptor`](Self::acceptor) checks the modification
/// time, size and inode of `cert_file`, `key_file` and `client_ca_file` (at most once
/// per [reload interval](TlsAcceptorBuilder::reload_interval); by default on every
/// call, like exporter-toolkit) and rebuilds the configuration when any of them changed.
/// Connections already open keep the configuration they started with. If the new files
/// are broken (half-written, key and certificate not matching), the last good
/// configuration stays in use, the error is logged with `tracing::error!`, and the
/// files are tried again when they next change. Inline PEM (`cert`, `key`,
/// `client_ca`) never changes.
///
/// Cloning is cheap and clones share the state.
///
/// ALPN offers `h2` and `http/1.1`, or only `http/1.1` when HTTP/2 is turned off
/// ([`TlsAcceptorBuilder::http2`]); serve the protocol the client picked
/// (`ServerConnection::alpn_protocol`), or let a server that auto-detects HTTP/2 do it.
///
/// `client_allowed_sans` is enforced during the handshake: a client certificate without
/// an allowed SAN fails the handshake.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::path::Path;
/// use promhttp::exporter::web_config::{TlsAcceptor, WebConfig};
///
/// let config = WebConfig::from_file(Path::new("/etc/exporter/web-config.yml"))?;
/// let tls: Option<TlsAcceptor> = config.tls_acceptor()?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
/// loop {
///     let (tcp, _peer) = listener.accept().await?;
///     if let Some(tls) = &tls {
///         let acceptor = tls.acceptor(); // picks up rotated certificates
///         tokio::spawn(async move {
///             if let Ok(stream) = acceptor.accept(tcp).await {
///                 // serve HTTP on `stream`
/// #               drop(stream);
///             }
///         });
///     }
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct TlsAcceptor {
    shared: Arc<Shared>,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("config", &self.shared.cfg)
            .field("alpn", &self.shared.alpn)
            .field("reload_interval", &self.shared.reload_interval)
            .finish_non_exhaustive()
    }
}

/// Options for a [`TlsAcceptor`]; from [`TlsAcceptor::builder`].
#[derive(Debug, Clone)]
pub struct TlsAcceptorBuilder {
    cfg: TlsServerConfig,
    http2: bool,
    reload_interval: Duration,
}

impl TlsAcceptorBuilder {
    /// Offer HTTP/2 in ALPN (default true). Pass `http_server_config.http2`.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Check the files for changes at most once per `interval` (default zero: on every
    /// [`TlsAcceptor::acceptor`] call; a check is three `stat` calls).
    pub fn reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval;
        self
    }

    /// Loads the files and builds the acceptor. Fails on any configuration error.
    pub fn build(self) -> Result<TlsAcceptor, WebConfigError> {
        check_http2_ciphers(&self.cfg, self.http2)?;
        let alpn = if self.http2 {
            vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()]
        } else {
            vec![ALPN_HTTP11.to_vec()]
        };
        let files = watched_files(&self.cfg);
        // Stamp first: a change while we read is seen at the next check.
        let stamps = files.iter().map(|p| stamp(p)).collect();
        let current = build_server_config(&self.cfg, &alpn)?;
        Ok(TlsAcceptor {
            shared: Arc::new(Shared {
                cfg: self.cfg,
                files,
                alpn,
                reload_interval: self.reload_interval,
                state: Mutex::new(State {
                    current,
                    stamps,
                    last_check: Instant::now(),
                    retry_at: None,
                }),
            }),
        })
    }
}

impl TlsAcceptor {
    /// Builds an acceptor with the defaults: HTTP/2 offered, files checked on every
    /// connection.
    pub fn new(cfg: &TlsServerConfig) -> Result<Self, WebConfigError> {
        Self::builder(cfg).build()
    }

    /// Starts a builder for the given settings.
    pub fn builder(cfg: &TlsServerConfig) -> TlsAcceptorBuilder {
        TlsAcceptorBuilder {
            cfg: cfg.clone(),
            http2: true,
            reload_interval: Duration::ZERO,
        }
    }

    /// The acceptor for a new connection, reflecting the files as they are now.
    ///
    /// May do blocking file-system calls (a few `stat`s; reads only when a file
    /// changed), which are short enough to call from an async accept loop.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server_config())
    }

    /// Accepts a TLS connection on `io` with [`acceptor`](Self::acceptor).
    pub async fn accept<IO>(&self, io: IO) -> std::io::Result<tokio_rustls::server::TlsStream<IO>>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        self.acceptor().accept(io).await
    }

    /// The current rustls configuration (after a reload check).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let mut state = self.lock();
        if state.last_check.elapsed() >= self.shared.reload_interval {
            let _ = self.reload_locked(&mut state);
        }
        state.current.clone()
    }

    /// Checks the files now, whatever the interval. `Ok(true)`: they changed and the new
    /// configuration is in use; `Ok(false)`: nothing changed; `Err`: they changed but are
    /// unusable, and the previous configuration stays in use (the error is also logged).
    pub fn reload(&self) -> Result<bool, WebConfigError> {
        let mut state = self.lock();
        self.reload_locked(&mut state)
    }

    /// The settings this acceptor was built from.
    pub fn config(&self) -> &TlsServerConfig {
        &self.shared.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn reload_locked(&self, state: &mut State) -> Result<bool, WebConfigError> {
        let now = Instant::now();
        state.last_check = now;
        let stamps: Vec<_> = self.shared.files.iter().map(|p| stamp(p)).collect();
        let retry_due = state.retry_at.is_some_and(|at| now >= at);
        if stamps == state.stamps && !retry_due {
            return Ok(false);
        }
        // Remember the new stamps even on failure: retry when the files change again
        // (or after a pause), instead of logging the same error on every connection.
        state.stamps = stamps;
        match build_server_config(&self.shared.cfg, &self.shared.alpn) {
            Ok(config) => {
                state.current = config;
                state.retry_at = None;
                tracing::info!("TLS certificate files changed; new configuration loaded");
                Ok(true)
            }
            Err(err) => {
                state.retry_at = Some(now + RETRY_FAILED_RELOAD);
                tracing::error!(
                    error = %err,
                    "TLS certificate files changed but cannot be loaded; keeping the previous configuration"
                );
                Err(err)
            }
        }
    }
}
