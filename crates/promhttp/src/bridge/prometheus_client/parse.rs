//! A parser of the OpenMetrics text prometheus-client writes.

use crate::gather::{GatherError, GatherErrorKind, Gathered};
use crate::model::time::from_seconds;
use crate::model::{
    Bucket, CounterValue, Exemplar, HistogramValue, Label, Metric, MetricFamily, MetricType, Str,
    Value,
};
use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

/// Parses OpenMetrics text as prometheus-client writes it and appends the families
/// to `out`; a family with a problem is left out and reported in `out.errors`.
///
/// A trailing `# EOF` is accepted but not required.
pub(super) fn parse_openmetrics(text: &str, out: &mut Gathered) {
    let mut current: Option<Pending> = None;
    let mut eof = false;
    for line in text.lines() {
        if eof {
            let name = current.as_ref().map(|p| p.model_name());
            finish(current.take(), out);
            let error = malformed("text after # EOF".to_owned());
            out.errors.push(match name {
                Some(name) => error.with_family(name),
                None => error,
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
            None => out.errors.push(malformed(format!(
                "sample outside a metric family: {line:?}"
            ))),
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
                metric.created =
                    Some(from_seconds(s.value).ok_or_else(|| "invalid _created time".to_owned())?);
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

/// The error of text this parser cannot read.
fn malformed(detail: String) -> GatherError {
    GatherError::new(GatherErrorKind::Malformed {
        origin: "prometheus-client".to_owned(),
        detail,
    })
}

fn finish(pending: Option<Pending>, out: &mut Gathered) {
    let Some(p) = pending else { return };
    let name = p.model_name();
    let error = match (&p.error, p.kind) {
        (Some(e), _) => Some(e.clone()),
        (None, None) => Some("no # TYPE line".to_owned()),
        (None, Some(_)) => None,
    };
    if let Some(detail) = error {
        out.errors.push(malformed(detail).with_family(name));
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
                        .and_then(from_seconds)
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
