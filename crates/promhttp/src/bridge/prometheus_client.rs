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
//! | `counter` `x` (samples `x_total`, `x_created`) | [`MetricType::Counter`] family `x_total`, exemplars and created times kept |
//! | `gauge` | [`MetricType::Gauge`] |
//! | `histogram` (`_bucket{le}`, `_sum`, `_count`, `_created`) | [`MetricType::Histogram`], bucket exemplars kept |
//! | `info` `x` (sample `x_info{..} 1`) | [`MetricType::Gauge`] family `x_info` |
//! | `unknown` | [`MetricType::Untyped`] |
//! | `# UNIT` | [`MetricFamily::unit`] |
//!
//! prometheus-client writes `# HELP` text unescaped, so help is taken verbatim (a
//! backslash stays a backslash). Label values are unescaped (`\\`, `\"`, `\n`).
//! Anything the parser does not accept (a malformed line, a sample that does not
//! belong to its family, a type it does not know) drops that family and is reported
//! as a [`GatherError`] naming it; the parser never panics. If prometheus-client's
//! encoder itself fails (for example a native-only histogram), the registry
//! contributes nothing and one error is reported.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use prometheus_client::registry::Registry;

use crate::gather::{Gather, GatherError, Gathered};
use crate::model::{
    Bucket, CounterValue, Exemplar, HistogramValue, Label, Metric, MetricFamily, MetricType, Str,
    Value,
};

static LAST_LEN: AtomicUsize = AtomicUsize::new(1024);

impl Gather for Registry {
    fn gather(&self, out: &mut Gathered) {
        gather_registry(self, out)
    }
}

impl Gather for Mutex<Registry> {
    fn gather(&self, out: &mut Gathered) {
        let registry = self.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        gather_registry(&registry, out)
    }
}

impl Gather for RwLock<Registry> {
    fn gather(&self, out: &mut Gathered) {
        let registry = self.read().unwrap_or_else(|poisoned| poisoned.into_inner());
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
        out.errors.push(GatherError {
            family: None,
            message: "prometheus-client failed to encode its registry".to_owned(),
        });
        return;
    }
    LAST_LEN.store(text.len(), Ordering::Relaxed);
    parse_openmetrics(&text, out);
}

/// Parses OpenMetrics text as prometheus-client writes it and appends the families
/// to `out`; a family with a problem is left out and reported in `out.errors`.
///
/// A trailing `# EOF` is accepted but not required.
pub fn parse_openmetrics(text: &str, out: &mut Gathered) {
    let mut current: Option<Pending> = None;
    let mut eof = false;
    for line in text.lines() {
        if eof {
            let name = current.as_ref().map(|p| p.model_name());
            finish(current.take(), out);
            out.errors.push(GatherError {
                family: name,
                message: "text after # EOF".to_owned(),
            });
            return;
        }
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let (name, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            let same = current.as_ref().is_some_and(|p| p.name == name);
            if !same {
                finish(current.take(), out);
                current = Some(Pending::new(name));
            }
            let p = current.as_mut().expect("set above");
            if p.error.is_some() {
                continue;
            }
            match keyword {
                "HELP" if p.help.is_none() && p.metrics.is_empty() => p.help = Some(arg.to_owned()),
                "TYPE" if p.kind.is_none() && p.metrics.is_empty() => match Kind::parse(arg) {
                    Some(kind) => p.kind = Some(kind),
                    None => p.fail(format!("unsupported type {arg:?}")),
                },
                "UNIT" if p.unit.is_none() && p.metrics.is_empty() => p.unit = Some(arg.to_owned()),
                _ => p.fail(format!("unexpected line {line:?}")),
            }
            continue;
        }
        match current.as_mut() {
            Some(p) if p.error.is_none() => {
                if let Err(e) = p.sample(line) {
                    p.fail(e);
                }
            }
            Some(_) => {}
            None => out.errors.push(GatherError {
                family: None,
                message: format!("sample outside a metric family: {line:?}"),
            }),
        }
    }
    finish(current, out);
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
    Info,
    Unknown,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" => Kind::Histogram,
            "info" => Kind::Info,
            "unknown" => Kind::Unknown,
            _ => return None,
        })
    }
}

