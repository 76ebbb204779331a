//! A [Pushgateway](https://github.com/prometheus/pushgateway) client, like Go's
//! `client_golang/prometheus/push`.
//!
//! A [`Pusher`] is one group on one gateway: a job name and grouping labels,
//! which become the URL path `/metrics/job/<job>{/<label>/<value>}`, and a source
//! of metrics (any [`Gather`](crate::Gather); the crate's default registry when none is given).
//!
//! | call | HTTP | what the gateway does |
//! |---|---|---|
//! | [`push`](Pusher::push) | `PUT` | replaces every metric of the group |
//! | [`add`](Pusher::add) | `POST` | replaces only the metrics with the names pushed |
//! | [`delete`](Pusher::delete) | `DELETE` | removes the group |
//!
//! Each has a `_blocking` twin for programs without a runtime, which is also
//! safe (no panic, no deadlock) inside a Tokio runtime: it then runs the request
//! on a thread of its own with its own current-thread runtime.
//! [`PeriodicPusher`] pushes on an interval and once more on shutdown,
//! optionally deleting the group afterwards.
//!
//! # Behaviour
//!
//! * **URL**: a URL without a scheme gets `http://`; trailing `/`s are trimmed; a
//!   path prefix (a gateway behind a proxy) is kept. Only `http://` is supported:
//!   `https://` is refused with [`PushError::UnsupportedScheme`] (no TLS yet).
//! * **Path encoding**: a value containing `/` is sent in the gateway's base64 form
//!   (`test/job` → `job@base64/dGVzdC9qb2I`, URL-safe base64 without padding);
//!   an empty value is `<name>@base64/=`; `.` and `..` are base64 too (so no proxy
//!   or router normalises them away); anything else is percent-encoded (all but
//!   `A-Z a-z 0-9 - _ . ~`). Grouping labels keep the order they were given in.
//! * **Checks before any request**: the job must not be empty; grouping label
//!   names must be valid, not `job` and not repeated; every pushed metric that
//!   carries a `job` label or one of the grouping labels is refused
//!   ([`PushError::LabelClash`]), as are gathering errors ([`PushError::Gather`]).
//! * **Timestamps are dropped**: the Pushgateway refuses metrics with explicit
//!   timestamps, so [`timestamp`](crate::model::Metric::timestamp) is cleared from every pushed metric (logged at
//!   `debug` level with the number dropped). Created timestamps are not sent.
//! * **Format**: protobuf (varint-delimited `MetricFamily`) by default; text 0.0.4
//!   with [`PusherBuilder::format`] and [`PushFormat::Text`]. OpenMetrics, which the
//!   gateway cannot parse, is not a [`PushFormat`]. **Native histograms** go in
//!   protobuf, which is also how a text pusher sends a push that holds one (text
//!   would keep only their classic buckets, or nothing but `_sum` and `_count` of a
//!   native-only one); [`Pusher::body_from`] tells the format of a body. The
//!   Pushgateway (1.5 tested) stores them and serves them to scrapers that ask for
//!   protobuf, as Prometheus does with native histograms enabled.
//! * **Answers**: `push` and `add` accept `200` or `202`, `delete` `202` or `200`.
//!   Anything else is [`PushError::Status`], whose text names the status, the URL
//!   and the gateway's message (its first 4 KiB, on one line: control characters,
//!   newlines included, are shown as escapes such as `\n` and `\x1b`), e.g.
//!   `unexpected status code 400 while pushing to http://…/metrics/job/x: …`.
//! * **Time limit**: every request (connect, send, answer) is bounded by
//!   [`PusherBuilder::timeout`], [`DEFAULT_PUSH_TIMEOUT`] (10 s) unless set.
//! * **Retries**: none by default. With [`PusherBuilder::retries`], a request
//!   that failed in transport, timed out or got a 5xx is sent again after a
//!   backoff (200 ms, doubling, at most 5 s); a 4xx never is (the metrics are
//!   invalid or inconsistent: sending them again cannot help). `PUT`, `POST` and
//!   `DELETE` are all idempotent on the Pushgateway. The [`PeriodicPusher`] also
//!   tries again at its next tick.
//! * Connections are not kept alive between requests (pushes are rare, and this
//!   makes a `Pusher` usable from any runtime, including the blocking calls' own).
//!
//! ```no_run
//! use std::time::Duration;
//! use promhttp::prometheus::{Histogram, HistogramOpts, IntCounter, Registry};
//! use promhttp::push::{PeriodicPusher, Pusher};
//!
//! # async fn run() -> Result<(), promhttp::push::PushError> {
//! let registry = Registry::new();
//! let rows = IntCounter::new("import_rows_total", "Rows imported.").unwrap();
//! registry.register(Box::new(rows.clone())).unwrap();
//!
//! let pusher = Pusher::builder("http://pushgateway:9091", "importer")
//!     .grouping("instance", "host-1")
//!     .grouping("path", "/srv/data") // sent as path@base64/L3Nydi9kYXRh
//!     .basic_auth("user", "secret")
//!     .timeout(Duration::from_secs(5))
//!     .gatherer(registry)
//!     .build()?;
//!
//! // Push every 15 s; on shutdown push once more, then delete the group.
//! let periodic = PeriodicPusher::builder(pusher.clone(), Duration::from_secs(15))
//!     .delete_on_shutdown(true)
//!     .start()?;
//! rows.inc_by(1000);
//! periodic.shutdown().await?;
//! # Ok(()) }
//! ```

mod blocking;
mod builder;
mod client;
mod error;
mod format;
mod method;
mod periodic;
mod url;

pub use builder::{PusherBuilder, DEFAULT_PUSH_TIMEOUT};
pub use client::Pusher;
pub use error::PushError;
pub use format::{PushBody, PushFormat};
pub use method::{Method, PeriodicMethod};
pub use periodic::{PeriodicHandle, PeriodicPusher, PeriodicPusherBuilder, PeriodicStats};
