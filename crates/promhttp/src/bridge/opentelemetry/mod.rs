//! OpenTelemetry metrics served by promhttp: a pull reader for the
//! [`opentelemetry_sdk`] (0.33) meter provider that is also a [`Gather`] source.
//!
//! Register an [`OtelSource`] with an [`SdkMeterProvider`] (it is a
//! [`MetricReader`]) and serve the same source (clones share it) with
//! [`MetricsHandler`](crate::MetricsHandler), the exporter, push or Pingora, alone or
//! in [`Gatherers`](crate::Gatherers) next to other sources. Each scrape collects
//! from the SDK (observable instruments' callbacks run then), with cumulative
//! temporality, and maps the result as the OpenTelemetry "Prometheus and
//! OpenMetrics Compatibility" specification says:
//!
//! ```
//! use opentelemetry::metrics::MeterProvider as _;
//! use opentelemetry::KeyValue;
//! use opentelemetry_sdk::metrics::SdkMeterProvider;
//! use opentelemetry_sdk::Resource;
//! use promhttp::bridge::opentelemetry::OtelSource;
//! use promhttp::encode::{encode, EncodeOptions, Format};
//! use promhttp::gather::gather_all;
//!
//! let source = OtelSource::new();
//! let provider = SdkMeterProvider::builder()
//!     .with_resource(Resource::builder_empty().with_service_name("shop").build())
//!     .with_reader(source.clone())
//!     .build();
//! let meter = provider.meter("checkout");
//! let orders = meter.u64_counter("shop.orders").with_description("Orders placed.").build();
//! orders.add(2, &[KeyValue::new("payment.method", "card")]);
//! let latency = meter.f64_histogram("shop.latency").with_unit("s")
//!     .with_boundaries(vec![0.1, 1.0]).build();
//! latency.record(0.4, &[]);
//!
//! let page = gather_all(&source);
//! let mut out = Vec::new();
//! encode(Format::Text, &page.families, &EncodeOptions::default(), &mut out);
//! let text = String::from_utf8(out).unwrap();
//! assert!(text.contains("# TYPE shop_orders_total counter\n"));
//! assert!(text.contains(
//!     "shop_orders_total{otel_scope_name=\"checkout\",payment_method=\"card\"} 2\n"
//! ));
//! assert!(text.contains("shop_latency_seconds_bucket{otel_scope_name=\"checkout\",le=\"1\"} 1\n"));
//! assert!(text.contains("target_info{service_name=\"shop\"} 1\n"));
//! ```
//!
//! With a handler, the page is negotiated like any other: protobuf carries native
//! histograms; protobuf and OpenMetrics (when the handler offers it) carry start
//! times when the handler writes them (`openmetrics_created_samples`):
//!
//! ```no_run
//! # use opentelemetry_sdk::metrics::SdkMeterProvider;
//! # use promhttp::bridge::opentelemetry::OtelSource;
//! let source = OtelSource::builder().scope_labels(false).build();
//! let provider = SdkMeterProvider::builder().with_reader(source.clone()).build();
//! let handler = promhttp::MetricsHandler::builder(source)
//!     .openmetrics(true)
//!     .openmetrics_created_samples(true)
//!     .build();
//! # let _ = (provider, handler);
//! ```
//!
//! # Mapping
//!
//! | OpenTelemetry | Prometheus |
//! |---|---|
//! | monotonic sum (counter, observable counter) | counter, name ending in `_total`, start time as created time |
//! | non-monotonic sum (up-down counter, observable up-down counter) | gauge |
//! | gauge (gauge, observable gauge) | gauge |
//! | histogram (explicit buckets) | classic histogram (cumulative `le` buckets, `_sum`, `_count`), start time as created time |
//! | exponential histogram | native histogram (see below), start time as created time |
//! | exemplars | none: the SDK makes none (see below) |
//! | resource attributes | one `target_info` gauge of value 1 ([`OtelSourceBuilder::target_info`]) |
//! | instrumentation scope | `otel_scope_name`, `otel_scope_version`, `otel_scope_schema_url` labels and one `otel_scope_<key>` label per scope attribute on every series ([`OtelSourceBuilder::scope_labels`]) |
//! | `min`, `max`, point timestamps | not served: samples carry no timestamp, as the specification requires |
//!
//! **Names** follow the [`TranslationStrategy`]. The default,
//! `UnderscoreEscapingWithSuffixes`: invalid characters become `_`, runs of `_`
//! collapse to one, a name starting with a digit gets a leading `_` (an attribute
//! key a leading `key_`). **Units** are appended unless the name already ends with
//! them, translated per the specification's unit map (`s` → `seconds`,
//! `ms` → `milliseconds`, `By` → `bytes`, `KiBy` → `kibibytes`, `m/s` →
//! `meters_per_second`, annotations in braces such as `{request}` dropped), with
//! two rules of Prometheus' own OTLP translation the specification leaves open (`1`
//! → `ratio` for gauges and nothing for other kinds; a unit outside the map kept,
//! its invalid characters escaped: `km/h` → `km_per_hour`), and become the family's
//! OpenMetrics `# UNIT`. Monotonic sums end with `_total`. The other strategies
//! keep UTF-8 names (escaped by the handler for scrapers that did not ask for
//! `escaping=allow-utf-8`), leave the suffixes out, or both.
//!
//! **Attributes** whose keys translate to the same label name become one label,
//! their values joined with `;` in the order of the original keys (`a.b="1"`,
//! `a_b="2"` → `a_b="1;2"`); a scope label counts as a key named as itself
//! (`otel_scope_name`, `otel_scope_<attribute key>`). A scope attribute whose label
//! would be `otel_scope_name`, `otel_scope_version` or `otel_scope_schema_url` is
//! left out. Non-string values are written as the SDK displays them (`200`,
//! `true`, `["a","b"]`).
//!
//! **Exponential histograms** become native histograms: scale is schema, the zero
//! bucket and its threshold are kept, offsets and counts become spans and deltas
//! (Prometheus numbers buckets one higher). Scales above 8 (the SDK starts at 20)
//! are lowered to 8 by merging neighbouring buckets, which loses resolution only;
//! a point with a scale below -4 (reachable only with a view setting `max_scale`
//! below -4) cannot be represented, is left out, and reported as a
//! [`GatherError`] of kind
//! [`SourceFailed`](crate::gather::GatherErrorKind::SourceFailed) naming the family.
//! Only protobuf carries native histograms: in text 0.0.4 and OpenMetrics, which
//! have no form for them, such a histogram is served as its `_count`, `_sum` and
//! `+Inf` bucket (what Prometheus's own Go client serves there), so a scraper
//! that negotiated text still gets a correct rate and average.
//!
//! **Exemplars:** none are served, because `opentelemetry_sdk` 0.33 (checked
//! against 0.33.1) makes none. Every aggregator in its
//! `src/metrics/internal` (`aggregate.rs`, `sum.rs`, `precomputed_sum.rs`,
//! `last_value.rs`, `histogram.rs`, `exponential_histogram.rs`) builds its data
//! points with `exemplars: vec![]`, the SDK has no exemplar reservoir or filter, and
//! the fields of `data::Exemplar` are `pub(crate)` with no constructor, so no data
//! with an exemplar can reach a reader, nor be made in a test. promhttp therefore
//! has no code that reads them: code that cannot be tested with the SDK's data is
//! not written. Once an SDK release fills them, the mapping the specification
//! asks for is: `trace_id` and `span_id` as lower-case hex labels (taking
//! precedence over filtered attributes of those names), the point's time as the
//! exemplar timestamp, filtered attributes as further labels while they fit the
//! 128 code points OpenMetrics allows; a counter keeps its latest exemplar, a
//! classic histogram bucket the latest that falls in it, a native histogram all of
//! them; gauges and up-down counters none. The model
//! ([`Exemplar`](crate::model::Exemplar)) and every encoder carry exemplars
//! already, so that mapping is all that will be needed.
//!
//! # Collisions
//!
//! Two instruments whose names translate to one family name (from two scopes:
//! their series are told apart by the scope labels) are one family when their
//! types agree, served with the help and unit of the first scope in name order
//! (scope name, version, schema URL), whatever the second's description says. When
//! their types differ (`jobs` as a counter, `jobs_total` as a family name; or a
//! gauge `queue_depth` beside the counter `queue_depth_total`, one name in
//! OpenMetrics), the later one is left out of the page with a warning logged and
//! the rest is served, as the OpenTelemetry Prometheus exporters do. With the UTF-8
//! strategies, names that differ only in characters the scraper's escaping
//! replaces (`queue.depth`, `queue_depth`) are two families for a scraper that
//! asked for `escaping=allow-utf-8` and a
//! [`NameEscapingCollision`](crate::gather::GatherErrorKind::NameEscapingCollision)
//! for the others (see [`TranslationStrategy`]). Two `OtelSource`s on one page each
//! bring a `target_info`: turn it off on all but one.
//!
//! # When to use which
//!
//! The `opentelemetry-prometheus` crate's collector also works with promhttp: it
//! fills a `promhttp::prometheus::Registry`, which a handler serves. Prefer
//! `OtelSource` for exponential histograms (that collector drops them), UTF-8 names
//! negotiated per scraper, start times (OpenMetrics `_created`, protobuf), units in `# UNIT`, and speed (no
//! intermediate `prometheus` families; see the `opentelemetry` bench).

