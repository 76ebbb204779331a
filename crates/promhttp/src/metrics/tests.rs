use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;
use crate::encode::{encode, EncodeOptions, Format};
use crate::gather::gather_all;
use crate::model::{MetricFamily, Value};

fn text(registry: &Registry) -> String {
    let page = gather_all(registry);
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let mut out = Vec::new();
    encode(
        Format::Text,
        &page.families,
        &EncodeOptions::default(),
        &mut out,
    );
    String::from_utf8(out).unwrap()
}

#[test]
fn a_page_of_every_kind() {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new("requests_total", "Requests.").const_label("app", "shop"),
        &["method", "code"],
    )
    .unwrap();
    let bytes = Counter::new("sent_bytes_total", "Bytes sent.").unwrap();
    let queue = IntGauge::new("queue_length", "Jobs waiting.").unwrap();
    let temp = GaugeVec::new(Opts::new("temperature_celsius", "Temp."), &["room"]).unwrap();
    registry.register(Box::new(requests.clone())).unwrap();
    registry.register(&bytes).unwrap();
    registry.register(queue.clone()).unwrap();
    registry.register(temp.clone()).unwrap();
    registry
        .register(
            Info::new(Opts::new("build_info", "Build.").const_label("version", "1.2")).unwrap(),
        )
        .unwrap();
    registry
        .register(CounterFunc::new(Opts::new("ticks_total", "Ticks."), || 42.0).unwrap())
        .unwrap();
    requests.with_label_values(&["GET", "200"]).inc_by(3);
    requests.with_labels(&("POST", "500")).inc();
    bytes.inc_by(1.5);
    bytes.inc_by(-1.0);
    bytes.inc_by(f64::NAN);
    queue.set(5);
    queue.dec();
    temp.with_label_values(&["kitchen"]).set(21.5);
    temp.with_label_values(&["cellar"]).sub(3.25);
    assert_eq!(
        text(&registry),
        "# HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{version=\"1.2\"} 1\n\
         # HELP queue_length Jobs waiting.\n# TYPE queue_length gauge\nqueue_length 4\n\
         # HELP requests_total Requests.\n# TYPE requests_total counter\n\
         requests_total{app=\"shop\",code=\"200\",method=\"GET\"} 3\n\
         requests_total{app=\"shop\",code=\"500\",method=\"POST\"} 1\n\
         # HELP sent_bytes_total Bytes sent.\n# TYPE sent_bytes_total counter\nsent_bytes_total 1.5\n\
         # HELP temperature_celsius Temp.\n# TYPE temperature_celsius gauge\n\
         temperature_celsius{room=\"cellar\"} -3.25\ntemperature_celsius{room=\"kitchen\"} 21.5\n\
         # HELP ticks_total Ticks.\n# TYPE ticks_total counter\nticks_total 42\n"
    );
}

/// The `prometheus` crate joins label values to hash them; here `["ab", "c"]`
/// and `["a", "bc"]` (and every other split of one string) stay apart.
#[test]
fn joined_label_values_never_collide() {
    let family = IntCounterVec::new(Opts::new("c_total", ""), &["a", "b", "c"]).unwrap();
    let word = "abcdef";
    let mut n = 0;
    for i in 0..=word.len() {
        for j in i..=word.len() {
            n += 1;
            family
                .with_label_values(&[&word[..i], &word[i..j], &word[j..]])
                .inc_by(n);
        }
    }
    assert_eq!(family.len(), n as usize);
    let mut n = 0;
    for i in 0..=word.len() {
        for j in i..=word.len() {
            n += 1;
            let got = family.get_metric_with_label_values(&[&word[..i], &word[i..j], &word[j..]]);
            assert_eq!(got.unwrap().get(), n);
        }
    }
    // Any UTF-8, the empty string included.
    family.with_label_values(&["", "ß", "佖\n\""]).inc();
    assert_eq!(family.with_labels(&["", "ß", "佖\n\""]).get(), 1);
}

