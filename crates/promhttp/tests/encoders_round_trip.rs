//! Round trips through the text encoders: arbitrary valid model families (UTF-8
//! metric and label names among them) are [`normalize_with`]ed under every escaping
//! scheme, encoded as text and as OpenMetrics 1.0.0, and parsed back
//! by a small strict parser written here for exactly the subset we emit. What comes
//! back must be what went in: every sample with its exact labels and bit-exact value
//! (NaN as NaN; `-0` reads back as `0`, as in Go), timestamps to the millisecond,
//! help text after each format's escaping rules, units and exemplars where OpenMetrics
//! has them and nowhere in text.
//!
//! The parser is strict on purpose: it rejects anything the encoders should never
//! write (blank lines, `{}`, a trailing comma, unknown escapes, an integer-looking
//! OpenMetrics float, an exemplar on a gauge, metadata out of order, a second `# EOF`),
//! so a formatting slip fails here even when a lenient scraper would let it through.
//!
//! Text 0.0.4 writes counts as floats, so a count above 2^53 reads back as
//! `count as f64` there (as in Go); OpenMetrics writes them as exact integers.
//! Bugs this file found are pinned by `regression_*` tests at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promhttp::encode::{encode, EncodeOptions, Escaping, Format};
use promhttp::gather::{normalize_with, Gathered};
use promhttp::model::{
    is_valid_label_name, is_valid_metric_name, Bucket, CounterValue, Exemplar, HistogramValue,
    Label, Metric, MetricFamily, MetricType, Quantile, SummaryValue, Value,
};
use proptest::prelude::*;

// --- what a page reads back as ---------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fmt {
    Text,
    Om,
}

impl Fmt {
    fn format(self) -> Format {
        match self {
            Fmt::Text => Format::Text,
            Fmt::Om => Format::OpenMetrics,
        }
    }
}

/// Floats compare by their bits, except that every NaN is one NaN and `-0` is `0`
/// (Go's writer, which ours copies, prints both zeros as `0`).
fn canon(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// A number as read back: a float (canonical bits) or an OpenMetrics integer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Num {
    F(u64),
    U(u64),
}

impl fmt::Debug for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::F(bits) => write!(f, "F({:?})", f64::from_bits(*bits)),
            Num::U(n) => write!(f, "U({n})"),
        }
    }
}

fn float(v: f64) -> Num {
    Num::F(canon(v))
}

/// A label value: text, or the number of a generated `le` / `quantile` label.
#[derive(Clone, PartialEq, Eq)]
enum LVal {
    S(String),
    F(u64),
}