mod mapping;
mod names;
mod native;

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
#[cfg(doc)]
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};

use crate::gather::{Gather, GatherError, GatherErrorKind, Gathered};
use mapping::{Config, LabelNames};

pub use names::TranslationStrategy;

/// An OpenTelemetry [`MetricReader`] that promhttp serves as a [`Gather`] source.
///
/// Register a clone with
/// [`SdkMeterProviderBuilder::with_reader`](opentelemetry_sdk::metrics::MeterProviderBuilder::with_reader)
/// and serve the original; clones share one reader. A reader belongs to one meter
/// provider: registering it with a second is ignored by the SDK. Until it is
/// registered, and after the provider is shut down or dropped, gathering reports a
/// [`SourceFailed`](GatherErrorKind::SourceFailed) error (the handler then answers
/// 500 by default), never an empty page that looks healthy.
///
/// Collections are serialized: a scrape waits for one in progress (the handler
/// coalesces concurrent scrapes before that). See the [module](self)
/// documentation for the mapping.
#[derive(Clone)]
pub struct OtelSource {
    inner: Arc<Inner>,
}

struct Inner {
    reader: ManualReader,
    config: Config,
    /// The SDK's output, reused from scrape to scrape, and the translated label names.
    state: Mutex<(ResourceMetrics, LabelNames)>,
}

