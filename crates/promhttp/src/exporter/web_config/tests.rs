//! Tests for the web configuration: YAML cases modelled on exporter-toolkit's
//! `TestYAMLFiles`/`TestServerBehaviour`, and TLS handshakes over loopback.
//! Basic-auth tests live in `auth.rs` (they need private access).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::ring as ring_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedCipherSuite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/web_config")
}

fn load(name: &str) -> Result<WebConfig, WebConfigError> {
    WebConfig::from_file(&testdata().join(name))
}

fn load_err(name: &str) -> WebConfigError {
    match load(name) {
        Ok(cfg) => panic!("{name}: expected an error, got {cfg:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_err(name: &str, key: &str, message_part: &str) {
    let err = load_err(name);
    assert_eq!(err.key(), key, "{name}: wrong key in {err}");
    assert!(
        err.to_string()
            .to_lowercase()
            .contains(&message_part.to_lowercase()),
        "{name}: {err:?} does not mention {message_part:?}"
    );
    assert_eq!(err.file(), Some(testdata().join(name).as_path()));
}

// ---------------------------------------------------------------------------------
// YAML: good files.

#[test]
fn empty_file_means_plain_http_without_auth() {
    for name in ["empty.yml", "comments_only.yml"] {
        let cfg = load(name).unwrap();
        assert_eq!(cfg, WebConfig::default(), "{name}");
        assert!(cfg.tls.is_none());
        assert!(cfg.http.http2);
        assert!(cfg.basic_auth_users.is_empty());
        assert!(cfg.tls_acceptor().unwrap().is_none());
        assert!(cfg.basic_auth().unwrap().is_none());
    }
    let cfg =
        WebConfig::from_yaml("tls_server_config:\nhttp_server_config:\n", Path::new(".")).unwrap();
    assert_eq!(cfg, WebConfig::default());
}

#[test]
fn tls_paths_resolve_against_the_config_directory() {
    let cfg = load("tls.good.yml").unwrap();
    let tls = cfg.tls.as_ref().unwrap();
    assert_eq!(
        tls.cert_file.as_deref(),
        Some(testdata().join("server.pem").as_path())
    );
    assert_eq!(
        tls.key_file.as_deref(),
        Some(testdata().join("server.key").as_path())
    );
    assert_eq!(tls.client_auth_type, ClientAuthType::NoClientCert);
    assert_eq!(tls.min_version, TlsVersion::Tls12);
    assert_eq!(tls.max_version, TlsVersion::Tls13);
    assert!(tls.prefer_server_cipher_suites);
    assert!(cfg.tls_acceptor().unwrap().is_some());

    // The same text with another base directory fails: the files are not there.
    let text = std::fs::read_to_string(testdata().join("tls.good.yml")).unwrap();
    let err = WebConfig::from_yaml(&text, Path::new("/nonexistent-dir")).unwrap_err();
    assert_eq!(err.key(), "tls_server_config.cert_file");
    assert!(
        err.message().contains("/nonexistent-dir/server.pem"),
        "{err}"
    );
    assert!(err.file().is_none());

    // Absolute paths stay as they are.
    let text = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        testdata().join("server.pem").display(),
        testdata().join("server.key").display()
    );
    WebConfig::from_yaml(&text, Path::new("/nonexistent-dir")).unwrap();
}

#[test]
fn all_options_parse() {
    let cfg = load("all_options.good.yml").unwrap();
    let tls = cfg.tls.as_ref().unwrap();
    assert_eq!(
        tls.client_auth_type,
        ClientAuthType::RequireAndVerifyClientCert
    );
    assert_eq!(tls.client_allowed_sans, ["spiffe://example.com/prometheus"]);
    assert_eq!(tls.cipher_suites.len(), 13);
    assert!(!tls.prefer_server_cipher_suites);
    assert_eq!(tls.curve_preferences.len(), 4);
    assert!(!cfg.http.http2);
    assert_eq!(cfg.http.headers.len(), 5);
    // `X-XSS-Protection: 1` is a YAML integer; Go reads it as the string "1".
    assert_eq!(cfg.http.headers["X-XSS-Protection"], "1");
    let headers = cfg.http.header_map();
    assert_eq!(headers["x-frame-options"], "deny");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'self' *.test.example.net"
    );
    assert_eq!(
        cfg.rate_limit,
        Some(RateLimitConfig {
            interval: Duration::from_secs(1),
            burst: 5
        })
    );
    let acceptor = cfg.tls_acceptor().unwrap().unwrap();
    assert_eq!(
        acceptor.server_config().alpn_protocols,
        [b"http/1.1".to_vec()]
    );
    assert!(!acceptor.server_config().ignore_client_order);
}

#[test]
fn other_good_files() {
    let cfg = load("headers.good.yml").unwrap();
    assert_eq!(cfg.http.header_map().len(), 5);
    assert!(load("no_http2.good.yml").is_ok());
    assert!(load("mtls.good.yml").is_ok());
    assert!(load("tls_verify_if_given.good.yml").is_ok());
    assert_eq!(
        load("rate_limit_disabled.good.yml").unwrap().rate_limit,
        None
    );
}

#[test]
fn inline_cert_and_key() {
    let pem = |f: &str| std::fs::read_to_string(testdata().join(f)).unwrap();
    let indent = |s: String| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
    let text = format!(
        "tls_server_config:\n  cert: |\n{}  key: |\n{}  client_auth_type: RequireAnyClientCert\n  client_ca: |\n{}",
        indent(pem("server.pem")),
        indent(pem("server.key")),
        indent(pem("ca.pem")),
    );
    let cfg = WebConfig::from_yaml(&text, Path::new("/nonexistent-dir")).unwrap();
    let tls = cfg.tls.as_ref().unwrap();
    assert!(tls.cert.is_some() && tls.key.is_some() && tls.client_ca.is_some());
    // The key never shows in Debug output.
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    assert!(debug.contains("<secret>"));

    // Certificate from a file, key inline (exporter-toolkit's keyinline case).
    let text = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key: |\n{}",
        indent(pem("server.key"))
    );
    WebConfig::from_yaml(&text, &testdata()).unwrap();
}