impl fmt::Debug for LVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LVal::S(s) => write!(f, "{s:?}"),
            LVal::F(bits) => write!(f, "F({:?})", f64::from_bits(*bits)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Exem {
    labels: Vec<(String, String)>,
    value: Num,
    timestamp: Option<Num>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Sample {
    name: String,
    labels: Vec<(String, LVal)>,
    value: Num,
    /// Milliseconds, whatever the format wrote.
    timestamp_ms: Option<i64>,
    exemplar: Option<Exem>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Fam {
    name: String,
    typ: String,
    unit: Option<String>,
    help: Option<String>,
    samples: Vec<Sample>,
}

// --- the strict parser ------------------------------------------------------------

fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Help text: `\\` and `\n` in both formats, `\"` in OpenMetrics only.
fn unescape_help(fmt: Fmt, s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if fmt == Fmt::Om => out.push('"'),
                other => return Err(format!("bad escape \\{other:?} in help")),
            },
            '"' if fmt == Fmt::Om => return Err("unescaped '\"' in OpenMetrics help".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Checks the float grammar we write (`NaN`, `+Inf`, `-Inf`, or
/// `-?D+(.D+)?(e[+-]DD+)?` without leading zeros) and parses it.
fn strict_float(tok: &str) -> Result<f64, String> {
    match tok {
        "NaN" => return Ok(f64::NAN),
        "+Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let bad = || format!("not a float we write: {tok:?}");
    let body = tok.strip_prefix('-').unwrap_or(tok);
    let (mantissa, exp) = match body.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (int.len() > 1 && int.starts_with('0')) {
        return Err(bad());
    }
    if frac.is_some_and(|f| !digits(f)) {
        return Err(bad());
    }
    if let Some(e) = exp {
        let e = e
            .strip_prefix('+')
            .or_else(|| e.strip_prefix('-'))
            .ok_or_else(bad)?;
        if !digits(e) || e.len() < 2 {
            return Err(bad());
        }
    }
    tok.parse::<f64>().map_err(|_| bad())
}

/// A sample value: text writes floats only; OpenMetrics writes counts as integers
/// and every float with a `.` or an exponent.
fn parse_number(fmt: Fmt, tok: &str) -> Result<Num, String> {
    if fmt == Fmt::Om && !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit()) {
        if tok.len() > 1 && tok.starts_with('0') {
            return Err(format!("leading zero in integer {tok:?}"));
        }
        return tok
            .parse::<u64>()
            .map(Num::U)
            .map_err(|e| format!("{tok:?}: {e}"));
    }
    let v = strict_float(tok)?;
    if fmt == Fmt::Om && v.is_finite() && !tok.contains(['.', 'e']) {
        return Err(format!(
            "OpenMetrics float without '.' or exponent: {tok:?}"
        ));
    }
    Ok(float(v))
}

/// An OpenMetrics float that must be a float (`le`, `quantile`, exemplar values).
fn parse_float_only(fmt: Fmt, tok: &str) -> Result<u64, String> {
    match parse_number(fmt, tok)? {
        Num::F(bits) => Ok(bits),
        Num::U(_) => Err(format!("integer where a float belongs: {tok:?}")),
    }
}

/// A timestamp: integer milliseconds in text, exact decimal seconds in OpenMetrics.
fn parse_timestamp(fmt: Fmt, tok: &str) -> Result<i64, String> {
    let bad = |why: &str| format!("timestamp {tok:?}: {why}");
    if fmt == Fmt::Text {
        let digits = tok.strip_prefix('-').unwrap_or(tok);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not an integer"));
        }
        return tok.parse::<i64>().map_err(|e| bad(&e.to_string()));
    }
    let v = strict_float(tok)?;
    if !v.is_finite() || !tok.contains(['.', 'e']) {
        return Err(bad("not a finite OpenMetrics float"));
    }
    // Exact decimal arithmetic: ms = digits * 10^(exp - fraction digits + 3).
    let neg = tok.starts_with('-');
    let body = tok.trim_start_matches('-');
    let (mantissa, exp) = match body.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().map_err(|e| bad(&e.to_string()))?),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let mut scale = exp - frac.len() as i32 + 3;
    let mut digits = digits.to_owned();
    while scale < 0 {
        match digits.pop() {
            Some('0') => scale += 1,
            None => break,
            Some(_) => return Err(bad("not a whole number of milliseconds")),
        }
    }
    if digits.is_empty() {
        return Ok(0);
    }
    if digits.len() as i32 + scale > 20 {
        return Err(bad("out of range"));
    }
    let mut ms: i128 = digits.parse().map_err(|_| bad("digits"))?;
    ms *= 10i128.pow(scale as u32);
    if neg {
        ms = -ms;
    }
    i64::try_from(ms).map_err(|_| bad("out of the i64 range"))
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.pos += prefix.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, prefix: &str) -> Result<(), String> {
        if self.eat(prefix) {
            Ok(())
        } else {
            Err(format!("expected {prefix:?} at {:?}", self.rest()))
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        let len = self.rest().find(|c| !f(c)).unwrap_or(self.rest().len());
        self.pos += len;
        &self.s[start..self.pos]
    }

    /// Up to the next space or the end of the line.
    fn token(&mut self) -> &'a str {
        self.take_while(|c| c != ' ')
    }

    /// A `"`-quoted string with `\\`, `\"` and `\n` escapes, unescaped.
    fn quoted(&mut self) -> Result<String, String> {
        self.expect("\"")?;
        let mut value = String::new();
        let mut chars = self.rest().char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated quoted string".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape in quoted string: {other:?}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        self.pos += end + 1;
        Ok(value)
    }

    /// A metric name: bare when legacy, else quoted (and then never legacy: the
    /// encoders quote only what needs it).
    fn metric_name(&mut self) -> Result<String, String> {
        if self.rest().starts_with('"') {
            let name = self.quoted()?;
            if is_valid_metric_name(&name) || name.is_empty() {
                return Err(format!("needlessly quoted metric name {name:?}"));
            }
            return Ok(name);
        }
        let name = self.take_while(is_metric_char);
        if !is_valid_metric_name(name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        Ok(name.to_owned())
    }

    /// `{name="value",...}`; `{}` only where `allow_empty` (exemplars, whose label
    /// names are never quoted).
    fn labels(&mut self, allow_empty: bool) -> Result<Vec<(String, String)>, String> {
        self.expect("{")?;
        if allow_empty && self.eat("}") {
            return Ok(Vec::new());
        }
        self.label_pairs(!allow_empty)
    }

    /// `name="value",...}` up to and including the closing brace; label names may
    /// be quoted where `quoted_names` (never needlessly).
    fn label_pairs(&mut self, quoted_names: bool) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        loop {
            let name = if quoted_names && self.rest().starts_with('"') {
                let name = self.quoted()?;
                let legacy = name
                    .chars()
                    .enumerate()
                    .all(|(i, c)| is_label_char(c) && !(i == 0 && c.is_ascii_digit()));
                if legacy || name.is_empty() || name.starts_with("__") {
                    return Err(format!("bad quoted label name {name:?}"));
                }
                name
            } else {
                // The legacy character set; `__` may start a name that escaping
                // made (`_x` is `__x` under `dots`), never one a source gave.
                let name = self.take_while(is_label_char);
                if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(format!("invalid label name {name:?}"));
                }
                name.to_owned()
            };
            self.expect("=")?;
            let value = self.quoted()?;
            out.push((name, value));
            if self.eat("}") {
                return Ok(out);
            }
            self.expect(",")?;
        }
    }
}

struct RawSample {
    name: String,
    labels: Vec<(String, String)>,
    value: String,
    timestamp_ms: Option<i64>,
    exemplar: Option<Exem>,
}

fn parse_sample_line(fmt: Fmt, line: &str) -> Result<RawSample, String> {
    let mut c = Cursor { s: line, pos: 0 };
    // `{"utf-8 name"}` or `{"utf-8 name",labels}`, else `name` or `name{labels}`.
    let (name, labels) = if c.eat("{") {
        if !c.rest().starts_with('"') {
            return Err("a bare name inside the braces".into());
        }
        let name = c.metric_name()?;
        let labels = if c.eat("}") {
            Vec::new()
        } else {
            c.expect(",")?;
            c.label_pairs(true)?
        };
        (name, labels)
    } else {
        if c.rest().starts_with('"') {
            return Err("a quoted name outside braces".into());
        }
        let name = c.metric_name()?;
        let labels = if c.rest().starts_with('{') {
            c.labels(false)?
        } else {
            Vec::new()
        };
        (name, labels)
    };
    c.expect(" ")?;
    let value = c.token().to_owned();
    let mut timestamp_ms = None;
    if c.rest().starts_with(' ') && !c.rest().starts_with(" #") {
        c.expect(" ")?;
        timestamp_ms = Some(parse_timestamp(fmt, c.token())?);
    }
    let mut exemplar = None;
    if c.rest().starts_with(" #") {
        if fmt == Fmt::Text {
            return Err("exemplar in text format".into());
        }
        c.expect(" # ")?;
        let labels = c.labels(true)?;
        c.expect(" ")?;
        let value = Num::F(parse_float_only(fmt, c.token())?);
        let timestamp = if c.eat(" ") {
            Some(Num::F(parse_float_only(fmt, c.token())?))
        } else {
            None
        };
        exemplar = Some(Exem {
            labels,
            value,
            timestamp,
        });
    }
    if !c.rest().is_empty() {
        return Err(format!("trailing text {:?}", c.rest()));
    }
    Ok(RawSample {
        name,
        labels,
        value,
        timestamp_ms,
        exemplar,
    })
}

/// The sample-name suffixes each family type allows.
fn suffixes(fmt: Fmt, typ: &str) -> &'static [&'static str] {
    match (fmt, typ) {
        (Fmt::Text, "counter" | "gauge" | "untyped") => &[""],
        (Fmt::Text, "histogram") => &["_bucket", "_sum", "_count"],
        (Fmt::Text, "summary") => &["", "_sum", "_count"],
        (Fmt::Om, "counter") => &["_total", "_created"],
        (Fmt::Om, "gauge" | "unknown") => &[""],
        (Fmt::Om, "histogram") => &["_bucket", "_sum", "_count", "_created"],
        (Fmt::Om, "summary") => &["", "_sum", "_count", "_created"],
        _ => &[],
    }
}

/// Where an OpenMetrics family is in its metadata: TYPE seen, UNIT seen, HELP
/// seen, samples seen.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Type,
    Unit,
    Help,
    Samples,
}

