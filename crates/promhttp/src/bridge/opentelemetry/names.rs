//! OpenTelemetry names and units translated to Prometheus names, as the
//! OpenTelemetry "Prometheus and OpenMetrics Compatibility" specification says.

use std::borrow::Cow;

/// How OpenTelemetry metric and attribute names become Prometheus names: the four
/// `translation_strategy` values of the OpenTelemetry Prometheus exporter
/// specification (configuration, "Translation Strategy"), the same four Prometheus'
/// OTLP receiver offers.
///
/// | strategy | `http.server.duration` (unit `s`, histogram) | counter `jobs.done` | attribute `http.method` |
/// |---|---|---|---|
/// | [`UnderscoreEscapingWithSuffixes`](Self::UnderscoreEscapingWithSuffixes) (default) | `http_server_duration_seconds` | `jobs_done_total` | `http_method` |
/// | [`UnderscoreEscapingWithoutSuffixes`](Self::UnderscoreEscapingWithoutSuffixes) | `http_server_duration` | `jobs_done` | `http_method` |
/// | [`NoUTF8EscapingWithSuffixes`](Self::NoUTF8EscapingWithSuffixes) | `http.server.duration_seconds` | `jobs.done_total` | `http.method` |
/// | [`NoTranslation`](Self::NoTranslation) | `http.server.duration` | `jobs.done` | `http.method` |
///
/// The two `NoUTF8`/`NoTranslation` strategies put UTF-8 names in the model; the
/// handler writes them as the scraper negotiated (see
/// [`Escaping`](crate::encode::Escaping)): as they are, quoted where the format
/// needs it, to a scraper that asked for `escaping=allow-utf-8` (Prometheus 3), and
/// escaped with the scheme it asked for, `underscores` when it asked for none
/// (Prometheus 2, most other scrapers), to the others. Escaping at serve time
/// differs from the escaping strategies in three ways:
///
/// * it does not collapse runs of `_` nor prefix a leading digit the same way
///   (`a..b` is `a__b`, where `UnderscoreEscapingWithSuffixes` makes `a_b`);
/// * two names that escape to one (instruments `queue.depth` and `queue_depth`,
///   attributes `room.id` and `room_id` on one point) are not merged: the handler
///   reports a [`NameEscapingCollision`](crate::gather::GatherErrorKind::NameEscapingCollision)
///   (keeping one family) or a
///   [`LabelNameEscapingCollision`](crate::gather::GatherErrorKind::LabelNameEscapingCollision)
///   (leaving the series out), and by default answers that scraper 500 (see
///   [`ErrorHandling`](crate::ErrorHandling)); the escaping strategies merge such
///   attributes into one label (`room_id="a;b"`) and such instruments into one
///   family when their types agree;
/// * the unit and `_total` suffixes are appended to the UTF-8 name with `_`
///   (`http.server.duration_seconds`), so escaped with underscores it is the
///   name `UnderscoreEscapingWithSuffixes` gives (`http_server_duration_seconds`)
///   whenever the name has no runs of invalid characters and no leading digit.
///
/// In every strategy an attribute key the model cannot hold as a label name (empty,
/// or starting with the reserved `__`) is changed as the escaping strategies change
/// it: an empty key becomes `key`, leading underscores become one (`__x` → `_x`).
/// The unit is always the family's unit metadata (OpenMetrics `# UNIT` when the
/// name ends with it), translated by the unit map whatever the strategy.
///
/// The variant list may grow: match with a `_` arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TranslationStrategy {
    /// The default: every character that a legacy Prometheus name cannot hold
    /// becomes `_` and runs of `_` collapse to one (`http.server.request.duration`
    /// → `http_server_request_duration`); a metric name starting with a digit gets
    /// a leading `_`, an attribute key starting with a digit a leading `key_`. The
    /// unit is appended (`_seconds`) unless the name already ends with it, and a
    /// monotonic sum ends with `_total`.
    #[default]
    UnderscoreEscapingWithSuffixes,
    /// Names and attribute keys escaped as by `UnderscoreEscapingWithSuffixes`,
    /// with no unit and no `_total` appended (a counter `jobs.done` is
    /// `jobs_done`; text 0.0.4 serves it so, OpenMetrics as an `unknown` family of
    /// that name, since an OpenMetrics counter's sample must end in `_total`).
    UnderscoreEscapingWithoutSuffixes,
    /// Names and attribute keys as OpenTelemetry wrote them (UTF-8), the unit and
    /// `_total` appended as by `UnderscoreEscapingWithSuffixes`, joined with `_`
    /// (`http.server.duration` in `s` → `http.server.duration_seconds`; a name
    /// already ending in the unit or `total` after any character other than a
    /// letter, digit or `:` keeps it: `rpc.size.bytes` in `By` stays, `jobs.total`
    /// as a counter is `jobs_total`).
    NoUTF8EscapingWithSuffixes,
    /// Names and attribute keys as OpenTelemetry wrote them, nothing appended (a
    /// counter `jobs.done` stays `jobs.done`). Several instruments that differ only
    /// by unit share a name: with one type they are one family (the first scope's
    /// help and unit kept), with different types the later one is left out with a
    /// warning (see the module's "Collisions").
    NoTranslation,
}

