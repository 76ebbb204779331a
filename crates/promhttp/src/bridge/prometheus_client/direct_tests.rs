//! The bridge's families written directly against the same families through the
//! model: the same page, byte for byte, in every format and escaping scheme.

use std::time::{Duration, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::{CounterWithExemplar, HistogramWithExemplars};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, NativeHistogramConfig};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::encode::{encode, EncodeOptions, Escaping, Format};
use crate::gather::{normalize_keeping_direct, normalize_with, Gather, Gathered};

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Every kind prometheus-client has, series in hash order with labels given out
/// of name order, values that need escaping; and families normalize must check:
/// a label name outside the legacy set, a duplicate series, a name that clashes,
/// a NUL byte in a value.
fn registry() -> Registry {
    let mut r = Registry::default();
    let requests: Family<Labels, Counter> = Family::default();
    r.register("requests", "Requests \\ \"served\"\nnow", requests.clone());
    for i in 0..40 {
        let path = ["/a\\b", "/\n", "", "ü/佖", "/a", "/b\""][i % 6];
        let code = if i % 3 == 0 { "500" } else { "200" };
        requests
            .get_or_create(&labels(&[("path", &format!("{path}{i}")), ("code", code)]))
            .inc_by(i as u64 * 1_000_000);
    }
    let traced: Family<Labels, CounterWithExemplar<Labels>> = Family::default();
    r.register("traced", "With exemplars", traced.clone());
    for i in 0..5 {
        traced
            .get_or_create(&labels(&[("z", &i.to_string())]))
            .inc_by(
                2,
                Some(labels(&[("trace_id", "abc")])),
                Some(UNIX_EPOCH + Duration::from_millis(1500)),
            );
    }
    let temp: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>> = Family::default();
    r.register_with_unit("temp", "A gauge", Unit::Celsius, temp.clone());
    for i in 0..30 {
        temp.get_or_create(&labels(&[
            ("room", &format!("r{}", 30 - i)),
            ("floor", "1"),
        ]))
        .set(i as f64 / 3.0 - 1e-7);
    }
    let latency: Family<Labels, HistogramWithExemplars<Labels>> =
        Family::new_with_constructor(|| HistogramWithExemplars::new([0.1, 1.0].into_iter()));
    r.register_with_unit("latency", "A histogram", Unit::Seconds, latency.clone());
    for (i, v) in [0.05, 0.5, 3.0, 0.2].into_iter().enumerate() {
        let h = latency.get_or_create(&labels(&[("route", &format!("/{}", i % 3))]));
        h.observe(v, Some(labels(&[("trace_id", "t")])), None);
    }
    let dual = Histogram::new_classic_and_native([0.5, 2.0], NativeHistogramConfig::with_schema(0));
    r.register_with_unit("rpc", "Classic and native", Unit::Seconds, dual.clone());
    let native = Histogram::new_native(NativeHistogramConfig::with_schema(3));
    r.register("sizes", "Native only", native.clone());
    for v in [-1.5f64, 0.0, 8.0, 0.3, 1.5, 1.5] {
        dual.observe(v.abs());
        native.observe(v);
    }
    r.register("build", "Build", Info::new(labels(&[("version", "1.2.3")])));
    // Model path: a label name outside the legacy set.
    let dotted: Family<Labels, Counter> = Family::default();
    r.register("dotted", "Dotted label", dotted.clone());
    dotted
        .get_or_create(&labels(&[("http.method", "GET")]))
        .inc();
    // Model path: a NUL byte in a value (sorted label by label there).
    let nul: Family<Labels, Gauge> = Family::default();
    r.register("nul", "A NUL byte", nul.clone());
    nul.get_or_create(&labels(&[("v", "a\0b")])).set(1);
    nul.get_or_create(&labels(&[("v", "a")])).set(2);
    // Model path: two series with the same labels, given in two orders.
    let twice: Family<Labels, Gauge> = Family::default();
    r.register("twice", "The same series twice", twice.clone());
    twice
        .get_or_create(&labels(&[("a", "1"), ("b", "2")]))
        .set(1);
    twice
        .get_or_create(&labels(&[("b", "2"), ("a", "1")]))
        .set(2);
    // Model path: a counter `x_total` beside a gauge `x`.
    r.register("x", "Clashes with x_total", Gauge::<i64>::default());
    r.register("x", "A counter", Counter::<u64>::default());
    r
}

/// A page and its errors, sorted.
type Page = (Vec<u8>, Vec<String>);

/// The page the handler writes (direct families kept), the page of the model
/// path, and the names of the families written directly.
fn pages(
    r: &Registry,
    format: Format,
    escaping: Escaping,
    opts: &EncodeOptions,
) -> (Page, Page, Vec<String>) {
    let errors = |g: &Gathered| {
        let mut e: Vec<String> = g.errors.iter().map(|e| e.to_string()).collect();
        e.sort();
        e
    };
    let mut g = Gathered::default();
    r.gather_into(&mut g);
    normalize_keeping_direct(&mut g, escaping);
    let direct_names = g.direct.iter().map(|d| d.0.name().to_owned()).collect();
    let mut direct = Vec::new();
    crate::gather::direct::encode_page(format, &g.families, &g.direct, opts, &mut direct);
    let direct_errors = errors(&g);
    let mut g = Gathered::default();
    r.gather_into(&mut g);
    normalize_with(&mut g, escaping);
    let mut model = Vec::new();
    encode(format, &g.families, opts, &mut model);
    ((direct, direct_errors), (model, errors(&g)), direct_names)
}

#[test]
fn direct_families_write_the_model_page_byte_for_byte() {
    let r = registry();
    for format in [
        Format::Text,
        Format::OpenMetrics,
        Format::Protobuf,
        Format::OpenMetrics2,
    ] {
        for escaping in [Escaping::Underscores, Escaping::AllowUtf8, Escaping::Dots] {
            for created in [false, true] {
                let opts = EncodeOptions::default().with_created(created);
                let (direct, model, _) = pages(&r, format, escaping, &opts);
                assert!(!model.1.is_empty(), "the checked families are reported");
                assert_eq!(direct.1, model.1, "{format:?} {escaping:?}");
                assert!(
                    direct.0 == model.0,
                    "{format:?} {escaping:?} created {created}:\n{}\n---\n{}",
                    String::from_utf8_lossy(&direct.0),
                    String::from_utf8_lossy(&model.0)
                );
            }
        }
    }
}

/// Families normalize has nothing to say about are written directly; the others
/// take the model path, where they are checked and reported.
#[test]
fn only_families_without_findings_are_written_directly() {
    let r = registry();
    let opts = EncodeOptions::default();
    let (_, (_, errors), mut direct) = pages(&r, Format::Text, Escaping::Underscores, &opts);
    direct.sort();
    assert_eq!(
        direct,
        [
            "build_info",
            "latency_seconds",
            "requests_total",
            "rpc_seconds",
            "sizes",
            "temp_celsius",
            "traced_total"
        ]
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("twice")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("x_total")), "{errors:?}");
    // Under `dots` every family takes the model path.
    let (_, _, direct) = pages(&r, Format::Text, Escaping::Dots, &opts);
    assert!(direct.is_empty(), "{direct:?}");
}