fn parse(fmt: Fmt, body: &[u8]) -> Result<Vec<Fam>, String> {
    let body = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    if body.is_empty() {
        return match fmt {
            Fmt::Text => Ok(Vec::new()),
            Fmt::Om => Err("empty OpenMetrics body".into()),
        };
    }
    let body = body
        .strip_suffix('\n')
        .ok_or("body does not end with a newline")?;
    let mut lines: Vec<&str> = body.split('\n').collect();
    if fmt == Fmt::Om {
        match lines.pop() {
            Some("# EOF") => {}
            other => return Err(format!("last line is {other:?}, not \"# EOF\"")),
        }
    }
    let mut fams: Vec<Fam> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    // Text: a HELP waiting for its TYPE. OpenMetrics: the current family's stage.
    let mut help_pending = false;
    let mut stage = Stage::Samples;
    for (i, line) in lines.iter().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", i + 1);
        if line.is_empty() {
            return Err(err("blank line".into()));
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let (kw, rest) = rest
                .split_once(' ')
                .ok_or_else(|| err("bad comment".into()))?;
            let mut c = Cursor { s: rest, pos: 0 };
            let name = c.metric_name().map_err(err)?;
            let name = name.as_str();
            if !c.eat(" ") {
                return Err(err("metadata without argument".into()));
            }
            let arg = c.rest();
            let same_family = fams.last().is_some_and(|f| f.name == name);
            let new_family = |fams: &mut Vec<Fam>, seen: &mut BTreeSet<String>| {
                if !seen.insert(name.to_owned()) {
                    return Err(err(format!("family {name:?} appears twice")));
                }
                fams.push(Fam {
                    name: name.to_owned(),
                    typ: String::new(),
                    unit: None,
                    help: None,
                    samples: Vec::new(),
                });
                Ok(())
            };
            match (fmt, kw) {
                (Fmt::Text, "HELP") => {
                    if help_pending {
                        return Err(err("HELP not followed by TYPE".into()));
                    }
                    new_family(&mut fams, &mut seen)?;
                    fams.last_mut().unwrap().help = Some(unescape_help(fmt, arg).map_err(err)?);
                    help_pending = true;
                }
                (_, "TYPE") => {
                    let known = match fmt {
                        Fmt::Text => ["counter", "gauge", "histogram", "summary", "untyped"],
                        Fmt::Om => ["counter", "gauge", "histogram", "summary", "unknown"],
                    };
                    if !known.contains(&arg) {
                        return Err(err(format!("unknown type {arg:?}")));
                    }
                    if help_pending {
                        if !same_family {
                            return Err(err("TYPE of another family than HELP".into()));
                        }
                        help_pending = false;
                    } else {
                        new_family(&mut fams, &mut seen)?;
                    }
                    fams.last_mut().unwrap().typ = arg.to_owned();
                    stage = Stage::Type;
                }
                (Fmt::Om, "UNIT") => {
                    if !same_family || stage != Stage::Type {
                        return Err(err("UNIT out of place".into()));
                    }
                    if arg.is_empty() || !arg.chars().all(is_metric_char) {
                        return Err(err("bad unit".into()));
                    }
                    fams.last_mut().unwrap().unit = Some(arg.to_owned());
                    stage = Stage::Unit;
                }
                (Fmt::Om, "HELP") => {
                    if !same_family || stage > Stage::Unit {
                        return Err(err("HELP out of place".into()));
                    }
                    fams.last_mut().unwrap().help = Some(unescape_help(fmt, arg).map_err(err)?);
                    stage = Stage::Help;
                }
                _ => return Err(err("unexpected comment".into())),
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(err("unexpected comment".into()));
        }
        if help_pending {
            return Err(err("HELP not followed by TYPE".into()));
        }
        stage = Stage::Samples;
        let fam = fams
            .last_mut()
            .ok_or_else(|| err("sample before any TYPE".into()))?;
        let raw = parse_sample_line(fmt, line).map_err(err)?;
        let suffix = raw
            .name
            .strip_prefix(fam.name.as_str())
            .filter(|s| suffixes(fmt, &fam.typ).contains(s))
            .ok_or_else(|| err(format!("sample name not of {} {:?}", fam.typ, fam.name)))?;
        let exemplar_ok = (fam.typ == "counter" && suffix == "_total")
            || (fam.typ == "histogram" && suffix == "_bucket");
        if raw.exemplar.is_some() && !exemplar_ok {
            return Err(err("exemplar on a sample that cannot have one".into()));
        }
        // The generated label, always last: `le` on buckets, `quantile` on quantiles.
        let generated = match (fam.typ.as_str(), suffix) {
            ("histogram", "_bucket") => Some("le"),
            ("summary", "") => Some("quantile"),
            _ => None,
        };
        let mut labels: Vec<(String, LVal)> = Vec::with_capacity(raw.labels.len());
        let n = raw.labels.len();
        for (j, (name, value)) in raw.labels.into_iter().enumerate() {
            let is_generated = generated == Some(name.as_str());
            if is_generated != (generated.is_some() && j == n - 1) {
                return Err(err(format!("label {name:?} out of place")));
            }
            if is_generated {
                labels.push((name, LVal::F(parse_float_only(fmt, &value).map_err(err)?)));
            } else {
                labels.push((name, LVal::S(value)));
            }
        }
        if generated.is_some() && n == 0 {
            return Err(err("missing le / quantile label".into()));
        }
        let own = &labels[..n - usize::from(generated.is_some())];
        if own.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(err("labels not sorted by name".into()));
        }
        fam.samples.push(Sample {
            name: raw.name,
            labels,
            value: parse_number(fmt, &raw.value).map_err(err)?,
            timestamp_ms: raw.timestamp_ms,
            exemplar: raw.exemplar,
        });
    }
    if help_pending {
        return Err("HELP at the end not followed by TYPE".into());
    }
    if let Some(f) = fams.iter().find(|f| f.samples.is_empty()) {
        return Err(format!("family {:?} has no samples", f.name));
    }
    Ok(fams)
}

// --- what the model says a page holds ----------------------------------------------

/// The time `ms` milliseconds after the epoch (before it when negative).
fn at_ms(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms < 0 {
        UNIX_EPOCH - d
    } else {
        UNIX_EPOCH + d
    }
}

/// Whole milliseconds since the epoch, rounded toward the past.
fn millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap(),
        Err(e) => {
            let d = e.duration();
            -i64::try_from(d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0)).unwrap()
        }
    }
}

/// Seconds since the epoch as OpenMetrics writes created times and exemplar
/// timestamps: `Duration::as_secs_f64`, negative before 1970.
fn seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The model's rule for the exemplars [`exemplar`] makes (valid, distinct names):
/// at most 128 code points of labels, a number, a timestamp from 1970 to 9999.
fn exemplar_fits(e: &Exemplar) -> bool {
    let runes: usize = e
        .labels
        .iter()
        .map(|l| l.name.chars().count() + l.value.chars().count())
        .sum();
    let last = UNIX_EPOCH + Duration::new(253_402_300_799, 999_999_999);
    let in_range = |t: &SystemTime| UNIX_EPOCH <= *t && *t <= last;
    // Exemplar label names are legacy names (OpenMetrics 1.0 has no other).
    let names = e.labels.iter().all(|l| is_valid_label_name(&l.name));
    runes <= 128 && names && !e.value.is_nan() && e.timestamp.as_ref().is_none_or(in_range)
}

fn expected_exemplar(fmt: Fmt, e: Option<&Exemplar>) -> Option<Exem> {
    let e = e.filter(|e| fmt == Fmt::Om && exemplar_fits(e))?;
    Some(Exem {
        labels: e
            .labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect(),
        value: float(e.value),
        timestamp: e.timestamp.map(|t| float(seconds(t))),
    })
}

