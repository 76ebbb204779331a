//! Client certificate verifiers: Go's `client_auth_type` semantics and the
//! `client_allowed_sans` allow-list.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::key;
use super::pem::load_client_cas;
use crate::exporter::web_config::san;
use crate::exporter::web_config::{ClientAuthType, TlsServerConfig, WebConfigError};

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

pub(super) fn client_verifier(
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
