//! Unit tests of gathering: the `prometheus` adapter, merging, the checks of `normalize`, panicking sources.

use super::*;
use crate::encode::Escaping;
use crate::model::{
    Bucket, HistogramValue, Label, Metric, MetricFamily, MetricType, Quantile, Str, SummaryValue,
    Value,
};
use ::prometheus::{CounterVec, Gauge, HistogramOpts, HistogramVec, IntCounter, Opts, Registry};

fn fam(
    name: &'static str,
    help: &'static str,
    t: MetricType,
    metrics: Vec<Metric>,
) -> MetricFamily {
    MetricFamily {
        name: name.into(),
        help: help.into(),
        unit: Str::default(),
        metric_type: t,
        metrics,
    }
}

fn gauge(labels: &[(&'static str, &'static str)], v: f64) -> Metric {
    Metric::new(
        labels.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
        Value::Gauge(v),
    )
}

fn run(families: Vec<MetricFamily>) -> Gathered {
    let mut g = Gathered {
        families,
        ..Gathered::default()
    };
    normalize(&mut g);
    g
}

#[test]
fn registry_is_moved_into_the_model() {
    let r = Registry::new();
    let c = CounterVec::new(Opts::new("req_total", "Requests."), &["code"]).unwrap();
    let h = HistogramVec::new(
        HistogramOpts::new("lat_seconds", "Latency.").buckets(vec![0.1, 1.0]),
        &["m"],
    )
    .unwrap();
    let g = Gauge::new("temp", "Temp.").unwrap();
    r.register(Box::new(c.clone())).unwrap();
    r.register(Box::new(h.clone())).unwrap();
    r.register(Box::new(g.clone())).unwrap();
    c.with_label_values(&["500"]).inc_by(2.0);
    c.with_label_values(&["200"]).inc();
    h.with_label_values(&["GET"]).observe(0.5);
    g.set(-1.5);
    let out = gather_all(&r);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let names: Vec<&str> = out.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["lat_seconds", "req_total", "temp"]);
    let req = &out.families[1];
    assert_eq!(req.metric_type, MetricType::Counter);
    assert_eq!(req.metrics[0].labels, vec![Label::new("code", "200")]);
    assert_eq!(req.metrics[1].value, Value::counter(2.0));
    match &out.families[0].metrics[0].value {
        Value::Histogram(h) => {
            assert_eq!(h.count, 1);
            assert_eq!(h.sum, 0.5);
            let counts: Vec<u64> = h.buckets.iter().map(|b| b.cumulative_count).collect();
            assert_eq!(counts, [0, 1]);
        }
        v => panic!("{v:?}"),
    }
    assert_eq!(out.families[2].metrics[0].value, Value::Gauge(-1.5));
}

/// What the `prometheus` adapter reports: a metric without a value of its
/// family's type, a collector that panics.
#[test]
fn registry_problems_are_reported() {
    use ::prometheus::core::{Collector, Desc};
    use ::prometheus::proto;

    let mut family = proto::MetricFamily::default();
    family.set_name("c_total".into());
    family.set_field_type(proto::MetricType::COUNTER);
    family
        .mut_metric()
        .push(proto::Metric::from_gauge(proto::Gauge::default()));
    let mut out = Gathered::default();
    from_proto(vec![family], &mut out);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].family(), Some("c_total"));
    assert_eq!(
        out.errors[0].kind(),
        &GatherErrorKind::MissingValue {
            family_type: MetricType::Counter
        }
    );
    assert!(out.families[0].metrics.is_empty());

    struct Exploding(Vec<Desc>);
    impl Collector for Exploding {
        fn desc(&self) -> Vec<&Desc> {
            self.0.iter().collect()
        }
        fn collect(&self) -> Vec<proto::MetricFamily> {
            panic!("collector exploded")
        }
    }
    let r = Registry::new();
    let desc = Desc::new("boom".into(), "Boom.".into(), vec![], Default::default()).unwrap();
    r.register(Box::new(Exploding(vec![desc]))).unwrap();
    let out = gather_all(&r);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(
        out.errors[0].kind(),
        &GatherErrorKind::SourcePanicked {
            origin: "a collector of a prometheus::Registry".into(),
            message: "collector exploded".into()
        }
    );
}

