//! TLS: the rustls server configuration, client certificate verification with a SAN
//! allow-list, and reloading of the certificate, key and CA files.
//!
//! The rooms, in the order a configuration flows through them:
//!
//! - `names`: Go's names for cipher suites, curves and versions, mapped to rustls.
//! - `pem`: reading certificates, keys and client CAs from files or inline PEM.
//! - `verify`: the client certificate verifiers (Go's auth types, the SAN allow-list).
//! - this file: `build_server_config`, which puts them together.
//! - `reload`: [`TlsAcceptor`], which rebuilds the configuration when the files change.

use std::sync::Arc;

use rustls::ServerConfig;

use super::{TlsServerConfig, WebConfigError};

mod names;
mod pem;
mod reload;
mod verify;

pub(super) use names::check_http2_ciphers;
pub use reload::{TlsAcceptor, TlsAcceptorBuilder};

use names::{crypto_provider, versions};
use pem::{load_cert_chain, load_key};
use verify::client_verifier;

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
