//! [prometheus-client](https://docs.rs/prometheus-client) (the Prometheus project's
//! Rust client) as a [`Gather`] source.
//!
//! [`Gather`] is implemented for [`Registry`], and for `Mutex<Registry>` and
//! `RwLock<Registry>` when metrics are still registered after the handler is built.
//! Share a registry with an [`Arc`](std::sync::Arc) (the blanket `Arc<G>` impl
//! applies), or hand it over by value. Its families then go through the same checks,
//! content negotiation and encoders as a `prometheus::Registry`, and merge with
//! other sources on one page through [`Gatherers`](crate::Gatherers):
//!
//! ```
//! use std::sync::Arc;
//! use prometheus_client::metrics::counter::Counter;
//! use promhttp::gather::{gather_all, Gatherers};
//!
//! let mut registry = prometheus_client::registry::Registry::default();
//! let logins: Counter = Counter::default();
//! registry.register("logins", "Logins", logins.clone());
//! logins.inc();
//!
//! let page = gather_all(&Gatherers::new().with(Arc::new(registry)).with(promhttp::prometheus::Registry::new()));
//! assert!(page.errors.is_empty());
//! assert_eq!(page.families[0].name, "logins_total");
//! ```
//!
//! # How
//!
//! prometheus-client writes its metrics only through its own encoders: its
//! `DescriptorEncoder`/`MetricEncoder` types have no public constructor, so no other
//! backend can receive the values directly. The bridge therefore encodes the registry with
//! [`prometheus_client::encoding::text::encode_registry`] (OpenMetrics text, exemplars
//! included) into a `String` and parses that back into the [model](crate::model) with a
//! small strict OpenMetrics parser. The cost is one text encoding and one parse per
//! scrape, linear in the series (the parse about 1.6× prometheus-client's own encode:
//! an uncompressed 10k-series page takes 3.3–3.9× what prometheus-client alone
//! takes, a gzip page about the same; see BENCHMARKS.md); the buffer is sized from
//! the previous scrape's size.
//!
//! Mapping:
//!
//! | prometheus-client | model |
//! |---|---|
//! | `counter` `x` (samples `x_total`, `x_created`) | [`MetricType::Counter`](crate::model::MetricType::Counter) family `x_total`, exemplars and created times kept |
//! | `gauge` | [`MetricType::Gauge`](crate::model::MetricType::Gauge) |
//! | `histogram` (`_bucket{le}`, `_sum`, `_count`, `_created`) | [`MetricType::Histogram`](crate::model::MetricType::Histogram), bucket exemplars kept |
//! | `info` `x` (sample `x_info{..} 1`) | [`MetricType::Gauge`](crate::model::MetricType::Gauge) family `x_info` |
//! | `unknown` | [`MetricType::Untyped`](crate::model::MetricType::Untyped) |
//! | `# UNIT` | [`MetricFamily::unit`](crate::model::MetricFamily::unit) |
//!
//! prometheus-client writes `# HELP` text unescaped, so help is taken verbatim (a
//! backslash stays a backslash). Label values are unescaped (`\\`, `\"`, `\n`).
//! Anything the parser does not accept (a malformed line, a sample that does not
//! belong to its family, a type it does not know) drops that family and is reported
//! as a [`GatherError`] naming it; the parser never panics. If prometheus-client's
//! encoder itself fails (for example a native-only histogram), the registry
//! contributes nothing and one error is reported.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use prometheus_client::registry::Registry;

use crate::gather::{Gather, GatherError, GatherErrorKind, Gathered};

mod parse;

use parse::parse_openmetrics;

static LAST_LEN: AtomicUsize = AtomicUsize::new(1024);

impl Gather for Registry {
    fn gather_into(&self, out: &mut Gathered) {
        gather_registry(self, out)
    }
}

impl Gather for Mutex<Registry> {
    fn gather_into(&self, out: &mut Gathered) {
        let registry = crate::util::lock(self);
        gather_registry(&registry, out)
    }
}

impl Gather for RwLock<Registry> {
    fn gather_into(&self, out: &mut Gathered) {
        let registry = crate::util::read(self);
        gather_registry(&registry, out)
    }
}

