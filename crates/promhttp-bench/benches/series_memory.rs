//! Memory per labelled series (issue 12): for each library, one counter family with
//! three labels gets 100,000 series (every value unique, 20 bytes long), and a
//! counting global allocator tells how many heap bytes the family holds afterwards,
//! divided by the number of series. Prints a markdown table.
//!
//! The count is of bytes asked for (`Layout::size`), not of what the allocator
//! rounds them up to; the label values given to the libraries are made before the
//! count starts and freed after it ends, so only the copies a library keeps count.
//! Each library is used in its usual way for values not known in advance: owned
//! `String` label fields for `prometheus-client` and `fastmetrics`, owned label
//! values on a local `metrics-exporter-prometheus` recorder, and for `measured`
//! dynamic (`ThreadedRodeo`-interned) labels, which it stores in a sparse map.
//!
//! promhttp keeps each series' label block rendered once it has been scraped; its
//! last column says what a series holds after one text scrape through the handler.
//! The peers keep nothing per series from a scrape.
//!
//! Run: `cargo bench -p promhttp-bench --bench series_memory`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// `System`, counting the bytes it holds.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call goes to `System` unchanged; the counter only watches.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SERIES: usize = 100_000;

/// The label values of every series.
type Inputs = [[String; 3]];

/// One library's measurement.
type Measure = fn(&Inputs) -> Row;

/// The label values of series `i`: three unique 20-byte strings.
fn inputs() -> Vec<[String; 3]> {
    (0..SERIES)
        .map(|i| {
            [
                format!("alpha-{i:014}"),
                format!("bravo-{i:014}"),
                format!("delta-{i:014}"),
            ]
        })
        .collect()
}

/// Heap bytes held by what `build` returns, and that value (kept alive until the
/// count is taken, then returned so the caller can check it).
fn held<T>(build: impl FnOnce() -> T) -> (isize, T) {
    let before = LIVE.load(Ordering::Relaxed);
    let value = build();
    let after = LIVE.load(Ordering::Relaxed);
    (after - before, value)
}

/// The number of sample lines of `name` on a text page.
fn samples(page: &str, name: &str) -> usize {
    page.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .count()
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct PcLabels {
    alpha: String,
    bravo: String,
    delta: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct FmLabels {
    alpha: String,
    bravo: String,
    delta: String,
}

impl fastmetrics::raw::LabelSetSchema for FmLabels {
    fn names() -> Option<&'static [&'static str]> {
        Some(&["alpha", "bravo", "delta"])
    }
}

impl fastmetrics::encoder::EncodeLabelSet for FmLabels {
    fn encode(
        &self,
        enc: &mut dyn fastmetrics::encoder::LabelSetEncoder,
    ) -> fastmetrics::error::Result<()> {
        enc.encode(&("alpha", self.alpha.as_str()))?;
        enc.encode(&("bravo", self.bravo.as_str()))?;
        enc.encode(&("delta", self.delta.as_str()))
    }
}

#[derive(measured::LabelGroup)]
#[label(set = MeasuredLabelSet)]
struct MeasuredLabels<'a> {
    #[label(dynamic_with = measured::lasso::ThreadedRodeo, default)]
    alpha: &'a str,
    #[label(dynamic_with = measured::lasso::ThreadedRodeo, default)]
    bravo: &'a str,
    #[label(dynamic_with = measured::lasso::ThreadedRodeo, default)]
    delta: &'a str,
}

/// One library's figure: heap bytes per series, and the series its family shows.
struct Row {
    library: &'static str,
    bytes: isize,
    /// What the family holds after one scrape, where a library keeps something
    /// from a scrape in its series.
    after_scrape: Option<isize>,
    series: usize,
}

fn promhttp_row(inputs: &Inputs) -> Row {
    use promhttp::metrics::{IntCounterVec, Opts, Registry};
    let before = LIVE.load(Ordering::Relaxed);
    let (bytes, (registry, family)) = held(|| {
        let registry = Registry::new();
        let family = IntCounterVec::new(
            Opts::new("series_total", "Series."),
            &["alpha", "bravo", "delta"],
        )
        .expect("valid");
        registry.register(family.clone()).expect("registered once");
        for [a, b, d] in inputs {
            family.with_label_values(&[a, b, d]).inc();
        }
        (registry, family)
    });
    // One text scrape through the handler: the family keeps each series' label block
    // rendered for the next scrapes (the page kept rendered, issue 12).
    let handler = promhttp::handler_for(registry);
    let request = http::Request::get("/metrics")
        .body(())
        .expect("valid request");
    let response = handler.respond_blocking(&request);
    assert_eq!(response.status(), http::StatusCode::OK);
    drop((response, handler));
    let scraped = LIVE.load(Ordering::Relaxed) - before;
    Row {
        library: "promhttp",
        bytes,
        after_scrape: Some(scraped),
        series: family.len(),
    }
}