/// The samples and metadata a correct encoder writes for `families`.
fn expected(fmt: Fmt, families: &[MetricFamily], opts: &EncodeOptions) -> Vec<Fam> {
    let count = |n: u64| match fmt {
        Fmt::Text => float(n as f64),
        Fmt::Om => Num::U(n),
    };
    families
        .iter()
        .map(|f| {
            let full = f.name.as_str();
            let (name, typ) = match (fmt, f.metric_type) {
                (Fmt::Om, MetricType::Counter) => match full.strip_suffix("_total") {
                    Some(base) => (base, "counter"),
                    None => (full, "unknown"),
                },
                (Fmt::Om, MetricType::Untyped) => (full, "unknown"),
                (_, t) => (full, t.as_text()),
            };
            let unit = match fmt {
                Fmt::Om if typ != "unknown" && !f.unit.is_empty() => name
                    .strip_suffix(f.unit.as_str())
                    .filter(|p| p.len() > 1 && p.ends_with('_'))
                    .map(|_| f.unit.to_string()),
                _ => None,
            };
            let mut samples = Vec::new();
            for m in &f.metrics {
                let labels: Vec<(String, LVal)> = m
                    .labels
                    .iter()
                    .map(|l| (l.name.to_string(), LVal::S(l.value.to_string())))
                    .collect();
                let mut push = |suffix: &str, extra: Option<(&str, f64)>, value, ex| {
                    let mut labels = labels.clone();
                    if let Some((k, v)) = extra {
                        labels.push((k.to_owned(), LVal::F(canon(v))));
                    }
                    samples.push(Sample {
                        name: format!("{name}{suffix}"),
                        labels,
                        value,
                        timestamp_ms: m.timestamp.map(millis),
                        exemplar: ex,
                    });
                };
                let mut created = false;
                match &m.value {
                    Value::Counter(c) if typ == "counter" && fmt == Fmt::Om => {
                        let ex = expected_exemplar(fmt, c.exemplar.as_deref());
                        push("_total", None, float(c.value), ex);
                        created = true;
                    }
                    Value::Counter(CounterValue { value: v, .. })
                    | Value::Gauge(v)
                    | Value::Untyped(v) => push("", None, float(*v), None),
                    Value::Histogram(h) => {
                        for b in &h.buckets {
                            let ex = expected_exemplar(fmt, b.exemplar.as_deref());
                            let le = Some(("le", b.upper_bound));
                            push("_bucket", le, count(b.cumulative_count), ex);
                        }
                        if !h.buckets.iter().any(|b| b.upper_bound == f64::INFINITY) {
                            let le = Some(("le", f64::INFINITY));
                            push("_bucket", le, count(h.count), None);
                        }
                        let negative = h.buckets.iter().any(|b| b.upper_bound < 0.0);
                        if fmt == Fmt::Text || !negative {
                            push("_sum", None, float(h.sum), None);
                            push("_count", None, count(h.count), None);
                        }
                        created = true;
                    }
                    Value::Summary(s) => {
                        for q in &s.quantiles {
                            let extra = Some(("quantile", q.quantile));
                            push("", extra, float(q.value), None);
                        }
                        push("_sum", None, float(s.sum), None);
                        push("_count", None, count(s.count), None);
                        created = true;
                    }
                    other => panic!("no rule for {other:?}"),
                }
                if let (Fmt::Om, true, true, Some(c)) = (fmt, opts.created, created, m.created) {
                    push("_created", None, float(seconds(c)), None);
                }
            }
            Fam {
                name: name.to_owned(),
                typ: typ.to_owned(),
                unit,
                help: Some(f.help.to_string()).filter(|h| !h.is_empty()),
                samples,
            }
        })
        .collect()
}

/// Checks that hold for any page, independent of the model.
fn check_page(fmt: Fmt, out: &[u8], fams: &[Fam]) -> Result<(), String> {
    let text = std::str::from_utf8(out).unwrap();
    if text.starts_with('\n') || text.contains("\n\n") {
        return Err("blank line".into());
    }
    match fmt {
        Fmt::Om => {
            let eofs = text.split('\n').filter(|l| *l == "# EOF").count();
            if !text.ends_with("# EOF\n") || eofs != 1 {
                return Err(format!("{eofs} `# EOF` lines, or not at the end"));
            }
        }
        Fmt::Text => {
            if fams
                .iter()
                .flat_map(|f| &f.samples)
                .any(|s| s.exemplar.is_some())
            {
                return Err("exemplar in text".into());
            }
        }
    }
    // Families sorted by their model names (OpenMetrics counters lost `_total`).
    let names: Vec<String> = fams
        .iter()
        .map(|f| match (fmt, f.typ.as_str()) {
            (Fmt::Om, "counter") => format!("{}_total", f.name),
            _ => f.name.clone(),
        })
        .collect();
    if let Some(w) = names.windows(2).find(|w| w[0] >= w[1]) {
        return Err(format!("families not sorted: {:?} before {:?}", w[0], w[1]));
    }
    // Every histogram series ends with a +Inf bucket equal to its count.
    for f in fams.iter().filter(|f| f.typ == "histogram") {
        // Per label set: the buckets (`le`, count) and the `_count`.
        type Series = (Vec<(f64, Num)>, Option<Num>);
        let mut series: BTreeMap<String, Series> = BTreeMap::new();
        for s in &f.samples {
            let key_labels: Vec<_> = s.labels.iter().filter(|(k, _)| k != "le").collect();
            let entry = series.entry(format!("{key_labels:?}")).or_default();
            if s.name.ends_with("_bucket") {
                let le = match s.labels.last() {
                    Some((_, LVal::F(bits))) => f64::from_bits(*bits),
                    _ => return Err(format!("bucket without le in {}", f.name)),
                };
                entry.0.push((le, s.value));
            } else if s.name.ends_with("_count") {
                entry.1 = Some(s.value);
            }
        }
        for (labels, (buckets, count)) in series {
            let as_f64 = |n: Num| match n {
                Num::F(b) => f64::from_bits(b),
                Num::U(n) => n as f64,
            };
            if buckets
                .windows(2)
                .any(|w| w[0].0 >= w[1].0 || as_f64(w[0].1) > as_f64(w[1].1))
            {
                return Err(format!("{} {labels}: buckets out of order", f.name));
            }
            match buckets.last() {
                Some((le, v)) if *le == f64::INFINITY => {
                    if count.is_some_and(|c| c != *v) {
                        return Err(format!("{} {labels}: +Inf bucket {v:?} != count", f.name));
                    }
                }
                _ => return Err(format!("{} {labels}: no +Inf bucket", f.name)),
            }
        }
    }
    Ok(())
}

/// Encodes `families` in `fmt`, parses the page back and compares it with the model.
fn round_trip(
    fmt: Fmt,
    families: &[MetricFamily],
    opts: &EncodeOptions,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode(fmt.format(), families, opts, &mut out);
    let page = String::from_utf8_lossy(&out);
    let parsed = parse(fmt, &out).map_err(|e| format!("{fmt:?}: {e}\npage:\n{page}"))?;
    check_page(fmt, &out, &parsed).map_err(|e| format!("{fmt:?}: {e}\npage:\n{page}"))?;
    let want = expected(fmt, families, opts);
    if parsed != want {
        return Err(format!(
            "{fmt:?}: page does not read back as the model\nread back: {parsed:#?}\nexpected: {want:#?}\npage:\n{page}"
        ));
    }
    Ok(out)
}

fn normalized(families: Vec<MetricFamily>) -> Vec<MetricFamily> {
    normalized_with(families, Escaping::Underscores)
}

fn normalized_with(families: Vec<MetricFamily>, escaping: Escaping) -> Vec<MetricFamily> {
    let mut g = Gathered::default();
    g.families = families;
    normalize_with(&mut g, escaping);
    assert!(
        g.errors.is_empty(),
        "valid families rejected: {:?}",
        g.errors
    );
    g.families
}

