//! `ResourceMetrics` from the OpenTelemetry SDK mapped to promhttp's model.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::metrics::data::{
    self, AggregatedMetrics, ExponentialHistogram, Gauge, Histogram, MetricData, ResourceMetrics,
    Sum,
};
use opentelemetry_sdk::Resource;

use super::names::{self, TranslationStrategy};
use super::native::{native_histogram, NativeError, Side};
use crate::gather::{GatherError, GatherErrorKind, Gathered};
use crate::model::{
    Bucket, CounterValue, HistogramValue, Label, Metric, MetricFamily, MetricType, Str, Value,
};

/// What the builder chose.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub scope_labels: bool,
    pub target_info: bool,
    pub strategy: TranslationStrategy,
}

/// The label names already translated under one strategy, kept from scrape to
/// scrape (attribute keys repeat on every point). Bounded: past [`Self::LIMIT`]
/// keys, new ones are translated each time instead of kept.
pub(crate) struct LabelNames {
    strategy: TranslationStrategy,
    known: HashMap<Box<str>, Str>,
}

impl LabelNames {
    const LIMIT: usize = 10_000;

    pub(crate) fn new(strategy: TranslationStrategy) -> Self {
        LabelNames {
            strategy,
            known: HashMap::new(),
        }
    }

    fn get(&mut self, key: &str) -> Str {
        if let Some(name) = self.known.get(key) {
            return name.clone();
        }
        let name = Str::Shared(Arc::from(names::label_name_for(key, self.strategy)));
        if self.known.len() < Self::LIMIT {
            self.known.insert(key.into(), name.clone());
        }
        name
    }
}

/// The name of the resource's info metric, as the specification names it.
pub(crate) const TARGET_INFO: &str = "target_info";

/// The numbers the SDK aggregates.
pub(crate) trait Number: Copy {
    fn to_f64(self) -> f64;
}

impl Number for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

impl Number for u64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Number for i64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// Appends the families of `rm` to `out`: `target_info` first, then each
/// instrument's family, scope by scope in the order of the scopes' names and
/// versions. Families of the same name from two scopes are merged by gathering, as
/// for any source, once made to agree as the specification's exporter rules ask:
/// the later ones take the first one's help and unit (a second, different
/// description is not a second family), and one of another type is left out with
/// a warning (a name has one type on a page) while the rest of the page is served.
pub(crate) fn map(
    rm: &ResourceMetrics,
    config: &Config,
    keys: &mut LabelNames,
    out: &mut Gathered,
) {
    // Where the first family of each name (and of each counter's name without
    // `_total`) is in `out.families`.
    let mut first_of: HashMap<String, usize> = HashMap::new();
    if config.target_info && !rm.resource().is_empty() {
        first_of.insert(TARGET_INFO.to_owned(), out.families.len());
        out.families.push(target_info(rm.resource(), keys));
    }
    // Scopes in name order, so that which one is "first" for a name shared by two
    // (its help is served) does not change from scrape to scrape as the SDK's own
    // order can.
    let mut scopes: Vec<_> = rm.scope_metrics().collect();
    scopes.sort_by(|a, b| {
        let (a, b) = (a.scope(), b.scope());
        (a.name(), a.version(), a.schema_url()).cmp(&(b.name(), b.version(), b.schema_url()))
    });
    for scope in scopes {
        let base = if config.scope_labels {
            scope_labels(scope.scope(), keys)
        } else {
            Vec::new()
        };
        let mut ctx = Ctx {
            base: &base,
            keys: &mut *keys,
            strategy: config.strategy,
        };
        for metric in scope.metrics() {
            let mut family = match metric.data() {
                AggregatedMetrics::F64(d) => ctx.family(metric, d, &mut out.errors),
                AggregatedMetrics::U64(d) => ctx.family(metric, d, &mut out.errors),
                AggregatedMetrics::I64(d) => ctx.family(metric, d, &mut out.errors),
            };
            // A counter's OpenMetrics name has no `_total`: a gauge `x` and a
            // counter `x_total` are one name there.
            let stem = match family.metric_type {
                MetricType::Counter => family.name.strip_suffix("_total"),
                _ => None,
            }
            .unwrap_or(&family.name);
            let first = first_of
                .get(&*family.name)
                .or_else(|| first_of.get(stem))
                .map(|&at| &out.families[at]);
            match first {
                Some(first) => {
                    if agree_with(&mut family, first) {
                        out.families.push(family);
                    }
                }
                None => {
                    if stem.len() < family.name.len() {
                        first_of.insert(stem.to_owned(), out.families.len());
                    }
                    first_of.insert(family.name.to_string(), out.families.len());
                    out.families.push(family);
                }
            }
        }
    }
}

