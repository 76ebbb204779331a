//! The limits every connection is held to.

use std::num::NonZeroUsize;
use std::time::Duration;

/// What one client can hold, and for how long.
#[derive(Clone, Debug)]
pub(super) struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub response_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_peer: Option<NonZeroUsize>,
    pub max_header_bytes: usize,
    pub max_unsent_bytes: usize,
    pub max_scrapes_per_connection: NonZeroUsize,
    pub http2_max_concurrent_streams: u32,
    pub drain_timeout: Duration,
}