struct Pending {
    name: String,
    help: Option<String>,
    unit: Option<String>,
    kind: Option<Kind>,
    metrics: Vec<Metric>,
    /// Hashes of the label sets in `metrics`: finding a series is O(1) (a series'
    /// lines are adjacent, so it is the last one, or a new one) instead of a scan
    /// of the family, which made 10k series cost 10x the peer's own encoding.
    seen: HashSet<u64>,
    error: Option<String>,
}

impl Pending {
    fn new(name: &str) -> Self {
        Pending {
            name: name.to_owned(),
            help: None,
            unit: None,
            kind: None,
            metrics: Vec::new(),
            seen: HashSet::new(),
            error: None,
        }
    }

    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
        }
    }

    fn model_name(&self) -> String {
        match self.kind {
            Some(Kind::Counter) => format!("{}_total", self.name),
            Some(Kind::Info) => format!("{}_info", self.name),
            _ => self.name.clone(),
        }
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let kind = self
            .kind
            .ok_or_else(|| format!("sample before # TYPE: {line:?}"))?;
        let s = parse_sample(line).map_err(|e| format!("{e} in {line:?}"))?;
        let suffix = s
            .name
            .strip_prefix(self.name.as_str())
            .ok_or_else(|| format!("sample {:?} does not belong to the family", s.name))?;
        let wrong = || {
            format!(
                "sample {:?} does not belong to a {}",
                s.name,
                kind_name(kind)
            )
        };
        let mut labels = s.labels;
        match (kind, suffix) {
            (Kind::Counter, "_total") => self.push_unique(
                labels,
                Value::Counter(CounterValue {
                    value: s.value,
                    exemplar: s.exemplar.map(Box::new),
                }),
            ),
            (Kind::Gauge, "") | (Kind::Info, "_info") => {
                no_exemplar(&s.exemplar)?;
                self.push_unique(labels, Value::Gauge(s.value))
            }
            (Kind::Unknown, "") => {
                no_exemplar(&s.exemplar)?;
                self.push_unique(labels, Value::Untyped(s.value))
            }
            (Kind::Counter | Kind::Histogram, "_created") => {
                no_exemplar(&s.exemplar)?;
                let metric = self
                    .find(&labels)
                    .ok_or_else(|| "_created before its series".to_owned())?;
                metric.created = Some(s.value);
                Ok(())
            }
            (Kind::Histogram, "_sum" | "_count" | "_bucket") => {
                let mut le = None;
                if suffix == "_bucket" {
                    let i = labels
                        .iter()
                        .position(|l| l.0 == "le")
                        .ok_or_else(|| "bucket without le".to_owned())?;
                    let bound =
                        parse_float(&labels.remove(i).1).ok_or_else(|| "invalid le".to_owned())?;
                    le = Some(bound);
                } else {
                    no_exemplar(&s.exemplar)?;
                }
                let index = match self.position(&labels) {
                    Some(i) => i,
                    None => {
                        self.push(labels, Value::Histogram(HistogramValue::default()));
                        self.metrics.len() - 1
                    }
                };
                let Value::Histogram(h) = &mut self.metrics[index].value else {
                    return Err(wrong());
                };
                match (suffix, le) {
                    ("_sum", _) => h.sum = s.value,
                    ("_count", _) => h.count = to_count(s.value)?,
                    (_, Some(upper_bound)) => {
                        if h.buckets
                            .last()
                            .is_some_and(|b| b.upper_bound >= upper_bound)
                        {
                            return Err("buckets out of order".to_owned());
                        }
                        h.buckets.push(Bucket {
                            upper_bound,
                            cumulative_count: to_count(s.value)?,
                            exemplar: s.exemplar.map(Box::new),
                        });
                    }
                    _ => return Err(wrong()),
                }
                Ok(())
            }
            _ => Err(wrong()),
        }
    }

    /// The index of the series with these labels.
    /// Labels are compared as parsed, so only a new series allocates its own.
    fn position(&self, labels: &[RawLabel<'_>]) -> Option<usize> {
        let last = self.metrics.len().checked_sub(1)?;
        if same_labels(&self.metrics[last].labels, labels) {
            return Some(last);
        }
        let hash = label_hash(labels.iter().map(|(n, v)| (*n, v.as_ref())));
        if !self.seen.contains(&hash) {
            return None;
        }
        // A duplicate, or a hash collision: rare, so a scan is fine.
        self.metrics
            .iter()
            .rposition(|m| same_labels(&m.labels, labels))
    }

    fn find(&mut self, labels: &[RawLabel<'_>]) -> Option<&mut Metric> {
        let i = self.position(labels)?;
        self.metrics.get_mut(i)
    }

    fn push(&mut self, labels: Vec<RawLabel<'_>>, value: Value) {
        self.seen
            .insert(label_hash(labels.iter().map(|(n, v)| (*n, v.as_ref()))));
        let labels = labels
            .into_iter()
            .map(|(n, v)| Label::new(n.to_owned(), v.into_owned()))
            .collect();
        self.metrics.push(Metric::new(labels, value));
    }

    fn push_unique(&mut self, labels: Vec<RawLabel<'_>>, value: Value) -> Result<(), String> {
        if self.position(&labels).is_some() {
            return Err("the same series twice".to_owned());
        }
        self.push(labels, value);
        Ok(())
    }
}

/// A label as parsed: the name borrowed from the page, the value borrowed unless
/// it had escapes.
type RawLabel<'a> = (&'a str, Cow<'a, str>);

fn same_labels(owned: &[Label], raw: &[RawLabel<'_>]) -> bool {
    owned.len() == raw.len()
        && owned
            .iter()
            .zip(raw)
            .all(|(l, (n, v))| l.name.as_str() == *n && l.value.as_str() == v.as_ref())
}

fn label_hash<'b>(pairs: impl Iterator<Item = (&'b str, &'b str)>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (name, value) in pairs {
        name.hash(&mut hasher);
        value.hash(&mut hasher);
    }
    hasher.finish()
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
        Kind::Info => "info",
        Kind::Unknown => "unknown",
    }
}