#[test]
fn merges_consistent_families_from_several_sources() {
    let a = Registry::new();
    let b = Registry::new();
    let ca = IntCounter::with_opts(Opts::new("x_total", "X.").const_label("src", "a")).unwrap();
    let cb = IntCounter::with_opts(Opts::new("x_total", "X.").const_label("src", "b")).unwrap();
    a.register(Box::new(ca)).unwrap();
    b.register(Box::new(cb)).unwrap();
    let out = gather_all(&Gatherers::new().with(b).with(a));
    assert!(out.errors.is_empty());
    assert_eq!(out.families.len(), 1);
    let values: Vec<&str> = out.families[0]
        .metrics
        .iter()
        .map(|m| m.labels[0].value.as_str())
        .collect();
    assert_eq!(values, ["a", "b"]);
}

#[test]
fn duplicate_series_are_reported_and_dropped() {
    let out = run(vec![
        fam(
            "g",
            "G.",
            MetricType::Gauge,
            vec![gauge(&[("a", "1")], 1.0)],
        ),
        fam(
            "g",
            "G.",
            MetricType::Gauge,
            vec![gauge(&[("a", "1")], 2.0), gauge(&[("a", "2")], 3.0)],
        ),
    ]);
    assert_eq!(out.families[0].metrics.len(), 2);
    assert_eq!(out.families[0].metrics[0].value, Value::Gauge(1.0));
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].family(), Some("g"));
    assert_eq!(
        out.errors[0].kind(),
        &GatherErrorKind::DuplicateSeries { repeats: 1 }
    );
    assert_eq!(
        out.errors[0].to_string(),
        "metric family \"g\": 1 series were collected more than once with the same labels; \
         the repeats are left out"
    );
}

#[test]
fn type_and_help_mismatches_are_reported() {
    let out = run(vec![
        fam("g", "G.", MetricType::Gauge, vec![gauge(&[], 1.0)]),
        fam(
            "g",
            "G.",
            MetricType::Untyped,
            vec![Metric::new(vec![], Value::Untyped(1.0))],
        ),
        fam(
            "g",
            "Other.",
            MetricType::Gauge,
            vec![gauge(&[("a", "b")], 1.0)],
        ),
    ]);
    assert_eq!(out.families.len(), 1);
    assert_eq!(out.families[0].metrics.len(), 1);
    let kinds: Vec<&GatherErrorKind> = out.errors.iter().map(GatherError::kind).collect();
    assert_eq!(
        kinds,
        [
            &GatherErrorKind::TypeMismatch {
                first: MetricType::Gauge,
                second: MetricType::Untyped,
                dropped: 1
            },
            &GatherErrorKind::HelpMismatch {
                first: "G.".into(),
                second: "Other.".into()
            },
        ]
    );
    assert!(out.errors.iter().all(|e| e.family() == Some("g")));
    assert!(out.errors[1].to_string().contains("Other."));
}

#[test]
fn invalid_names_and_labels_are_reported() {
    let out = run(vec![
        fam("", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
        fam(
            "g",
            "",
            MetricType::Gauge,
            vec![
                gauge(&[("__x", "1")], 1.0),
                gauge(&[("a", "1"), ("a", "2")], 1.0),
                gauge(&[("b", "1"), ("a", "2")], 1.0),
                Metric::new(vec![], Value::counter(1.0)),
            ],
        ),
        fam(
            "h",
            "",
            MetricType::Histogram,
            vec![Metric::new(
                vec![Label::new("le", "1")],
                Value::Histogram(HistogramValue::default()),
            )],
        ),
    ]);
    assert_eq!(out.families.len(), 1);
    // The unsorted label set was kept, sorted.
    assert_eq!(out.families[0].metrics[0].labels[0].name, "a");
    let found: Vec<(Option<&str>, &GatherErrorKind)> =
        out.errors.iter().map(|e| (e.family(), e.kind())).collect();
    assert_eq!(
        found,
        [
            (Some(""), &GatherErrorKind::InvalidMetricName),
            (
                Some("g"),
                &GatherErrorKind::InvalidLabelName {
                    label: "__x".into()
                }
            ),
            (
                Some("g"),
                &GatherErrorKind::DuplicateLabelName { label: "a".into() }
            ),
            (
                Some("g"),
                &GatherErrorKind::ValueTypeMismatch {
                    family_type: MetricType::Gauge,
                    value_type: MetricType::Counter
                }
            ),
            (
                Some("h"),
                &GatherErrorKind::ReservedLabelName {
                    label: "le".into(),
                    family_type: MetricType::Histogram
                }
            ),
        ]
    );
    // The text the handler shows a scraper.
    let text: Vec<String> = out.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        text,
        [
            "metric family \"\": invalid metric name",
            "metric family \"g\": invalid label name \"__x\"",
            "metric family \"g\": a metric has two or more labels named \"a\"",
            "metric family \"g\": a metric has a counter value in a gauge family",
            "metric family \"h\": label \"le\" is reserved for histograms",
        ]
    );
}