/// Configures an [`OtelSource`]. Made by [`OtelSource::builder`], which starts from
/// the defaults: scope labels on, `target_info` on,
/// [`TranslationStrategy::UnderscoreEscapingWithSuffixes`].
#[must_use]
#[derive(Clone, Debug)]
pub struct OtelSourceBuilder {
    config: Config,
}

impl OtelSourceBuilder {
    /// Whether every series gets `otel_scope_name` and `otel_scope_version` labels
    /// from its instrumentation scope (default: on; an empty name or version is
    /// left out). Off, two scopes with an instrument of the same name and
    /// attributes make duplicate series, which gathering reports.
    pub fn scope_labels(mut self, on: bool) -> Self {
        self.config.scope_labels = on;
        self
    }

    /// Whether the resource's attributes are served as one `target_info` gauge of
    /// value 1 (default: on; nothing is served for an empty resource).
    pub fn target_info(mut self, on: bool) -> Self {
        self.config.target_info = on;
        self
    }

    /// How metric and attribute names are translated (default:
    /// [`TranslationStrategy::UnderscoreEscapingWithSuffixes`]). With
    /// [`NoUTF8EscapingWithSuffixes`](TranslationStrategy::NoUTF8EscapingWithSuffixes)
    /// or [`NoTranslation`](TranslationStrategy::NoTranslation) the names stay
    /// UTF-8 and the handler escapes them for each scraper that did not ask for
    /// `escaping=allow-utf-8`; see [`TranslationStrategy`] for what that changes.
    pub fn translation(mut self, strategy: TranslationStrategy) -> Self {
        self.config.strategy = strategy;
        self
    }

    /// The source, not yet registered with a meter provider.
    pub fn build(self) -> OtelSource {
        OtelSource {
            inner: Arc::new(Inner {
                reader: ManualReader::builder()
                    .with_temporality(Temporality::Cumulative)
                    .build(),
                config: self.config,
                state: Mutex::new((
                    ResourceMetrics::default(),
                    LabelNames::new(self.config.strategy),
                )),
            }),
        }
    }
}

impl OtelSource {
    /// A source with the defaults: what `OtelSource::builder().build()` makes.
    pub fn new() -> Self {
        OtelSource::builder().build()
    }

    /// A builder starting from the defaults (see [`OtelSourceBuilder`]).
    pub fn builder() -> OtelSourceBuilder {
        OtelSourceBuilder {
            config: Config {
                scope_labels: true,
                target_info: true,
                strategy: TranslationStrategy::default(),
            },
        }
    }
}

impl Default for OtelSource {
    fn default() -> Self {
        OtelSource::new()
    }
}

impl fmt::Debug for OtelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelSource")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl MetricReader for OtelSource {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.inner.reader.register_pipeline(pipeline)
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.inner.reader.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.reader.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.reader.shutdown_with_timeout(timeout)
    }

    /// Always cumulative: Prometheus counters and histograms are totals.
    fn temporality(&self, _kind: InstrumentKind) -> Temporality {
        Temporality::Cumulative
    }
}

impl Gather for OtelSource {
    /// `target_info` first, then one family per instrument in the SDK's order.
    fn gather_into(&self, out: &mut Gathered) {
        let mut state = crate::util::lock(&self.inner.state);
        let (rm, keys) = &mut *state;
        if let Err(e) = self.inner.reader.collect(rm) {
            tracing::debug!(error = %e, "OpenTelemetry collection failed");
            out.errors
                .push(GatherError::new(GatherErrorKind::SourceFailed {
                    message: format!("OpenTelemetry collection failed: {e}"),
                }));
            return;
        }
        mapping::map(rm, &self.inner.config, keys, out);
    }
}
