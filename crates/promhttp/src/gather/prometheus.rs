//! The `prometheus` crate adapter: its registries as sources, its protobuf families moved into the model.

use std::panic::{catch_unwind, AssertUnwindSafe};

use prometheus::proto;
use prometheus::Registry;

use super::{Gather, GatherError, GatherErrorKind, Gathered};
use crate::model::{
    Bucket, CounterValue, HistogramValue, Label, Metric, MetricFamily, MetricType, Quantile, Str,
    SummaryValue, Value,
};
use crate::util::panic_message;

impl Gather for Registry {
    fn gather_into(&self, out: &mut Gathered) {
        let families = match catch_unwind(AssertUnwindSafe(|| Registry::gather(self))) {
            Ok(f) => f,
            Err(panic) => {
                out.errors
                    .push(GatherError::new(GatherErrorKind::SourcePanicked {
                        origin: "a collector of a prometheus::Registry".to_owned(),
                        message: panic_message(&*panic),
                    }));
                return;
            }
        };
        from_proto(families, out);
    }
}

/// The default registries: the `prometheus` crate's global registry
/// (`prometheus::default_registry()`, which holds the process metrics when the
/// `process` feature is on) and promhttp's own
/// ([`metrics::default_registry`](crate::metrics::default_registry), where the
/// `register_*!` macros register), on one page.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRegistry;

impl Gather for DefaultRegistry {
    fn gather_into(&self, out: &mut Gathered) {
        Gather::gather_into(prometheus::default_registry(), out);
        Gather::gather_into(crate::metrics::default_registry(), out);
    }
}

/// Moves what `prometheus` `gather()` returned into the model.
pub(crate) fn from_proto(families: Vec<proto::MetricFamily>, out: &mut Gathered) {
    out.families.reserve(families.len());
    for mut mf in families {
        let name = mf.name.take().unwrap_or_default();
        let metric_type = match mf.type_.map(|t| t.enum_value()) {
            None | Some(Ok(proto::MetricType::COUNTER)) => MetricType::Counter,
            Some(Ok(proto::MetricType::GAUGE)) => MetricType::Gauge,
            Some(Ok(proto::MetricType::HISTOGRAM)) => MetricType::Histogram,
            Some(Ok(proto::MetricType::SUMMARY)) => MetricType::Summary,
            Some(Ok(proto::MetricType::UNTYPED)) => MetricType::Untyped,
            Some(Err(n)) => {
                out.errors.push(GatherError::in_family(
                    &name,
                    GatherErrorKind::UnknownMetricType { code: n },
                ));
                continue;
            }
        };
        let mut family = MetricFamily {
            name: Str::Owned(name),
            help: Str::Owned(mf.help.take().unwrap_or_default()),
            unit: Str::default(),
            metric_type,
            metrics: Vec::with_capacity(mf.metric.len()),
        };
        for m in std::mem::take(&mut mf.metric) {
            match metric_from_proto(m, metric_type) {
                Some(metric) => family.metrics.push(metric),
                None => out.errors.push(GatherError::in_family(
                    &family.name,
                    GatherErrorKind::MissingValue {
                        family_type: metric_type,
                    },
                )),
            }
        }
        out.families.push(family);
    }
}

fn metric_from_proto(mut m: proto::Metric, t: MetricType) -> Option<Metric> {
    let labels = std::mem::take(&mut m.label)
        .into_iter()
        .map(|mut lp| Label {
            name: Str::Owned(lp.name.take().unwrap_or_default()),
            value: Str::Owned(lp.value.take().unwrap_or_default()),
        })
        .collect();
    let value = match t {
        MetricType::Counter => Value::Counter(CounterValue {
            value: m.counter.take()?.value.unwrap_or(0.0),
            exemplar: None,
        }),
        MetricType::Gauge => Value::Gauge(m.gauge.take()?.value.unwrap_or(0.0)),
        MetricType::Untyped => Value::Untyped(m.untyped.take()?.value.unwrap_or(0.0)),
        MetricType::Histogram => {
            let mut h = m.histogram.take()?;
            Value::Histogram(HistogramValue {
                buckets: std::mem::take(&mut h.bucket)
                    .into_iter()
                    .map(|b| Bucket {
                        upper_bound: b.upper_bound.unwrap_or(f64::INFINITY),
                        cumulative_count: b.cumulative_count.unwrap_or(0),
                        exemplar: None,
                    })
                    .collect(),
                count: h.sample_count.unwrap_or(0),
                sum: h.sample_sum.unwrap_or(0.0),
                native: None,
            })
        }
        MetricType::Summary => {
            let mut s = m.summary.take()?;
            Value::Summary(SummaryValue {
                quantiles: std::mem::take(&mut s.quantile)
                    .into_iter()
                    .map(|q| Quantile {
                        quantile: q.quantile.unwrap_or(0.0),
                        value: q.value.unwrap_or(f64::NAN),
                    })
                    .collect(),
                count: s.sample_count.unwrap_or(0),
                sum: s.sample_sum.unwrap_or(0.0),
            })
        }
    };
    Some(Metric {
        labels,
        value,
        timestamp: m.timestamp_ms.and_then(crate::model::time::from_millis),
        created: None,
    })
}
