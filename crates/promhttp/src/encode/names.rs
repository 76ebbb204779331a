//! Name escaping: how metric and label names outside the legacy character set are
//! written for a scraper that asked for (or did not ask for) UTF-8 names.
//!
//! Prometheus 3 accepts any UTF-8 metric and label name; older scrapers accept only
//! the legacy set (`[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names, the same without `:`
//! for label names). A scraper says what it accepts with the `escaping` parameter
//! of its `Accept` header; [`crate::negotiate`] turns it into an [`Escaping`], and
//! the encoders write every name through it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// How names outside the legacy character set are written (Prometheus'
/// `escaping` schemes).
///
/// | scheme | `http.server.duration` | `my_metric` | `a/b` |
/// |---|---|---|---|
/// | [`AllowUtf8`](Self::AllowUtf8) | `http.server.duration` (quoted where the format needs it) | `my_metric` | `a/b` |
/// | [`Underscores`](Self::Underscores) (the default) | `http_server_duration` | `my_metric` | `a_b` |
/// | [`Dots`](Self::Dots) | `http_dot_server_dot_duration` | `my__metric` | `a__b` |
/// | [`Values`](Self::Values) | `U__http_2e_server_2e_duration` | `my_metric` | `U__a_2f_b` |
///
/// * `Underscores`: every character outside the legacy set becomes `_` (a leading
///   digit too); a legacy name is unchanged.
/// * `Dots`: `.` becomes `_dot_`, `_` becomes `__`, any other character outside the
///   legacy set `__`; applied to every name, legacy or not (so `_` stays
///   reversible). Prometheus' escaping document says "single underscores" for the
///   last case; client_golang and Prometheus' own code write `__`, and so do we.
/// * `Values`: a name outside the legacy set becomes `U__` followed by the name with
///   `_` doubled and every other character outside the set written as its code
///   point in lower-case hex between underscores (`.` is `_2e_`); a legacy name is
///   unchanged.
///
/// For label names `:` is outside the legacy set (it is allowed in metric names
/// only), so `a:b` as a label name is escaped while `a:b` as a metric name is not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Escaping {
    /// Names as they are (`escaping=allow-utf-8`): for scrapers that read UTF-8
    /// names, such as Prometheus 3.
    AllowUtf8,
    /// `escaping=underscores`, and what a scraper gets that said nothing.
    #[default]
    Underscores,
    /// `escaping=dots`.
    Dots,
    /// `escaping=values`.
    Values,
}

/// Whether every character of `name` is in the legacy set of metric names.
pub(crate) fn is_legacy_metric_name(name: &str) -> bool {
    NameKind::Metric.is_legacy(name)
}

/// Whether every character of `name` is in the legacy set of label names (a
/// reserved `__` name counts: reserved is not outside the set).
pub(crate) fn is_legacy_label_name(name: &str) -> bool {
    NameKind::Label.is_legacy(name)
}

/// Whether a name is a metric name or a label name (`:` is legacy in the first only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKind {
    Metric,
    Label,
}

impl NameKind {
    /// Whether every character of `name` is in the legacy set (a reserved `__`
    /// label name is: reserved is not the same as outside the set).
    ///
    /// Checked byte by byte: the legacy set is ASCII, so a byte of a multi-byte
    /// character is outside it like the character, and up to the first such byte
    /// byte indices are char indices (this runs for every label of every series).
    fn is_legacy(self, name: &str) -> bool {
        !name.is_empty()
            && name
                .bytes()
                .enumerate()
                .all(|(i, b)| self.is_legacy_char(char::from(b), i))
    }

    /// Whether `c`, at char index `i`, is in the legacy set for this kind.
    fn is_legacy_char(self, c: char, i: usize) -> bool {
        c.is_ascii_alphabetic()
            || c == '_'
            || (c == ':' && self == NameKind::Metric)
            || (c.is_ascii_digit() && i > 0)
    }
}

