//! The exporter secured by an exporter-toolkit web configuration: a real
//! Prometheus 2.42 scrapes it over HTTPS with basic auth, and with client
//! certificates; curl checks every refusal (wrong password, unknown user, missing
//! or foreign client certificate, plain HTTP on the TLS port).
#![cfg(feature = "web-config")]

use promhttp_test_support as support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use promhttp::exporter::web_config::WebConfig;
use promhttp::exporter::{Exporter, ExporterError, ExporterHandle};
use promhttp::prometheus::{IntCounter, Registry};
use support::{require_tool, Prometheus};

const USER: &str = "prometheus";
const PASSWORD: &str = "s3cret:with colon";

fn testdata(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/web_config")
        .join(file)
}

fn q(p: &Path) -> String {
    serde_json::to_string(&p.display().to_string()).unwrap()
}

async fn exporter(yaml: &str) -> ExporterHandle {
    let registry = Registry::new();
    let c = IntCounter::new("secured_total", "Served over TLS.").unwrap();
    c.inc_by(7);
    registry.register(Box::new(c)).unwrap();
    let config = WebConfig::from_yaml(yaml, &testdata("")).expect("valid web config");
    Exporter::builder(registry)
        .listen_address("127.0.0.1:0")
        .web_config(config)
        .start()
        .await
        .unwrap()
}

fn basic_auth_yaml() -> String {
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  {USER}: {hash}\n  other: {}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        bcrypt::hash("other-password", 4).unwrap()
    )
}

/// curl's HTTP status (or `Err` with its exit code when the connection failed).
fn curl(args: &[&str]) -> Result<u16, i32> {
    let curl = require_tool("curl");
    let out = Command::new(curl)
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(out.status.code().unwrap_or(-1));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs curl, prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_scrapes_over_https_with_basic_auth() {
    let h = exporter(&basic_auth_yaml()).await;
    let url = format!("https://127.0.0.1:{}/metrics", h.local_addr().port());
    let ca = testdata("ca.pem");
    let ca = ca.to_str().unwrap();
    let good = format!("{USER}:{PASSWORD}");
    assert_eq!(curl(&["--cacert", ca, "-u", &good, &url]), Ok(200));
    // Refusals: 401 for no credentials, a wrong password and an unknown user.
    assert_eq!(curl(&["--cacert", ca, &url]), Ok(401));
    assert_eq!(
        curl(&["--cacert", ca, "-u", &format!("{USER}:wrong"), &url]),
        Ok(401)
    );
    assert_eq!(
        curl(&["--cacert", ca, "-u", &format!("nobody:{PASSWORD}"), &url]),
        Ok(401)
    );
    // Plain HTTP to the TLS port gets no HTTP answer at all.
    let plain = format!("http://127.0.0.1:{}/metrics", h.local_addr().port());
    assert!(!matches!(curl(&[&plain]), Ok(200)));
    // A client that does not trust our CA refuses the handshake.
    assert!(curl(&["-u", &good, &url]).is_err());

    let prom = Prometheus::builder(h.local_addr())
        .scheme("https")
        .job_yaml(&format!(
            "tls_config: {{ca_file: {}}}",
            q(&testdata("ca.pem"))
        ))
        .job_yaml(&format!(
            "basic_auth: {{username: {USER}, password: {}}}",
            serde_json::to_string(PASSWORD).unwrap()
        ))
        .start()
        .await;
    prom.expect_target_up(Duration::from_secs(30)).await;
    let v = prom
        .wait_for_query(
            "secured_total",
            |s| s.iter().any(|(_, v)| *v == 7.0),
            Duration::from_secs(30),
        )
        .await;
    assert!(v.is_ok(), "{v:?}");
    h.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs curl, prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_scrapes_with_client_certificates() {
    let yaml = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n";
    let h = exporter(yaml).await;
    let url = format!("https://127.0.0.1:{}/metrics", h.local_addr().port());
    let p = |f: &str| testdata(f).display().to_string();
    let (ca, cert, key) = (p("ca.pem"), p("client.pem"), p("client.key"));
    assert_eq!(
        curl(&["--cacert", &ca, "--cert", &cert, "--key", &key, &url]),
        Ok(200)
    );
    // No client certificate, or one from another CA: the handshake fails.
    assert!(curl(&["--cacert", &ca, &url]).is_err());
    let (ocert, okey) = (p("other_client.pem"), p("other_client.key"));
    assert!(curl(&["--cacert", &ca, "--cert", &ocert, "--key", &okey, &url]).is_err());

    let prom = Prometheus::builder(h.local_addr())
        .scheme("https")
        .job_yaml(&format!(
            "tls_config: {{ca_file: {}, cert_file: {}, key_file: {}}}",
            q(&testdata("ca.pem")),
            q(&testdata("client.pem")),
            q(&testdata("client.key"))
        ))
        .start()
        .await;
    prom.expect_target_up(Duration::from_secs(30)).await;
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_broken_web_config_fails_at_start_naming_the_key() {
    let dir = support::unique_temp_dir("webcfg");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("web.yml");
    let start_with = |yaml: &str| {
        std::fs::write(&file, yaml).unwrap();
        Exporter::builder(Registry::new())
            .listen_address("127.0.0.1:0")
            .web_config_file(&file)
            .start()
    };
    let err = start_with("tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n")
        .await
        .expect_err("refused");
    assert!(matches!(err, ExporterError::WebConfig(_)));
    let text = err.to_string();
    assert!(text.contains("tls_server_config.cert_file"), "{text}");
    let text = start_with("basic_auth_users:\n  alice: not-a-bcrypt-hash\n")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(text.contains("basic_auth_users"), "{text}");
    let text = start_with("tls_server_config:\n  unknown_key: 1\n")
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(text.contains("unknown_key"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_web_config_file_is_read_by_start_not_by_the_setter() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = support::unique_temp_dir("webcfg-late");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("web.yml");
    // Named before it exists: the setter does not look.
    let builder = Exporter::builder(Registry::new())
        .listen_address("127.0.0.1:0")
        .web_config_file(&file);
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    std::fs::write(&file, format!("basic_auth_users:\n  {USER}: {hash}\n")).unwrap();
    let h = builder.start().await.unwrap();
    // What start() read is what serves: basic auth, over plain HTTP.
    let mut s = tokio::net::TcpStream::connect(h.local_addr())
        .await
        .unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    h.shutdown().await.unwrap();
    // And a file gone by then is an error from start(), naming it.
    std::fs::remove_file(&file).unwrap();
    let err = Exporter::builder(Registry::new())
        .listen_address("127.0.0.1:0")
        .web_config_file(&file)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, ExporterError::WebConfig(_)), "{err}");
    assert!(err.to_string().contains("web.yml"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs curl: run scripts/install-test-deps.sh"]
async fn security_headers_are_on_every_answer_including_401() {
    let h = exporter(&basic_auth_yaml()).await;
    let url = format!("https://127.0.0.1:{}/metrics", h.local_addr().port());
    let curl_bin = require_tool("curl");
    let ca = testdata("ca.pem").display().to_string();
    let out = Command::new(curl_bin)
        .args([
            "-sS",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "--max-time",
            "10",
            "--cacert",
            &ca,
            &url,
        ])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.starts_with("http/"), "{head}");
    assert!(head.contains(" 401"), "{head}");
    assert!(head.contains("www-authenticate: basic"), "{head}");
    assert!(head.contains("x-frame-options: deny"), "{head}");
    h.shutdown().await.unwrap();
}
