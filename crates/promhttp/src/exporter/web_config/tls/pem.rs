//! PEM loading: the server certificate chain, its private key and the client CA store,
//! from files or inline PEM.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use super::key;
use crate::exporter::web_config::{ClientAuthType, TlsServerConfig, WebConfigError};

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

pub(super) fn load_cert_chain(
    cfg: &TlsServerConfig,
) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let (data, setting) = pem_source(
        cfg.cert_file.as_deref(),
        cfg.cert.as_deref(),
        "cert_file",
        "cert",
    )?
    .ok_or_else(|| WebConfigError::new(key("cert_file"), "missing one of cert or cert_file"))?;
    parse_certs(&data, &setting, cfg.cert_file.as_deref())
}

pub(super) fn load_key(
    cfg: &TlsServerConfig,
) -> Result<(PrivateKeyDer<'static>, String), WebConfigError> {
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
pub(super) fn load_client_cas(
    cfg: &TlsServerConfig,
) -> Result<Option<RootCertStore>, WebConfigError> {
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