/// Encodes `registry` as OpenMetrics text and appends its families to `out`.
///
/// This is what the [`Gather`] impls call; it is public for sources that hold a
/// registry some other way.
pub fn gather_registry(registry: &Registry, out: &mut Gathered) {
    let mut text = String::with_capacity(LAST_LEN.load(Ordering::Relaxed));
    if prometheus_client::encoding::text::encode_registry(&mut text, registry).is_err() {
        out.errors
            .push(GatherError::new(GatherErrorKind::SourceFailed {
                message: "prometheus-client failed to encode its registry".to_owned(),
            }));
        return;
    }
    LAST_LEN.store(text.len(), Ordering::Relaxed);
    parse_openmetrics(&text, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Label, MetricType, Value};

    fn parse(text: &str) -> Gathered {
        let mut out = Gathered::default();
        parse_openmetrics(text, &mut out);
        out
    }

    #[test]
    fn counter_with_created_and_exemplar() {
        let g = parse(
            "# HELP c Help \\ raw.\n# TYPE c counter\n\
             c_total{a=\"x\\\"y\\\\z\\n\"} 3 # {trace_id=\"t\"} 1.5 12.25\nc_created{a=\"x\\\"y\\\\z\\n\"} 100\n# EOF\n",
        );
        assert!(g.errors.is_empty(), "{:?}", g.errors);
        let f = &g.families[0];
        assert_eq!(f.name, "c_total");
        assert_eq!(f.help, "Help \\ raw.");
        assert_eq!(f.metrics[0].labels, vec![Label::new("a", "x\"y\\z\n")]);
        let at = |ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
        assert_eq!(f.metrics[0].created, Some(at(100_000)));
        let Value::Counter(c) = &f.metrics[0].value else {
            panic!()
        };
        assert_eq!(c.value, 3.0);
        let e = c.exemplar.as_ref().unwrap();
        assert_eq!((e.value, e.timestamp), (1.5, Some(at(12_250))));
    }

    #[test]
    fn histogram_info_unknown_unit() {
        let g = parse("# HELP h H.\n# TYPE h_seconds histogram\n# UNIT h_seconds seconds\n");
        // HELP and TYPE names differ: two families, the first without a TYPE.
        assert_eq!(g.errors.len(), 1);
        let g = parse(
            "# HELP h_seconds H.\n# TYPE h_seconds histogram\n# UNIT h_seconds seconds\n\
             h_seconds_sum 1.5\nh_seconds_count 2\nh_seconds_bucket{le=\"1.0\"} 1 # {t=\"a\"} 0.5\n\
             h_seconds_bucket{le=\"+Inf\"} 2\n\
             # HELP i I.\n# TYPE i info\ni_info{v=\"1\"} 1\n# HELP u U.\n# TYPE u unknown\nu -1e3\n",
        );
        assert!(g.errors.is_empty(), "{:?}", g.errors);
        assert_eq!(g.families[0].unit, "seconds");
        let Value::Histogram(h) = &g.families[0].metrics[0].value else {
            panic!()
        };
        assert_eq!((h.sum, h.count, h.buckets.len()), (1.5, 2, 2));
        assert!(h.buckets[0].exemplar.is_some());
        assert_eq!(h.buckets[1].upper_bound, f64::INFINITY);
        assert_eq!(g.families[1].name, "i_info");
        assert_eq!(g.families[1].metric_type, MetricType::Gauge);
        assert_eq!(g.families[2].metrics[0].value, Value::Untyped(-1000.0));
    }

    #[test]
    fn errors_name_the_family_and_drop_it() {
        for bad in [
            "# TYPE c counter\nc 1\n",
            "# TYPE c counter\nc_total{a=\"x} 1\n",
            "# TYPE c counter\nc_total{a=\"\\q\"} 1\n",
            "# TYPE c counter\nc_total 1 2\n",
            "# TYPE c counter\nc_total x\n",
            "# TYPE c counter\nc_total 1\nc_total 2\n",
            "# TYPE c counter\nd_total 1\n",
            "# TYPE c counter\nc_total{é=\"1\"} 1\n",
            "# TYPE c counter\nc_total 1 # {a=\"b\"}\n",
            "# TYPE c counter\nc_created 1\n",
            "# TYPE c counter\nc_total 1\nc_created NaN\n",
            "# TYPE c counter\nc_total 1 # {a=\"b\"} 1 +Inf\n",
        ] {
            let g = parse(&format!("{bad}# TYPE g gauge\ng 1\n# EOF\n"));
            assert_eq!(g.families.len(), 1, "{bad:?}");
            assert_eq!(g.families[0].name, "g");
            assert_eq!(g.errors.len(), 1, "{bad:?}");
            assert_eq!(g.errors[0].family(), Some("c_total"), "{bad:?}");
            assert!(
                matches!(g.errors[0].kind(), GatherErrorKind::Malformed { origin, .. } if origin == "prometheus-client"),
                "{bad:?}: {:?}",
                g.errors
            );
        }
        let g = parse("# TYPE s stateset\ns{s=\"a\"} 1\n");
        assert_eq!(g.errors[0].family(), Some("s"));
        let g = parse("x 1\n");
        assert_eq!(g.errors[0].family(), None);
        assert_eq!(
            g.errors[0].to_string(),
            "malformed prometheus-client text: sample outside a metric family: \"x 1\""
        );
        let g = parse("# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n");
        assert_eq!(g.errors.len(), 1);
    }

    /// Series are found by their labels wherever their lines are (the lookup
    /// checks the last series first, then a hash of all of them), and a repeated
    /// series is an error even far from its first line.
    #[test]
    fn series_lookup_by_labels() {
        let mut text = String::from("# TYPE h histogram\n");
        // Lines of three series interleaved; one label value with an escape.
        for (le, n) in [("1.0", 1), ("+Inf", 2)] {
            for series in ["a", "b", "c\\\"q"] {
                text.push_str(&format!("h_bucket{{s=\"{series}\",le=\"{le}\"}} {n}\n"));
            }
        }
        for series in ["c\\\"q", "a", "b"] {
            text.push_str(&format!(
                "h_count{{s=\"{series}\"}} 2\nh_sum{{s=\"{series}\"}} 3\n"
            ));
        }
        let g = parse(&text);
        assert!(g.errors.is_empty(), "{:?}", g.errors);
        let metrics = &g.families[0].metrics;
        assert_eq!(metrics.len(), 3);
        assert_eq!(metrics[2].labels, vec![Label::new("s", "c\"q")]);
        for m in metrics {
            let Value::Histogram(h) = &m.value else {
                panic!()
            };
            assert_eq!((h.count, h.sum, h.buckets.len()), (2, 3.0, 2), "{m:?}");
        }

        let mut text = String::from("# TYPE c counter\n");
        for i in 0..1000 {
            text.push_str(&format!("c_total{{i=\"{i}\"}} {i}\n"));
        }
        let g = parse(&text);
        assert_eq!(g.families[0].metrics.len(), 1000);
        text.push_str("c_total{i=\"17\"} 5\n");
        let g = parse(&text);
        assert!(g.families.is_empty());
        assert!(
            matches!(g.errors[0].kind(), GatherErrorKind::Malformed { detail, .. } if detail == "the same series twice"),
            "{:?}",
            g.errors
        );
    }
}