/// Makes `family` agree with `first`, the first family of its name from this
/// reader (or of its OpenMetrics name: `x` and the counter `x_total`): of the same
/// type, it takes that one's help and unit and is kept (`true`); of another type,
/// it is left out (`false`) with a warning naming both.
fn agree_with(family: &mut MetricFamily, first: &MetricFamily) -> bool {
    if first.metric_type != family.metric_type {
        tracing::warn!(
            name = %family.name,
            first = ?first.metric_type,
            dropped = ?family.metric_type,
            "two OpenTelemetry instruments map to one Prometheus name with different types; \
             the later one is left out"
        );
        return false;
    }
    family.help = first.help.clone();
    family.unit = first.unit.clone();
    true
}

/// `target_info 1`, labelled with the resource's attributes.
fn target_info(resource: &Resource, keys: &mut LabelNames) -> MetricFamily {
    let labels = merged_labels(
        resource
            .iter()
            .map(|(k, v)| (keys.get(k.as_str()), k.as_str(), v.as_str())),
    );
    MetricFamily::new(TARGET_INFO, "Target metadata", MetricType::Gauge)
        .with_metric(Metric::new(labels, Value::Gauge(1.0)))
}

/// The labels a scope gives every point, as `(label name, original key, value)`:
/// `otel_scope_name`, `otel_scope_version`, `otel_scope_schema_url` (each left out
/// when empty), and each scope attribute as `otel_scope_<key>` translated like any
/// key, left out when that is one of the first three names. The original key of a
/// scope label, which orders merged values, is its untranslated name.
fn scope_labels(scope: &InstrumentationScope, keys: &mut LabelNames) -> Vec<ScopeLabel> {
    const RESERVED: [&str; 3] = [
        "otel_scope_name",
        "otel_scope_version",
        "otel_scope_schema_url",
    ];
    let mut labels = Vec::with_capacity(3 + scope.attributes().size_hint().0);
    let fixed = [Some(scope.name()), scope.version(), scope.schema_url()];
    for (name, value) in RESERVED.into_iter().zip(fixed) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            labels.push(ScopeLabel {
                name: Str::Static(name),
                key: name.to_owned(),
                value: value.to_owned(),
            });
        }
    }
    for kv in scope.attributes() {
        let key = format!("otel_scope_{}", kv.key.as_str());
        let name = keys.get(&key);
        if RESERVED.contains(&name.as_str()) {
            continue;
        }
        labels.push(ScopeLabel {
            name,
            key,
            value: kv.value.as_str().into_owned(),
        });
    }
    labels
}

/// A label every point of a scope gets.
struct ScopeLabel {
    name: Str,
    /// The untranslated name, which orders values merged into one label.
    key: String,
    value: String,
}

/// Labels from `(translated name, original key, value)` triples: sorted by name,
/// and where two keys translate to one name, one label whose value is theirs
/// joined with `;` in the order of the original keys.
fn merged_labels<'a>(entries: impl Iterator<Item = (Str, &'a str, Cow<'a, str>)>) -> Vec<Label> {
    let mut entries: Vec<_> = entries.collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    let mut labels: Vec<Label> = Vec::with_capacity(entries.len());
    for (name, _, value) in entries {
        match labels.last_mut() {
            Some(last) if last.name == name => {
                let mut joined = String::with_capacity(last.value.len() + 1 + value.len());
                joined.push_str(&last.value);
                joined.push(';');
                joined.push_str(&value);
                last.value = Str::Owned(joined);
            }
            _ => labels.push(Label::new(name, Str::Owned(value.into_owned()))),
        }
    }
    labels
}

/// Per-scope state of the mapping.
struct Ctx<'a> {
    base: &'a [ScopeLabel],
    keys: &'a mut LabelNames,
    strategy: TranslationStrategy,
}

