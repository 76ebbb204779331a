//! The handler's own metrics, with client_golang's names so dashboards carry over.

use std::sync::OnceLock;

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

/// The scrape handler's self-instrumentation:
///
/// | metric | meaning |
/// |---|---|
/// | `promhttp_metric_handler_requests_total{code}` | scrapes answered, by HTTP status; `200`, `500` and `503` start at 0 |
/// | `promhttp_metric_handler_requests_in_flight` | scrapes being answered now, this one included |
/// | `promhttp_metric_handler_errors_total{cause}` | `gathering` (a source failed or produced inconsistent data) and `encoding` (compression failed) |
///
/// A scrape is counted when its answer is ready, so the first scrape shows
/// `code="200"} 0`. Clones share the same metrics: register once, then hand clones
/// to every handler that should count into them.
///
/// ```
/// use promhttp::{HandlerMetrics, MetricsHandler};
/// use promhttp::prometheus::Registry;
///
/// let registry = Registry::new();
/// let metrics = HandlerMetrics::new();
/// metrics.register(&registry).unwrap();
/// let handler = MetricsHandler::builder(registry.clone()).instrument(metrics).build();
/// # let _ = handler;
/// ```
#[derive(Clone, Debug)]
pub struct HandlerMetrics {
    pub(crate) requests: IntCounterVec,
    pub(crate) in_flight: IntGauge,
    pub(crate) errors: IntCounterVec,
}

impl Default for HandlerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl HandlerMetrics {
    /// New, unregistered metrics.
    pub fn new() -> Self {
        // The names and labels are fixed and valid, so construction cannot fail.
        let requests = IntCounterVec::new(
            Opts::new(
                "promhttp_metric_handler_requests_total",
                "Total number of scrapes by HTTP status code.",
            ),
            &["code"],
        )
        .expect("static metric definition");
        let in_flight = IntGauge::new(
            "promhttp_metric_handler_requests_in_flight",
            "Current number of scrapes being served.",
        )
        .expect("static metric definition");
        let errors = IntCounterVec::new(
            Opts::new(
                "promhttp_metric_handler_errors_total",
                "Total number of internal errors encountered by the promhttp metric handler.",
            ),
            &["cause"],
        )
        .expect("static metric definition");
        for code in ["200", "500", "503"] {
            requests.with_label_values(&[code]);
        }
        for cause in ["gathering", "encoding"] {
            errors.with_label_values(&[cause]);
        }
        HandlerMetrics {
            requests,
            in_flight,
            errors,
        }
    }

    /// Registers the three metrics in `registry`.
    ///
    /// Fails (registering nothing new) when metrics of these names are already
    /// registered there, for example by another `HandlerMetrics`: share one instance
    /// with [`Clone`] instead.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.requests.clone()))?;
        if let Err(e) = registry.register(Box::new(self.in_flight.clone())) {
            let _ = registry.unregister(Box::new(self.requests.clone()));
            return Err(e);
        }
        if let Err(e) = registry.register(Box::new(self.errors.clone())) {
            let _ = registry.unregister(Box::new(self.requests.clone()));
            let _ = registry.unregister(Box::new(self.in_flight.clone()));
            return Err(e);
        }
        Ok(())
    }

    /// The instance registered in `prometheus::default_registry()`, registered on
    /// first use; every call returns a clone of the same metrics.
    ///
    /// When registration fails because someone else registered metrics of these names
    /// in the default registry, the returned metrics count but are not exposed; the
    /// failure is logged once.
    pub fn default_registry() -> HandlerMetrics {
        static DEFAULT: OnceLock<HandlerMetrics> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                let m = HandlerMetrics::new();
                if let Err(e) = m.register(prometheus::default_registry()) {
                    tracing::warn!(
                        "promhttp handler metrics not registered in the default registry: {e}"
                    );
                }
                m
            })
            .clone()
    }

    pub(crate) fn count(&self, status: http::StatusCode) {
        self.requests.with_label_values(&[status.as_str()]).inc();
    }
}

/// Decrements the in-flight gauge when the scrape ends, however it ends.
pub(crate) struct InFlight(Option<IntGauge>);

impl InFlight {
    pub(crate) fn enter(metrics: Option<&HandlerMetrics>) -> Self {
        let g = metrics.map(|m| m.in_flight.clone());
        if let Some(g) = &g {
            g.inc();
        }
        InFlight(g)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_conflict_is_an_error_and_leaves_nothing_half_registered() {
        let r = Registry::new();
        let a = HandlerMetrics::new();
        a.register(&r).unwrap();
        let b = HandlerMetrics::new();
        assert!(b.register(&r).is_err());
        // Pre-initialised series are exposed from the start.
        let text = r.gather();
        let req = text
            .iter()
            .find(|f| f.name() == "promhttp_metric_handler_requests_total")
            .unwrap();
        assert_eq!(req.metric.len(), 3);
    }
}
