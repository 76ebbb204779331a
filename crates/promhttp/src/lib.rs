#![doc = include_str!("../../../README.md")]
#![warn(missing_docs)]
// Every `pub` item is part of the public API; helpers are `pub(crate)`.
#![deny(unreachable_pub)]
// docs.rs builds with every feature and shows which one each gated item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use prometheus;

#[cfg(any(
    feature = "metrics-rs",
    feature = "prometheus-client",
    feature = "opentelemetry"
))]
pub mod bridge;
// The guide's snippets use these features; docs.rs builds with all of them.
#[cfg(all(
    feature = "exporter",
    feature = "push",
    feature = "axum",
    feature = "metrics-rs",
    feature = "opentelemetry",
    feature = "warp"
))]
#[doc = include_str!("../../../docs/coming-from.md")]
pub mod coming_from {}
pub mod encode;
#[cfg(feature = "exporter")]
pub mod exporter;
pub mod gather;
mod handler;
#[cfg(feature = "instrument")]
pub mod instrument;
pub mod metrics;
pub mod model;
pub mod negotiate;
#[cfg(feature = "push")]
pub mod push;
mod signal;
#[cfg(any(feature = "exporter", feature = "remote-write"))]
mod time;
mod util;
#[cfg(feature = "warp")]
#[cfg_attr(docsrs, doc(cfg(feature = "warp")))]
pub mod warp;

pub use gather::{DefaultRegistry, Gather, GatherError, GatherErrorKind, Gathered, Gatherers};
pub use handler::{
    handler, handler_for, ErrorHandling, GzipLevel, HandlerBuilder, HandlerMetrics, LevelError,
    MetricsBody, MetricsHandler, ZstdLevel, DEFAULT_SCRAPE_TIMEOUT_OFFSET,
};
pub use signal::shutdown_signal;