impl Ctx<'_> {
    /// A point's labels: the scope's and its attributes', merged.
    fn labels<'k>(&mut self, attributes: impl Iterator<Item = &'k KeyValue>) -> Vec<Label> {
        let base = self.base.iter().map(|l| {
            (
                l.name.clone(),
                l.key.as_str(),
                Cow::Borrowed(l.value.as_str()),
            )
        });
        let keys = &mut *self.keys;
        let attributes = attributes.map(|kv| {
            (
                keys.get(kv.key.as_str()),
                kv.key.as_str(),
                kv.value.as_str(),
            )
        });
        merged_labels(base.chain(attributes))
    }

    fn family<T: Number>(
        &mut self,
        metric: &data::Metric,
        data: &MetricData<T>,
        errors: &mut Vec<GatherError>,
    ) -> MetricFamily {
        let (metric_type, is_gauge) = match data {
            MetricData::Sum(s) if s.is_monotonic() => (MetricType::Counter, false),
            MetricData::Sum(_) => (MetricType::Gauge, false),
            MetricData::Gauge(_) => (MetricType::Gauge, true),
            MetricData::Histogram(_) | MetricData::ExponentialHistogram(_) => {
                (MetricType::Histogram, false)
            }
        };
        let unit = names::unit(metric.unit(), is_gauge);
        let name = names::family_name(
            metric.name(),
            unit.as_deref(),
            metric_type == MetricType::Counter,
            self.strategy,
        );
        let mut family = MetricFamily::new(name, metric.description().to_owned(), metric_type);
        if let Some(unit) = unit {
            family.unit = match unit {
                Cow::Borrowed(s) => Str::Static(s),
                Cow::Owned(s) => Str::Owned(s),
            };
        }
        match data {
            MetricData::Sum(s) => self.sum(s, &mut family),
            MetricData::Gauge(g) => self.gauge(g, &mut family),
            MetricData::Histogram(h) => self.histogram(h, &mut family),
            MetricData::ExponentialHistogram(h) => self.exponential(h, &mut family, errors),
        }
        family
    }

    fn sum<T: Number>(&mut self, sum: &Sum<T>, family: &mut MetricFamily) {
        let counter = sum.is_monotonic();
        family.metrics.reserve(sum.data_points().size_hint().0);
        for p in sum.data_points() {
            let labels = self.labels(p.attributes());
            let metric = if counter {
                let value = CounterValue::new(p.value().to_f64());
                Metric::new(labels, value.into()).with_created(sum.start_time())
            } else {
                Metric::new(labels, Value::Gauge(p.value().to_f64()))
            };
            family.metrics.push(metric);
        }
    }

    fn gauge<T: Number>(&mut self, gauge: &Gauge<T>, family: &mut MetricFamily) {
        family.metrics.reserve(gauge.data_points().size_hint().0);
        for p in gauge.data_points() {
            let labels = self.labels(p.attributes());
            family
                .metrics
                .push(Metric::new(labels, Value::Gauge(p.value().to_f64())));
        }
    }

    fn histogram<T: Number>(&mut self, h: &Histogram<T>, family: &mut MetricFamily) {
        family.metrics.reserve(h.data_points().size_hint().0);
        for p in h.data_points() {
            let labels = self.labels(p.attributes());
            let mut buckets: Vec<Bucket> = Vec::with_capacity(p.bounds().size_hint().0);
            let mut cumulative = 0u64;
            for (bound, count) in p.bounds().zip(p.bucket_counts()) {
                cumulative = cumulative.saturating_add(count);
                buckets.push(Bucket::new(bound, cumulative));
            }
            let value = HistogramValue::new(buckets, p.count(), p.sum().to_f64());
            family
                .metrics
                .push(Metric::new(labels, value.into()).with_created(h.start_time()));
        }
    }

    fn exponential<T: Number>(
        &mut self,
        h: &ExponentialHistogram<T>,
        family: &mut MetricFamily,
        errors: &mut Vec<GatherError>,
    ) {
        family.metrics.reserve(h.data_points().size_hint().0);
        for p in h.data_points() {
            let native = native_histogram(
                p.scale(),
                p.zero_threshold(),
                p.zero_count(),
                Side {
                    offset: p.positive_bucket().offset(),
                    counts: p.positive_bucket().counts(),
                },
                Side {
                    offset: p.negative_bucket().offset(),
                    counts: p.negative_bucket().counts(),
                },
            );
            let native = match native {
                Ok(native) => native,
                Err(NativeError::ScaleTooLow(scale)) => {
                    errors.push(
                        GatherError::new(GatherErrorKind::SourceFailed {
                            message: format!(
                                "an exponential histogram point of scale {scale} was left out: \
                                 the coarsest native histogram schema is -4"
                            ),
                        })
                        .with_family(family.name.as_str()),
                    );
                    continue;
                }
            };
            let labels = self.labels(p.attributes());
            let value = HistogramValue::new(Vec::new(), p.count() as u64, p.sum().to_f64())
                .with_native(native);
            family
                .metrics
                .push(Metric::new(labels, value.into()).with_created(h.start_time()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_keys_merge_in_original_key_order() {
        let mut keys = LabelNames::new(TranslationStrategy::default());
        let kvs = [
            KeyValue::new("foo_bar", "c"),
            KeyValue::new("foo.bar", "a"),
            KeyValue::new("a", 1),
            KeyValue::new("foo-bar", "b"),
        ];
        let labels = merged_labels(kvs.iter().map(|kv| {
            (
                keys.get(kv.key.as_str()),
                kv.key.as_str(),
                kv.value.as_str(),
            )
        }));
        // "foo-bar" < "foo.bar" < "foo_bar" in byte order.
        assert_eq!(
            labels,
            [Label::new("a", "1"), Label::new("foo_bar", "b;a;c")]
        );
    }

    #[test]
    fn label_names_are_remembered_up_to_a_limit() {
        let mut keys = LabelNames::new(TranslationStrategy::default());
        assert_eq!(keys.get("http.method"), "http_method");
        assert_eq!(keys.known.len(), 1);
        for i in 0..LabelNames::LIMIT + 5 {
            keys.get(&format!("k.{i}"));
        }
        assert_eq!(keys.known.len(), LabelNames::LIMIT);
        assert_eq!(keys.get("late.key"), "late_key");
    }
}