// --- generators --------------------------------------------------------------------

const HOSTILE: &[char] = &[
    '"', '\\', '\n', '{', '}', '#', ',', '=', ' ', '\t', '\r', 'n', '0', 'é', '佖', '😀', '\u{0}',
    '\u{7f}', '\u{85}', '\u{2028}', '\u{feff}',
];

fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(HOSTILE),
        2 => any::<char>(),
        2 => prop::char::range('a', 'z'),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(hostile_char(), 0..max).prop_map(String::from_iter)
}

fn chars(set: &'static str) -> impl Strategy<Value = char> {
    prop::sample::select(set.chars().collect::<Vec<_>>())
}

const ALNUM: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, or (one in three) any non-empty UTF-8 string.
fn metric_base() -> impl Strategy<Value = String> {
    let first = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:";
    let rest = format!("{ALNUM}_:").leak();
    let legacy = (chars(first), prop::collection::vec(chars(rest), 0..8))
        .prop_map(|(c, r)| std::iter::once(c).chain(r).collect::<String>());
    let utf8 = (hostile_char(), text(8)).prop_map(|(c, r)| format!("{c}{r}"));
    prop_oneof![2 => legacy, 1 => utf8]
}

/// `[a-zA-Z_][a-zA-Z0-9_]*` or (one in four) a UTF-8 name, not starting with
/// `__`, not `reserved`.
fn label_name(reserved: &'static str) -> impl Strategy<Value = String> {
    let first = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
    let rest = format!("{ALNUM}_").leak();
    let random = (chars(first), prop::collection::vec(chars(rest), 0..6))
        .prop_map(|(c, r)| std::iter::once(c).chain(r).collect::<String>());
    let common = prop::sample::select(vec!["code", "path", "le", "quantile", "_", "a"])
        .prop_map(str::to_owned);
    let utf8 = (hostile_char(), text(6)).prop_map(|(c, r)| format!("{c}{r}"));
    prop_oneof![3 => random, 3 => common, 2 => utf8].prop_map(move |mut n| {
        if n.starts_with("__") {
            n.replace_range(..1, "x");
        }
        if n == reserved {
            n.push('_');
        }
        n
    })
}

fn labels(reserved: &'static str) -> impl Strategy<Value = Vec<Label>> {
    prop::collection::btree_map(label_name(reserved), text(12), 0..4)
        .prop_map(|m| {
            m.into_iter()
                .map(|(k, v)| Label::new(k, v))
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
}

/// Any f64: ordinary, huge, tiny, subnormal, ±0, ±Inf, NaN.
fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<f64>(),
        2 => prop::sample::select(vec![
            0.0, -0.0, 1.0, -1.0, 0.1, 1e-5, 1e-4, 999_999.0, 1e6, 1e21, 9_007_199_254_740_993.0,
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN, f64::MIN_POSITIVE,
            5e-324, f64::EPSILON,
        ]),
        2 => -1e7..1e7f64,
        1 => (-100_000i64..100_000).prop_map(|i| i as f64),
    ]
}

fn finite_value() -> impl Strategy<Value = f64> {
    any_value().prop_filter("finite", |v| v.is_finite())
}

fn any_count() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..1000u64,
        1 => any::<u64>(),
        1 => prop::sample::select(vec![1 << 53, (1 << 53) + 1, u64::MAX]),
    ]
}

fn timestamp() -> impl Strategy<Value = Option<SystemTime>> {
    prop_oneof![
        3 => Just(None),
        // Ten thousand years either side of 1970. Wider negative values hit
        // `bug_large_negative_timestamps_lose_milliseconds`.
        2 => (-315_569_520_000_000i64..315_569_520_000_000).prop_map(|ms| Some(at_ms(ms))),
        1 => prop::sample::select(vec![0, 1, -1, 999, -999, 1000, -1000, 1_600_000_000_123])
            .prop_map(|ms| Some(at_ms(ms))),
    ]
}

/// Created times and exemplar timestamps: any nanosecond within 30,000 years of
/// 1970, and times near the epoch.
fn any_time() -> impl Strategy<Value = SystemTime> {
    let from = |(seconds, nanos): (i64, u32)| {
        let d = Duration::new(seconds.unsigned_abs(), nanos);
        if seconds < 0 {
            UNIX_EPOCH - d
        } else {
            UNIX_EPOCH + d
        }
    };
    prop_oneof![
        2 => (-1_000_000_000_000i64..1_000_000_000_000, 0..1_000_000_000u32).prop_map(from),
        2 => (1_500_000_000i64..1_800_000_000, 0..1_000_000_000u32).prop_map(from),
        1 => (-2i64..2, 0..1_000_000_000u32).prop_map(from),
        1 => prop::sample::select(vec![(0, 0), (0, 1), (-1, 999_999_999), (1_600_000_000, 123_000_000)])
            .prop_map(from),
    ]
}

fn exemplar() -> impl Strategy<Value = Option<Box<Exemplar>>> {
    let value = prop_oneof![text(12), text(140)];
    let labels = prop::collection::btree_map(label_name(""), value, 0..3);
    let e = (labels, any_value(), prop::option::of(any_time())).prop_map(|(l, value, ts)| {
        let e = Exemplar::new(
            l.into_iter().map(|(k, v)| Label::new(k, v)).collect(),
            value,
        );
        Box::new(match ts {
            Some(ts) => e.with_timestamp(ts),
            None => e,
        })
    });
    prop::option::weighted(0.4, e)
}

fn histogram() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(finite_value(), 0..6),
        prop::bool::weighted(0.1),
        any::<bool>(),
        prop::collection::vec(any_count(), 8),
        any_count(),
        any_value(),
        prop::collection::vec(exemplar(), 8),
    )
        .prop_map(
            |(mut bounds, neg_inf, explicit_inf, incs, extra, sum, mut ex)| {
                bounds.sort_by(f64::total_cmp);
                bounds.dedup_by(|a, b| a == b);
                if neg_inf {
                    bounds.insert(0, f64::NEG_INFINITY);
                }
                if explicit_inf {
                    bounds.push(f64::INFINITY);
                }
                let mut cumulative = 0u64;
                let mut buckets: Vec<Bucket> = bounds
                    .iter()
                    .zip(&incs)
                    .zip(ex.iter_mut())
                    .map(|((&upper_bound, inc), e)| {
                        cumulative = cumulative.saturating_add(*inc);
                        let mut b = Bucket::new(upper_bound, cumulative);
                        b.exemplar = e.take();
                        b
                    })
                    .collect();
                let count = cumulative.saturating_add(extra);
                if let Some(b) = buckets
                    .last_mut()
                    .filter(|b| b.upper_bound == f64::INFINITY)
                {
                    b.cumulative_count = count;
                }
                Value::Histogram(HistogramValue::new(buckets, count, sum))
            },
        )
}