impl TranslationStrategy {
    /// Whether names are escaped to the legacy character set.
    pub(crate) fn escapes(self) -> bool {
        matches!(
            self,
            TranslationStrategy::UnderscoreEscapingWithSuffixes
                | TranslationStrategy::UnderscoreEscapingWithoutSuffixes
        )
    }

    /// Whether the unit and `_total` are appended.
    pub(crate) fn suffixes(self) -> bool {
        matches!(
            self,
            TranslationStrategy::UnderscoreEscapingWithSuffixes
                | TranslationStrategy::NoUTF8EscapingWithSuffixes
        )
    }
}

/// `key` as a label name under `strategy`: [`label_name`] when it escapes, else
/// the key as it is, unless the model cannot hold it (empty, or starting with
/// `__`: see [`TranslationStrategy`]).
pub(crate) fn label_name_for(key: &str, strategy: TranslationStrategy) -> Cow<'_, str> {
    if strategy.escapes() {
        return label_name(key);
    }
    if key.is_empty() {
        return Cow::Borrowed("key");
    }
    if key.starts_with("__") {
        return Cow::Owned(format!("_{}", key.trim_start_matches('_')));
    }
    Cow::Borrowed(key)
}

/// `name` as a legacy metric name: characters outside `[a-zA-Z0-9_:]` become `_`,
/// runs of `_` collapse to one, a leading digit gets a `_` before it; an empty
/// name becomes `_`.
pub(crate) fn metric_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.push('_');
    }
    push_escaped(&mut out, name, |c| c.is_ascii_alphanumeric() || c == ':');
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// `key` as a legacy label name: characters outside `[a-zA-Z0-9_]` become `_`,
/// runs of `_` collapse to one (so no result starts with the reserved `__`), a
/// leading digit gets `key_` before it; an empty key becomes `key`.
pub(crate) fn label_name(key: &str) -> Cow<'_, str> {
    let valid = key.bytes().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()) || (c == b'_' && !repeats(key, i))
    });
    if valid && !key.is_empty() {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 4);
    if key.is_empty() || key.as_bytes()[0].is_ascii_digit() {
        out.push_str("key_");
    }
    push_escaped(&mut out, key, |c| c.is_ascii_alphanumeric());
    if out == "key_" {
        out.truncate(3);
    }
    Cow::Owned(out)
}

/// Whether the `_` at byte `i` follows another `_`.
fn repeats(s: &str, i: usize) -> bool {
    i > 0 && s.as_bytes()[i - 1] == b'_'
}

/// Appends `s` to `out`, each character for which `keep` is false (and `_`) as
/// `_`, never two `_` in a row (counting what `out` already ends with).
fn push_escaped(out: &mut String, s: &str, keep: impl Fn(char) -> bool) {
    for c in s.chars() {
        if keep(c) {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
}

/// The Prometheus unit for an OpenTelemetry (UCUM) unit, or `None` when the
/// metric is unitless there: annotations in braces are dropped (`{request}` is
/// no unit, `By{packet}` is `By`), abbreviations become words (`s` → `seconds`,
/// `By` → `bytes`), `a/b` becomes `a_per_b` with the per-unit singular
/// (`m/s` → `meters_per_second`, `1/s` → `per_second`), `1` becomes `ratio` for gauges and nothing
/// otherwise, and any other unit is kept with its invalid characters escaped.
pub(crate) fn unit(unit: &str, is_gauge: bool) -> Option<Cow<'static, str>> {
    let mut bare = String::new();
    let mut depth = 0u32;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if depth == 0 => bare.push(c),
            _ => {}
        }
    }
    let bare = bare.trim();
    if bare == "1" {
        return is_gauge.then_some(Cow::Borrowed("ratio"));
    }
    let (main, per) = match bare.split_once('/') {
        Some((main, per)) => (main.trim(), Some(per.trim())),
        None => (bare, None),
    };
    // `1/s` is "per second": a `1` before the `/` is no unit.
    let main = if main == "1" {
        Cow::Borrowed("")
    } else {
        word(main, UNITS)
    };
    let per = per.map(|p| word(p, PER_UNITS)).filter(|p| !p.is_empty());
    let joined = match (main.is_empty(), per) {
        (true, None) => return None,
        (false, None) => main,
        (true, Some(per)) => Cow::Owned(format!("per_{per}")),
        (false, Some(per)) => Cow::Owned(format!("{main}_per_{per}")),
    };
    Some(joined)
}