#[test]
fn basic_auth_users_are_redacted_in_debug() {
    let hash = bcrypt::hash("pw", 4).unwrap();
    let cfg = WebConfig::from_yaml(
        &format!("basic_auth_users:\n  alice: {hash}\n  123: {hash}\n"),
        Path::new("."),
    )
    .unwrap();
    assert_eq!(cfg.basic_auth_users.len(), 2);
    assert!(cfg.basic_auth_users.contains_key("123"));
    let debug = format!("{cfg:?}");
    assert!(!debug.contains(&hash), "{debug}");
    let auth = cfg.basic_auth().unwrap().unwrap();
    assert_eq!(auth.len(), 2);
    assert!(!format!("{auth:?}").contains(&hash));
}

// ---------------------------------------------------------------------------------
// YAML: bad files (exporter-toolkit `TestYAMLFiles` and more).

#[test]
fn missing_config_file() {
    let err = load_err("does-not-exist.yml");
    assert_eq!(err.key(), "");
    assert!(err.to_string().contains("No such file"), "{err}");
}

#[test]
fn junk_and_unknown_keys() {
    assert_err("junk.yml", "", "invalid yaml");
    assert_err("junk_key.yml", "", "unknown field `cert_filse`");
    let err = load_err("junk_key.yml");
    assert!(err.message().contains("tls_server_config"), "{err}");
    assert_err(
        "unknown_top_level.bad.yml",
        "",
        "unknown field `web_server_config`",
    );
    assert_err("duplicate_key.bad.yml", "", "duplicate");
    let err =
        WebConfig::from_yaml("http_server_config:\n  http2: maybe\n", Path::new(".")).unwrap_err();
    assert!(err.message().contains("http2"), "{err}");
    let err = WebConfig::from_yaml("basic_auth_users: [a, b]\n", Path::new(".")).unwrap_err();
    assert!(err.message().contains("basic_auth_users"), "{err}");
}

#[test]
fn missing_cert_or_key() {
    let cert = "tls_server_config.cert_file";
    let key = "tls_server_config.key_file";
    assert_err(
        "cert_path_empty.bad.yml",
        cert,
        "missing one of cert or cert_file",
    );
    assert_err(
        "cert_empty.bad.yml",
        cert,
        "missing one of cert or cert_file",
    );
    assert_err(
        "key_path_empty.bad.yml",
        key,
        "missing one of key or key_file",
    );
    assert_err("key_empty.bad.yml", key, "missing one of key or key_file");
    // Certificate first, as in exporter-toolkit, even with an invalid client_auth_type.
    assert_err(
        "cert_path_key_path_empty.bad.yml",
        cert,
        "missing one of cert or cert_file",
    );
    // A TLS section that sets something but no certificate.
    assert_err(
        "version_only.bad.yml",
        cert,
        "missing one of cert or cert_file",
    );
}

#[test]
fn missing_files() {
    assert_err(
        "cert_path_invalid.bad.yml",
        "tls_server_config.cert_file",
        "No such file",
    );
    let err = load_err("cert_path_invalid.bad.yml");
    assert!(err
        .message()
        .contains(&*testdata().join("somefile").to_string_lossy()));
    assert_err(
        "key_path_invalid.bad.yml",
        "tls_server_config.key_file",
        "No such file",
    );
    assert_err(
        "cert_path_key_path_invalid.bad.yml",
        "tls_server_config.cert_file",
        "No such file",
    );
    assert_err(
        "client_ca_invalid_path.bad.yml",
        "tls_server_config.client_ca_file",
        "No such file",
    );
}

#[test]
fn unusable_pem() {
    assert_err(
        "key_mismatch.bad.yml",
        "tls_server_config.key_file",
        "does not match",
    );
    assert_err(
        "cert_not_pem.bad.yml",
        "tls_server_config.cert_file",
        "no PEM-encoded",
    );
    assert_err(
        "client_ca_no_certs.bad.yml",
        "tls_server_config.client_ca_file",
        "no PEM-encoded",
    );
    let err = WebConfig::from_yaml(
        "tls_server_config:\n  cert_file: server.pem\n  key: not a key\n",
        &testdata(),
    )
    .unwrap_err();
    assert_eq!(err.key(), "tls_server_config.key");
    assert!(
        !err.message().contains("not a key"),
        "key material echoed: {err}"
    );
}

#[test]
fn client_auth_policy() {
    assert_err(
        "client_ca_without_policy.bad.yml",
        "tls_server_config.client_auth_type",
        "client CA's have been configured without a Client Auth Policy",
    );
    assert_err(
        "client_ca_missing.bad.yml",
        "tls_server_config.client_ca_file",
        "needs client_ca_file or client_ca",
    );
    assert_err(
        "invalid_client_auth.bad.yml",
        "tls_server_config.client_auth_type",
        "invalid ClientAuth",
    );
    assert_err(
        "sans_without_policy.bad.yml",
        "tls_server_config.client_allowed_sans",
        "client_auth_type",
    );
    let err = WebConfig::from_yaml(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: []\n",
        &testdata(),
    )
    .unwrap_err();
    assert_eq!(err.key(), "tls_server_config.client_allowed_sans");
    // `RequireClientCert` is an alias kept by exporter-toolkit.
    let cfg = WebConfig::from_yaml(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireClientCert\n",
        &testdata(),
    )
    .unwrap();
    assert_eq!(
        cfg.tls.unwrap().client_auth_type,
        ClientAuthType::RequireAnyClientCert
    );
}

#[test]
fn ciphers_curves_versions() {
    assert_err(
        "invented_ciphers.bad.yml",
        "tls_server_config.cipher_suites",
        "unknown cipher",
    );
    assert_err(
        "unsupported_ciphers_only.bad.yml",
        "tls_server_config.cipher_suites",
        "no TLS 1.2 cipher suite",
    );
    assert_err(
        "invented_curves.bad.yml",
        "tls_server_config.curve_preferences",
        "unknown curve",
    );
    assert_err(
        "p521_only.bad.yml",
        "tls_server_config.curve_preferences",
        "no curve",
    );
    assert_err(
        "wrong_tls_version.bad.yml",
        "tls_server_config.min_version",
        "unknown TLS version",
    );
    assert_err(
        "max_tls11.bad.yml",
        "tls_server_config.max_version",
        "TLS11",
    );
    assert_err(
        "min_above_max.bad.yml",
        "tls_server_config.min_version",
        "above max_version",
    );
    assert_err(
        "no_http2_cipher.bad.yml",
        "tls_server_config.cipher_suites",
        "HTTP/2",
    );
    // TLS10/TLS11 as a minimum mean TLS 1.2.
    let cfg = WebConfig::from_yaml(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS10\n",
        &testdata(),
    )
    .unwrap();
    assert_eq!(cfg.tls.unwrap().min_version, TlsVersion::Tls12);
}

