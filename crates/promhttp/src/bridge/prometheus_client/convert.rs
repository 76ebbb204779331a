//! prometheus-client's `io.prometheus.client` messages moved into the model.
//!
//! The messages are prost structs that prometheus-client builds and hands over, so
//! nothing is parsed: strings are moved, not copied, and numbers are read as they
//! are. What the model cannot hold (a float histogram, a metric without the value
//! of its family's type, a type the model does not know) drops that metric or
//! family and is reported.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as pb;

use std::sync::Arc;

use super::direct::{model_family, BridgedFamily, Head, Series};
use crate::gather::{GatherError, GatherErrorKind, Gathered};
use crate::model::{
    Bucket, BucketSpan, CounterValue, Exemplar, HistogramValue, Label, MetricType, NativeHistogram,
    Quantile, Str, SummaryValue, Value,
};

/// Moves `families` into `out`: each as a family that writes itself where it can
/// (see [`direct`](super::direct)), else into the model; what cannot be moved is
/// reported in `out.errors`.
pub(super) fn families_into(families: Vec<pb::MetricFamily>, out: &mut Gathered) {
    for mut f in families {
        let metric_type = match pb::MetricType::try_from(f.r#type) {
            Ok(pb::MetricType::Counter) => MetricType::Counter,
            Ok(pb::MetricType::Gauge) => MetricType::Gauge,
            Ok(pb::MetricType::Histogram) => MetricType::Histogram,
            Ok(pb::MetricType::Summary) => MetricType::Summary,
            Ok(pb::MetricType::Untyped) => MetricType::Untyped,
            Ok(pb::MetricType::GaugeHistogram) | Err(_) => {
                out.errors.push(GatherError::in_family(
                    &f.name,
                    GatherErrorKind::UnknownMetricType { code: f.r#type },
                ));
                continue;
            }
        };
        let head = Head {
            name: std::mem::take(&mut f.name),
            help: std::mem::take(&mut f.help),
            unit: std::mem::take(&mut f.unit),
            metric_type,
        };
        let mut series = Vec::with_capacity(f.metric.len());
        // Each message is large (mostly the histogram fields, inline): the fields
        // are taken out of it where it lies rather than the message moved.
        for m in &mut f.metric {
            match value(m, metric_type) {
                Ok((value, created)) => series.push(Series {
                    labels: std::mem::take(&mut m.label),
                    value,
                    // 0 is the field's default: no timestamp.
                    timestamp: (m.timestamp_ms != 0)
                        .then(|| crate::model::time::from_millis(m.timestamp_ms))
                        .flatten(),
                    created,
                }),
                Err(kind) => out.errors.push(GatherError::in_family(&head.name, kind)),
            }
        }
        drop(f);
        match BridgedFamily::new(head, series) {
            Ok(family) => out.push_direct(Arc::new(family)),
            Err((head, series)) => out.families.push(model_family(head, series)),
        }
    }
}

/// A metric's value and start time.
fn value(
    m: &mut pb::Metric,
    t: MetricType,
) -> Result<(Value, Option<SystemTime>), GatherErrorKind> {
    let missing = GatherErrorKind::MissingValue { family_type: t };
    let mut created = None;
    let value = match t {
        MetricType::Counter => {
            let c = m.counter.take().ok_or(missing)?;
            created = c.start_timestamp.and_then(|t| time(t.seconds, t.nanos));
            Value::Counter(CounterValue {
                value: c.value,
                exemplar: c.exemplar.and_then(exemplar).map(Box::new),
            })
        }
        MetricType::Gauge => Value::Gauge(m.gauge.as_ref().ok_or(missing)?.value),
        MetricType::Untyped => Value::Untyped(m.untyped.as_ref().ok_or(missing)?.value),
        MetricType::Histogram => {
            let h = m.histogram.as_mut().ok_or(missing)?;
            created = h
                .start_timestamp
                .as_ref()
                .and_then(|t| time(t.seconds, t.nanos));
            Value::Histogram(histogram(h)?)
        }
        MetricType::Summary => {
            let s = m.summary.take().ok_or(missing)?;
            created = s.start_timestamp.and_then(|t| time(t.seconds, t.nanos));
            Value::Summary(SummaryValue {
                quantiles: s
                    .quantile
                    .into_iter()
                    .map(|q| Quantile {
                        quantile: q.quantile,
                        value: q.value,
                    })
                    .collect(),
                count: s.sample_count,
                sum: s.sample_sum,
            })
        }
    };
    Ok((value, created))
}

fn histogram(h: &mut pb::Histogram) -> Result<HistogramValue, GatherErrorKind> {
    // Float counts (for histograms made of other histograms) have no place in the
    // model; prometheus-client never writes them.
    let float = h.sample_count_float > 0.0
        || h.zero_count_float > 0.0
        || !h.positive_count.is_empty()
        || !h.negative_count.is_empty()
        || h.bucket.iter().any(|b| b.cumulative_count_float > 0.0);
    if float {
        return Err(GatherErrorKind::Malformed {
            origin: "prometheus-client".to_owned(),
            detail: "a histogram with float counts".to_owned(),
        });
    }
    // As Prometheus tells them apart: a classic histogram leaves every native
    // field at its default (an empty native histogram has a no-op span).
    let native = h.schema != 0
        || h.zero_threshold != 0.0
        || h.zero_count != 0
        || !h.positive_span.is_empty()
        || !h.negative_span.is_empty();
    let native = native.then(|| {
        let mut n = NativeHistogram::new(h.schema, h.zero_threshold);
        n.zero_count = h.zero_count;
        n.positive_spans = spans(&h.positive_span);
        n.positive_deltas = std::mem::take(&mut h.positive_delta);
        n.negative_spans = spans(&h.negative_span);
        n.negative_deltas = std::mem::take(&mut h.negative_delta);
        n.exemplars = std::mem::take(&mut h.exemplars)
            .into_iter()
            .filter_map(exemplar)
            .collect();
        Box::new(n)
    });
    let buckets = std::mem::take(&mut h.bucket)
        .into_iter()
        .map(|b| Bucket {
            upper_bound: b.upper_bound,
            cumulative_count: b.cumulative_count,
            exemplar: b.exemplar.and_then(exemplar).map(Box::new),
        })
        .collect();
    Ok(HistogramValue {
        buckets,
        count: h.sample_count,
        sum: h.sample_sum,
        native,
    })
}

fn spans(spans: &[pb::BucketSpan]) -> Vec<BucketSpan> {
    spans
        .iter()
        .map(|s| BucketSpan::new(s.offset, s.length))
        .collect()
}

fn labels(pairs: Vec<pb::LabelPair>) -> Vec<Label> {
    pairs
        .into_iter()
        .map(|l| Label {
            name: Str::Owned(l.name),
            value: Str::Owned(l.value),
        })
        .collect()
}

/// An exemplar; one whose timestamp `SystemTime` cannot hold keeps no timestamp.
fn exemplar(e: pb::Exemplar) -> Option<Exemplar> {
    Some(Exemplar {
        labels: labels(e.label),
        value: e.value,
        timestamp: e.timestamp.and_then(|t| time(t.seconds, t.nanos)),
    })
}

/// A protobuf `Timestamp` (seconds and nanoseconds since the epoch, nanoseconds
/// in `0..1e9` also before it); `None` when out of range.
fn time(seconds: i64, nanos: i32) -> Option<SystemTime> {
    let nanos = u32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000)?;
    let whole = Duration::from_secs(seconds.unsigned_abs());
    let at = if seconds < 0 {
        UNIX_EPOCH.checked_sub(whole)?
    } else {
        UNIX_EPOCH.checked_add(whole)?
    };
    at.checked_add(Duration::from_nanos(u64::from(nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(t: pb::MetricType, metric: Vec<pb::Metric>) -> pb::MetricFamily {
        pb::MetricFamily {
            name: "f".to_owned(),
            help: "F.".to_owned(),
            r#type: t as i32,
            metric,
            unit: String::new(),
        }
    }

    fn convert(families: Vec<pb::MetricFamily>) -> Gathered {
        let mut out = Gathered::default();
        families_into(families, &mut out);
        out.materialize();
        out
    }

    #[test]
    fn timestamps() {
        let at = |s: u64, n: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_nanos(n);
        assert_eq!(time(12, 250_000_000), Some(at(12, 250_000_000)));
        assert_eq!(
            time(-1, 500_000_000),
            Some(UNIX_EPOCH - Duration::from_millis(500))
        );
        assert_eq!(time(0, -1), None);
        assert_eq!(time(0, 1_000_000_000), None);
    }

    #[test]
    fn what_the_model_cannot_hold_is_reported() {
        let float = pb::Metric {
            histogram: Some(pb::Histogram {
                sample_count_float: 2.0,
                ..Default::default()
            }),
            ..Default::default()
        };
        let good = pb::Metric {
            histogram: Some(pb::Histogram {
                sample_count: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        let g = convert(vec![
            family(pb::MetricType::Histogram, vec![float, good]),
            family(pb::MetricType::GaugeHistogram, vec![]),
            family(pb::MetricType::Gauge, vec![pb::Metric::default()]),
        ]);
        let kinds: Vec<String> = g.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(g.errors.len(), 3, "{kinds:?}");
        assert!(matches!(
            g.errors[0].kind(),
            GatherErrorKind::Malformed { detail, .. } if detail == "a histogram with float counts"
        ));
        assert!(matches!(
            g.errors[1].kind(),
            GatherErrorKind::UnknownMetricType { code: 5 }
        ));
        assert!(matches!(
            g.errors[2].kind(),
            GatherErrorKind::MissingValue {
                family_type: MetricType::Gauge
            }
        ));
        // The good histogram stayed, classic (no native field set).
        assert_eq!(g.families.len(), 2);
        let histograms = g
            .families
            .iter()
            .find(|f| f.metric_type == MetricType::Histogram);
        let Value::Histogram(h) = &histograms.unwrap().metrics[0].value else {
            panic!("{:?}", g.families)
        };
        assert_eq!((h.count, h.native.is_none()), (1, true));
    }

    #[test]
    fn native_fields_make_a_native_histogram() {
        let created = UNIX_EPOCH + Duration::from_secs(100) + Duration::from_nanos(5);
        let h = pb::Histogram {
            sample_count: 4,
            sample_sum: 5.0,
            schema: 3,
            zero_threshold: 1e-3,
            zero_count: 1,
            positive_span: vec![pb::BucketSpan {
                offset: -2,
                length: 2,
            }],
            positive_delta: vec![2, -1],
            // prost's `Timestamp` converts from a `SystemTime`.
            start_timestamp: Some(created.into()),
            ..Default::default()
        };
        let m = pb::Metric {
            label: vec![pb::LabelPair {
                name: "a".to_owned(),
                value: "b".to_owned(),
            }],
            histogram: Some(h),
            ..Default::default()
        };
        let g = convert(vec![family(pb::MetricType::Histogram, vec![m])]);
        assert!(g.errors.is_empty(), "{:?}", g.errors);
        let m = &g.families[0].metrics[0];
        assert_eq!(m.labels, [Label::new("a", "b")]);
        assert_eq!(m.created, Some(created));
        let Value::Histogram(h) = &m.value else {
            panic!()
        };
        let n = h.native.as_ref().unwrap();
        assert_eq!((n.schema, n.zero_threshold, n.zero_count), (3, 1e-3, 1));
        assert_eq!(n.positive_counts().collect::<Vec<_>>(), [(-2, 2), (-1, 1)]);
        assert!(n.negative_spans.is_empty());
    }
}
