//! The TLS client connector, `InstrumentedTlsConnector`, against a local rustls
//! server with the test certificates (valid for `localhost` and `127.0.0.1`): a
//! trusted server is reached and DNS, connect and handshake (`ok`) are observed; an
//! untrusted one fails with a handshake `error`; `http` URIs pass through without a
//! handshake; the family is on the page served by `MetricsHandler`. Loopback only;
//! every wait is bounded.
#![cfg(feature = "hyper-client-tls")]

use promhttp_test_support as support;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use promhttp::instrument::client::{ClientMetrics, InstrumentedTlsConnector};
use rustls::crypto::ring as ring_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tower::ServiceExt;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/web_config")
        .join(name)
}

fn certs(name: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(testdata(name))
        .expect("PEM file")
        .collect::<Result<_, _>>()
        .expect("certificates")
}

/// A TLS server (ALPN `http/1.1`) answering every request with `ok`.
async fn tls_server() -> SocketAddr {
    let key = PrivateKeyDer::from_pem_file(testdata("server.key")).expect("server key");
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(ring_provider::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs("server.pem"), key)
            .expect("server certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that rejects the certificate ends here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

fn client_config(ca: &str) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    for cert in certs(ca) {
        roots.add(cert).expect("CA certificate");
    }
    ClientConfig::builder_with_provider(Arc::new(ring_provider::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

async fn get(
    client: &Client<InstrumentedTlsConnector, Empty<Bytes>>,
    uri: &str,
) -> Result<(u16, Bytes), String> {
    let req = Request::get(uri)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let body = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
        .await
        .map_err(|_| "body timed out".to_owned())?
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

/// The text 0.0.4 page a default `MetricsHandler` serves for `metrics`.
async fn page(metrics: &ClientMetrics) -> String {
    let handler = promhttp::MetricsHandler::builder(metrics.clone()).build();
    let req = http::Request::get("/metrics").body(()).expect("request");
    let resp = handler.respond(&req).await;
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("page body")
        .to_bytes();
    String::from_utf8(body.to_vec()).expect("UTF-8 page")
}

use support::sample;

#[tokio::test]
async fn trusted_server_records_dns_connect_and_handshake() {
    let addr = tls_server().await;
    let metrics = ClientMetrics::new();
    let client = Client::builder(TokioExecutor::new()).build(InstrumentedTlsConnector::new(
        &metrics,
        client_config("ca.pem"),
    ));

    // `localhost` goes through the resolver.
    let url = format!("https://localhost:{}/", addr.port());
    assert_eq!(
        get(&client, &url).await,
        Ok((200, Bytes::from_static(b"ok")))
    );
    // The pooled connection is reused: no second connect or handshake.
    assert_eq!(
        get(&client, &url).await,
        Ok((200, Bytes::from_static(b"ok")))
    );

    let text = page(&metrics).await;
    assert!(
        text.contains("# TYPE http_client_tls_handshake_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("# HELP http_client_tls_handshake_duration_seconds "),
        "{text}"
    );
    let count = |family: &str, result: &str| {
        sample(&text, &format!("{family}_count{{result=\"{result}\"}} "))
    };
    assert_eq!(
        count("http_client_dns_duration_seconds", "ok"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count("http_client_connect_duration_seconds", "ok"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count("http_client_tls_handshake_duration_seconds", "ok"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count("http_client_tls_handshake_duration_seconds", "error"),
        None,
        "{text}"
    );
    let sum = sample(
        &text,
        "http_client_tls_handshake_duration_seconds_sum{result=\"ok\"} ",
    )
    .expect("handshake sum");
    assert!(sum > 0.0 && sum < 10.0, "{sum}");

    // An IP address is a server name too (the certificate holds 127.0.0.1), and
    // needs no resolution.
    let url = format!("https://127.0.0.1:{}/", addr.port());
    assert_eq!(
        get(&client, &url).await,
        Ok((200, Bytes::from_static(b"ok")))
    );
    let text = page(&metrics).await;
    assert_eq!(
        sample(
            &text,
            "http_client_dns_duration_seconds_count{result=\"ok\"} "
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "http_client_tls_handshake_duration_seconds_count{result=\"ok\"} "
        ),
        Some(2.0),
        "{text}"
    );
}

#[tokio::test]
async fn untrusted_server_records_a_handshake_error() {
    let addr = tls_server().await;
    let metrics = ClientMetrics::builder()
        .const_label("upstream", "local")
        .build()
        .expect("valid configuration");
    let client = Client::builder(TokioExecutor::new()).build(InstrumentedTlsConnector::new(
        &metrics,
        client_config("other_ca.pem"),
    ));
    let url = format!("https://localhost:{}/", addr.port());
    let err = get(&client, &url).await.expect_err("untrusted certificate");
    assert!(
        err.contains("certificate") || err.contains("Certificate"),
        "{err}"
    );

    let text = page(&metrics).await;
    let count = |family: &str, result: &str| {
        sample(
            &text,
            &format!("{family}_count{{result=\"{result}\",upstream=\"local\"}} "),
        )
    };
    assert_eq!(
        count("http_client_connect_duration_seconds", "ok"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count("http_client_tls_handshake_duration_seconds", "error"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count("http_client_tls_handshake_duration_seconds", "ok"),
        None,
        "{text}"
    );
}

#[tokio::test]
async fn connector_negotiates_http11_and_passes_http_through() {
    let addr = tls_server().await;
    let metrics = ClientMetrics::new();
    let connector = InstrumentedTlsConnector::new(&metrics, client_config("ca.pem"));
    assert_eq!(connector.config().alpn_protocols, [b"http/1.1".to_vec()]);

    let uri: Uri = format!("https://127.0.0.1:{}/", addr.port())
        .parse()
        .expect("uri");
    let stream = tokio::time::timeout(Duration::from_secs(10), connector.clone().oneshot(uri))
        .await
        .expect("in time")
        .expect("TLS connection");
    assert!(stream.is_tls());
    let session = stream.tls_session().expect("TLS session");
    assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        stream.tcp().peer_addr().expect("peer address").port(),
        addr.port()
    );

    // `http`: the plain TCP stream, no handshake.
    let uri: Uri = format!("http://127.0.0.1:{}/", addr.port())
        .parse()
        .expect("uri");
    let stream = tokio::time::timeout(Duration::from_secs(10), connector.oneshot(uri))
        .await
        .expect("in time")
        .expect("TCP connection");
    assert!(!stream.is_tls());
    assert!(stream.tls_session().is_none());

    let text = page(&metrics).await;
    assert_eq!(
        sample(
            &text,
            "http_client_connect_duration_seconds_count{result=\"ok\"} "
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "http_client_tls_handshake_duration_seconds_count{result=\"ok\"} "
        ),
        Some(1.0),
        "{text}"
    );
}