#[test]
fn users_and_headers() {
    assert_err(
        "user_list_invalid.bad.yml",
        "basic_auth_users.john",
        "hashedSecret too short to be a bcrypted password",
    );
    assert_err(
        "user_hash_non_ascii.bad.yml",
        "basic_auth_users.john",
        "non-ASCII",
    );
    assert_err(
        "headers_extra_header.bad.yml",
        "http_server_config.headers.Content-Type",
        "can not be configured",
    );
    assert_err(
        "headers_frame_options.bad.yml",
        "http_server_config.headers.X-Frame-Options",
        "invalid value for",
    );
    assert_err(
        "headers_content_type_options.bad.yml",
        "http_server_config.headers.X-Content-Type-Options",
        "invalid value for",
    );
    assert_err(
        "headers_bad_value.bad.yml",
        "http_server_config.headers.Content-Security-Policy",
        "not a valid HTTP header value",
    );
    // Header names are matched exactly, as in exporter-toolkit.
    let err = WebConfig::from_yaml(
        "http_server_config:\n  headers:\n    x-frame-options: deny\n",
        Path::new("."),
    )
    .unwrap_err();
    assert_eq!(err.key(), "http_server_config.headers.x-frame-options");
}

#[test]
fn rate_limit_values() {
    assert_err(
        "rate_limit_bad_interval.bad.yml",
        "rate_limit.interval",
        "invalid duration",
    );
    let parse = |s: &str| WebConfig::from_yaml(s, Path::new(".")).map(|c| c.rate_limit);
    assert_eq!(
        parse("rate_limit:\n  interval: 250ms\n  burst: 3\n").unwrap(),
        Some(RateLimitConfig {
            interval: Duration::from_millis(250),
            burst: 3
        })
    );
    // An integer is nanoseconds (Go's time.Duration).
    assert_eq!(
        parse("rate_limit:\n  interval: 1000000000\n").unwrap(),
        Some(RateLimitConfig {
            interval: Duration::from_secs(1),
            burst: 0
        })
    );
    assert_eq!(parse("rate_limit:\n  interval: \"0\"\n").unwrap(), None);
    assert_eq!(
        parse("rate_limit:\n  interval: 1s\n  burst: -1\n")
            .unwrap_err()
            .key(),
        "rate_limit.burst"
    );
    assert_eq!(
        parse("rate_limit:\n  interval: -1s\n").unwrap_err().key(),
        "rate_limit.interval"
    );
    let cfg = WebConfig {
        rate_limit: Some(RateLimitConfig {
            interval: Duration::ZERO,
            burst: 1,
        }),
        ..Default::default()
    };
    assert_eq!(cfg.validate().unwrap_err().key(), "rate_limit.interval");
}

#[test]
fn go_durations() {
    use super::raw::parse_go_duration as p;
    assert_eq!(p("0"), Ok(Duration::ZERO));
    assert_eq!(p("1s"), Ok(Duration::from_secs(1)));
    assert_eq!(p("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(p("1.5h"), Ok(Duration::from_secs(5400)));
    assert_eq!(p("2h45m"), Ok(Duration::from_secs(9900)));
    assert_eq!(p("100ms"), Ok(Duration::from_millis(100)));
    assert_eq!(p("10us"), Ok(Duration::from_micros(10)));
    assert_eq!(p("10\u{b5}s"), Ok(Duration::from_micros(10)));
    assert_eq!(p("7ns"), Ok(Duration::from_nanos(7)));
    assert_eq!(p("+5s"), Ok(Duration::from_secs(5)));
    for bad in ["", "1", "s", "1x", "1..5s", ".s", "-1s", "1s2", "1 s"] {
        assert!(p(bad).is_err(), "{bad:?} should fail");
    }
}

#[test]
fn validate_configs_built_in_code() {
    let mut cfg = WebConfig::default();
    cfg.validate().unwrap();
    cfg.tls = Some(TlsServerConfig {
        cert_file: Some(testdata().join("server.pem")),
        key_file: Some(testdata().join("server.key")),
        ..Default::default()
    });
    cfg.validate().unwrap();
    let tls = cfg.tls.as_mut().unwrap();
    tls.cert = Some("inline".into());
    assert_eq!(cfg.validate().unwrap_err().key(), "tls_server_config.cert");
    let tls = cfg.tls.as_mut().unwrap();
    tls.cert = None;
    tls.client_auth_type = ClientAuthType::RequireAndVerifyClientCert;
    assert_eq!(
        cfg.validate().unwrap_err().key(),
        "tls_server_config.client_ca_file"
    );
    let tls = cfg.tls.as_mut().unwrap();
    tls.client_ca_file = Some(testdata().join("ca.pem"));
    tls.client_ca = Some("x".into());
    assert_eq!(
        cfg.validate().unwrap_err().key(),
        "tls_server_config.client_ca"
    );
    cfg.tls.as_mut().unwrap().client_ca = None;
    cfg.validate().unwrap();
    cfg.basic_auth_users.insert("x".into(), "nope".into());
    assert_eq!(cfg.validate().unwrap_err().key(), "basic_auth_users.x");
    cfg.basic_auth_users.clear();
    cfg.http.headers.insert("Server".into(), "x".into());
    assert_eq!(
        cfg.validate().unwrap_err().key(),
        "http_server_config.headers.Server"
    );
}

#[test]
fn error_display() {
    let err = load_err("cert_path_invalid.bad.yml");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!(
            "{}: tls_server_config.cert_file: {}: ",
            testdata().join("cert_path_invalid.bad.yml").display(),
            testdata().join("somefile").display()
        )),
        "{shown}"
    );
    let err: Box<dyn std::error::Error> = Box::new(err);
    assert!(err.source().is_none());
}

