//! Metrics read at scrape time: [`GaugeFunc`], [`CounterFunc`], and the [`Info`] metric.

use std::sync::Arc;

use super::opts::{Desc, Opts};
use super::registry::{sealed, Collect, Register};
use super::MetricError;
use crate::gather::Gathered;
use crate::model::{Metric, MetricFamily, MetricType, Value};

type ReadFn = dyn Fn() -> f64 + Send + Sync;

struct Callback {
    desc: Desc,
    metric_type: MetricType,
    read: Box<ReadFn>,
}

impl Collect for Callback {
    fn name(&self) -> &str {
        &self.desc.name
    }

    fn collect_into(self: Arc<Self>, out: &mut Gathered) {
        let v = (self.read)();
        let value = match self.metric_type {
            MetricType::Counter => Value::counter(v),
            _ => Value::Gauge(v),
        };
        out.families.push(
            MetricFamily::new(
                self.desc.name.clone(),
                self.desc.help.clone(),
                self.metric_type,
            )
            .with_unit(self.desc.unit.clone())
            .with_metric(Metric::new(self.desc.const_labels.to_vec(), value)),
        );
    }
}

fn callback(
    opts: Opts,
    metric_type: MetricType,
    read: impl Fn() -> f64 + Send + Sync + 'static,
) -> Result<Arc<Callback>, MetricError> {
    if let Some(label) = opts.variable_labels.first() {
        return Err(MetricError::InvalidLabelName {
            metric: opts.fq_name(),
            label: label.clone(),
        });
    }
    Ok(Arc::new(Callback {
        desc: Desc::new(opts, &[], &[])?,
        metric_type,
        read: Box::new(read),
    }))
}

/// A gauge whose value a function returns at each scrape (Go's `GaugeFunc`).
///
/// The function runs on the thread that gathers the page, once per scrape: it
/// should be quick and must not block for long. A panic in it is caught by the
/// handler and reported as an error of the source, as for any source.
///
/// ```
/// use promhttp::metrics::{GaugeFunc, Opts, Registry};
///
/// let registry = Registry::new();
/// let open_files = GaugeFunc::new(Opts::new("open_files", "Files open now."), || 7.0).unwrap();
/// registry.register(open_files).unwrap();
/// let page = promhttp::gather::gather_all(&registry);
/// assert_eq!(page.families[0].metrics[0].value, promhttp::model::Value::Gauge(7.0));
/// ```
#[derive(Clone)]
pub struct GaugeFunc(Arc<Callback>);

impl GaugeFunc {
    /// A gauge read from `read`; `opts` may carry constant labels, not variable ones.
    pub fn new(
        opts: Opts,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Result<Self, MetricError> {
        callback(opts, MetricType::Gauge, read).map(GaugeFunc)
    }
}

/// A counter whose total a function returns at each scrape (Go's `CounterFunc`),
/// for totals kept elsewhere (bytes a library has sent). The function must return
/// a total that never decreases; as for [`GaugeFunc`], it runs once per scrape.
#[derive(Clone)]
pub struct CounterFunc(Arc<Callback>);

impl CounterFunc {
    /// A counter read from `read`; `opts` may carry constant labels, not variable ones.
    pub fn new(
        opts: Opts,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Result<Self, MetricError> {
        callback(opts, MetricType::Counter, read).map(CounterFunc)
    }
}

/// An info metric: a gauge of value 1 whose labels carry facts about the process
/// (`build_info{version="1.4.2",revision="abc123"} 1`).
///
/// The labels are the constant labels of `opts`; by convention the name ends with
/// `_info`. Text formats show it as a gauge (as Go's client does); OpenMetrics'
/// `info` type is not used, so every format gives the same samples.
///
/// ```
/// use promhttp::metrics::{Info, Opts};
///
/// let build = Info::new(
///     Opts::new("build_info", "Build facts.")
///         .const_label("version", env!("CARGO_PKG_VERSION"))
///         .const_label("rustc", "1.82"),
/// )
/// .unwrap();
/// promhttp::metrics::register(build).unwrap();
/// ```
#[derive(Clone)]
pub struct Info(Arc<Callback>);

impl Info {
    /// An info metric whose labels are `opts`' constant labels.
    pub fn new(opts: Opts) -> Result<Self, MetricError> {
        callback(opts, MetricType::Gauge, || 1.0).map(Info)
    }
}

macro_rules! register_callback {
    ($($t:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Register for $t {
            fn collector(&self) -> Result<Arc<dyn Collect>, MetricError> {
                Ok(self.0.clone())
            }
        }
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($t)).field(&self.0.desc.name).finish()
            }
        }
    )*};
}

register_callback!(GaugeFunc, CounterFunc, Info);
