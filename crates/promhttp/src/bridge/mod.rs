//! Bridges: metrics kept by other Rust metrics libraries, served as [`Gather`](crate::Gather) sources.
//!
//! Each bridge is behind its own feature. A bridged source goes through the same
//! gathering checks, content negotiation and encoders as a `prometheus::Registry`,
//! and can share one page with it through [`Gatherers`](crate::Gatherers).
#[cfg(feature = "metrics-rs")]
pub mod metrics_rs;
#[cfg(feature = "opentelemetry")]
pub mod opentelemetry;
#[cfg(feature = "prometheus-client")]
pub mod prometheus_client;