// ---------------------------------------------------------------------------------
// bcrypt costs, duplicate entries and extreme values.

/// A well-formed bcrypt hash (of "pw") whose cost field says `cost`. Made at cost 4 and
/// relabelled, so that no test pays for a high cost; a check that computed bcrypt at
/// the stated cost before refusing it would hang instead of passing.
fn hash_with_cost(cost: u32) -> String {
    let hash = bcrypt::hash("pw", 4).unwrap();
    hash.replacen("$04$", &format!("${cost:02}$"), 1)
}

fn users_yaml(users: &[(&str, &str)]) -> String {
    let mut yaml = String::from("basic_auth_users:\n");
    for (user, hash) in users {
        yaml.push_str(&format!("  {user}: {hash}\n"));
    }
    yaml
}

#[track_caller]
fn assert_cost_refused(err: &WebConfigError, user: &str, cost: u32) {
    assert_eq!(err.key(), format!("basic_auth_users.{user}"), "{err}");
    assert!(
        err.message().contains(&format!("bcrypt cost {cost} ")),
        "{err}"
    );
    let shown = err.to_string();
    assert!(
        shown.contains(user) && shown.contains(&cost.to_string()),
        "{shown}"
    );
}

#[test]
fn bcrypt_cost_31_is_refused_without_hashing() {
    // The bug report: `$2y$31$…` passed validation, then building the checker spent
    // ~42 hours on the dummy hash. Every entry point must refuse it first.
    let hash = hash_with_cost(31).replacen("$2b$", "$2y$", 1);
    let yaml = users_yaml(&[("alice", &hash)]);
    let err = WebConfig::from_yaml(&yaml, Path::new(".")).unwrap_err();
    assert_cost_refused(&err, "alice", 31);
    assert!(
        err.message()
            .contains(&format!("maximum of {MAX_BCRYPT_COST}")),
        "{err}"
    );

    let cfg = WebConfig {
        basic_auth_users: [("alice".to_string(), hash.clone())].into(),
        ..Default::default()
    };
    assert_cost_refused(&cfg.validate().unwrap_err(), "alice", 31);
    // The checker's constructors refuse it before making the dummy hash.
    assert_cost_refused(&cfg.basic_auth().unwrap_err(), "alice", 31);
    assert_cost_refused(
        &BasicAuth::new(&cfg.basic_auth_users).unwrap_err(),
        "alice",
        31,
    );
    // One bad user among good ones is enough, whatever the most common cost.
    let good = hash_with_cost(4);
    let users: std::collections::BTreeMap<String, String> = [
        ("a".to_string(), good.clone()),
        ("b".to_string(), good.clone()),
        ("zed".to_string(), hash),
    ]
    .into();
    assert_cost_refused(&BasicAuth::new(&users).unwrap_err(), "zed", 31);
}

#[test]
fn bcrypt_costs_above_the_maximum_are_refused() {
    assert_eq!(MAX_BCRYPT_COST, 14);
    for cost in [MAX_BCRYPT_COST + 1, 20, 30, 31, 32, 99] {
        let yaml = users_yaml(&[("bob", &hash_with_cost(cost))]);
        let err = WebConfig::from_yaml(&yaml, Path::new(".")).unwrap_err();
        assert_cost_refused(&err, "bob", cost);
    }
    // Below bcrypt's minimum.
    for cost in [0, 1, 3] {
        let yaml = users_yaml(&[("bob", &hash_with_cost(cost))]);
        let err = WebConfig::from_yaml(&yaml, Path::new(".")).unwrap_err();
        assert_cost_refused(&err, "bob", cost);
        assert!(
            err.message()
                .contains(&format!("minimum of {MIN_BCRYPT_COST}")),
            "{err}"
        );
    }
}

#[test]
fn bcrypt_costs_in_use_are_accepted() {
    for cost in [MIN_BCRYPT_COST, 10, 11, 12, MAX_BCRYPT_COST] {
        let hash = hash_with_cost(cost);
        let cfg = WebConfig::from_yaml(&users_yaml(&[("carol", &hash)]), Path::new("."))
            .unwrap_or_else(|e| panic!("cost {cost}: {e}"));
        assert_eq!(cfg.basic_auth_users["carol"], hash);
        cfg.validate().unwrap();
    }
    // A real hash at cost 10 (exporter-toolkit's documented example) verifies.
    let yaml = "basic_auth_users:\n  prometheus: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG\n";
    WebConfig::from_yaml(yaml, Path::new(".")).unwrap();
}

#[test]
fn bcrypt_cost_31_in_a_file_is_refused() {
    let dir = TempDir::new();
    let path = dir.0.join("web-config.yml");
    let hash = hash_with_cost(31).replacen("$2b$", "$2y$", 1);
    std::fs::write(&path, users_yaml(&[("prometheus", &hash)])).unwrap();
    let err = WebConfig::from_file(&path).unwrap_err();
    assert_cost_refused(&err, "prometheus", 31);
    assert_eq!(err.file(), Some(path.as_path()));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!(
            "{}: basic_auth_users.prometheus: bcrypt cost 31 ",
            path.display()
        )),
        "{shown}"
    );
    // The hash itself is never part of the error.
    assert!(!shown.contains(&hash[7..]), "{shown}");
}