#[test]
fn the_series_limit_sends_new_label_sets_to_the_overflow_series() {
    let registry = Registry::new();
    let family = IntCounterVec::new(
        Opts::new("c_total", "").max_series(std::num::NonZeroUsize::new(2)),
        &["user"],
    )
    .unwrap();
    registry.register(family.clone()).unwrap();
    family.with_label_values(&["a"]).inc();
    family.with_label_values(&["b"]).inc();
    assert!(matches!(
        family.get_metric_with_label_values(&["c"]),
        Err(MetricError::SeriesLimit { limit: 2, .. })
    ));
    family.with_label_values(&["c"]).inc_by(5);
    family.with_label_values(&["d"]).inc();
    // A wrong number of values also lands there, without a panic.
    family.with_label_values(&["x", "y"]).inc();
    assert!(matches!(
        family.get_metric_with_label_values(&["x", "y"]),
        Err(MetricError::LabelCount {
            expected: 1,
            got: 2,
            ..
        })
    ));
    assert_eq!(family.len(), 2);
    assert!(text(&registry).contains("c_total{otel_metric_overflow=\"true\"} 7\n"));
    // Removing a series makes room again.
    family.remove_label_values(&["a"]).unwrap();
    assert!(family.get_metric_with_label_values(&["c"]).is_ok());
    assert!(matches!(
        family.remove_label_values(&["zzz"]),
        Err(MetricError::NoSuchSeries { .. })
    ));
    family.reset();
    assert!(family.is_empty());
}

#[test]
fn lookups_by_name() {
    let family = IntGaugeVec::new(Opts::new("g", ""), &["a", "b"]).unwrap();
    let labels = HashMap::from([("b", "2"), ("a", "1")]);
    family.with(&labels).set(7);
    assert_eq!(family.with_label_values(&["1", "2"]).get(), 7);
    let wrong = HashMap::from([("a", "1"), ("c", "2")]);
    assert!(matches!(
        family.get_metric_with(&wrong),
        Err(MetricError::UnknownLabel { label, .. }) if label == "c"
    ));
    family.remove(&labels).unwrap();
    assert!(family.is_empty());
}

#[test]
fn registration_rules() {
    let registry = Registry::new();
    let a = IntCounter::new("x_total", "").unwrap();
    let b = IntCounter::new("x_total", "").unwrap();
    registry.register(a.clone()).unwrap();
    assert!(matches!(
        registry.register(b.clone()),
        Err(MetricError::AlreadyRegistered { name }) if name == "x_total"
    ));
    assert!(matches!(
        registry.unregister(b),
        Err(MetricError::NotRegistered { .. })
    ));
    registry.unregister(a.clone()).unwrap();
    assert!(gather_all(&registry).families.is_empty());
    a.inc(); // a handle of an unregistered metric still works
    let family = IntCounterVec::new(Opts::new("y_total", ""), &["l"]).unwrap();
    assert_eq!(
        registry.register(family.with_label_values(&["v"])),
        Err(MetricError::NotAFamily)
    );
    assert!(matches!(
        IntCounter::new("bad-name", ""),
        Err(MetricError::InvalidName { .. })
    ));
}

