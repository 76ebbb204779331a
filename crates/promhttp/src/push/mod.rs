//! Sending metrics out instead of being scraped.
//!
//! * [`pushgateway`]: a Pushgateway client: [`Pusher`] pushes (`PUT`), adds
//!   (`POST`) and deletes (`DELETE`) a group; [`PeriodicPusher`] pushes on an
//!   interval and once more (optionally deleting the group) on shutdown.
//! * `remote_write` (feature `remote-write`): a Prometheus remote write 1.0 sender.
//!
//! Everything here is async on Tokio, with a time limit on every request, and
//! has blocking variants that are safe to call with or without a runtime.
//!
//! ```no_run
//! # async fn run() -> Result<(), promhttp::push::PushError> {
//! use promhttp::prometheus::{IntCounter, Registry};
//! use promhttp::push::Pusher;
//!
//! let registry = Registry::new();
//! let done = IntCounter::new("batch_jobs_done_total", "Jobs done.").unwrap();
//! registry.register(Box::new(done.clone())).unwrap();
//! done.inc();
//!
//! let pusher = Pusher::builder("127.0.0.1:9091", "nightly_batch")
//!     .grouping("instance", "db-1")
//!     .gatherer(registry)
//!     .build()?;
//! pusher.push().await?;
//! # Ok(()) }
//! ```

pub mod pushgateway;
#[cfg(feature = "remote-write")]
pub mod remote_write;

pub use pushgateway::{
    Method, PeriodicHandle, PeriodicPusher, PeriodicStats, PushError, Pusher, PusherBuilder,
    DEFAULT_TIMEOUT,
};