#[test]
fn duplicate_users_are_refused() {
    let (h1, h2) = (hash_with_cost(4), hash_with_cost(5));
    let yaml = users_yaml(&[("alice", &h1), ("bob", &h1), ("alice", &h2)]);
    let err = WebConfig::from_yaml(&yaml, Path::new(".")).unwrap_err();
    assert_eq!(err.key(), "basic_auth_users.alice", "{err}");
    assert!(err.message().contains("more than once"), "{err}");
    // Even with the same hash twice.
    let yaml = users_yaml(&[("alice", &h1), ("alice", &h1)]);
    let err = WebConfig::from_yaml(&yaml, Path::new(".")).unwrap_err();
    assert_eq!(err.key(), "basic_auth_users.alice", "{err}");
    // `123` and `"123"` are the same user name (Go reads both as the string "123").
    let yaml = users_yaml(&[("123", &h1), ("\"123\"", &h2)]);
    let err = WebConfig::from_yaml(&yaml, Path::new(".")).unwrap_err();
    assert_eq!(err.key(), "basic_auth_users.123", "{err}");
    // In a file too.
    let dir = TempDir::new();
    let path = dir.0.join("web-config.yml");
    std::fs::write(&path, users_yaml(&[("alice", &h1), ("alice", &h2)])).unwrap();
    let err = WebConfig::from_file(&path).unwrap_err();
    assert_eq!(err.key(), "basic_auth_users.alice", "{err}");
    assert_eq!(err.file(), Some(path.as_path()));
    // Distinct users (case matters) are fine.
    let yaml = users_yaml(&[("alice", &h1), ("Alice", &h2)]);
    let cfg = WebConfig::from_yaml(&yaml, Path::new(".")).unwrap();
    assert_eq!(cfg.basic_auth_users.len(), 2);
}

#[test]
fn duplicate_headers_are_refused() {
    let yaml = "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Frame-Options: sameorigin\n";
    let err = WebConfig::from_yaml(yaml, Path::new(".")).unwrap_err();
    assert_eq!(
        err.key(),
        "http_server_config.headers.X-Frame-Options",
        "{err}"
    );
    assert!(err.message().contains("more than once"), "{err}");
}

#[test]
fn rate_limit_interval_is_bounded() {
    let parse = |s: &str| WebConfig::from_yaml(s, Path::new(".")).map(|c| c.rate_limit);
    // Go's largest duration (i64::MAX nanoseconds, about 292 years) is accepted.
    let go_max = Duration::from_nanos(i64::MAX as u64);
    assert_eq!(
        parse(&format!(
            "rate_limit:\n  interval: {}\n  burst: 1\n",
            i64::MAX
        ))
        .unwrap(),
        Some(RateLimitConfig {
            interval: go_max,
            burst: 1
        })
    );
    assert_eq!(
        parse("rate_limit:\n  interval: 2562047h\n")
            .unwrap()
            .unwrap()
            .interval,
        Duration::from_secs(2_562_047 * 3600)
    );
    // Longer ones are errors, not wrapped, saturated or panicking.
    for interval in [
        (i64::MAX as u64 + 1).to_string(),
        u64::MAX.to_string(),
        "2562048h".to_string(),
        "100000000000h".to_string(),
        format!("{}s", "9".repeat(400)),
        format!("{}.5h", "9".repeat(30)),
    ] {
        let err = parse(&format!("rate_limit:\n  interval: {interval}\n")).unwrap_err();
        assert_eq!(err.key(), "rate_limit.interval", "{interval}: {err}");
    }
    // Configurations built in code are checked too.
    for interval in [go_max + Duration::from_nanos(1), Duration::MAX] {
        let cfg = WebConfig {
            rate_limit: Some(RateLimitConfig { interval, burst: 1 }),
            ..Default::default()
        };
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.key(), "rate_limit.interval", "{err}");
        assert!(err.message().contains("292"), "{err}");
    }
    // The smallest interval and the largest burst are fine.
    assert_eq!(
        parse(&format!(
            "rate_limit:\n  interval: 1ns\n  burst: {}\n",
            u32::MAX
        ))
        .unwrap(),
        Some(RateLimitConfig {
            interval: Duration::from_nanos(1),
            burst: u32::MAX
        })
    );
    // Bursts beyond u32 (and beyond i64) are errors.
    for burst in [
        (u64::from(u32::MAX) + 1).to_string(),
        "99999999999999999999999".to_string(),
    ] {
        let err = parse(&format!("rate_limit:\n  interval: 1s\n  burst: {burst}\n")).unwrap_err();
        assert!(err.to_string().contains("burst"), "{burst}: {err}");
    }
}

// ---------------------------------------------------------------------------------
// SAN parsing.

fn der(name: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(testdata().join(name)).unwrap()
}

#[test]
fn sans_of_the_client_certificate() {
    use super::san::{subject_alt_names, San};
    let sans = subject_alt_names(der("client.pem").as_ref()).unwrap();
    assert_eq!(
        sans,
        [
            San::Dns("client.example.com".into()),
            San::Email("scraper@example.com".into()),
            San::Uri("spiffe://example.com/prometheus".into()),
            San::Ip("10.1.2.3".parse().unwrap()),
            San::Ip("2001:db8::1".parse().unwrap()),
        ]
    );
    assert!(sans[3].matches("10.1.2.3"));
    assert!(sans[4].matches("2001:db8::1"));
    assert!(sans[4].matches("2001:DB8:0:0:0:0:0:1"));
    assert!(!sans[0].matches("CLIENT.example.com"));
    assert!(!sans[0].matches("10.1.2.3"));
    // The CA has no SAN extension.
    assert_eq!(subject_alt_names(der("ca.pem").as_ref()).unwrap(), []);
}

