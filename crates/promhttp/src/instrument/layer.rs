//! [`InstrumentLayer`].

use tower_layer::Layer;

use super::{HttpMetrics, InstrumentService};

/// A tower layer recording requests in an [`HttpMetrics`]; made by
/// [`HttpMetrics::layer`].
#[derive(Clone, Debug)]
pub struct InstrumentLayer {
    metrics: HttpMetrics,
}

impl InstrumentLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: HttpMetrics) -> Self {
        InstrumentLayer { metrics }
    }
}

impl<S> Layer<S> for InstrumentLayer {
    type Service = InstrumentService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InstrumentService::new(inner, self.metrics.clone())
    }
}
