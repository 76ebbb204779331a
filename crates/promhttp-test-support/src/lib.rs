//! Helpers shared by the integration tests of the workspace's crates (a
//! dev-dependency: `use promhttp_test_support as support;`). Not published.
//!
//! # Tests that need an external program
//!
//! Some tests talk to real programs: `prometheus`, `promtool`,
//! `prometheus-pushgateway`, `victoria-metrics`, `curl`
//! (`scripts/install-test-deps.sh` installs them). Such a test is marked
//!
//! ```text
//! #[ignore = "needs prometheus, curl: run scripts/install-test-deps.sh"]
//! ```
//!
//! so a plain `cargo test` lists it as ignored, with the reason, instead of
//! reporting an "ok" for a test that checked nothing. `scripts/test.sh` reads the
//! program names from these attributes and runs the ignored tests (`--ignored`)
//! under `CI=true`, or when every program named is installed; otherwise it prints
//! one loud line naming the missing programs. An ignored test runs only when asked,
//! so inside it [`require_tool`] (and everything built on it: [`Prometheus`],
//! [`promtool_check_metrics`]) panics, with the install hint, when the program is
//! missing. Keep the attribute's format (`needs <program>[, <program>...]: ...`):
//! `scripts/test.sh` parses it.
//!
//! # Waiting
//!
//! A test that waits for an effect polls for it with a deadline ([`wait_until`],
//! [`eventually`], [`wait_until_blocking`]), or waits for a readiness signal,
//! instead of sleeping and hoping. A sleep that stays says why real time must pass:
//! a window in which something must *not* happen, an attacker's or a client's pace,
//! a stand-in for slow work, or a clock the test cannot pause (std `Instant`, another
//! process). Code under test that runs on Tokio's clock alone, without real I/O,
//! is tested under `tokio::time::pause()` instead.
//!
//! Everything here listens on and talks to 127.0.0.1 only, and every wait is
//! bounded.
//!
//! # What is here
//!
//! - finding external programs: [`find_tool`], [`require_tool`]; ports and
//!   directories: [`free_port`], [`unique_temp_dir`], [`file_tail`];
//! - a real Prometheus server scraping one target ([`Prometheus`]), with its own
//!   port and temporary directory, killed and removed on drop;
//! - an HTTP/1 client ([`http_get`]) and a test server that records every exchange
//!   ([`serve`]);
//! - `promtool check metrics` ([`promtool_check_metrics`]);
//! - bounded polling ([`wait_until`], [`eventually`], [`wait_until_blocking`]);
//! - reading a text exposition page ([`sample`]).

mod http;
mod prometheus;
mod promtool;
mod tools;
mod wait;

pub use http::{
    header_str, http_get, serve, try_http_get, url_encode, Exchange, TestServer, HTTP_TIMEOUT,
};
pub use prometheus::{
    parse_instant_result, parse_prom_float, within_a_native_bucket, Labels, Prometheus,
    PrometheusBuilder, PROMETHEUS_READY_TIMEOUT,
};
pub use promtool::promtool_check_metrics;
pub use tools::{file_tail, find_tool, free_port, require_tool, unique_temp_dir, INSTALL_HINT};
pub use wait::{eventually, wait_until, wait_until_blocking, POLL_INTERVAL};

/// The value of the first sample line of a text exposition `page` that starts
/// with `prefix` (name and labels, e.g. `"requests_total{code=\"200\"} "`);
/// `None` when there is no such line or its value is not a number.
pub fn sample(page: &str, prefix: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_reads_the_first_matching_line() {
        let page = "# TYPE a counter\na_total 3\na_total{x=\"1\"} 4 1000\nb 1.5\n";
        assert_eq!(sample(page, "a_total "), Some(3.0));
        assert_eq!(sample(page, "a_total{x=\"1\"} "), Some(4.0));
        assert_eq!(sample(page, "b "), Some(1.5));
        assert_eq!(sample(page, "c "), None);
        assert_eq!(sample("d not-a-number\n", "d "), None);
    }
}