#[test]
fn san_parser_never_panics() {
    use super::san::subject_alt_names;
    let cert = der("client.pem").as_ref().to_vec();
    // Every truncation, and every single-byte corruption at a few values.
    for len in 0..cert.len() {
        let _ = subject_alt_names(&cert[..len]);
    }
    for i in 0..cert.len() {
        for v in [0x00, 0x1f, 0x30, 0x7f, 0x80, 0x81, 0x84, 0x85, 0xa3, 0xff] {
            let mut c = cert.clone();
            c[i] = v;
            let _ = subject_alt_names(&c);
        }
    }
    assert!(subject_alt_names(&[]).is_err());
    assert!(subject_alt_names(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
}

// ---------------------------------------------------------------------------------
// TLS handshakes over loopback.

const TIMEOUT: Duration = Duration::from_secs(10);

fn tls_config(yaml_tls: &str) -> TlsServerConfig {
    WebConfig::from_yaml(&format!("tls_server_config:\n{yaml_tls}"), &testdata())
        .unwrap()
        .tls
        .unwrap()
}

/// Serves `hello` over TLS on a loopback port; each connection takes a fresh acceptor.
async fn serve(acceptor: TlsAcceptor) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(Ok(mut tls)) = tokio::time::timeout(TIMEOUT, acceptor.accept(tcp)).await {
                    let _ = tls.write_all(b"hello").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    addr
}

#[derive(Default)]
struct Client {
    versions: Option<Vec<&'static rustls::SupportedProtocolVersion>>,
    suites: Option<Vec<SupportedCipherSuite>>,
    kx: Option<Vec<&'static dyn rustls::crypto::SupportedKxGroup>>,
    cert: Option<(&'static str, &'static str)>,
    alpn: Vec<Vec<u8>>,
    max_fragment: Option<usize>,
}

#[derive(Debug)]
struct Outcome {
    alpn: Option<Vec<u8>>,
    suite: rustls::CipherSuite,
    version: rustls::ProtocolVersion,
    server_cert: CertificateDer<'static>,
}

impl Client {
    fn config(&self) -> ClientConfig {
        let mut provider = ring_provider::default_provider();
        if let Some(s) = &self.suites {
            provider.cipher_suites = s.clone();
        }
        if let Some(k) = &self.kx {
            provider.kx_groups = k.clone();
        }
        let versions = self
            .versions
            .clone()
            .unwrap_or_else(|| vec![&rustls::version::TLS12, &rustls::version::TLS13]);
        let mut roots = RootCertStore::empty();
        roots.add(der("ca.pem")).unwrap();
        let builder = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&versions)
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match self.cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![der(cert)],
                    PrivateKeyDer::from_pem_file(testdata().join(key)).unwrap(),
                )
                .unwrap(),
        };
        config.alpn_protocols = self.alpn.clone();
        config.max_fragment_size = self.max_fragment;
        config
    }

    /// Handshakes and reads the whole answer; any failure is an `Err`.
    async fn connect(&self, addr: std::net::SocketAddr) -> Result<Outcome, String> {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(self.config()));
        let work = async {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let mut tls = connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            let mut body = Vec::new();
            tls.read_to_end(&mut body)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if body != b"hello" {
                return Err(format!("unexpected body {body:?}"));
            }
            let (_, conn) = tls.get_ref();
            Ok(Outcome {
                alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
                suite: conn.negotiated_cipher_suite().unwrap().suite(),
                version: conn.protocol_version().unwrap(),
                server_cert: conn.peer_certificates().unwrap()[0].clone().into_owned(),
            })
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .map_err(|_| "timed out".to_string())?
    }
}

const BASIC: &str = "  cert_file: server.pem\n  key_file: server.key\n";
const GOOD_CLIENT: Option<(&str, &str)> = Some(("client.pem", "client.key"));
const OTHER_CLIENT: Option<(&str, &str)> = Some(("other_client.pem", "other_client.key"));

#[tokio::test]
async fn tls_handshake_and_alpn() {
    let addr = serve(TlsAcceptor::new(&tls_config(BASIC)).unwrap()).await;
    let out = Client::default().connect(addr).await.unwrap();
    assert_eq!(out.version, rustls::ProtocolVersion::TLSv1_3);
    assert_eq!(out.server_cert, der("server.pem"));
    let out = Client {
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ..Default::default()
    }
    .connect(addr)
    .await
    .unwrap();
    assert_eq!(out.alpn.as_deref(), Some(&b"h2"[..]));

    // http2: false offers only http/1.1.
    let acceptor = TlsAcceptor::builder(&tls_config(BASIC))
        .http2(false)
        .build()
        .unwrap();
    let addr = serve(acceptor).await;
    let out = Client {
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ..Default::default()
    }
    .connect(addr)
    .await
    .unwrap();
    assert_eq!(out.alpn.as_deref(), Some(&b"http/1.1"[..]));
    // A client that speaks only h2 cannot agree on a protocol.
    let err = Client {
        alpn: vec![b"h2".to_vec()],
        ..Default::default()
    }
    .connect(addr)
    .await
    .unwrap_err();
    assert!(err.contains("handshake"), "{err}");
}

#[tokio::test]
async fn tls_plain_http_client_is_refused() {
    let addr = serve(TlsAcceptor::new(&tls_config(BASIC)).unwrap()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, tcp.read_to_end(&mut buf))
        .await
        .expect("the server closes the connection");
    assert!(!buf.starts_with(b"HTTP/"), "{buf:?}");
}

#[tokio::test]
async fn tls_versions() {
    let tls12_only = Client {
        versions: Some(vec![&rustls::version::TLS12]),
        ..Default::default()
    };
    let tls13_only = Client {
        versions: Some(vec![&rustls::version::TLS13]),
        ..Default::default()
    };
    // Default: both work.
    let addr = serve(TlsAcceptor::new(&tls_config(BASIC)).unwrap()).await;
    assert_eq!(
        tls12_only.connect(addr).await.unwrap().version,
        rustls::ProtocolVersion::TLSv1_2
    );
    // min TLS13: a TLS 1.2 client fails.
    let addr =
        serve(TlsAcceptor::new(&tls_config(&format!("{BASIC}  min_version: TLS13\n"))).unwrap())
            .await;
    let err = tls12_only.connect(addr).await.unwrap_err();
    assert!(err.contains("handshake"), "{err}");
    assert!(tls13_only.connect(addr).await.is_ok());
    // max TLS12: a TLS 1.3-only client fails.
    let addr =
        serve(TlsAcceptor::new(&tls_config(&format!("{BASIC}  max_version: TLS12\n"))).unwrap())
            .await;
    assert!(tls13_only.connect(addr).await.is_err());
    assert!(tls12_only.connect(addr).await.is_ok());
}