#[test]
fn counters_carry_exemplars_and_start_times() {
    let c = Counter::new("c_total", "").unwrap();
    let registry = Registry::new();
    registry.register(c.clone()).unwrap();
    c.inc_by_with_exemplar(2.0, &[("trace_id", "abc")]);
    let page = gather_all(&registry);
    let metric = &page.families[0].metrics[0];
    assert_eq!(metric.created, Some(c.created()));
    match &metric.value {
        Value::Counter(v) => {
            assert_eq!(v.value, 2.0);
            let e = v.exemplar.as_deref().unwrap();
            assert_eq!((e.value, e.labels[0].value.as_str()), (2.0, "abc"));
            assert!(e.timestamp.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_default_registry_is_served_by_default_registry_source() {
    let c = crate::register_int_counter!("metrics_tests_default_total", "Default.").unwrap();
    c.inc();
    let v = crate::register_gauge_vec!("metrics_tests_default_g", "G.", &["l"]).unwrap();
    v.with_label_values(&["x"]).set(2.0);
    let page = gather_all(&crate::gather::DefaultRegistry);
    let names: Vec<&str> = page
        .families
        .iter()
        .map(|f: &MetricFamily| f.name.as_str())
        .collect();
    assert!(names.contains(&"metrics_tests_default_total"), "{names:?}");
    assert!(names.contains(&"metrics_tests_default_g"), "{names:?}");
    assert!(crate::register_int_counter!("metrics_tests_default_total", "Again.").is_err());
}

/// One scrape of `registry`, checked against the values `last` saw: every series of
/// `c_total` is labelled `w` alone, and no counter went backwards. Returns how many
/// series the page had: none before the first one is made (a family without series
/// is left off the page, so the page then has no family at all).
fn scrape_counters(registry: &Registry, last: &mut HashMap<String, f64>) -> usize {
    let page = gather_all(registry);
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    let Some(family) = page.families.iter().find(|f| f.name == "c_total") else {
        return 0;
    };
    for m in &family.metrics {
        let key = match &m.labels[..] {
            [label] if label.name == "w" => label.value.to_string(),
            other => panic!("a c_total series labelled {other:?}"),
        };
        let Value::Counter(c) = &m.value else {
            panic!("{:?}", m.value)
        };
        let before = last.insert(key.clone(), c.value).unwrap_or(0.0);
        assert!(c.value >= before, "{key} went from {before} to {}", c.value);
    }
    family.metrics.len()
}

/// Writers on both cores, a scraper in a loop: a counter never goes backwards on
/// any page, and the last page has every increment. The first page is taken before
/// the writers start, as a loaded machine may schedule the scraper (seen in CI: the
/// page had no family yet, and indexing it panicked).
#[test]
fn counters_never_go_backwards_under_load() {
    let registry = Arc::new(Registry::new());
    let family = IntCounterVec::new(Opts::new("c_total", ""), &["w"]).unwrap();
    registry.register(family.clone()).unwrap();
    let mut last: HashMap<String, f64> = HashMap::new();
    assert_eq!(scrape_counters(&registry, &mut last), 0);
    let done = Arc::new(AtomicBool::new(false));
    const PER_WRITER: u64 = 200_000;
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let family = family.clone();
            std::thread::spawn(move || {
                let mine = family.with_label_values(&[if w == 0 { "a" } else { "b" }]);
                let shared = family.with_label_values(&["shared"]);
                for _ in 0..PER_WRITER {
                    mine.inc();
                    shared.inc();
                }
            })
        })
        .collect();
    let scraper = {
        let registry = registry.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut pages = 0;
            let start = std::time::Instant::now();
            // At least one page while (or after) the writers run, however late this
            // thread is scheduled.
            while pages == 0
                || (!done.load(Ordering::Relaxed)
                    && pages < 100_000
                    && start.elapsed().as_secs() < 20)
            {
                scrape_counters(&registry, &mut last);
                pages += 1;
            }
            last
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let mut last = scraper.join().unwrap();
    assert_eq!(scrape_counters(&registry, &mut last), 3);
    let total = PER_WRITER as f64;
    assert_eq!(
        last,
        HashMap::from([
            ("a".into(), total),
            ("b".into(), total),
            ("shared".into(), 2.0 * total)
        ])
    );
    assert_eq!(family.with_label_values(&["shared"]).get(), 2 * PER_WRITER);
}

/// The overflow series, made while a scrape sorts the family's series, is on the
/// next page: the kept order is keyed by the family's generation, which must change
/// after the series can be seen, not before (a scrape between the two kept an order
/// without it, and no later page had it until another series came or went).
#[test]
fn an_overflow_series_made_during_a_scrape_is_on_the_next_page() {
    for _ in 0..300 {
        let vec = IntCounterVec::new(Opts::new("o_total", ""), &["w"]).unwrap();
        vec.with_label_values(&["a"]).inc();
        let (started, made) = (AtomicBool::new(false), AtomicBool::new(false));
        std::thread::scope(|s| {
            s.spawn(|| {
                while !made.load(Ordering::Acquire) {
                    vec.family.sorted();
                    started.store(true, Ordering::Release);
                }
            });
            while !started.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            // The wrong number of values: recorded into the overflow series.
            vec.with_label_values(&[]).inc();
            made.store(true, Ordering::Release);
        });
        assert_eq!(
            vec.family.sorted().len(),
            2,
            "the overflow series is missing"
        );
    }
}

/// Writers add series on both cores while pages are written (kept and through the
/// model): every sample line carries the label of a series that was made, each
/// series once, and the last page has them all.
#[test]
fn pages_written_while_series_are_added_show_each_with_its_labels() {
    /// Pages written while the writers add series (at most `MAX` each).
    const PAGES: usize = 20;
    const MAX: usize = 20_000;
    let registry = Registry::new();
    let vec = IntCounterVec::new(Opts::new("n_total", ""), &["w"]).unwrap();
    registry.register(vec.clone()).unwrap();
    // The series of every sample line, checked; how many lines there were.
    let check = |page: &[u8]| -> usize {
        let page = std::str::from_utf8(page).unwrap();
        let mut seen = std::collections::HashSet::new();
        for line in page.lines().filter(|l| !l.starts_with('#')) {
            let rest = line
                .strip_prefix("n_total{w=\"")
                .unwrap_or_else(|| panic!("{line:?}"));
            let (key, value) = rest
                .split_once("\"} ")
                .unwrap_or_else(|| panic!("{line:?}"));
            let (w, i) = key.split_once('-').unwrap_or_else(|| panic!("{line:?}"));
            assert!(w == "0" || w == "1", "{line:?}");
            assert!(i.parse::<usize>().is_ok_and(|i| i < MAX), "{line:?}");
            assert!(value == "0" || value == "1", "{line:?}");
            assert!(seen.insert(key), "{key} listed twice");
        }
        seen.len()
    };
    let pages = std::sync::atomic::AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let made = std::thread::scope(|s| {
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (vec, pages) = (&vec, &pages);
                s.spawn(move || {
                    let mut i = 0;
                    while i < MAX && (i < 100 || pages.load(Ordering::Relaxed) < PAGES) {
                        vec.with_label_values(&[format!("{w}-{i}").as_str()]).inc();
                        i += 1;
                    }
                    i
                })
            })
            .collect();
        let scraper = s.spawn(|| {
            while pages.load(Ordering::Relaxed) == 0 || !done.load(Ordering::Relaxed) {
                let (kept, model) = both_pages(&registry, Format::Text);
                check(&kept);
                check(&model);
                pages.fetch_add(1, Ordering::Relaxed);
            }
        });
        let made: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
        done.store(true, Ordering::Relaxed);
        scraper.join().unwrap();
        made
    });
    let (kept, model) = both_pages(&registry, Format::Text);
    assert_eq!((check(&kept), check(&model)), (made, made));
}

/// The page as the handler writes it (direct families kept) and as the model path
/// writes it (everything through `gather_all`).
fn both_pages(source: &dyn crate::Gather, format: Format) -> (Vec<u8>, Vec<u8>) {
    both_pages_with(source, format, &EncodeOptions::default())
}

fn both_pages_with(
    source: &dyn crate::Gather,
    format: Format,
    opts: &EncodeOptions,
) -> (Vec<u8>, Vec<u8>) {
    let mut g = crate::Gathered::default();
    source.gather_into(&mut g);
    crate::gather::normalize_keeping_direct(&mut g, crate::encode::Escaping::Underscores);
    assert!(g.errors.is_empty(), "{:?}", g.errors);
    let mut direct = Vec::new();
    crate::gather::direct::encode_page(format, &g.families, &g.direct, opts, &mut direct);
    let page = gather_all(source);
    let mut model = Vec::new();
    encode(format, &page.families, opts, &mut model);
    (direct, model)
}

#[test]
fn the_kept_page_is_the_model_page_byte_for_byte() {
    let registry = Registry::new();
    let c = IntCounterVec::new(
        Opts::new("b_requests_total", "Requests \\ \"served\"\nnow.").const_label("zone", "z\"1"),
        &["path", "code"],
    )
    .unwrap();
    let g = GaugeVec::new(Opts::new("d_temp", "T."), &["room"]).unwrap();
    let plain = Counter::new("a_plain_total", "Plain.").unwrap();
    let empty = IntCounterVec::new(Opts::new("e_empty_total", "Never used."), &["x"]).unwrap();
    registry.register(c.clone()).unwrap();
    registry.register(g.clone()).unwrap();
    registry.register(plain.clone()).unwrap();
    registry.register(empty).unwrap();
    for (i, path) in ["/a\\b", "/\n", "", "ü/佖", "/a", "/b"].iter().enumerate() {
        c.with_label_values(&[path, "200"])
            .inc_by(i as u64 * 1_000_000);
        c.with_label_values(&[path, "500"]).inc();
        g.with_label_values(&[path]).set(i as f64 / 3.0 - 1e-7);
    }
    plain.inc_by_with_exemplar(0.1, &[("trace_id", "t1")]);
    let classic = HistogramVec::new(
        HistogramOpts::new("f_seconds", "Classic.")
            .unit("seconds")
            .buckets(vec![0.1, 1.0]),
        &["route"],
    )
    .unwrap();
    let dual = Histogram::with_opts(
        HistogramOpts::new("g_dual_seconds", "Dual.").native(NativeBuckets::default()),
    )
    .unwrap();
    let native = Histogram::with_opts(
        HistogramOpts::new("h_native", "Native only.").native_only(NativeBuckets::default()),
    )
    .unwrap();
    let idle = HistogramVec::new(HistogramOpts::new("i_idle", "Idle."), &["x"]).unwrap();
    idle.with_label_values(&["never observed"]);
    registry.register(classic.clone()).unwrap();
    registry.register(dual.clone()).unwrap();
    registry.register(native.clone()).unwrap();
    registry.register(idle).unwrap();
    for (i, v) in [0.05, 0.5, 5.0, -2.0, 0.0, f64::NAN]
        .into_iter()
        .enumerate()
    {
        classic.with_label_values(&["/a"]).observe(v);
        classic.with_label_values(&["/b"]).observe(v * 2.0);
        dual.observe(v);
        native.observe(v * i as f64);
    }
    classic
        .with_label_values(&["/a"])
        .observe_with_exemplar(0.07, &[("trace_id", "t2")]);
    // An exemplar in `+Inf`: the model then lists that bucket.
    classic
        .with_label_values(&["/b"])
        .observe_with_exemplar(50.0, &[("trace_id", "t4")]);
    dual.observe_with_exemplar(3.0, &[("trace_id", "t3")]);
    // Beside a `prometheus` registry: one distinct family, one merged with ours by
    // name (the model path decides), one whose name clashes with a histogram's.
    let theirs = ::prometheus::Registry::new();
    let other = ::prometheus::IntCounter::new("c_other_total", "Other.").unwrap();
    theirs.register(Box::new(other.clone())).unwrap();
    other.inc();
    let same =
        ::prometheus::GaugeVec::new(::prometheus::Opts::new("d_temp", "T."), &["room"]).unwrap();
    theirs.register(Box::new(same.clone())).unwrap();
    same.with_label_values(&["attic"]).set(30.0);
    let both = crate::Gatherers::new().with(registry).with(theirs);
    for format in [Format::Text, Format::OpenMetrics, Format::Protobuf] {
        for created in [false, true] {
            let opts = EncodeOptions::default().with_created(created);
            let (direct, model) = both_pages_with(&both, format, &opts);
            assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&model),
                "{format:?}, created {created}"
            );
        }
    }
    // Protobuf carries every series' start time whatever the option says.
    let proto = |created| {
        let opts = EncodeOptions::default().with_created(created);
        both_pages_with(&both, Format::Protobuf, &opts).0
    };
    assert_eq!(proto(false), proto(true));
    let om = both_pages_with(
        &both,
        Format::OpenMetrics,
        &EncodeOptions::default().with_created(true),
    )
    .0;
    let om = String::from_utf8(om).unwrap();
    assert!(
        om.contains("a_plain_total 0.1 # {trace_id=\"t1\"} 0.1 "),
        "{om}"
    );
    assert!(om.contains("a_plain_created "), "{om}");
    assert!(
        om.contains("f_seconds_bucket{route=\"/a\",le=\"0.1\"} 4 # {trace_id=\"t2\"} 0.07 "),
        "{om}"
    );
    assert!(om.contains("# UNIT f_seconds seconds\n"), "{om}");
    let (text, _) = both_pages(&both, Format::Text);
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("d_temp{room=\"attic\"} 30\n"), "{text}");
    assert!(
        text.contains("b_requests_total{code=\"200\",path=\"/a\\\\b\",zone=\"z\\\"1\"} 0\n"),
        "{text}"
    );
    assert!(!text.contains("e_empty_total"), "{text}");
}

