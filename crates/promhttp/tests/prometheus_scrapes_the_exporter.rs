//! A real Prometheus 2.42 scrapes the standalone [`Exporter`]: target `up`, and the
//! value written by the scrape hook is what Prometheus stores.

use promhttp_test_support as support;

use std::time::Duration;

use promhttp::exporter::Exporter;
use promhttp::prometheus::{IntGauge, Registry};
use support::Prometheus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_scrapes_the_exporter_over_http() {
    let registry = Registry::new();
    let fresh = IntGauge::new("hook_fresh_value", "Set by the scrape hook.").unwrap();
    registry.register(Box::new(fresh.clone())).unwrap();
    let handle = Exporter::builder(registry)
        .listen_address("127.0.0.1:0")
        .on_scrape(move || {
            let fresh = fresh.clone();
            async move {
                fresh.set(4242);
                Ok::<(), String>(())
            }
        })
        .start()
        .await
        .unwrap();
    let prom = Prometheus::builder(handle.local_addr()).start().await;
    prom.expect_target_up(Duration::from_secs(30)).await;
    let series = prom
        .wait_for_query(
            "hook_fresh_value",
            |s| s.iter().any(|(_, v)| *v == 4242.0),
            Duration::from_secs(30),
        )
        .await;
    assert!(series.is_ok(), "{series:?}");
    handle.shutdown().await.unwrap();
}