fn no_exemplar(e: &Option<Exemplar>) -> Result<(), String> {
    match e {
        Some(_) => Err("exemplar on a sample that cannot have one".to_owned()),
        None => Ok(()),
    }
}

fn to_count(v: f64) -> Result<u64, String> {
    if v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64 {
        Ok(v as u64)
    } else {
        Err(format!("invalid count {v}"))
    }
}

fn finish(pending: Option<Pending>, out: &mut Gathered) {
    let Some(p) = pending else { return };
    let name = p.model_name();
    let error = match (&p.error, p.kind) {
        (Some(e), _) => Some(e.clone()),
        (None, None) => Some("no # TYPE line".to_owned()),
        (None, Some(_)) => None,
    };
    if let Some(message) = error {
        out.errors.push(GatherError {
            family: Some(name),
            message: format!("prometheus-client: {message}"),
        });
        return;
    }
    let metric_type = match p.kind.expect("checked above") {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge | Kind::Info => MetricType::Gauge,
        Kind::Histogram => MetricType::Histogram,
        Kind::Unknown => MetricType::Untyped,
    };
    let mut family = MetricFamily::new(name, p.help.unwrap_or_default(), metric_type);
    family.unit = Str::from(p.unit.unwrap_or_default());
    family.metrics = p.metrics;
    out.families.push(family);
}

struct Sample<'a> {
    name: &'a str,
    labels: Vec<RawLabel<'a>>,
    value: f64,
    exemplar: Option<Exemplar>,
}