impl Escaping {
    /// The `escaping` parameter value: `allow-utf-8`, `underscores`, `dots`, `values`.
    pub fn as_str(self) -> &'static str {
        match self {
            Escaping::AllowUtf8 => "allow-utf-8",
            Escaping::Underscores => "underscores",
            Escaping::Dots => "dots",
            Escaping::Values => "values",
        }
    }

    /// The scheme named by an `escaping` parameter value (ASCII case-insensitive),
    /// `None` for any other value.
    pub fn from_param(value: &[u8]) -> Option<Escaping> {
        [
            Escaping::AllowUtf8,
            Escaping::Underscores,
            Escaping::Dots,
            Escaping::Values,
        ]
        .into_iter()
        .find(|e| value.eq_ignore_ascii_case(e.as_str().as_bytes()))
    }

    /// `name`, a metric name, as this scheme writes it (borrowed when unchanged).
    ///
    /// ```
    /// use promhttp::encode::Escaping;
    ///
    /// assert_eq!(Escaping::Underscores.escape_metric_name("http.server.duration"), "http_server_duration");
    /// assert_eq!(Escaping::Dots.escape_metric_name("http.server_duration"), "http_dot_server__duration");
    /// assert_eq!(Escaping::Values.escape_metric_name("http.server"), "U__http_2e_server");
    /// assert_eq!(Escaping::AllowUtf8.escape_metric_name("http.server"), "http.server");
    /// ```
    pub fn escape_metric_name(self, name: &str) -> Cow<'_, str> {
        self.apply(name, NameKind::Metric)
    }

    /// `name`, a label name, as this scheme writes it (borrowed when unchanged).
    /// Unlike in metric names, `:` is escaped.
    ///
    /// ```
    /// use promhttp::encode::Escaping;
    ///
    /// assert_eq!(Escaping::Underscores.escape_label_name("k8s.pod:name"), "k8s_pod_name");
    /// ```
    pub fn escape_label_name(self, name: &str) -> Cow<'_, str> {
        self.apply(name, NameKind::Label)
    }

    /// Whether this scheme leaves `name` as it is.
    pub(crate) fn keeps(self, name: &str, kind: NameKind) -> bool {
        match self {
            Escaping::AllowUtf8 => true,
            Escaping::Underscores | Escaping::Values => kind.is_legacy(name),
            Escaping::Dots => kind.is_legacy(name) && !name.contains('_'),
        }
    }

    /// `name` as this scheme writes it.
    pub(crate) fn apply(self, name: &str, kind: NameKind) -> Cow<'_, str> {
        if self.keeps(name, kind) {
            return Cow::Borrowed(name);
        }
        let mut out = String::with_capacity(name.len() + 8);
        match self {
            Escaping::AllowUtf8 => out.push_str(name),
            Escaping::Underscores => {
                for (i, c) in name.chars().enumerate() {
                    out.push(if kind.is_legacy_char(c, i) { c } else { '_' });
                }
            }
            Escaping::Dots => {
                for (i, c) in name.chars().enumerate() {
                    match c {
                        '_' => out.push_str("__"),
                        '.' => out.push_str("_dot_"),
                        c if kind.is_legacy_char(c, i) => out.push(c),
                        _ => out.push_str("__"),
                    }
                }
            }
            Escaping::Values => {
                out.push_str("U__");
                for (i, c) in name.chars().enumerate() {
                    match c {
                        '_' => out.push_str("__"),
                        c if kind.is_legacy_char(c, i) => out.push(c),
                        c => {
                            let _ = write!(out, "_{:x}_", u32::from(c));
                        }
                    }
                }
            }
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{is_valid_label_name, is_valid_metric_name};

    fn metric(e: Escaping, name: &str) -> String {
        e.apply(name, NameKind::Metric).into_owned()
    }

    #[test]
    fn the_documented_examples() {
        use Escaping::*;
        assert_eq!(
            metric(Underscores, "metric.name/with/slashes"),
            "metric_name_with_slashes"
        );
        assert_eq!(
            metric(Dots, "metric.name.with.dots"),
            "metric_dot_name_dot_with_dot_dots"
        );
        assert_eq!(metric(Values, "metric.name"), "U__metric_2e_name");
        assert_eq!(metric(AllowUtf8, "metric.name"), "metric.name");
    }

    #[test]
    fn legacy_names_are_kept_except_underscores_under_dots() {
        for e in [Escaping::AllowUtf8, Escaping::Underscores, Escaping::Values] {
            assert!(matches!(
                e.apply("http_requests_total", NameKind::Metric),
                Cow::Borrowed(_)
            ));
            assert_eq!(metric(e, "a:b"), "a:b");
        }
        assert_eq!(
            metric(Escaping::Dots, "http_requests_total"),
            "http__requests__total"
        );
        assert_eq!(metric(Escaping::Dots, "up"), "up");
        assert!(matches!(
            Escaping::Dots.apply("up", NameKind::Metric),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn every_character_class() {
        use Escaping::*;
        // A leading digit, a non-ASCII letter, a quote, a newline, an emoji.
        let name = "9é\"\n😀_x";
        assert_eq!(metric(Underscores, name), "______x");
        assert_eq!(metric(Dots, name), "____________x");
        assert_eq!(metric(Values, name), "U___39__e9__22__a__1f600___x");
        assert_eq!(metric(AllowUtf8, name), name);
    }

    #[test]
    fn a_name_with_any_non_ascii_character_is_not_legacy() {
        for name in ["é", "aé", "a😀", "ab\u{80}", "\u{2028}x"] {
            assert!(!is_legacy_label_name(name), "{name:?}");
            assert!(!is_legacy_metric_name(name), "{name:?}");
        }
        assert!(is_legacy_label_name("_a1") && is_legacy_metric_name("a:b_9"));
        assert!(!is_legacy_label_name("1a") && !is_legacy_label_name("a:b"));
    }

    #[test]
    fn colons_are_legacy_in_metric_names_only() {
        assert_eq!(Escaping::Underscores.apply("a:b", NameKind::Label), "a_b");
        assert_eq!(Escaping::Values.apply("a:b", NameKind::Label), "U__a_3a_b");
        assert_eq!(Escaping::Underscores.apply("a:b", NameKind::Metric), "a:b");
        // Reserved label names are not escaped.
        assert_eq!(
            Escaping::Underscores.apply("__name__", NameKind::Label),
            "__name__"
        );
    }

    #[test]
    fn escaped_names_are_legacy_names() {
        let names = [
            "a.b", "9lives", "é", "a b", "a:b", "x_y.z", "\u{0}", "_", "日本",
        ];
        for e in [Escaping::Underscores, Escaping::Dots, Escaping::Values] {
            for n in names {
                assert!(is_valid_metric_name(&metric(e, n)), "{e:?} {n:?}");
                let label = e.apply(n, NameKind::Label);
                assert!(
                    is_valid_label_name(&label) || label.starts_with("__"),
                    "{e:?} {n:?} -> {label:?}"
                );
            }
        }
    }

    #[test]
    fn parameter_values() {
        for e in [
            Escaping::AllowUtf8,
            Escaping::Underscores,
            Escaping::Dots,
            Escaping::Values,
        ] {
            assert_eq!(Escaping::from_param(e.as_str().as_bytes()), Some(e));
            assert_eq!(
                Escaping::from_param(e.as_str().to_uppercase().as_bytes()),
                Some(e)
            );
        }
        assert_eq!(Escaping::from_param(b"utf-8"), None);
        assert_eq!(Escaping::from_param(b""), None);
    }
}