#[test]
fn the_kept_page_follows_added_and_removed_series() {
    let registry = Registry::new();
    let c = IntCounterVec::new(Opts::new("c_total", ""), &["l"]).unwrap();
    registry.register(c.clone()).unwrap();
    let page = || both_pages(&registry, Format::Text).0;
    c.with_label_values(&["b"]).inc();
    assert_eq!(page(), b"# TYPE c_total counter\nc_total{l=\"b\"} 1\n");
    c.with_label_values(&["a"]).inc_by(2);
    assert_eq!(
        page(),
        b"# TYPE c_total counter\nc_total{l=\"a\"} 2\nc_total{l=\"b\"} 1\n"
    );
    c.remove_label_values(&["b"]).unwrap();
    assert_eq!(page(), b"# TYPE c_total counter\nc_total{l=\"a\"} 2\n");
    c.reset();
    assert_eq!(page(), b"");
}

#[test]
fn histograms_as_the_prometheus_crate_has_them() {
    let registry = Registry::new();
    let h = HistogramVec::new(
        HistogramOpts::new("latency_seconds", "Latency.").buckets(vec![0.5, 1.0, f64::INFINITY]),
        &["route"],
    )
    .unwrap();
    registry.register(h.clone()).unwrap();
    let root = h.with_label_values(&["/"]);
    root.observe(0.2);
    root.observe(0.7);
    root.observe_duration(std::time::Duration::from_secs(3));
    {
        let _timer = root.start_timer();
    }
    let discarded = root.start_timer().stop_and_discard();
    assert!(discarded >= 0.0);
    assert_eq!(root.get_sample_count(), 4);
    assert!((root.get_sample_sum() - 3.9).abs() < 0.1);
    let page = text(&registry);
    assert!(
        page.contains("latency_seconds_bucket{route=\"/\",le=\"0.5\"} 2\n"),
        "{page}"
    );
    assert!(
        page.contains("latency_seconds_bucket{route=\"/\",le=\"+Inf\"} 4\n"),
        "{page}"
    );
    assert!(
        page.contains("latency_seconds_count{route=\"/\"} 4\n"),
        "{page}"
    );
    assert!(matches!(
        HistogramVec::new(HistogramOpts::new("x", ""), &["le"]),
        Err(MetricError::InvalidLabelName { label, .. }) if label == "le"
    ));
    assert!(matches!(
        Histogram::with_opts(HistogramOpts::new("x", "").buckets(vec![1.0, 0.5])),
        Err(MetricError::Histogram(
            HistogramConfigError::BoundsNotIncreasing { .. }
        ))
    ));
    let registered =
        crate::register_histogram_vec!("metrics_tests_hist_seconds", "H.", &["l"], vec![1.0])
            .unwrap();
    registered.with_label_values(&["a"]).observe(0.5);
    let single = crate::register_histogram!("metrics_tests_single_seconds", "H.").unwrap();
    single.observe(1.0);
}