#[tokio::test]
async fn tls_cipher_suites() {
    use ring_provider::cipher_suite as cs;
    let some_ciphers = "  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  min_version: TLS12\n  max_version: TLS12\n";
    let client = |suites: Vec<SupportedCipherSuite>| Client {
        versions: Some(vec![&rustls::version::TLS12]),
        suites: Some(suites),
        ..Default::default()
    };
    let addr =
        serve(TlsAcceptor::new(&tls_config(&format!("{BASIC}{some_ciphers}"))).unwrap()).await;
    // One common suite.
    let out = client(vec![cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256])
        .connect(addr)
        .await
        .unwrap();
    assert_eq!(
        out.suite,
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    );
    // No common suite.
    assert!(
        client(vec![cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256])
            .connect(addr)
            .await
            .is_err()
    );
    // Both offered, client prefers AES-256: the server's order wins by default.
    let both = || {
        client(vec![
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ])
    };
    assert_eq!(
        both().connect(addr).await.unwrap().suite,
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    );
    // prefer_server_cipher_suites: false lets the client choose.
    let addr = serve(
        TlsAcceptor::new(&tls_config(&format!(
            "{BASIC}{some_ciphers}  prefer_server_cipher_suites: false\n"
        )))
        .unwrap(),
    )
    .await;
    assert_eq!(
        both().connect(addr).await.unwrap().suite,
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    );
    // TLS 1.3 is not restricted by cipher_suites (as in Go).
    let addr = serve(
        TlsAcceptor::new(&tls_config(&format!(
            "{BASIC}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n"
        )))
        .unwrap(),
    )
    .await;
    let out = Client {
        suites: Some(vec![cs::TLS13_CHACHA20_POLY1305_SHA256]),
        ..Default::default()
    }
    .connect(addr)
    .await
    .unwrap();
    assert_eq!(
        out.suite,
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
    );
}

#[tokio::test]
async fn tls_curves() {
    use ring_provider::kx_group;
    let addr = serve(
        TlsAcceptor::new(&tls_config(&format!(
            "{BASIC}  curve_preferences: [X25519]\n"
        )))
        .unwrap(),
    )
    .await;
    for versions in [vec![&rustls::version::TLS12], vec![&rustls::version::TLS13]] {
        let client = |kx: Vec<&'static dyn rustls::crypto::SupportedKxGroup>| Client {
            versions: Some(versions.clone()),
            kx: Some(kx),
            ..Default::default()
        };
        assert!(client(vec![kx_group::SECP384R1])
            .connect(addr)
            .await
            .is_err());
        assert!(client(vec![kx_group::SECP384R1, kx_group::X25519])
            .connect(addr)
            .await
            .is_ok());
    }
}

