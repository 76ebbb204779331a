//! OpenTelemetry names and units translated to Prometheus names, as the
//! OpenTelemetry "Prometheus and OpenMetrics Compatibility" specification says.

use std::borrow::Cow;

/// How OpenTelemetry metric and attribute names become Prometheus names.
///
/// The OpenTelemetry Prometheus exporter specification names four strategies;
/// promhttp's model holds only legacy Prometheus names (`[a-zA-Z_:][a-zA-Z0-9_:]*`)
/// today, so only the one that produces them is offered. The strategies that keep
/// UTF-8 names unescaped (`NoUTF8EscapingWithSuffixes`, `NoTranslation`) come when the
/// model accepts UTF-8 names; the variant list may grow, match with a `_` arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TranslationStrategy {
    /// The specification's `UnderscoreEscapingWithSuffixes`, the default: every
    /// character that a Prometheus name cannot hold becomes `_` and runs of `_`
    /// collapse to one (`http.server.request.duration` →
    /// `http_server_request_duration`); a metric name starting with a digit gets a
    /// leading `_`, an attribute key starting with a digit a leading `key_`. The
    /// unit is appended (`_seconds`) unless the name already ends with it, and a
    /// monotonic sum ends with `_total`.
    #[default]
    UnderscoreEscapingWithSuffixes,
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
    ("TiBy", "tibibytes"),
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

/// The family name and its unit: `name` escaped, the unit appended unless the
/// name already ends with it, `_total` appended for counters (after the unit; a
/// `_total` the name already had is moved behind the unit).
pub(crate) fn family_name(
    name: &str,
    unit: Option<&str>,
    counter: bool,
    _strategy: TranslationStrategy,
) -> String {
    let mut out = metric_name(name);
    if counter && out.len() > "_total".len() && out.ends_with("_total") {
        out.truncate(out.len() - "_total".len());
    }
    if let Some(unit) = unit {
        let present = out
            .strip_suffix(unit)
            .is_some_and(|rest| rest.ends_with('_'));
        if !present {
            if !out.ends_with('_') {
                out.push('_');
            }
            out.push_str(unit);
        }
    }
    if counter && !out.ends_with("_total") {
        if !out.ends_with('_') {
            out.push('_');
        }
        out.push_str("total");
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
}