/// Writers observe on both cores while pages are written from the kept page: no
/// page shows a torn histogram (cumulative counts, `+Inf` and `_count` from one
/// moment; every observation is 1.0, so `_sum` equals `_count`).
#[test]
fn kept_pages_never_show_a_torn_histogram() {
    let registry = Arc::new(Registry::new());
    let h = HistogramVec::new(
        HistogramOpts::new("h", "")
            .buckets(vec![0.5, 1.0, 2.0])
            .native(NativeBuckets::default()),
        &["w"],
    )
    .unwrap();
    registry.register(h.clone()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let h = h.with_label_values(&["shared"]);
            std::thread::spawn(move || {
                for _ in 0..200_000 {
                    h.observe(1.0);
                }
            })
        })
        .collect();
    let scraper = {
        let registry = registry.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut last = 0.0;
            let mut pages = 0;
            let start = std::time::Instant::now();
            while !done.load(Ordering::Relaxed) && start.elapsed().as_secs() < 20 {
                let (page, _) = both_pages(&*registry, Format::Text);
                let page = String::from_utf8(page).unwrap();
                let v = |line: &str| -> f64 {
                    let l = page.lines().find(|l| l.starts_with(line)).unwrap();
                    l.rsplit(' ').next().unwrap().parse().unwrap()
                };
                let (le1, le2, inf) = (
                    v("h_bucket{w=\"shared\",le=\"1\"}"),
                    v("h_bucket{w=\"shared\",le=\"2\"}"),
                    v("h_bucket{w=\"shared\",le=\"+Inf\"}"),
                );
                let (sum, count) = (v("h_sum{w=\"shared\"}"), v("h_count{w=\"shared\"}"));
                assert_eq!(v("h_bucket{w=\"shared\",le=\"0.5\"}"), 0.0);
                assert!(
                    le1 == le2 && le2 == inf && inf == count && count == sum,
                    "{page}"
                );
                assert!(count >= last, "count went from {last} to {count}");
                last = count;
                pages += 1;
            }
            pages
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(scraper.join().unwrap() > 0);
    assert_eq!(h.with_label_values(&["shared"]).get_sample_count(), 400_000);
}