#[tokio::test]
async fn mtls_require_and_verify() {
    let cfg = tls_config(&format!(
        "{BASIC}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"
    ));
    let addr = serve(TlsAcceptor::new(&cfg).unwrap()).await;
    // No certificate: the server aborts (with TLS 1.3 the client sees it on first read).
    for versions in [vec![&rustls::version::TLS12], vec![&rustls::version::TLS13]] {
        let err = Client {
            versions: Some(versions.clone()),
            ..Default::default()
        }
        .connect(addr)
        .await
        .unwrap_err();
        assert!(err.to_lowercase().contains("certificate"), "{err}");
        // A certificate from another CA.
        let err = Client {
            versions: Some(versions.clone()),
            cert: OTHER_CLIENT,
            ..Default::default()
        }
        .connect(addr)
        .await
        .unwrap_err();
        assert!(err.contains("UnknownCA") || err.contains("nknown"), "{err}");
        // The right certificate.
        Client {
            versions: Some(versions),
            cert: GOOD_CLIENT,
            ..Default::default()
        }
        .connect(addr)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn mtls_allowed_sans() {
    let with_sans = |sans: &str| {
        tls_config(&format!(
            "{BASIC}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: {sans}\n"
        ))
    };
    let good = Client {
        cert: GOOD_CLIENT,
        ..Default::default()
    };
    // None of the client's SANs is allowed.
    let addr = serve(TlsAcceptor::new(&with_sans("[bad, client.example.org]")).unwrap()).await;
    let err = good.connect(addr).await.unwrap_err();
    assert!(err.contains("read") || err.contains("handshake"), "{err}");
    // Each kind of SAN can match.
    for allowed in [
        "[one, client.example.com, two]",
        "[scraper@example.com]",
        "[\"spiffe://example.com/prometheus\"]",
        "[\"10.1.2.3\"]",
        "[\"2001:db8::1\"]",
    ] {
        let addr = serve(TlsAcceptor::new(&with_sans(allowed)).unwrap()).await;
        good.connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{allowed}: {e}"));
    }
    // With the SAN check, the chain is still verified.
    let addr = serve(TlsAcceptor::new(&with_sans("[client.example.com]")).unwrap()).await;
    assert!(Client {
        cert: OTHER_CLIENT,
        ..Default::default()
    }
    .connect(addr)
    .await
    .is_err());
}

#[tokio::test]
async fn mtls_weaker_policies() {
    let policy = |p: &str| {
        tls_config(&format!(
            "{BASIC}  client_auth_type: {p}\n  client_ca_file: ca.pem\n"
        ))
    };
    let none = Client::default();
    let good = Client {
        cert: GOOD_CLIENT,
        ..Default::default()
    };
    let other = Client {
        cert: OTHER_CLIENT,
        ..Default::default()
    };

    let addr = serve(TlsAcceptor::new(&policy("RequireAnyClientCert")).unwrap()).await;
    assert!(none.connect(addr).await.is_err());
    other.connect(addr).await.unwrap(); // not verified, as in Go
    good.connect(addr).await.unwrap();

    let addr = serve(TlsAcceptor::new(&policy("RequestClientCert")).unwrap()).await;
    none.connect(addr).await.unwrap();
    other.connect(addr).await.unwrap();

    let addr = serve(TlsAcceptor::new(&policy("VerifyClientCertIfGiven")).unwrap()).await;
    none.connect(addr).await.unwrap();
    good.connect(addr).await.unwrap();
    assert!(other.connect(addr).await.is_err());

    // RequireAnyClientCert with SANs: the SANs are still enforced.
    let cfg = tls_config(&format!(
        "{BASIC}  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [nobody]\n"
    ));
    let addr = serve(TlsAcceptor::new(&cfg).unwrap()).await;
    assert!(good.connect(addr).await.is_err());
}

#[tokio::test]
async fn tls_fragmented_client_hello_and_garbage() {
    let addr = serve(TlsAcceptor::new(&tls_config(BASIC)).unwrap()).await;
    // A ClientHello split over many small records (RUSTSEC-2024-0399).
    Client {
        max_fragment: Some(64),
        ..Default::default()
    }
    .connect(addr)
    .await
    .unwrap();
    // Garbage and a truncated hello: the server drops the connection and keeps going.
    for junk in [
        &b"\x16\x03\x01\x00\x05hello"[..],
        &[0u8; 64][..],
        &b"\x16\x03\x01\xff\xff"[..],
    ] {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(junk).await.unwrap();
        let _ = tcp.shutdown().await;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(TIMEOUT, tcp.read_to_end(&mut buf)).await;
    }
    Client::default().connect(addr).await.unwrap();
}

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "promhttp-web-config-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Replaces `name` atomically with the contents of the fixture `from`.
    fn put(&self, name: &str, from: &str) {
        let tmp = self.0.join(format!(".{name}.tmp"));
        std::fs::copy(testdata().join(from), &tmp).unwrap();
        std::fs::rename(&tmp, self.0.join(name)).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn certificate_hot_reload() {
    let dir = TempDir::new();
    dir.put("tls.crt", "server.pem");
    dir.put("tls.key", "server.key");
    std::fs::write(
        dir.0.join("web.yml"),
        "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n",
    )
    .unwrap();
    let cfg = WebConfig::from_file(&dir.0.join("web.yml")).unwrap();
    let acceptor = cfg.tls_acceptor().unwrap().unwrap();
    let addr = serve(acceptor.clone()).await;
    let client = Client::default();
    assert_eq!(
        client.connect(addr).await.unwrap().server_cert,
        der("server.pem")
    );
    assert!(!acceptor.reload().unwrap(), "nothing changed yet");

    // Rotate (certificate first, then key: in between, they do not match).
    dir.put("tls.crt", "server2.pem");
    let err = acceptor.reload().unwrap_err();
    assert_eq!(err.key(), "tls_server_config.key_file");
    // The last good configuration is still served.
    assert_eq!(
        client.connect(addr).await.unwrap().server_cert,
        der("server.pem")
    );
    dir.put("tls.key", "server2.key");
    // The next connection sees the new certificate.
    assert_eq!(
        client.connect(addr).await.unwrap().server_cert,
        der("server2.pem")
    );

    // A broken file keeps the last good configuration.
    std::fs::write(dir.0.join("tls.crt"), "garbage").unwrap();
    assert_eq!(
        client.connect(addr).await.unwrap().server_cert,
        der("server2.pem")
    );
    assert!(acceptor.reload().is_ok(), "no change since the failure");
    // A deleted file too.
    std::fs::remove_file(dir.0.join("tls.crt")).unwrap();
    assert!(acceptor.reload().is_err());
    assert_eq!(
        client.connect(addr).await.unwrap().server_cert,
        der("server2.pem")
    );
    // Restored in place (no rename): picked up.
    std::fs::copy(testdata().join("server.pem"), dir.0.join("tls.crt")).unwrap();
    std::fs::copy(testdata().join("server.key"), dir.0.join("tls.key")).unwrap();
    assert_eq!(
        client.connect(addr).await.unwrap().server_cert,
        der("server.pem")
    );
}

#[tokio::test]
async fn client_ca_hot_reload() {
    let dir = TempDir::new();
    dir.put("ca.pem", "other_ca.pem");
    let mut cfg = tls_config(&format!(
        "{BASIC}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"
    ));
    cfg.client_ca_file = Some(dir.0.join("ca.pem"));
    let acceptor = TlsAcceptor::builder(&cfg)
        .reload_interval(Duration::from_millis(1))
        .build()
        .unwrap();
    let addr = serve(acceptor).await;
    let good = Client {
        cert: GOOD_CLIENT,
        ..Default::default()
    };
    assert!(good.connect(addr).await.is_err());
    dir.put("ca.pem", "ca.pem");
    // Real time: the acceptor's reload interval (1 ms) runs on std's clock.
    tokio::time::sleep(Duration::from_millis(5)).await;
    good.connect(addr).await.unwrap();
}

#[tokio::test]
async fn reload_interval_limits_checks() {
    let dir = TempDir::new();
    dir.put("tls.crt", "server.pem");
    dir.put("tls.key", "server.key");
    let cfg = TlsServerConfig {
        cert_file: Some(dir.0.join("tls.crt")),
        key_file: Some(dir.0.join("tls.key")),
        ..Default::default()
    };
    let acceptor = TlsAcceptor::builder(&cfg)
        .reload_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let addr = serve(acceptor.clone()).await;
    dir.put("tls.crt", "server2.pem");
    dir.put("tls.key", "server2.key");
    let client = Client::default();
    // Not checked yet: still the first certificate.
    assert_eq!(
        client.connect(addr).await.unwrap().server_cert,
        der("server.pem")
    );
    // A forced check picks it up.
    assert!(acceptor.reload().unwrap());
    assert_eq!(
        client.connect(addr).await.unwrap().server_cert,
        der("server2.pem")
    );
}

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<TlsAcceptor>();
    check::<BasicAuth>();
    check::<WebConfig>();
    check::<WebConfigError>();
}

#[test]
fn http2_cipher_rule_applies_to_the_builder_too() {
    let yaml = format!(
        "tls_server_config:\n{BASIC}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\nhttp_server_config:\n  http2: false\n"
    );
    let web = WebConfig::from_yaml(&yaml, &testdata()).unwrap();
    assert!(web.tls_acceptor().unwrap().is_some());
    let cfg = web.tls.unwrap();
    let err = TlsAcceptor::new(&cfg).unwrap_err();
    assert_eq!(err.key(), "tls_server_config.cipher_suites");
    TlsAcceptor::builder(&cfg).http2(false).build().unwrap();
}

#[test]
fn check_async_future_is_send() {
    fn send<T: Send>(_: &T) {}
    let auth = BasicAuth::new(&Default::default()).unwrap();
    let header = http::HeaderValue::from_static("Basic Og==");
    let fut = auth.check_async(Some(&header));
    send(&fut);
    let acceptor = TlsAcceptor::new(&tls_config(BASIC)).unwrap();
    let fut = acceptor.accept(tokio::io::empty());
    send(&fut);
}
