//! How fast the remote write sender turns samples into series and ships them: the
//! benchmark workload (`--series N`) gathered and converted in process, then
//! snapshotted every 100 ms into a receiver for `--seconds`, reporting samples per
//! second and the process's CPU per 1,000 samples (everything: gather, convert,
//! protobuf, snappy, HTTP).
//!
//! ```text
//! victoria-metrics -httpListenAddr=127.0.0.1:8428 -storageDataPath=/tmp/vm &
//! cargo run --release -p promhttp --example remote_write_throughput -- \
//!     --url http://127.0.0.1:8428/api/v1/write --series 10000 --seconds 10
//! ```

#[path = "../../promhttp-demo/src/workload.rs"]
mod workload;

use std::time::{Duration, Instant};

use promhttp::gather::gather_all;
use promhttp::prometheus::Registry;
use promhttp::push::remote_write::{to_time_series, RemoteWriter};

/// User + system CPU seconds of this process (Linux `/proc/self/stat`, 100 Hz ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

#[tokio::main]
async fn main() {
    let mut url = "http://127.0.0.1:8428/api/v1/write".to_owned();
    let mut series = 10_000usize;
    let mut seconds = 10.0f64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--url" => url = v,
            "--series" => series = v.parse().expect("--series N"),
            "--seconds" => seconds = v.parse().expect("--seconds S"),
            _ => {
                eprintln!("usage: --url URL --series N --seconds S");
                std::process::exit(2);
            }
        }
    }
    let registry = Registry::new();
    workload::register(&registry, series).expect("workload");

    // In process: gather + convert into series, per snapshot. (The protobuf and
    // snappy stages are internal to the writer; they count in the CPU figure below.)
    let page = gather_all(&registry);
    let samples = to_time_series(&page.families, &[], 0).len();
    let runs = 50;
    let started = Instant::now();
    for _ in 0..runs {
        let page = gather_all(&registry);
        assert_eq!(to_time_series(&page.families, &[], 0).len(), samples);
    }
    let per = started.elapsed() / runs;
    println!(
        "gather + convert: {samples} samples in {per:?} per snapshot ({:.1} µs per 1k samples)",
        per.as_secs_f64() * 1e6 / (samples as f64 / 1000.0)
    );

    // Shipping: snapshots every 100 ms to the receiver.
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let handle = RemoteWriter::builder(url, registry)
        .interval(Duration::from_millis(100))
        .queue_capacity(samples * 50)
        .max_batch(samples.clamp(1, 20_000))
        .start()
        .expect("remote writer");
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let metrics = handle.metrics().clone();
    let report = handle.shutdown().await;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let m = (
        metrics.samples_sent(),
        metrics.samples_failed(),
        metrics.samples_dropped(),
    );
    println!(
        "ship: {} samples sent in {elapsed:.1} s = {:.0} samples/s; failed {}, dropped {}; CPU {cpu:.2} s = {:.1} µs per 1k samples (flushed: {})",
        m.0,
        m.0 as f64 / elapsed,
        m.1,
        m.2,
        cpu * 1e6 / (m.0.max(1) as f64 / 1000.0),
        report.flushed
    );
}