/// Through the handler: `name[]` filters the storage's families, gzip compresses
/// them, and a page merged with a `prometheus` registry is sorted as one.
#[test]
#[cfg(feature = "gzip")]
fn the_handler_serves_the_storage_with_every_option() {
    use http::Request;
    use http_body_util::BodyExt;

    let registry = Registry::new();
    let a = IntCounter::new("a_total", "A.").unwrap();
    let c = IntGauge::new("c", "C.").unwrap();
    registry.register(a.clone()).unwrap();
    registry.register(c.clone()).unwrap();
    a.inc();
    c.set(3);
    let theirs = ::prometheus::Registry::new();
    let b = ::prometheus::IntGauge::new("b", "B.").unwrap();
    theirs.register(Box::new(b.clone())).unwrap();
    b.set(2);
    let handler =
        crate::MetricsHandler::builder(crate::Gatherers::new().with(registry).with(theirs)).build();
    let body = |req: Request<()>| {
        let response = handler.respond_blocking(&req);
        let headers = response.headers().clone();
        let bytes = block_on(response.into_body().collect()).unwrap().to_bytes();
        (headers, bytes)
    };
    let (_, page) = body(Request::get("/metrics").body(()).unwrap());
    assert_eq!(
        String::from_utf8(page.to_vec()).unwrap(),
        "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n\
         # HELP b B.\n# TYPE b gauge\nb 2\n# HELP c C.\n# TYPE c gauge\nc 3\n"
    );
    let (_, page) = body(Request::get("/metrics?name[]=c&name[]=b").body(()).unwrap());
    assert_eq!(
        String::from_utf8(page.to_vec()).unwrap(),
        "# HELP b B.\n# TYPE b gauge\nb 2\n# HELP c C.\n# TYPE c gauge\nc 3\n"
    );
    let (headers, gz) = body(
        Request::get("/metrics?name[]=a_total")
            .header("accept-encoding", "gzip")
            .body(())
            .unwrap(),
    );
    assert_eq!(headers["content-encoding"], "gzip");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    assert_eq!(
        text,
        "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
    );
}

/// Runs a future that is ready at once (a collected full body).
#[cfg(feature = "gzip")]
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}