#[test]
fn broken_shapes_are_reported() {
    let hist = |buckets: &[(f64, u64)], count| {
        Metric::new(
            vec![],
            Value::Histogram(HistogramValue {
                buckets: buckets
                    .iter()
                    .map(|(b, c)| Bucket {
                        upper_bound: *b,
                        cumulative_count: *c,
                        exemplar: None,
                    })
                    .collect(),
                count,
                sum: 1.0,
                native: None,
            }),
        )
    };
    use GatherErrorKind as K;
    type Want = fn(&GatherErrorKind) -> bool;
    let cases: Vec<(MetricType, Metric, Want, &str)> = vec![
        (
            MetricType::Counter,
            Metric::new(vec![], Value::counter(-1.0)),
            |k| matches!(k, K::InvalidCounterValue { value } if *value == -1.0),
            "a counter has the value -1: counters are never negative or NaN",
        ),
        (
            MetricType::Counter,
            Metric::new(vec![], Value::counter(f64::NAN)),
            |k| matches!(k, K::InvalidCounterValue { value } if value.is_nan()),
            "a counter has the value NaN: counters are never negative or NaN",
        ),
        (
            MetricType::Histogram,
            hist(&[(1.0, 5), (0.5, 5)], 5),
            |k| {
                *k == K::BucketBoundsNotIncreasing {
                    bound: 0.5,
                    previous: 1.0,
                }
            },
            "histogram bucket bounds must increase: 0.5 after 1",
        ),
        (
            MetricType::Histogram,
            hist(&[(f64::NAN, 1)], 1),
            |k| matches!(k, K::BucketBoundsNotIncreasing { bound, previous } if bound.is_nan() && *previous == f64::NEG_INFINITY),
            "histogram bucket bounds must increase: NaN after -inf",
        ),
        (
            MetricType::Histogram,
            hist(&[(1.0, 5), (2.0, 3)], 5),
            |k| {
                *k == K::BucketCountsDecreasing {
                    bound: 2.0,
                    count: 3,
                    previous: 5,
                }
            },
            "histogram bucket counts must not decrease: 3 (le=2) after 5",
        ),
        (
            MetricType::Histogram,
            hist(&[(1.0, 5)], 4),
            |k| {
                *k == K::HistogramCountBelowBuckets {
                    count: 4,
                    bucket_count: 5,
                }
            },
            "histogram count 4 is below its largest bucket count 5",
        ),
        (
            MetricType::Histogram,
            hist(&[(1.0, 1), (f64::INFINITY, 3)], 4),
            |k| {
                *k == K::InfBucketMismatch {
                    inf_bucket: 3,
                    count: 4,
                }
            },
            "histogram +Inf bucket 3 differs from its count 4",
        ),
        (
            MetricType::Summary,
            Metric::new(
                vec![],
                Value::Summary(SummaryValue {
                    quantiles: vec![Quantile {
                        quantile: 1.5,
                        value: 1.0,
                    }],
                    count: 1,
                    sum: 1.0,
                }),
            ),
            |k| *k == K::QuantileOutOfRange { quantile: 1.5 },
            "summary quantile 1.5 is not within [0, 1]",
        ),
    ];
    for (t, m, want, text) in cases {
        let out = run(vec![fam("x", "", t, vec![m])]);
        assert!(out.families.is_empty());
        assert_eq!(out.errors.len(), 1, "{text}: {:?}", out.errors);
        assert!(want(out.errors[0].kind()), "{text}: {:?}", out.errors);
        assert_eq!(out.errors[0].family(), Some("x"));
        assert_eq!(
            out.errors[0].to_string(),
            format!("metric family \"x\": {text}")
        );
    }
    // Good shapes pass, including a histogram without buckets.
    let out = run(vec![fam(
        "x",
        "",
        MetricType::Histogram,
        vec![hist(&[(0.5, 1), (f64::INFINITY, 2)], 2)],
    )]);
    assert!(out.errors.is_empty());
}