fn summary() -> impl Strategy<Value = Value> {
    let q = prop_oneof![
        prop::sample::select(vec![0.0, 0.5, 0.9, 0.99, 0.999, 1.0]),
        0.0..=1.0f64
    ];
    (
        prop::collection::vec((q, any_value()), 0..5),
        any_count(),
        any_value(),
    )
        .prop_map(|(mut qs, count, sum)| {
            qs.sort_by(|a, b| a.0.total_cmp(&b.0));
            qs.dedup_by(|a, b| a.0 == b.0);
            let quantiles = qs
                .into_iter()
                .map(|(quantile, value)| Quantile::new(quantile, value))
                .collect();
            Value::Summary(SummaryValue::new(quantiles, count, sum))
        })
}

/// Which family a spec makes: the type, and for counters whether the name ends in `_total`.
#[derive(Clone, Copy, Debug)]
enum Kind {
    CounterTotal,
    CounterBare,
    Gauge,
    Untyped,
    Histogram,
    Summary,
}

fn value_of(kind: Kind) -> BoxedStrategy<Value> {
    match kind {
        // Counters are never negative or NaN (normalize refuses them).
        Kind::CounterTotal | Kind::CounterBare => (
            any_value().prop_map(|v| if v.is_nan() { 0.0 } else { v.abs() }),
            exemplar(),
        )
            .prop_map(|(value, exemplar)| {
                let mut c = CounterValue::new(value);
                c.exemplar = exemplar;
                Value::Counter(c)
            })
            .boxed(),
        Kind::Gauge => any_value().prop_map(Value::Gauge).boxed(),
        Kind::Untyped => any_value().prop_map(Value::Untyped).boxed(),
        Kind::Histogram => histogram().boxed(),
        Kind::Summary => summary().boxed(),
    }
}

fn metric(kind: Kind) -> impl Strategy<Value = Metric> {
    let reserved = match kind {
        Kind::Histogram => "le",
        Kind::Summary => "quantile",
        _ => "",
    };
    (
        labels(reserved),
        value_of(kind),
        timestamp(),
        prop::option::of(any_time()),
    )
        .prop_map(|(labels, value, timestamp, created)| {
            let mut m = Metric::new(labels, value);
            m.timestamp = timestamp;
            m.created = created;
            m
        })
}

/// Units; none is `bucket`, `count`, `sum`, `total` or `created`, so the generated
/// names cannot clash (see [`families`]). `conds` is a suffix of `seconds` that is
/// not a unit of `x_seconds`.
const UNITS: &[&str] = &["seconds", "bytes", "conds", "s", "x_y"];

#[derive(Clone, Debug)]
struct FamilySpec {
    kind: Kind,
    base: String,
    name_unit: Option<&'static str>,
    unit: Option<&'static str>,
    help: String,
    metrics: Vec<Metric>,
}

fn family_spec() -> impl Strategy<Value = FamilySpec> {
    prop::sample::select(vec![
        Kind::CounterTotal,
        Kind::CounterBare,
        Kind::Gauge,
        Kind::Untyped,
        Kind::Histogram,
        Kind::Summary,
    ])
    .prop_flat_map(|kind| {
        (
            Just(kind),
            metric_base(),
            prop::option::of(prop::sample::select(UNITS)),
            prop::option::of(prop::sample::select(UNITS)),
            prop_oneof![1 => Just(String::new()), 3 => text(24)],
            prop::collection::vec(metric(kind), 1..4),
        )
    })
    .prop_map(|(kind, base, name_unit, unit, help, metrics)| FamilySpec {
        kind,
        base,
        name_unit,
        unit,
        help,
        metrics,
    })
}

/// Families with distinct names `<base>_<index>[_<unit>][_total]`: the index makes
/// them distinct, and since no unit is a generated suffix, no histogram or summary
/// sample name is another family's name. Label sets repeat nowhere in a family.
fn families() -> impl Strategy<Value = Vec<MetricFamily>> {
    prop::collection::vec(family_spec(), 1..6).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let mut name = format!("{}_{i}", s.base);
                if let Some(u) = s.name_unit {
                    name = format!("{name}_{u}");
                }
                let metric_type = match s.kind {
                    Kind::CounterTotal => {
                        name.push_str("_total");
                        MetricType::Counter
                    }
                    Kind::CounterBare => MetricType::Counter,
                    Kind::Gauge => MetricType::Gauge,
                    Kind::Untyped => MetricType::Untyped,
                    Kind::Histogram => MetricType::Histogram,
                    Kind::Summary => MetricType::Summary,
                };
                let mut seen = BTreeSet::new();
                let metrics: Vec<Metric> = s
                    .metrics
                    .into_iter()
                    .map(without_escaping_collisions)
                    .filter(|m| {
                        let mut key: Vec<_> = m.labels.clone();
                        key.sort();
                        seen.insert(key)
                    })
                    .collect();
                MetricFamily::new(name, s.help, metric_type)
                    .with_unit(s.unit.unwrap_or(""))
                    .with_metrics(metrics)
            })
            .collect()
    })
}

const SCHEMES: [Escaping; 4] = [
    Escaping::AllowUtf8,
    Escaping::Underscores,
    Escaping::Dots,
    Escaping::Values,
];

/// `m` without the labels whose names another label's name becomes under some
/// scheme (`a.b` beside `a_b`): normalization refuses such a metric, by design.
fn without_escaping_collisions(mut m: Metric) -> Metric {
    let mut kept: Vec<Label> = Vec::new();
    for l in m.labels {
        let clash = kept.iter().any(|k| {
            SCHEMES
                .iter()
                .any(|e| e.escape_label_name(&k.name) == e.escape_label_name(&l.name))
        });
        if !clash {
            kept.push(l);
        }
    }
    m.labels = kept;
    m
}

// --- the properties ------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn pages_read_back_as_the_model(
        families in families(),
        created in any::<bool>(),
        escaping in prop::sample::select(SCHEMES.to_vec()),
    ) {
        let n_families = families.len();
        let n_metrics: usize = families.iter().map(|f| f.metrics.len()).sum();
        let families = normalized_with(families, escaping);
        prop_assert_eq!(families.len(), n_families);
        prop_assert_eq!(families.iter().map(|f| f.metrics.len()).sum::<usize>(), n_metrics);
        let opts = EncodeOptions::default().with_created(created);
        for fmt in [Fmt::Text, Fmt::Om] {
            if let Err(e) = round_trip(fmt, &families, &opts) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}

// --- fixed hostile cases ---------------------------------------------------------------

fn page(fmt: Fmt, families: Vec<MetricFamily>, created: bool) -> String {
    let families = normalized(families);
    let out = round_trip(
        fmt,
        &families,
        &EncodeOptions::default().with_created(created),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8(out).unwrap()
}

fn gauge(name: &'static str, help: &str, labels: &[(&'static str, &str)], v: f64) -> MetricFamily {
    MetricFamily::new(name, help.to_owned(), MetricType::Gauge).with_metric(Metric::new(
        labels
            .iter()
            .map(|(k, v)| Label::new(*k, v.to_string()))
            .collect(),
        Value::Gauge(v),
    ))
}

