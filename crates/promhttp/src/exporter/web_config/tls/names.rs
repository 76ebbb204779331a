//! Go's names for TLS 1.2 cipher suites, curves and protocol versions, mapped to what
//! rustls (with the ring provider) implements.

use rustls::crypto::{ring as ring_provider, CryptoProvider};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use super::key;
use crate::exporter::web_config::{TlsServerConfig, TlsVersion, WebConfigError};

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
pub(in crate::exporter::web_config) fn check_http2_ciphers(
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

pub(super) fn versions(
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

pub(super) fn crypto_provider(cfg: &TlsServerConfig) -> Result<CryptoProvider, WebConfigError> {
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
