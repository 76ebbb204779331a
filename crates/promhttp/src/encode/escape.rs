//! Escaping rules of the text formats.
//!
//! | where | escaped | left as is |
//! |---|---|---|
//! | label values (both formats), exemplar labels, quoted (UTF-8) names | `\` → `\\`, `"` → `\"`, LF → `\n` | everything else: tab, `{`, `}`, `#`, `,`, any UTF-8 |
//! | `# HELP` in text 0.0.4 | `\` → `\\`, LF → `\n` | `"` |
//! | `# HELP` in OpenMetrics | `\` → `\\`, LF → `\n`, `"` → `\"` | everything else |
//!
//! One unescaped quote in one label value makes Prometheus reject the whole scrape,
//! so these rules are tested with hostile values, not only ASCII.

/// Appends a label value with `\`, `"` and LF escaped.
#[inline]
pub(crate) fn write_label_value(out: &mut Vec<u8>, value: &str) {
    write_escaped(out, value.as_bytes(), true);
}

/// Appends a quoted name's bytes (a UTF-8 metric or label name, without its
/// quotes) with `\`, `"` and LF escaped, as a label value.
#[inline]
pub(crate) fn write_quoted_name(out: &mut Vec<u8>, name: &[u8]) {
    write_escaped(out, name, true);
}

/// Appends help text for text format 0.0.4: `\` and LF escaped, `"` literal.
pub(crate) fn write_help_text(out: &mut Vec<u8>, help: &str) {
    write_escaped(out, help.as_bytes(), false);
}

/// Appends help text for OpenMetrics: `\`, LF and `"` escaped.
pub(crate) fn write_help_openmetrics(out: &mut Vec<u8>, help: &str) {
    write_escaped(out, help.as_bytes(), true);
}

#[inline]
fn write_escaped(out: &mut Vec<u8>, b: &[u8], quote: bool) {
    let needs = |c: u8| c == b'\\' || c == b'\n' || (quote && c == b'"');
    if !b.iter().any(|&c| needs(c)) {
        out.extend_from_slice(b);
        return;
    }
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if needs(c) {
            out.extend_from_slice(&b[start..i]);
            out.extend_from_slice(match c {
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                _ => b"\\\"",
            });
            start = i + 1;
        }
    }
    out.extend_from_slice(&b[start..]);
}

#[cfg(test)]
pub(crate) fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next()? {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                '"' => out.push('"'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn label(v: &str) -> String {
        let mut out = Vec::new();
        write_label_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn label_values_escape_three_characters_only() {
        assert_eq!(
            label("val with \\backslash and \"quotes\""),
            "val with \\\\backslash and \\\"quotes\\\""
        );
        assert_eq!(label("a\nb"), "a\\nb");
        assert_eq!(label("tab\t{}#,= Björn 佖佥"), "tab\t{}#,= Björn 佖佥");
        assert_eq!(label(""), "");
    }

    #[test]
    fn help_differs_between_formats() {
        let mut text = Vec::new();
        write_help_text(&mut text, "gauge\\doc\nstr\"ing");
        assert_eq!(text, b"gauge\\\\doc\\nstr\"ing");
        let mut om = Vec::new();
        write_help_openmetrics(&mut om, "gauge\\doc\nstr\"ing");
        assert_eq!(om, b"gauge\\\\doc\\nstr\\\"ing");
    }

    proptest! {
        #[test]
        fn label_escaping_round_trips(s in any::<String>()) {
            let e = label(&s);
            prop_assert!(!e.contains('\n'));
            prop_assert_eq!(unescape(&e), Some(s));
        }
    }
}
