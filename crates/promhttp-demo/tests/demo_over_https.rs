//! A real Prometheus 2.42 scrapes the demo service over HTTPS, once with basic
//! auth and once with client certificates, configured the way operators of Go
//! exporters do it: `--web.config.file`.

use promhttp_test_support as support;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{require_tool, Prometheus};

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn certs(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../promhttp/testdata/web_config")
        .join(file)
        .canonicalize()
        .unwrap()
}

fn q(p: &Path) -> String {
    serde_json::to_string(&p.display().to_string()).unwrap()
}

/// Starts the demo with `yaml` as its web config; waits until `curl_auth` gets 200
/// from `/-/healthy`.
async fn start_demo(yaml: &str, curl_auth: &[&str]) -> (Demo, SocketAddr, PathBuf) {
    let curl = require_tool("curl");
    let dir = support::unique_temp_dir("demo-https");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("web-config.yml");
    std::fs::write(&file, yaml).unwrap();
    let web = free_addr();
    let child = Command::new(env!("CARGO_BIN_EXE_promhttp-demo"))
        .args(["--app.listen-address", &free_addr().to_string()])
        .args(["--web.listen-address", &web.to_string()])
        .arg("--web.config.file")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let demo = Demo(child);
    let url = format!("https://127.0.0.1:{}/-/healthy", web.port());
    let ca = certs("ca.pem");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(&curl)
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
            ])
            .arg("--cacert")
            .arg(&ca)
            .args(curl_auth)
            .arg(&url)
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout) == "200" {
            return (demo, web, dir);
        }
        assert!(Instant::now() < deadline, "demo never answered over HTTPS");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs curl, prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_scrapes_the_demo_over_https_with_basic_auth() {
    let hash = bcrypt::hash("scrape-me", 4).unwrap();
    let yaml = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  prometheus: {hash}\n",
        q(&certs("server.pem")),
        q(&certs("server.key")),
    );
    let (_demo, web, dir) = start_demo(&yaml, &["-u", "prometheus:scrape-me"]).await;
    let prom = Prometheus::builder(web)
        .scheme("https")
        .job_yaml(&format!("tls_config: {{ca_file: {}}}", q(&certs("ca.pem"))))
        .job_yaml("basic_auth: {username: prometheus, password: scrape-me}")
        .start()
        .await;
    prom.expect_target_up(Duration::from_secs(30)).await;
    let r = prom
        .wait_for_query(
            "incoming_requests_total",
            |s| !s.is_empty(),
            Duration::from_secs(30),
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs curl, prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_scrapes_the_demo_with_client_certificates() {
    let yaml = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
        q(&certs("server.pem")),
        q(&certs("server.key")),
        q(&certs("ca.pem")),
    );
    let cert = certs("client.pem").display().to_string();
    let key = certs("client.key").display().to_string();
    let (_demo, web, dir) = start_demo(&yaml, &["--cert", &cert, "--key", &key]).await;
    let prom = Prometheus::builder(web)
        .scheme("https")
        .job_yaml(&format!(
            "tls_config: {{ca_file: {}, cert_file: {}, key_file: {}}}",
            q(&certs("ca.pem")),
            q(&certs("client.pem")),
            q(&certs("client.key"))
        ))
        .start()
        .await;
    prom.expect_target_up(Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_broken_web_config_stops_the_demo_at_start() {
    let dir = support::unique_temp_dir("demo-badcfg");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("web.yml");
    std::fs::write(&file, "basic_auth_users:\n  alice: plaintext-password\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_promhttp-demo"))
        .args(["--app.listen-address", &free_addr().to_string()])
        .args(["--web.listen-address", &free_addr().to_string()])
        .arg("--web.config.file")
        .arg(&file)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("basic_auth_users"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