/// `unit` looked up in `table` (then in [`UNITS`]), else escaped: characters
/// outside `[a-zA-Z0-9]` become `_`, with no `_` at either end or twice in a row.
fn word(unit: &str, table: &[(&str, &'static str)]) -> Cow<'static, str> {
    let found = table
        .iter()
        .chain(UNITS)
        .find(|(ucum, _)| *ucum == unit)
        .map(|(_, word)| *word);
    if let Some(word) = found {
        return Cow::Borrowed(word);
    }
    let mut out = String::with_capacity(unit.len());
    push_escaped(&mut out, unit, |c| c.is_ascii_alphanumeric());
    Cow::Owned(out.trim_matches('_').to_owned())
}

/// UCUM units and their Prometheus words.
const UNITS: &[(&str, &str)] = &[
    // Time.
    ("d", "days"),
    ("h", "hours"),
    ("min", "minutes"),
    ("s", "seconds"),
    ("ms", "milliseconds"),
    ("us", "microseconds"),
    ("ns", "nanoseconds"),
    // Bytes.
    ("By", "bytes"),
    ("KiBy", "kibibytes"),
    ("MiBy", "mebibytes"),
    ("GiBy", "gibibytes"),
    ("TiBy", "tebibytes"),
    ("kBy", "kilobytes"),
    // Not UCUM (kilo is `k`), but what Prometheus' OTLP translation maps too.
    ("KBy", "kilobytes"),
    ("MBy", "megabytes"),
    ("GBy", "gigabytes"),
    ("TBy", "terabytes"),
    // SI.
    ("m", "meters"),
    ("V", "volts"),
    ("A", "amperes"),
    ("J", "joules"),
    ("W", "watts"),
    ("g", "grams"),
    // Others.
    ("Cel", "celsius"),
    ("Hz", "hertz"),
    ("%", "percent"),
];

/// Units after a `/`, in the singular.
const PER_UNITS: &[(&str, &str)] = &[
    ("s", "second"),
    ("m", "minute"),
    ("h", "hour"),
    ("d", "day"),
    ("w", "week"),
    ("mo", "month"),
    ("y", "year"),
];

/// Whether `c` separates a suffix word from the name before it: any character
/// that underscore escaping turns into `_` (so `_` itself, `.`, `-`, `/`, ...).
fn is_delimiter(c: char) -> bool {
    !(c.is_ascii_alphanumeric() || c == ':')
}

/// `name` without its last word `word` and the delimiter before it, when `name`
/// ends so and something is left before the delimiter.
fn without_word<'a>(name: &'a str, word: &str) -> Option<&'a str> {
    let rest = name.strip_suffix(word)?;
    let mut chars = rest.chars();
    let delimiter = chars.next_back()?;
    (is_delimiter(delimiter) && !chars.as_str().is_empty()).then_some(chars.as_str())
}

/// Whether `name` ends with the word `word` after a delimiter.
fn ends_with_word(name: &str, word: &str) -> bool {
    name.strip_suffix(word)
        .and_then(|rest| rest.chars().next_back())
        .is_some_and(is_delimiter)
}

/// Appends `_word` to `out` (just `word` when `out` already ends with `_`).
fn push_word(out: &mut String, word: &str) {
    if !out.ends_with('_') {
        out.push('_');
    }
    out.push_str(word);
}

/// The family name of an instrument: `name` escaped when `strategy` escapes; then,
/// when it adds suffixes, the unit appended unless the name already ends with it,
/// and `_total` appended for counters (after the unit; a `total` the name already
/// ended with is moved behind the unit).
pub(crate) fn family_name(
    name: &str,
    unit: Option<&str>,
    counter: bool,
    strategy: TranslationStrategy,
) -> String {
    let mut out = if strategy.escapes() {
        metric_name(name)
    } else {
        name.to_owned()
    };
    if !strategy.suffixes() {
        return out;
    }
    if counter {
        if let Some(len) = without_word(&out, "total").map(str::len) {
            out.truncate(len);
        }
    }
    if let Some(unit) = unit {
        if !ends_with_word(&out, unit) {
            push_word(&mut out, unit);
        }
    }
    if counter && !ends_with_word(&out, "total") {
        push_word(&mut out, "total");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: TranslationStrategy = TranslationStrategy::UnderscoreEscapingWithSuffixes;

    #[test]
    fn metric_names_are_escaped_and_collapsed() {
        assert_eq!(metric_name("http.server.duration"), "http_server_duration");
        assert_eq!(metric_name("a..b__c-_d"), "a_b_c_d");
        assert_eq!(metric_name("9lives"), "_9lives");
        assert_eq!(metric_name("ns:name"), "ns:name");
        assert_eq!(metric_name("Björn"), "Bj_rn");
        assert_eq!(metric_name(""), "_");
        assert_eq!(metric_name("..."), "_");
    }

    #[test]
    fn label_names_are_escaped_collapsed_and_never_reserved() {
        assert_eq!(label_name("http.request.method"), "http_request_method");
        assert!(matches!(label_name("method"), Cow::Borrowed("method")));
        assert_eq!(label_name("__meta"), "_meta");
        assert_eq!(label_name("a__b"), "a_b");
        assert_eq!(label_name("0day"), "key_0day");
        assert_eq!(label_name("1.x"), "key_1_x");
        assert_eq!(label_name(""), "key");
        assert_eq!(label_name("ß"), "_");
        for k in ["__meta", "0day", "", "a.b", "_", "__"] {
            assert!(crate::model::is_valid_label_name(&label_name(k)), "{k}");
        }
    }

    #[test]
    fn units_follow_the_unit_map() {
        let u = |s, g| unit(s, g).map(|c| c.into_owned());
        assert_eq!(u("s", false).as_deref(), Some("seconds"));
        assert_eq!(u("ms", false).as_deref(), Some("milliseconds"));
        assert_eq!(u("By", false).as_deref(), Some("bytes"));
        assert_eq!(u("KiBy", false).as_deref(), Some("kibibytes"));
        assert_eq!(u("TiBy", false).as_deref(), Some("tebibytes"));
        assert_eq!(u("kBy", false).as_deref(), Some("kilobytes"));
        assert_eq!(u("km/h", false).as_deref(), Some("km_per_hour"));
        assert_eq!(u("1", true).as_deref(), Some("ratio"));
        assert_eq!(u("1", false), None);
        assert_eq!(u("{request}", false), None);
        assert_eq!(u("By{packet}", false).as_deref(), Some("bytes"));
        assert_eq!(u("m/s", false).as_deref(), Some("meters_per_second"));
        assert_eq!(u("By/s", false).as_deref(), Some("bytes_per_second"));
        assert_eq!(u("{packet}/s", false).as_deref(), Some("per_second"));
        assert_eq!(u("1/s", false).as_deref(), Some("per_second"));
        assert_eq!(u("%", true).as_deref(), Some("percent"));
        assert_eq!(u("packets", false).as_deref(), Some("packets"));
        assert_eq!(u("kW.h", false).as_deref(), Some("kW_h"));
        assert_eq!(u("", false), None);
    }

    #[test]
    fn family_names_get_unit_and_total_once() {
        let f = |n, u, c| family_name(n, u, c, S);
        assert_eq!(
            f("http.server.duration", Some("seconds"), false),
            "http_server_duration_seconds"
        );
        assert_eq!(
            f("latency_seconds", Some("seconds"), false),
            "latency_seconds"
        );
        assert_eq!(f("requests", None, true), "requests_total");
        assert_eq!(f("requests_total", None, true), "requests_total");
        assert_eq!(f("sent", Some("bytes"), true), "sent_bytes_total");
        assert_eq!(f("sent_total", Some("bytes"), true), "sent_bytes_total");
        assert_eq!(
            f("sent_bytes_total", Some("bytes"), true),
            "sent_bytes_total"
        );
        assert_eq!(f("cpu.usage", Some("ratio"), false), "cpu_usage_ratio");
        // A name that only ends in the unit's letters gets it appended.
        assert_eq!(f("xseconds", Some("seconds"), false), "xseconds_seconds");
        assert_eq!(f("_total", None, true), "_total");
        assert_eq!(f("x_", None, true), "x_total");
    }

    #[test]
    fn utf8_names_keep_their_characters_and_get_suffixes_joined_with_underscores() {
        let f = |n, u, c| family_name(n, u, c, TranslationStrategy::NoUTF8EscapingWithSuffixes);
        assert_eq!(
            f("http.server.duration", Some("seconds"), false),
            "http.server.duration_seconds"
        );
        assert_eq!(f("größe", Some("bytes"), false), "größe_bytes");
        assert_eq!(f("jobs.done", None, true), "jobs.done_total");
        // A word after any delimiter counts as present; `total` moves behind the unit.
        assert_eq!(f("rpc.size.bytes", Some("bytes"), false), "rpc.size.bytes");
        assert_eq!(f("jobs.total", None, true), "jobs_total");
        assert_eq!(f("sent.total", Some("bytes"), true), "sent_bytes_total");
        assert_eq!(f("cpu/seconds", Some("seconds"), true), "cpu/seconds_total");
        assert_eq!(f("xseconds", Some("seconds"), false), "xseconds_seconds");
        assert_eq!(f("9lives", None, false), "9lives");
    }

    #[test]
    fn without_suffixes_nothing_is_appended() {
        let esc = |n, u, c| {
            family_name(
                n,
                u,
                c,
                TranslationStrategy::UnderscoreEscapingWithoutSuffixes,
            )
        };
        assert_eq!(
            esc("http.server.duration", Some("seconds"), false),
            "http_server_duration"
        );
        assert_eq!(esc("jobs.done", None, true), "jobs_done");
        assert_eq!(esc("9lives", None, true), "_9lives");
        let raw = |n, u, c| family_name(n, u, c, TranslationStrategy::NoTranslation);
        assert_eq!(
            raw("http.server.duration", Some("seconds"), false),
            "http.server.duration"
        );
        assert_eq!(raw("jobs.done", None, true), "jobs.done");
        assert_eq!(raw("jobs_total", None, true), "jobs_total");
    }

    #[test]
    fn utf8_names_escaped_with_underscores_are_the_escaping_strategys_names() {
        use crate::encode::Escaping;
        for (name, unit, counter) in [
            ("http.server.request.duration", Some("seconds"), false),
            ("http.server.requests", None, true),
            ("sent.total", Some("bytes"), true),
            ("cpu.utilization", Some("ratio"), false),
            ("k8s.pod/cpu-time", Some("seconds"), true),
        ] {
            let utf8 = family_name(
                name,
                unit,
                counter,
                TranslationStrategy::NoUTF8EscapingWithSuffixes,
            );
            assert_eq!(
                Escaping::Underscores.escape_metric_name(&utf8),
                family_name(name, unit, counter, S),
                "{name}"
            );
        }
    }

    #[test]
    fn strategies_escape_label_names_or_keep_them() {
        use TranslationStrategy::*;
        for s in [
            UnderscoreEscapingWithSuffixes,
            UnderscoreEscapingWithoutSuffixes,
        ] {
            assert_eq!(label_name_for("http.method", s), "http_method");
            assert_eq!(label_name_for("0day", s), "key_0day");
        }
        for s in [NoUTF8EscapingWithSuffixes, NoTranslation] {
            assert!(matches!(
                label_name_for("http.method", s),
                Cow::Borrowed("http.method")
            ));
            assert_eq!(label_name_for("0day", s), "0day");
            assert_eq!(label_name_for("größe", s), "größe");
            // What the model cannot hold is changed as the escaping strategies do.
            assert_eq!(label_name_for("", s), "key");
            assert_eq!(label_name_for("__x.y", s), "_x.y");
            assert_eq!(label_name_for("__", s), "_");
        }
    }

    #[test]
    fn strategy_flags() {
        use TranslationStrategy::*;
        let flags = |s: TranslationStrategy| (s.escapes(), s.suffixes());
        assert_eq!(flags(UnderscoreEscapingWithSuffixes), (true, true));
        assert_eq!(flags(UnderscoreEscapingWithoutSuffixes), (true, false));
        assert_eq!(flags(NoUTF8EscapingWithSuffixes), (false, true));
        assert_eq!(flags(NoTranslation), (false, false));
        assert_eq!(
            TranslationStrategy::default(),
            UnderscoreEscapingWithSuffixes
        );
    }
}