fn prometheus_row(inputs: &Inputs) -> Row {
    use prometheus::core::Collector;
    let (bytes, family) = held(|| {
        let family = prometheus::IntCounterVec::new(
            prometheus::Opts::new("series_total", "Series."),
            &["alpha", "bravo", "delta"],
        )
        .expect("valid");
        for [a, b, d] in inputs {
            family.with_label_values(&[a, b, d]).inc();
        }
        family
    });
    Row {
        library: "prometheus",
        bytes,
        after_scrape: None,
        series: family.collect()[0].get_metric().len(),
    }
}

fn prometheus_client_row(inputs: &Inputs) -> Row {
    use prometheus_client::metrics::{counter::Counter, family::Family};
    let (bytes, family) = held(|| {
        let family = Family::<PcLabels, Counter>::default();
        for [a, b, d] in inputs {
            family
                .get_or_create(&PcLabels {
                    alpha: a.clone(),
                    bravo: b.clone(),
                    delta: d.clone(),
                })
                .inc();
        }
        family
    });
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("series", "Series.", family);
    let mut page = String::new();
    prometheus_client::encoding::text::encode(&mut page, &registry).expect("encode");
    Row {
        library: "prometheus-client",
        bytes,
        after_scrape: None,
        series: samples(&page, "series_total"),
    }
}

fn metrics_rs_row(inputs: &Inputs) -> Row {
    let (bytes, recorder) = held(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        metrics::with_local_recorder(&recorder, || {
            for [a, b, d] in inputs {
                metrics::counter!(
                    "series_total",
                    "alpha" => a.clone(),
                    "bravo" => b.clone(),
                    "delta" => d.clone()
                )
                .increment(1);
            }
        });
        recorder
    });
    Row {
        library: "metrics-rs",
        bytes,
        after_scrape: None,
        series: samples(&recorder.handle().render(), "series_total"),
    }
}

fn measured_row(inputs: &Inputs) -> Row {
    let (bytes, family) = held(|| {
        let family = measured::CounterVec::<MeasuredLabelSet>::new();
        for [a, b, d] in inputs {
            family.inc(MeasuredLabels {
                alpha: a,
                bravo: b,
                delta: d,
            });
        }
        family
    });
    Row {
        library: "measured",
        bytes,
        after_scrape: None,
        series: family.get_cardinality().0,
    }
}

fn fastmetrics_row(inputs: &Inputs) -> Row {
    use fastmetrics::format::text::{self, TextProfile};
    use fastmetrics::metrics::{counter::Counter, family::Family};
    let (bytes, family) = held(|| {
        let family = Family::<FmLabels, Counter>::default();
        for [a, b, d] in inputs {
            let labels = FmLabels {
                alpha: a.clone(),
                bravo: b.clone(),
                delta: d.clone(),
            };
            family.with_or_new(&labels, |c| c.inc());
        }
        family
    });
    let mut registry = fastmetrics::registry::Registry::default();
    registry
        .register("series_total", "Series.", family)
        .expect("register");
    let mut page = String::new();
    text::encode(&mut page, &registry, TextProfile::PrometheusV0_0_4).expect("encode");
    Row {
        library: "fastmetrics",
        bytes,
        after_scrape: None,
        series: samples(&page, "series_total"),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks libraries by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let inputs = inputs();
    let libraries: [(&str, Measure); 6] = [
        ("promhttp", promhttp_row),
        ("prometheus", prometheus_row),
        ("prometheus-client", prometheus_client_row),
        ("metrics-rs", metrics_rs_row),
        ("measured", measured_row),
        ("fastmetrics", fastmetrics_row),
    ];
    println!("Heap bytes held per series: {SERIES} series, 3 labels of 20-byte values\n");
    println!("| library | bytes per series | MiB for {SERIES} series | bytes per series after one scrape |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, run) in libraries {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let row = run(&inputs);
        assert_eq!(
            row.series, SERIES,
            "{}: the family shows {} series, not {SERIES}",
            row.library, row.series
        );
        let scraped = row.after_scrape.map_or_else(
            || "same (keeps nothing per series)".to_owned(),
            |b| format!("{:.0}", b as f64 / SERIES as f64),
        );
        println!(
            "| {} | {:.0} | {:.1} | {scraped} |",
            row.library,
            row.bytes as f64 / SERIES as f64,
            row.bytes as f64 / (1024.0 * 1024.0)
        );
    }
}