#[test]
fn label_values_with_every_escape_and_lookalike_syntax() {
    let values = [
        "",
        "\"",
        "\\",
        "\n",
        "\\n",
        "\\\"",
        "a\"b\\c\nd",
        "} 1 # {trace_id=\"x\"} 2",
        "x\",y=\"z",
        "# EOF",
        "\r\t\u{0}\u{7f}",
        "Björn 佖佥 😀 \u{2028}",
        "ends with a backslash\\",
    ];
    let mut fam = MetricFamily::new("hostile", "", MetricType::Gauge);
    for (i, v) in values.iter().enumerate() {
        fam.metrics.push(Metric::new(
            vec![Label::new("v", v.to_string())],
            Value::Gauge(i as f64),
        ));
    }
    for fmt in [Fmt::Text, Fmt::Om] {
        let p = page(fmt, vec![fam.clone()], false);
        assert!(p.contains(r#"hostile{v="a\"b\\c\nd"} "#), "{p}");
        assert!(p.contains(r#"hostile{v="x\",y=\"z"} "#), "{p}");
        assert!(p.contains(r#"hostile{v=""} "#), "{p}");
    }
}

#[test]
fn help_escaping_differs_between_formats() {
    let help = "quote \" backslash \\ newline \n literal \\n end\\";
    let fam = gauge("g", help, &[], 1.0);
    let text = page(Fmt::Text, vec![fam.clone()], false);
    assert!(
        text.starts_with("# HELP g quote \" backslash \\\\ newline \\n literal \\\\n end\\\\\n"),
        "{text}"
    );
    let om = page(Fmt::Om, vec![fam], false);
    assert!(
        om.contains("\n# HELP g quote \\\" backslash \\\\ newline \\n literal \\\\n end\\\\\n"),
        "{om}"
    );
}

#[test]
fn help_that_looks_like_metadata() {
    let fam = gauge("g", "x\n# TYPE g counter\n# EOF", &[], 1.0);
    for fmt in [Fmt::Text, Fmt::Om] {
        let p = page(fmt, vec![fam.clone()], false);
        assert_eq!(
            p.lines().filter(|l| *l == "# EOF").count(),
            usize::from(fmt == Fmt::Om)
        );
    }
}

#[test]
fn non_finite_values_everywhere() {
    let h = MetricFamily::new("h", "", MetricType::Histogram).with_metric(Metric::new(
        vec![],
        Value::Histogram(HistogramValue::new(
            vec![
                Bucket::new(f64::NEG_INFINITY, 0),
                Bucket::new(5e-324, u64::MAX - 1),
            ],
            u64::MAX,
            f64::NAN,
        )),
    ));
    let s = MetricFamily::new("s", "", MetricType::Summary).with_metric(Metric::new(
        vec![],
        Value::Summary(SummaryValue::new(
            vec![Quantile::new(0.5, f64::NAN)],
            0,
            f64::NEG_INFINITY,
        )),
    ));
    let c = MetricFamily::new("c_total", "", MetricType::Counter).with_metric(Metric::new(
        vec![],
        Value::Counter(
            CounterValue::new(f64::INFINITY)
                .with_exemplar(Exemplar::new(vec![], f64::NEG_INFINITY)),
        ),
    ));
    let g = gauge("g", "", &[], -0.0);
    let text = page(
        Fmt::Text,
        vec![h.clone(), s.clone(), c.clone(), g.clone()],
        false,
    );
    assert!(text.contains("h_bucket{le=\"-Inf\"} 0\n"), "{text}");
    assert!(
        text.contains("h_bucket{le=\"+Inf\"} 1.8446744073709552e+19\n"),
        "{text}"
    );
    assert!(text.contains("h_sum NaN\n"), "{text}");
    assert!(text.contains("c_total +Inf\n"), "{text}");
    assert!(text.contains("g 0\n"), "{text}");
    let om = page(Fmt::Om, vec![h, s, c, g], true);
    // A negative bucket bound: no _sum, no _count.
    assert!(!om.contains("h_sum") && !om.contains("h_count"), "{om}");
    assert!(
        om.contains("h_bucket{le=\"+Inf\"} 18446744073709551615\n"),
        "{om}"
    );
    assert!(om.contains("c_total +Inf # {} -Inf\n"), "{om}");
    assert!(om.contains("\ng 0.0\n"), "{om}");
}

#[test]
fn exemplars_only_in_openmetrics_and_only_when_they_fit() {
    let exemplar = |value: &str| {
        Exemplar::new(vec![Label::new("trace_id", value.to_owned())], 0.5)
            .with_timestamp(at_ms(1_600_000_000_123))
    };
    let fam = MetricFamily::new("req_total", "", MetricType::Counter)
        .with_metric(Metric::new(
            vec![Label::new("a", "fits")],
            Value::Counter(CounterValue::new(1.0).with_exemplar(exemplar("\"} 1 # {\\\n"))),
        ))
        .with_metric(Metric::new(
            vec![Label::new("a", "too long")],
            Value::Counter(CounterValue::new(2.0).with_exemplar(exemplar(&"佖".repeat(121)))),
        ));
    let text = page(Fmt::Text, vec![fam.clone()], false);
    assert!(!text.contains(" # {"), "{text}");
    let om = page(Fmt::Om, vec![fam], false);
    assert!(
        om.contains("req_total{a=\"fits\"} 1.0 # {trace_id=\"\\\"} 1 # {\\\\\\n\"} 0.5 1.600000000123e+09\n"),
        "{om}"
    );
    assert!(om.contains("req_total{a=\"too long\"} 2.0\n"), "{om}");
}

#[test]
fn timestamps_to_the_millisecond() {
    let mut fam = MetricFamily::new("t", "", MetricType::Untyped);
    for (i, ts) in [
        0i64,
        1,
        -1,
        999,
        -1001,
        1_600_000_000_123,
        -1_600_000_000_123,
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = Metric::new(vec![Label::new("i", i.to_string())], Value::Untyped(1.5));
        m.timestamp = Some(at_ms(ts));
        fam.metrics.push(m);
    }
    let om = page(Fmt::Om, vec![fam.clone()], false);
    assert!(
        om.contains("t{i=\"6\"} 1.5 -1600000000.123\n")
            || om.contains("t{i=\"6\"} 1.5 -1.600000000123e+09\n"),
        "{om}"
    );
    page(Fmt::Text, vec![fam], false);
}

#[test]
fn units_only_when_the_name_ends_with_them() {
    let fams = vec![
        gauge("a_seconds", "", &[], 1.0).with_unit("seconds"),
        gauge("b_seconds", "", &[], 1.0).with_unit("conds"),
        gauge("seconds", "", &[], 1.0).with_unit("seconds"),
        MetricFamily::new("c_bytes_total", "", MetricType::Counter)
            .with_unit("bytes")
            .with_metric(Metric::new(vec![], Value::counter(1.0))),
        MetricFamily::new("d_bytes", "", MetricType::Counter)
            .with_unit("bytes")
            .with_metric(Metric::new(vec![], Value::counter(1.0))),
    ];
    let om = page(Fmt::Om, fams.clone(), false);
    assert!(om.contains("# UNIT a_seconds seconds\n"), "{om}");
    assert!(om.contains("# UNIT c_bytes bytes\n"), "{om}");
    assert_eq!(om.matches("# UNIT").count(), 2, "{om}");
    let text = page(Fmt::Text, fams, false);
    assert!(!text.contains("# UNIT"), "{text}");
}

/// The parser is only worth something if it rejects what a broken encoder writes.
#[test]
fn parser_rejects_malformed_pages() {
    let om = |body: &str| format!("# TYPE g gauge\n{body}# EOF\n");
    let om_hist = |body: &str| format!("# TYPE h histogram\n{body}# EOF\n");
    let cases: Vec<(Fmt, String)> = vec![
        (Fmt::Om, "# TYPE g gauge\ng 1.0\n".into()),
        (Fmt::Om, om("g 1.0\n# EOF\n")),
        (Fmt::Om, om("\ng 1.0\n")),
        (Fmt::Om, om("g{a=\"x\"y\"} 1.0\n")),
        (Fmt::Om, om("g{a=\"\\t\"} 1.0\n")),
        (Fmt::Om, om("g{} 1.0\n")),
        (Fmt::Om, om("g{a=\"x\",} 1.0\n")),
        (Fmt::Om, om("g{b=\"x\",a=\"y\"} 1.0\n")),
        (Fmt::Om, om("g{a=\"x\"}  1.0\n")),
        (Fmt::Om, om("g -1\n")),
        (Fmt::Om, om("g 1e6\n")),
        (Fmt::Om, om("g 01.5\n")),
        (Fmt::Om, om("g inf\n")),
        (Fmt::Om, om("g 1.0 1.0005\n")),
        (Fmt::Om, om("g 1.0 # {a=\"b\"} 1.0\n")),
        (Fmt::Om, om("h 1.0\n")),
        (
            Fmt::Om,
            "# TYPE g gauge\n# HELP g a\"b\ng 1.0\n# EOF\n".into(),
        ),
        (
            Fmt::Om,
            "# TYPE g gauge\n# HELP g x\n# UNIT g g\ng 1.0\n# EOF\n".into(),
        ),
        (Fmt::Om, "# TYPE g gauge\ng 1.0\n# HELP g x\n# EOF\n".into()),
        (
            Fmt::Om,
            "# TYPE g gauge\ng 1.0\n# TYPE g gauge\ng 1.0\n# EOF\n".into(),
        ),
        (Fmt::Om, "# TYPE g untyped\ng 1.0\n# EOF\n".into()),
        (Fmt::Om, om_hist("h_bucket{le=\"1.0\",a=\"b\"} 1\n")),
        (Fmt::Om, om_hist("h_bucket{le=\"1\"} 1\n")),
        (Fmt::Om, om_hist("h_bucket{a=\"b\"} 1\n")),
        (Fmt::Text, "# HELP g a\\\"b\n# TYPE g gauge\ng 1\n".into()),
        (Fmt::Text, "# HELP g x\ng 1\n".into()),
        (Fmt::Text, "# TYPE g gauge\ng 1 # {a=\"b\"} 1\n".into()),
        (Fmt::Text, "# TYPE g gauge\ng 1 1.5\n".into()),
        (Fmt::Text, "# TYPE g gauge\ng 1\n# EOF\n".into()),
        (Fmt::Text, "# TYPE g gauge\ng 1".into()),
        (Fmt::Text, "# TYPE g unknown\ng 1\n".into()),
    ];
    for (fmt, page) in cases {
        assert!(
            parse(fmt, page.as_bytes()).is_err(),
            "{fmt:?} page accepted:\n{page}"
        );
    }
    // And the well-formed versions read back.
    let good = om("g{a=\"x\\\"\\\\\\n\"} 1.0 -1.5\n");
    let fams = parse(Fmt::Om, good.as_bytes()).unwrap();
    assert_eq!(fams[0].samples[0].labels[0].1, LVal::S("x\"\\\n".into()));
    assert_eq!(fams[0].samples[0].timestamp_ms, Some(-1500));
    // An integer-looking OpenMetrics float reads back as an integer: it then differs
    // from the model's float in `round_trip`.
    let fams = parse(Fmt::Om, om("g 1\n").as_bytes()).unwrap();
    assert_eq!(fams[0].samples[0].value, Num::U(1));
}

// --- regressions: bugs this file found, fixed -------------------------------------

/// OpenMetrics timestamps of negative, non-whole seconds go through an f64 and
/// lose the millisecond once they need 16 significant digits (before about year
/// -29,700): `write_timestamp` in encode/openmetrics.rs.
#[test]
fn regression_large_negative_timestamps_lose_milliseconds() {
    let mut m = Metric::new(vec![], Value::Untyped(1.0));
    // OpenMetrics writes `-9.982049312483764e+12`, which is ...764 ms, not ...765.
    m.timestamp = Some(at_ms(-9_982_049_312_483_765));
    page(
        Fmt::Om,
        vec![MetricFamily::new("t", "", MetricType::Untyped).with_metric(m)],
        false,
    );
}

/// A counter named `_total` (a valid metric name) becomes an OpenMetrics family
/// with an empty name: `# TYPE  counter`.
#[test]
fn regression_counter_named_total_has_empty_openmetrics_name() {
    let fam = MetricFamily::new("_total", "", MetricType::Counter)
        .with_metric(Metric::new(vec![], Value::counter(1.0)));
    // Nothing is left once `_total` is cut off: written as `unknown` under its own name.
    assert_eq!(
        encode_om(vec![fam]),
        "# TYPE _total unknown\n_total 1.0\n# EOF\n"
    );
}

fn encode_om(families: Vec<MetricFamily>) -> String {
    let families = normalized(families);
    let mut out = Vec::new();
    promhttp::encode::encode(
        promhttp::encode::Format::OpenMetrics,
        &families,
        &EncodeOptions::default(),
        &mut out,
    );
    String::from_utf8(out).unwrap()
}

/// Counter `x_total` and gauge `x` pass `normalize`, but OpenMetrics names both
/// families `x`: `# TYPE x gauge` ... `# TYPE x counter`, which the specification
/// forbids (family names are unique).
#[test]
fn regression_counter_and_gauge_share_an_openmetrics_family_name() {
    let counter = MetricFamily::new("x_total", "", MetricType::Counter)
        .with_metric(Metric::new(vec![], Value::counter(1.0)));
    let mut g = promhttp::gather::Gathered::default();
    g.families = vec![gauge("x", "", &[], 1.0), counter];
    promhttp::gather::normalize(&mut g);
    // The clash is reported and the gauge left out; the rest encodes cleanly.
    assert_eq!(g.errors.len(), 1, "{:?}", g.errors);
    assert!(g.errors[0].to_string().contains("x_total"));
    let out = round_trip(Fmt::Om, &g.families, &EncodeOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("# TYPE x counter\n"));
}

/// Exemplar label names are neither checked by `normalize` nor escaped, so one
/// with a quote breaks the OpenMetrics line.
#[test]
fn regression_exemplar_label_names_are_not_validated() {
    let fam = MetricFamily::new("c_total", "", MetricType::Counter).with_metric(Metric::new(
        vec![],
        Value::Counter(
            CounterValue::new(1.0)
                .with_exemplar(Exemplar::new(vec![Label::new("a\"} 2 # {b", "v")], 1.0)),
        ),
    ));
    // The exemplar is dropped, the sample kept.
    assert_eq!(
        encode_om(vec![fam]),
        "# TYPE c counter\nc_total 1.0\n# EOF\n"
    );
}