fn parse_sample(line: &str) -> Result<Sample<'_>, &'static str> {
    let mut cur = Cursor { s: line, i: 0 };
    let name = cur.take_while(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':');
    if name.is_empty() {
        return Err("missing metric name");
    }
    let labels = if cur.peek() == Some(b'{') {
        cur.labels()?
    } else {
        Vec::new()
    };
    cur.expect(b' ')?;
    let value = parse_float(cur.take_while(|c| c != b' ')).ok_or("invalid value")?;
    let mut exemplar = None;
    if !cur.done() {
        if cur.rest().starts_with(" # ") {
            cur.i += 3;
            let labels = cur
                .labels()?
                .into_iter()
                .map(|(n, v)| Label::new(n.to_owned(), v.into_owned()))
                .collect();
            cur.expect(b' ')?;
            let value =
                parse_float(cur.take_while(|c| c != b' ')).ok_or("invalid exemplar value")?;
            let timestamp = if cur.done() {
                None
            } else {
                cur.expect(b' ')?;
                Some(
                    parse_float(cur.take_while(|c| c != b' '))
                        .ok_or("invalid exemplar timestamp")?,
                )
            };
            exemplar = Some(Exemplar {
                labels,
                value,
                timestamp,
            });
        } else {
            return Err("sample timestamps are not supported");
        }
    }
    if !cur.done() {
        return Err("trailing text");
    }
    Ok(Sample {
        name,
        labels,
        value,
        exemplar,
    })
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if s.is_empty()
            || !s
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')) =>
        {
            None
        }
        _ => s.parse().ok(),
    }
}

struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    fn expect(&mut self, c: u8) -> Result<(), &'static str> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err("malformed sample line")
        }
    }

    /// Takes ASCII bytes matching `f` (non-ASCII bytes never match, so slicing
    /// stays on character boundaries).
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.i;
        while let Some(c) = self.peek() {
            if !c.is_ascii() || !f(c) {
                break;
            }
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// `{name="value",...}`, values unescaped.
    fn labels(&mut self) -> Result<Vec<RawLabel<'a>>, &'static str> {
        self.expect(b'{')?;
        let mut labels = Vec::new();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(labels);
        }
        loop {
            let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == b'_');
            if name.is_empty() {
                return Err("missing label name");
            }
            self.expect(b'=')?;
            self.expect(b'"')?;
            let mut value: Cow<'a, str> = Cow::Borrowed("");
            loop {
                let rest = self.rest();
                // Bytes, not chars: both are ASCII, so never inside a UTF-8 sequence.
                let Some(pos) = rest.bytes().position(|b| b == b'"' || b == b'\\') else {
                    return Err("unterminated label value");
                };
                if value.is_empty() && rest.as_bytes()[pos] == b'"' {
                    // No escapes (the common case): borrow.
                    value = Cow::Borrowed(&rest[..pos]);
                } else {
                    value.to_mut().push_str(&rest[..pos]);
                }
                self.i += pos;
                if self.peek() == Some(b'"') {
                    self.i += 1;
                    break;
                }
                self.i += 1;
                let value = value.to_mut();
                match self.peek() {
                    Some(b'\\') => value.push('\\'),
                    Some(b'"') => value.push('"'),
                    Some(b'n') => value.push('\n'),
                    _ => return Err("invalid escape in label value"),
                }
                self.i += 1;
            }
            labels.push((name, value));
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(labels);
                }
                _ => return Err("malformed label set"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(f.metrics[0].created, Some(100.0));
        let Value::Counter(c) = &f.metrics[0].value else {
            panic!()
        };
        assert_eq!(c.value, 3.0);
        let e = c.exemplar.as_ref().unwrap();
        assert_eq!((e.value, e.timestamp), (1.5, Some(12.25)));
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
        ] {
            let g = parse(&format!("{bad}# TYPE g gauge\ng 1\n# EOF\n"));
            assert_eq!(g.families.len(), 1, "{bad:?}");
            assert_eq!(g.families[0].name, "g");
            assert_eq!(g.errors.len(), 1, "{bad:?}");
            assert_eq!(g.errors[0].family.as_deref(), Some("c_total"), "{bad:?}");
        }
        let g = parse("# TYPE s stateset\ns{s=\"a\"} 1\n");
        assert_eq!(g.errors[0].family.as_deref(), Some("s"));
        let g = parse("x 1\n");
        assert_eq!(g.errors[0].family, None);
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
            g.errors[0].message.contains("the same series twice"),
            "{:?}",
            g.errors
        );
    }
}
