//! A real Prometheus 2.42 with `--enable-feature=native-histograms` scrapes native
//! histograms from the handler (it asks for protobuf) and stores them as native
//! histograms: a dual one, a native-only one with negative buckets, and an empty
//! one (stored as native too; this Prometheus would take it for native even
//! without the no-op span the encoder adds, which the golden bytes check).
#![cfg(feature = "axum")]

use promhttp_test_support as support;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use promhttp::gather::{from_fn, Gathered};
use promhttp::model::{
    Bucket, HistogramValue, Label, Metric, MetricFamily, MetricType, NativeHistogram,
};
use promhttp::MetricsHandler;
use support::{Labels, Prometheus};

fn source() -> impl promhttp::Gather {
    from_fn(|out: &mut Gathered| {
        // Schema 0: buckets 1 and 2 are (1, 2] and (2, 4]; negative bucket 0 is
        // [-1, -0.5); zero bucket of 1e-3 holding 1.
        let native = || NativeHistogram::from_counts(0, 1e-3, 1, [(1, 3), (2, 1)], [(0, 2)]);
        let classic = vec![Bucket::new(1.0, 3), Bucket::new(4.0, 7)];
        let metric = |kind: &str, h: HistogramValue| {
            Metric::new(vec![Label::new("kind", kind.to_owned())], h.into())
        };
        out.families.push(
            MetricFamily::new("scraped_native_seconds", "Native.", MetricType::Histogram)
                .with_metric(metric(
                    "dual",
                    HistogramValue::new(classic, 7, 9.5).with_native(native()),
                ))
                .with_metric(metric(
                    "native",
                    HistogramValue::new(vec![], 7, 9.5).with_native(native()),
                ))
                .with_metric(metric(
                    "empty",
                    HistogramValue::new(vec![], 0, 0.0).with_native(NativeHistogram::new(0, 0.0)),
                )),
        );
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: run scripts/install-test-deps.sh"]
async fn prometheus_stores_scraped_native_histograms() {
    let app = Router::new().route_service("/metrics", MetricsHandler::builder(source()).build());
    // Served until the end of the test (stopped on drop).
    let server = support::serve(app).await;
    let addr = server.addr;

    let prom = Prometheus::builder(addr).native_histograms().start().await;
    prom.expect_target_up(Duration::from_secs(30)).await;

    let by_kind = |r: &[(Labels, f64)]| -> BTreeMap<String, f64> {
        r.iter().map(|(l, v)| (l["kind"].clone(), *v)).collect()
    };
    let want = |dual_and_native: f64, empty: Option<f64>| {
        let mut m = BTreeMap::from([
            ("dual".to_owned(), dual_and_native),
            ("native".to_owned(), dual_and_native),
        ]);
        if let Some(e) = empty {
            m.insert("empty".to_owned(), e);
        }
        m
    };
    for (query, expected) in [
        (
            "histogram_count(scraped_native_seconds)",
            want(7.0, Some(0.0)),
        ),
        (
            "histogram_sum(scraped_native_seconds)",
            want(9.5, Some(0.0)),
        ),
        (
            "histogram_quantile(1, scraped_native_seconds)",
            want(4.0, None),
        ),
        (
            "histogram_fraction(-1, -0.5, scraped_native_seconds)",
            want(2.0 / 7.0, None),
        ),
    ] {
        let n = expected.len();
        let result = prom
            .wait_for_query(query, |r| r.len() >= n, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}\n{}", prom.log_tail(30)));
        // The empty histogram has no quantile or fraction (NaN): left out here.
        let got: BTreeMap<String, f64> = by_kind(&result)
            .into_iter()
            .filter(|(_, v)| !v.is_nan())
            .collect();
        assert_eq!(got, expected, "{query}");
    }
    // Stored as native histograms, so no classic series were made of them.
    let classic = prom
        .try_query_scalar_series("scraped_native_seconds_count")
        .await
        .unwrap();
    assert!(classic.is_empty(), "{classic:?}");
}