#[test]
fn suffix_clashes_are_reported() {
    let hist = Metric::new(vec![], Value::Histogram(HistogramValue::default()));
    let out = run(vec![
        fam("x", "", MetricType::Histogram, vec![hist]),
        fam("x_count", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
        fam("x_total", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
    ]);
    let names: Vec<&str> = out.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["x", "x_total"]);
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert_eq!(out.errors[0].family(), Some("x_count"));
    assert_eq!(
        out.errors[0].kind(),
        &GatherErrorKind::NameClash {
            other: "x".into(),
            other_type: MetricType::Histogram
        }
    );
    assert_eq!(
        out.errors[0].to_string(),
        "metric family \"x_count\": clashes with the samples of histogram \"x\": it is left out"
    );
}

#[test]
fn openmetrics_name_clashes_are_reported() {
    let out = run(vec![
        fam(
            "x_total",
            "",
            MetricType::Counter,
            vec![Metric::new(vec![], Value::counter(1.0))],
        ),
        fam("x", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
        fam("x_created", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
    ]);
    let names: Vec<&str> = out.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["x_total"]);
    let found: Vec<(Option<&str>, &GatherErrorKind)> =
        out.errors.iter().map(|e| (e.family(), e.kind())).collect();
    assert_eq!(
        found,
        [
            (
                Some("x"),
                &GatherErrorKind::OpenMetricsNameClash {
                    counter: "x_total".into()
                }
            ),
            (
                Some("x_created"),
                &GatherErrorKind::NameClash {
                    other: "x_total".into(),
                    other_type: MetricType::Counter
                }
            ),
        ]
    );
    assert_eq!(
        out.errors[0].to_string(),
        "metric family \"x\": clashes with counter \"x_total\", which OpenMetrics names \"x\": it is left out"
    );
}

#[test]
fn panicking_source_is_contained() {
    let ok = from_fn(|out| {
        out.families
            .push(fam("ok", "", MetricType::Gauge, vec![gauge(&[], 1.0)]));
    });
    let bad = from_fn(|_| panic!("collector exploded"));
    let out = gather_all(&Gatherers::new().with(ok).with(bad));
    assert_eq!(out.families.len(), 1);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].family(), None);
    assert_eq!(
        out.errors[0].kind(),
        &GatherErrorKind::SourcePanicked {
            origin: "source #1".into(),
            message: "collector exploded".into()
        }
    );
    assert_eq!(
        out.errors[0].to_string(),
        "source #1 panicked: collector exploded"
    );
}

#[test]
fn equal_label_sets_sort_together() {
    let out = run(vec![fam(
        "g",
        "",
        MetricType::Gauge,
        vec![
            gauge(&[("a", "1")], 1.0),
            gauge(&[("b", "1")], 2.0),
            gauge(&[("a", "1")], 3.0),
        ],
    )]);
    assert_eq!(out.families[0].metrics.len(), 2);
    assert_eq!(out.errors.len(), 1);
}

#[test]
fn empty_families_are_dropped() {
    let out = run(vec![fam("g", "", MetricType::Gauge, vec![])]);
    assert!(out.families.is_empty());
    assert!(out.errors.is_empty());
}

#[cfg(all(feature = "process", target_os = "linux"))]
mod process_tests {
    use super::*;

    #[test]
    fn custom_and_default_registry_with_process_metrics_on_one_page() {
        let mine = Registry::new();
        let c = ::prometheus::IntCounter::new("mine_total", "Mine.").unwrap();
        mine.register(Box::new(c)).unwrap();
        let page = gather_all(&Gatherers::new().with(mine).with(DefaultRegistry));
        assert!(page.errors.is_empty(), "{:?}", page.errors);
        for name in [
            "mine_total",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
        ] {
            assert!(
                page.families.iter().any(|f| f.name == name),
                "{name} missing"
            );
        }
    }
}

fn run_with(families: Vec<MetricFamily>, escaping: Escaping) -> Gathered {
    let mut g = Gathered {
        families,
        ..Gathered::default()
    };
    normalize_with(&mut g, escaping);
    g
}

fn names(g: &Gathered) -> Vec<String> {
    g.families.iter().map(|f| f.name.to_string()).collect()
}

/// UTF-8 names are valid; they are escaped unless the scraper reads UTF-8, and
/// label names with them.
#[test]
fn utf8_names_are_escaped_as_asked() {
    let families = || {
        vec![
            fam(
                "http.server.duration",
                "",
                MetricType::Gauge,
                vec![gauge(&[("http.method", "GET"), ("zone", "b")], 1.0)],
            ),
            fam("plain_total", "", MetricType::Gauge, vec![gauge(&[], 2.0)]),
        ]
    };
    let utf8 = run_with(families(), Escaping::AllowUtf8);
    assert!(utf8.errors.is_empty(), "{:?}", utf8.errors);
    assert_eq!(names(&utf8), ["http.server.duration", "plain_total"]);
    assert_eq!(utf8.families[0].metrics[0].labels[0].name, "http.method");
    for (escaping, name, label, plain) in [
        (
            Escaping::Underscores,
            "http_server_duration",
            "http_method",
            "plain_total",
        ),
        (
            Escaping::Dots,
            "http_dot_server_dot_duration",
            "http_dot_method",
            "plain__total",
        ),
        (
            Escaping::Values,
            "U__http_2e_server_2e_duration",
            "U__http_2e_method",
            "plain_total",
        ),
    ] {
        let g = run_with(families(), escaping);
        assert!(g.errors.is_empty(), "{escaping:?}: {:?}", g.errors);
        let mut want = vec![name.to_owned(), plain.to_owned()];
        want.sort();
        assert_eq!(names(&g), want, "{escaping:?}");
        let f = g.families.iter().find(|f| f.name == name).unwrap();
        let labels: Vec<&str> = f.metrics[0]
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        // Sorted again after escaping.
        let mut sorted = vec![label, "zone"];
        sorted.sort();
        assert_eq!(labels, sorted, "{escaping:?}");
    }
    // `normalize` is `underscores`: what old scrapers, gateways and receivers read.
    assert_eq!(
        names(&run(families())),
        ["http_server_duration", "plain_total"]
    );
}

/// `a.b` and `a_b` are one name under `underscores`: an error naming both, and
/// the family whose name needed no escaping is kept; not merged.
#[test]
fn escaping_collisions_are_reported_not_merged() {
    let g = run_with(
        vec![
            fam("a.b", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
            fam(
                "a_b",
                "",
                MetricType::Gauge,
                vec![gauge(&[("x", "1")], 2.0)],
            ),
            fam("c.d", "", MetricType::Gauge, vec![gauge(&[], 3.0)]),
            fam("c/d", "", MetricType::Gauge, vec![gauge(&[], 4.0)]),
        ],
        Escaping::Underscores,
    );
    assert_eq!(names(&g), ["a_b", "c_d"]);
    assert_eq!(g.families[0].metrics[0].labels[0].name, "x");
    // Neither `c.d` nor `c/d` is `c_d`: the smaller original is kept.
    assert_eq!(g.families[1].metrics[0].value, Value::Gauge(3.0));
    let errors: Vec<String> = g.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errors,
        [
            "metric family \"a.b\": metric names \"a_b\" and \"a.b\" are both \"a_b\" with escaping=underscores: \"a.b\" left out",
            "metric family \"c/d\": metric names \"c.d\" and \"c/d\" are both \"c_d\" with escaping=underscores: \"c/d\" left out",
        ]
    );
    // With UTF-8 names, all four are distinct.
    assert_eq!(
        names(&run_with(
            vec![
                fam("a.b", "", MetricType::Gauge, vec![gauge(&[], 1.0)]),
                fam("a_b", "", MetricType::Gauge, vec![gauge(&[], 2.0)]),
            ],
            Escaping::AllowUtf8
        )),
        ["a.b", "a_b"]
    );
    // Two label names of one metric that escape alike: the metric is left out.
    let g = run_with(
        vec![fam(
            "g",
            "",
            MetricType::Gauge,
            vec![
                gauge(&[("k.1", "a"), ("k_1", "b")], 1.0),
                gauge(&[("k.1", "c")], 2.0),
            ],
        )],
        Escaping::Underscores,
    );
    assert_eq!(g.families[0].metrics.len(), 1);
    assert_eq!(
        g.errors[0].kind(),
        &GatherErrorKind::LabelNameEscapingCollision {
            escaped: "k_1".into(),
            first: "k.1".into(),
            second: "k_1".into(),
            escaping: Escaping::Underscores,
        }
    );
}

/// `__` is reserved in the names a source gives, not in what escaping makes of
/// them: `_x` is a valid label name, and `__x` under `dots`.
#[test]
fn reserved_prefix_applies_to_given_names_only() {
    let g = run_with(
        vec![fam(
            "g",
            "",
            MetricType::Gauge,
            vec![gauge(&[("_x", "1")], 1.0)],
        )],
        Escaping::Dots,
    );
    assert!(g.errors.is_empty(), "{:?}", g.errors);
    assert_eq!(g.families[0].metrics[0].labels[0].name, "__x");
    let g = run_with(
        vec![fam(
            "g",
            "",
            MetricType::Gauge,
            vec![gauge(&[("__x", "1")], 1.0)],
        )],
        Escaping::AllowUtf8,
    );
    assert_eq!(
        g.errors[0].kind(),
        &GatherErrorKind::InvalidLabelName {
            label: "__x".into()
        }
    );
}
