//! Unit tests of content negotiation: the format table, real scrapers' headers, list syntax, properties.

use super::format::{ESCAPING_SCHEMES, OPENMETRICS_1_0_0, PROTOBUF, TEXT_1_0_0};
use super::*;
use crate::encode::Escaping;
use crate::encode::Format;
use http::HeaderValue;
use proptest::prelude::*;

// -- helpers ------------------------------------------------------------

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("test header must be a valid header value")
}

fn fmt(accept: &str, openmetrics: bool) -> ContentType {
    negotiate_format(Some(&hv(accept)), openmetrics)
}

fn fmt_lines(lines: &[&str], openmetrics: bool) -> ContentType {
    let values: Vec<HeaderValue> = lines.iter().map(|l| hv(l)).collect();
    negotiate_format(&values, openmetrics)
}

const ALL_ENCODINGS: [Encoding; 3] = [Encoding::Identity, Encoding::Gzip, Encoding::Zstd];

fn enc(accept_encoding: &str) -> Encoding {
    enc_offered(accept_encoding, &ALL_ENCODINGS)
}

fn enc_offered(accept_encoding: &str, offered: &[Encoding]) -> Encoding {
    negotiate_encoding(Some(&hv(accept_encoding)), offered)
}

/// Every value `negotiate_format` may return.
fn all_content_types() -> Vec<ContentType> {
    let mut all = vec![
        ContentType::TEXT,
        ContentType::OPENMETRICS_0_0_1,
        ContentType::PROTOBUF,
    ];
    all.extend(TEXT_1_0_0);
    all.extend(OPENMETRICS_1_0_0);
    all.extend(&PROTOBUF[1..]);
    all
}

fn text_1(escaping: Option<&str>) -> ContentType {
    match escaping {
        None => TEXT_1_0_0[0],
        Some(e) => *TEXT_1_0_0
            .iter()
            .find(|ct| ct.header.ends_with(&format!("; escaping={e}")))
            .unwrap(),
    }
}

fn om_1(escaping: Option<&str>) -> ContentType {
    match escaping {
        None => OPENMETRICS_1_0_0[0],
        Some(e) => *OPENMETRICS_1_0_0
            .iter()
            .find(|ct| ct.header.ends_with(&format!("; escaping={e}")))
            .unwrap(),
    }
}

const PROTO: &str =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";

/// The module example, as a unit test.
#[test]
fn works_with_header_map() {
    use http::header::{HeaderMap, ACCEPT, ACCEPT_ENCODING};
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            .parse()
            .unwrap(),
    );
    headers.insert(ACCEPT_ENCODING, "gzip, zstd".parse().unwrap());
    let ct = negotiate_format(headers.get_all(ACCEPT), true);
    assert_eq!(ct.format, Format::OpenMetrics);
    assert_eq!(
        negotiate_format(headers.get(ACCEPT), false),
        ContentType::TEXT
    );
    let offered = [Encoding::Gzip, Encoding::Zstd, Encoding::Identity];
    assert_eq!(
        negotiate_encoding(headers.get_all(ACCEPT_ENCODING), &offered),
        Encoding::Gzip
    );
    assert_eq!(negotiate_encoding(None, &offered), Encoding::Identity);
    headers.append(ACCEPT_ENCODING, "zstd;q=1, gzip;q=0.5".parse().unwrap());
    // The first entry for gzip (q=1, first line) counts: tie → server order.
    assert_eq!(
        negotiate_encoding(headers.get_all(ACCEPT_ENCODING), &offered),
        Encoding::Gzip
    );
}

// -- the table ------------------------------------------------------------

#[test]
fn table_headers_are_exact() {
    assert_eq!(
        ContentType::TEXT.header,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(ContentType::TEXT.format, Format::Text);
    assert_eq!(
        ContentType::PROTOBUF.header,
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
    assert_eq!(
        ContentType::OPENMETRICS_0_0_1.header,
        "application/openmetrics-text; version=0.0.1; charset=utf-8"
    );
    for (i, scheme) in [None]
        .into_iter()
        .chain(ESCAPING_SCHEMES.map(Some))
        .enumerate()
    {
        let suffix = scheme.map_or(String::new(), |s| format!("; escaping={}", s.as_str()));
        let escaping = scheme.unwrap_or(Escaping::Underscores);
        for ct in [TEXT_1_0_0[i], OPENMETRICS_1_0_0[i], PROTOBUF[i]] {
            assert_eq!(ct.escaping, escaping, "{}", ct.header);
        }
        assert_eq!(
            PROTOBUF[i].header,
            format!("{}{suffix}", ContentType::PROTOBUF.header)
        );
        assert_eq!(PROTOBUF[i].format, Format::Protobuf);
        assert_eq!(
            TEXT_1_0_0[i].header,
            format!("text/plain; version=1.0.0; charset=utf-8{suffix}")
        );
        assert_eq!(TEXT_1_0_0[i].format, Format::Text);
        assert_eq!(
            OPENMETRICS_1_0_0[i].header,
            format!("application/openmetrics-text; version=1.0.0; charset=utf-8{suffix}")
        );
        assert_eq!(OPENMETRICS_1_0_0[i].format, Format::OpenMetrics);
    }
    assert_eq!(PROTOBUF[0], ContentType::PROTOBUF);
    for ct in [ContentType::TEXT, ContentType::OPENMETRICS_0_0_1] {
        assert_eq!(ct.escaping, Escaping::Underscores);
    }
    let all = all_content_types();
    assert_eq!(all.len(), 17);
    for ct in &all {
        HeaderValue::from_static(ct.header); // panics if not a valid header value
    }
}

/// Each `Content-Type` we send, sent back as `Accept`, selects itself.
#[test]
fn table_headers_round_trip() {
    for ct in all_content_types() {
        assert_eq!(fmt(ct.header, true), ct, "{}", ct.header);
    }
}

// -- golden: real scrapers --------------------------------------------------

const PROMETHEUS_2_42: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const PROMETHEUS_2_42_NATIVE: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
/// Prometheus 3.x (3.14 checked) with `scrape_native_histograms: true` (or the
/// created-timestamp feature): protobuf first, every weight one step lower.
const PROMETHEUS_3_PROTOBUF_FIRST: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
/// Prometheus 3.x with `metric_name_validation_scheme: legacy`: `underscores`.
const PROMETHEUS_3_LEGACY: &str = "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=underscores;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

#[test]
fn golden_prometheus_2_42() {
    assert_eq!(fmt(PROMETHEUS_2_42, true), om_1(None));
    assert_eq!(
        fmt(PROMETHEUS_2_42, true).header,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(fmt(PROMETHEUS_2_42, false), ContentType::TEXT);
}

#[test]
fn golden_prometheus_2_42_native_histograms() {
    assert_eq!(fmt(PROMETHEUS_2_42_NATIVE, true), ContentType::PROTOBUF);
    assert_eq!(fmt(PROMETHEUS_2_42_NATIVE, false), ContentType::PROTOBUF);
}

#[test]
fn golden_prometheus_3() {
    let on = fmt(PROMETHEUS_3, true);
    assert_eq!(on.format, Format::OpenMetrics);
    assert_eq!(
        on.header,
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
    );
    let off = fmt(PROMETHEUS_3, false);
    assert_eq!(off.format, Format::Text);
    assert_eq!(
        off.header,
        "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
    );
}

#[test]
fn golden_prometheus_3_protobuf_first() {
    assert_eq!(
        fmt(PROMETHEUS_3_PROTOBUF_FIRST, true),
        ContentType::PROTOBUF
    );
    assert_eq!(
        fmt(PROMETHEUS_3_PROTOBUF_FIRST, false),
        ContentType::PROTOBUF
    );
    assert_eq!(
        ContentType::PROTOBUF.header,
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
}

#[test]
fn golden_prometheus_3_legacy_names() {
    assert_eq!(
        fmt(PROMETHEUS_3_LEGACY, true).header,
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
    );
    assert_eq!(
        fmt(PROMETHEUS_3_LEGACY, false).header,
        "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"
    );
}

// -- golden: client_golang's cases ------------------------------------------

#[test]
fn client_golang_cases() {
    for om in [false, true] {
        assert_eq!(negotiate_format(None, om), ContentType::TEXT);
        assert_eq!(negotiate_format([], om), ContentType::TEXT);
        assert_eq!(fmt("application/json", om), ContentType::TEXT);
        assert_eq!(fmt("test/plain", om), ContentType::TEXT);
        assert_eq!(
            fmt("foo/bar;q=0.2, dings/bums;q=0.8", om),
            ContentType::TEXT
        );
        assert_eq!(
            fmt("text/plain;q=0.2, application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8", om),
            ContentType::PROTOBUF
        );
        assert_eq!(
            fmt("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=bla;q=0.2, text/plain;q=0.5", om),
            ContentType::TEXT
        );
        assert_eq!(
            fmt("application/openmetrics-text;version=0.0.4", om),
            ContentType::TEXT
        );
        assert_eq!(
            fmt("application/openmetrics-text;version=2.0.0", om),
            ContentType::TEXT
        );
    }
    assert_eq!(fmt("application/openmetrics-text", true), om_1(None));
    assert_eq!(
        fmt("application/openmetrics-text", false),
        ContentType::TEXT
    );
}

// -- offers -------------------------------------------------------------------

#[test]
fn text_versions() {
    assert_eq!(fmt("text/plain", false), ContentType::TEXT);
    assert_eq!(fmt("text/plain;version=0.0.4", false), ContentType::TEXT);
    assert_eq!(fmt("text/plain;version=1.0.0", false), text_1(None));
    // Other versions are not acceptable: the next entry is used.
    assert_eq!(fmt("text/plain;version=0.0.2", false), ContentType::TEXT);
    assert_eq!(
        fmt(
            "text/plain;version=0.0.2, text/plain;version=1.0.0;q=0.1",
            false
        ),
        text_1(None)
    );
    assert_eq!(
        fmt(
            "text/plain;version=2.0.0, text/plain;version=1.0.0;q=0.1",
            false
        ),
        text_1(None)
    );
    // Unknown parameters (charset included) are ignored.
    assert_eq!(
        fmt("text/plain;charset=iso-8859-1;version=1.0.0;foo=bar", false),
        text_1(None)
    );
}

#[test]
fn escaping_is_echoed_for_text_and_openmetrics_1_0_0_and_protobuf() {
    for scheme in ESCAPING_SCHEMES.map(Escaping::as_str) {
        assert_eq!(
            fmt(
                &format!("text/plain;version=1.0.0;escaping={scheme}"),
                false
            ),
            text_1(Some(scheme))
        );
        assert_eq!(
            fmt(
                &format!("application/openmetrics-text;version=1.0.0;escaping={scheme}"),
                true
            ),
            om_1(Some(scheme))
        );
        // No version means OpenMetrics 1.0.0, escaping included.
        assert_eq!(
            fmt(
                &format!("application/openmetrics-text;escaping={scheme}"),
                true
            ),
            om_1(Some(scheme))
        );
        // Protobuf echoes it too (Prometheus sends none; client_golang echoes it).
        let proto = fmt(&format!("{PROTO};escaping={scheme}"), true);
        assert_eq!(proto.format, Format::Protobuf);
        assert_eq!(
            proto.header,
            format!("{}; escaping={scheme}", ContentType::PROTOBUF.header)
        );
        assert_eq!(proto.escaping.as_str(), scheme);
        // Not for text 0.0.4 or OpenMetrics 0.0.1, which have no such parameter.
        assert_eq!(
            fmt(&format!("text/plain;version=0.0.4;escaping={scheme}"), true),
            ContentType::TEXT
        );
        assert_eq!(
            fmt(
                &format!("application/openmetrics-text;version=0.0.1;escaping={scheme}"),
                true
            ),
            ContentType::OPENMETRICS_0_0_1
        );
    }
}

#[test]
fn unknown_escaping_is_ignored() {
    assert_eq!(
        fmt("text/plain;version=1.0.0;escaping=bogus", false),
        text_1(None)
    );
    assert_eq!(
        fmt("text/plain;version=1.0.0;escaping=", false),
        ContentType::TEXT
    ); // empty value: malformed
    assert_eq!(
        fmt("text/plain;version=1.0.0;escaping=\"\"", false),
        text_1(None)
    );
    assert_eq!(
        fmt(
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-9",
            true
        ),
        om_1(None)
    );
}

#[test]
fn escaping_value_is_case_insensitive_and_echoed_canonically() {
    assert_eq!(
        fmt("text/plain;version=1.0.0;ESCAPING=Allow-UTF-8", false),
        text_1(Some("allow-utf-8"))
    );
}

#[test]
fn openmetrics_versions() {
    assert_eq!(
        fmt("application/openmetrics-text;version=1.0.0", true),
        om_1(None)
    );
    assert_eq!(
        fmt("application/openmetrics-text;version=0.0.1", true),
        ContentType::OPENMETRICS_0_0_1
    );
    assert_eq!(
        fmt("application/openmetrics-text;version=1.1.0, application/openmetrics-text;version=0.0.1;q=0.3", true),
        ContentType::OPENMETRICS_0_0_1
    );
    assert_eq!(
        fmt("application/openmetrics-text;version=0.0.1", false),
        ContentType::TEXT
    );
    assert_eq!(
        fmt(
            "application/openmetrics-text, text/plain;version=1.0.0;q=0.1",
            false
        ),
        text_1(None)
    );
}

#[test]
fn protobuf_needs_exact_proto_and_delimited_encoding() {
    assert_eq!(fmt(PROTO, false), ContentType::PROTOBUF);
    // Parameter order does not matter; encoding is case-insensitive.
    assert_eq!(
        fmt("application/vnd.google.protobuf;encoding=DELIMITED;proto=io.prometheus.client.MetricFamily", false),
        ContentType::PROTOBUF
    );
    for bad in [
        "application/vnd.google.protobuf",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily",
        "application/vnd.google.protobuf;encoding=delimited",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=compact-text",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=bla",
        "application/vnd.google.protobuf;proto=io.prometheus.client.Metric;encoding=delimited",
        "application/vnd.google.protobuf;proto=IO.PROMETHEUS.CLIENT.METRICFAMILY;encoding=delimited",
    ] {
        assert_eq!(fmt(bad, true), ContentType::TEXT, "{bad}");
        assert_eq!(
            fmt(&format!("{bad}, text/plain;version=1.0.0;q=0.1"), true),
            text_1(None),
            "{bad}"
        );
    }
}

#[test]
fn wildcards_resolve_to_text_0_0_4_only() {
    assert_eq!(fmt("*/*", true), ContentType::TEXT);
    assert_eq!(fmt("text/*", true), ContentType::TEXT);
    // A wildcard at a higher weight beats a specific entry, and still gives 0.0.4.
    assert_eq!(
        fmt("*/*;q=0.9, text/plain;version=1.0.0;q=0.5", true),
        ContentType::TEXT
    );
    assert_eq!(
        fmt("text/*;q=0.9, application/openmetrics-text;q=0.5", true),
        ContentType::TEXT
    );
    // `application/*` does not cover text/plain, and we serve nothing else by wildcard.
    assert_eq!(
        fmt("application/*, text/plain;version=1.0.0;q=0.5", true),
        text_1(None)
    );
    // Parameters on wildcards are ignored.
    assert_eq!(
        fmt("*/*;version=1.0.0;escaping=dots", true),
        ContentType::TEXT
    );
    // `*/plain` is not a valid media range: skipped.
    assert_eq!(
        fmt("*/plain, text/plain;version=1.0.0;q=0.5", true),
        text_1(None)
    );
}

// -- selection -----------------------------------------------------------------

#[test]
fn highest_q_wins_and_ties_go_to_the_first_entry() {
    assert_eq!(
        fmt(&format!("text/plain;version=1.0.0, {PROTO}"), true),
        text_1(None)
    );
    assert_eq!(
        fmt(&format!("{PROTO}, text/plain;version=1.0.0"), true),
        ContentType::PROTOBUF
    );
    assert_eq!(
        fmt(
            &format!("text/plain;version=1.0.0;q=0.5, {PROTO};q=0.5"),
            true
        ),
        text_1(None)
    );
    assert_eq!(
        fmt(
            &format!("text/plain;version=1.0.0;q=0.5, {PROTO};q=0.501"),
            true
        ),
        ContentType::PROTOBUF
    );
    assert_eq!(
        fmt(
            &format!("text/plain;version=1.0.0;q=0.5, {PROTO};q=0.499"),
            true
        ),
        text_1(None)
    );
}

#[test]
fn q_zero_is_not_acceptable() {
    assert_eq!(
        fmt(
            &format!("{PROTO};q=0, text/plain;version=1.0.0;q=0.001"),
            true
        ),
        text_1(None)
    );
    assert_eq!(fmt(&format!("{PROTO};q=0.000"), true), ContentType::TEXT);
    assert_eq!(fmt("text/plain;version=1.0.0;q=0", true), ContentType::TEXT);
}

#[test]
fn q_values() {
    let with_q = |q: &str| {
        fmt(
            &format!("{PROTO};q={q}, text/plain;version=1.0.0;q=0.5"),
            true,
        )
    };
    // Well-formed weights.
    assert_eq!(with_q("1"), ContentType::PROTOBUF);
    assert_eq!(with_q("1."), ContentType::PROTOBUF);
    assert_eq!(with_q("1.000"), ContentType::PROTOBUF);
    assert_eq!(with_q("0.6"), ContentType::PROTOBUF);
    assert_eq!(with_q("0.51"), ContentType::PROTOBUF);
    assert_eq!(with_q("0.5"), ContentType::PROTOBUF); // tie: the first entry
    assert_eq!(with_q("0.4"), text_1(None));
    assert_eq!(with_q("\"0.9\""), ContentType::PROTOBUF); // quoted: tolerated
                                                          // Malformed weights drop the protobuf entry.
    for bad in [
        "foo", "", "1.5", "1.001", "2", "0.1.2", "0.0001", "-0.5", ".5", "0,5", "1e0", "0x1", " ",
        "\"\"", "0.5 0.6",
    ] {
        assert_eq!(with_q(bad), text_1(None), "q={bad:?}");
    }
}

#[test]
fn names_are_case_insensitive_values_quoted_and_whitespace_tolerated() {
    assert_eq!(fmt("TEXT/Plain;VERSION=1.0.0", false), text_1(None));
    assert_eq!(
        fmt("Application/OpenMetrics-Text;Version=1.0.0", true),
        om_1(None)
    );
    assert_eq!(
        fmt("APPLICATION/VND.GOOGLE.PROTOBUF;PROTO=io.prometheus.client.MetricFamily;ENCODING=delimited", true),
        ContentType::PROTOBUF
    );
    assert_eq!(
        fmt("text/plain;version=\"1.0.0\";escaping=\"dots\"", false),
        text_1(Some("dots"))
    );
    assert_eq!(
        fmt("application/vnd.google.protobuf;proto=\"io.prometheus.client.MetricFamily\";encoding=\"delimited\"", false),
        ContentType::PROTOBUF
    );
    // quoted-pair escapes are resolved before comparing.
    assert_eq!(fmt("text/plain;version=\"1\\.0\\.0\"", false), text_1(None));
    assert_eq!(
        fmt(
            " \t text/plain \t ; version = 1.0.0 ;\tq = 0.5 \t, */* ; q=0.1 ",
            false
        ),
        text_1(None)
    );
}

#[test]
fn list_syntax_edge_cases() {
    // Empty elements and empty parameters.
    assert_eq!(fmt(",,, text/plain;version=1.0.0 ,,", false), text_1(None));
    assert_eq!(fmt("text/plain;;version=1.0.0;", false), text_1(None));
    // A comma inside a quoted string does not split the list.
    assert_eq!(
        fmt("text/plain;foo=\"a,b\";version=1.0.0", false),
        text_1(None)
    );
    assert_eq!(
        fmt("foo/bar;x=\"a,text/plain;version=1.0.0\"", false),
        ContentType::TEXT
    );
    // An unterminated quoted string swallows the rest of its line.
    assert_eq!(
        fmt("text/plain;version=1.0.0;x=\"abc", false),
        ContentType::TEXT
    );
    assert_eq!(
        fmt("foo/bar;x=\"abc, text/plain;version=1.0.0", false),
        ContentType::TEXT
    );
    // ...but not the next header line.
    assert_eq!(
        fmt_lines(&["foo/bar;x=\"abc", "text/plain;version=1.0.0"], false),
        text_1(None)
    );
    // Repeated parameters: the first counts.
    assert_eq!(
        fmt("text/plain;version=1.0.0;version=0.0.4", false),
        text_1(None)
    );
    assert_eq!(
        fmt(
            &format!("text/plain;version=1.0.0;q=0.5;q=0.9, {PROTO};q=0.7"),
            false
        ),
        ContentType::PROTOBUF
    );
    // Broken syntax drops only the broken entry.
    for broken in [
        "text/plain version=1.0.0",
        "text/plain;version",
        "text/plain;=1.0.0",
        "text/plain;version=1.0.0 x",
        "text/plain/x;version=1.0.0",
        "text;version=1.0.0",
        "/plain",
        "text/",
        "q=",
        ";;;",
        "\"text/plain\"",
    ] {
        assert_eq!(
            fmt(&format!("{broken}, text/plain;version=1.0.0;q=0.1"), true),
            text_1(None),
            "{broken}"
        );
    }
}

#[test]
fn multiple_header_lines_are_one_list() {
    assert_eq!(
        fmt_lines(&["application/openmetrics-text;q=0.5", PROTO], true),
        ContentType::PROTOBUF
    );
    assert_eq!(
        fmt_lines(&["application/openmetrics-text", PROTO], true),
        om_1(None)
    );
    assert_eq!(
        fmt_lines(&["", "", "text/plain;version=1.0.0"], true),
        text_1(None)
    );
    let lines = [
        "application/json;q=0.9, text/plain;version=1.0.0;q=0.2",
        "*/*;q=0.1",
        PROTO,
    ];
    assert_eq!(fmt_lines(&lines, true), fmt(&lines.join(","), true));
}

#[test]
fn garbage_and_non_ascii_fall_back_to_text() {
    let values = [
        HeaderValue::from_bytes(b"\xff\xfe\xfd").unwrap(),
        HeaderValue::from_bytes("text/pläin;version=1.0.0".as_bytes()).unwrap(),
        HeaderValue::from_bytes(b"text/plain;version=\xc3\xa9").unwrap(),
        hv("!!!///;;;==="),
        hv("\""),
        hv("\\"),
        hv("text/plain;version=\"1.0.0\\"),
    ];
    for v in &values {
        for om in [false, true] {
            assert_eq!(negotiate_format(Some(v), om), ContentType::TEXT, "{v:?}");
        }
    }
    // Non-ASCII inside a quoted string is fine (obs-text); a broken entry does not
    // spoil the others.
    let mixed = HeaderValue::from_bytes(b"text/plain;x=\"\xe2\x82\xac\";version=1.0.0").unwrap();
    assert_eq!(negotiate_format(Some(&mixed), false), text_1(None));
    let mixed = HeaderValue::from_bytes(b"\xff, text/plain;version=1.0.0").unwrap();
    assert_eq!(negotiate_format(Some(&mixed), false), text_1(None));
}

#[test]
fn huge_headers() {
    let many = vec!["foo/bar;q=0.5"; 10_000].join(",") + ",text/plain;version=1.0.0;q=0.6";
    assert_eq!(fmt(&many, false), text_1(None));
    let junk: String = (0..16 * 1024)
        .map(|i| b"a;=,\"/ *q\\"[i % 10] as char)
        .collect();
    for om in [false, true] {
        assert!(all_content_types().contains(&fmt(&junk, om)));
    }
    let quotes = "\"".repeat(16 * 1024);
    assert_eq!(fmt(&quotes, true), ContentType::TEXT);
}

// -- encoding ------------------------------------------------------------------

#[test]
fn encoding_as_str() {
    assert_eq!(Encoding::Identity.as_str(), "identity");
    assert_eq!(Encoding::Gzip.as_str(), "gzip");
    assert_eq!(Encoding::Zstd.as_str(), "zstd");
}

#[test]
fn encoding_basic_cases() {
    assert_eq!(negotiate_encoding(None, &ALL_ENCODINGS), Encoding::Identity);
    assert_eq!(negotiate_encoding([], &ALL_ENCODINGS), Encoding::Identity);
    assert_eq!(enc(""), Encoding::Identity);
    assert_eq!(enc("gzip"), Encoding::Gzip);
    assert_eq!(enc("zstd"), Encoding::Zstd);
    assert_eq!(enc("gzip,zstd"), Encoding::Gzip);
    assert_eq!(enc("zstd,gzip"), Encoding::Gzip); // tie: server order
    assert_eq!(enc("gzip;q=0.1,zstd;q=0.5"), Encoding::Zstd);
    assert_eq!(enc("gzip;q=1.0, identity; q=0.5, *;q=0"), Encoding::Gzip);
    assert_eq!(
        enc_offered(
            "gzip;q=1.0, identity; q=0.5, *;q=0",
            &[Encoding::Identity, Encoding::Zstd]
        ),
        Encoding::Identity
    );
    assert_eq!(enc("*;q=0"), Encoding::Identity);
    assert_eq!(
        enc_offered("zstd", &[Encoding::Identity, Encoding::Gzip]),
        Encoding::Identity
    );
    assert_eq!(enc("br"), Encoding::Identity);
    assert_eq!(enc("br, deflate, compress"), Encoding::Identity);
}

#[test]
fn encoding_star() {
    // `*` alone: the first offered compressed coding (it never covers identity).
    assert_eq!(enc("*"), Encoding::Gzip);
    assert_eq!(
        enc_offered("*", &[Encoding::Identity, Encoding::Zstd, Encoding::Gzip]),
        Encoding::Zstd
    );
    assert_eq!(enc_offered("*", &[Encoding::Identity]), Encoding::Identity);
    // Named entries take precedence over `*`.
    assert_eq!(enc("gzip;q=0.5, *"), Encoding::Zstd);
    assert_eq!(enc("*, gzip;q=0.5"), Encoding::Zstd);
    assert_eq!(enc("gzip;q=0, *"), Encoding::Zstd);
    assert_eq!(enc("*;q=0.3, zstd;q=0.2"), Encoding::Gzip);
    assert_eq!(enc("identity, *;q=0.5"), Encoding::Identity);
}

#[test]
fn encoding_identity_rules() {
    // Identity competes only when listed, and wins ties when the server prefers it.
    assert_eq!(enc("identity"), Encoding::Identity);
    assert_eq!(enc("gzip, identity"), Encoding::Identity);
    assert_eq!(
        enc_offered("gzip, identity", &[Encoding::Gzip, Encoding::Identity]),
        Encoding::Gzip
    );
    assert_eq!(enc("gzip;q=0.5, identity"), Encoding::Identity);
    // An unlisted identity never beats a listed coding.
    assert_eq!(enc("gzip;q=0.001"), Encoding::Gzip);
    // Excluding identity does not cause a 406: identity is still the fallback.
    assert_eq!(enc("identity;q=0"), Encoding::Identity);
    assert_eq!(enc("identity;q=0, br"), Encoding::Identity);
    assert_eq!(enc("gzip;q=0, identity;q=0"), Encoding::Identity);
    // Identity is the fallback even when not offered...
    assert_eq!(enc_offered("br", &[Encoding::Gzip]), Encoding::Identity);
    assert_eq!(enc_offered("gzip", &[]), Encoding::Identity);
    // ...and a listed identity that the server does not offer cannot win.
    assert_eq!(
        enc_offered("identity, gzip;q=0.5", &[Encoding::Gzip]),
        Encoding::Gzip
    );
}

#[test]
fn encoding_names_and_syntax() {
    assert_eq!(enc("x-gzip"), Encoding::Gzip);
    assert_eq!(enc("X-GZip;Q=0.5, zstd;q=0.4"), Encoding::Gzip);
    assert_eq!(enc("GZIP"), Encoding::Gzip);
    assert_eq!(enc("ZsTd"), Encoding::Zstd);
    assert_eq!(enc(" \tzstd \t; q = 0.7 ,gzip;q=0.6"), Encoding::Zstd);
    // The first entry for a coding counts (x-gzip and gzip are the same coding).
    assert_eq!(enc("gzip;q=0.1, zstd;q=0.5, gzip"), Encoding::Zstd);
    assert_eq!(enc("x-gzip;q=0.1, zstd;q=0.5, gzip"), Encoding::Zstd);
    // Multiple header lines form one list.
    let lines = [hv("gzip;q=0.2"), hv("zstd;q=0.3")];
    assert_eq!(negotiate_encoding(&lines, &ALL_ENCODINGS), Encoding::Zstd);
    // Unknown parameters are tolerated.
    assert_eq!(enc("zstd;level=3"), Encoding::Zstd);
}

#[test]
fn encoding_malformed() {
    for bad in [
        "gzip;q=foo",
        ";;;",
        "q=",
        "gzip;q=",
        "gzip;q=1.5",
        "gzip;q=0.1.2",
        "gzip/zstd",
        "gzip zstd",
        ",,,",
        "\"gzip\"",
    ] {
        assert_eq!(enc(bad), Encoding::Identity, "{bad}");
        // A broken entry does not spoil the others.
        assert_eq!(enc(&format!("{bad},zstd;q=0.5")), Encoding::Zstd, "{bad}");
    }
    // An unterminated quoted string swallows the rest of its line.
    assert_eq!(enc("gzip;x=\"unterminated, zstd"), Encoding::Identity);
    assert_eq!(enc("zstd, gzip;x=\"unterminated"), Encoding::Zstd);
    let non_ascii = HeaderValue::from_bytes(b"\xff\xfe, gz\xc3\xadp, zstd;q=0.2").unwrap();
    assert_eq!(
        negotiate_encoding(Some(&non_ascii), &ALL_ENCODINGS),
        Encoding::Zstd
    );
}

#[test]
fn encoding_huge_headers() {
    let many = vec!["br;q=0.5"; 10_000].join(",") + ",zstd;q=0.1";
    assert_eq!(enc(&many), Encoding::Zstd);
    let junk: String = (0..16 * 1024)
        .map(|i| b"g;=,\"z *q\\"[i % 10] as char)
        .collect();
    assert!(ALL_ENCODINGS.contains(&enc(&junk)));
}

// -- properties ------------------------------------------------------------------

/// Pieces of `Accept`/`Accept-Encoding` syntax, glued at random.
const FRAGMENTS: &[&str] = &[
    "text",
    "plain",
    "application",
    "openmetrics-text",
    "vnd.google.protobuf",
    "*",
    "/",
    ";",
    ",",
    "=",
    " ",
    "\t",
    "\"",
    "\\",
    "q",
    "0",
    "1",
    ".",
    "0.5",
    "1.0.0",
    "0.0.4",
    "0.0.1",
    "version",
    "escaping",
    "allow-utf-8",
    "dots",
    "proto",
    "encoding",
    "delimited",
    "io.prometheus.client.MetricFamily",
    "gzip",
    "x-gzip",
    "zstd",
    "identity",
    "br",
    "é",
    "\u{7f}",
    "\u{1}",
];

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..64).prop_map(String::from_iter),
        prop::collection::vec(prop::sample::select(FRAGMENTS), 0..48).prop_map(|v| v.concat()),
    ]
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..128),
        any_string().prop_map(String::into_bytes),
    ]
}

fn any_offered() -> impl Strategy<Value = Vec<Encoding>> {
    prop::collection::vec(prop::sample::select(ALL_ENCODINGS.to_vec()), 0..5)
}

/// Header lines for the byte strings that are valid header values.
fn lines(raw: &[Vec<u8>]) -> Vec<HeaderValue> {
    raw.iter()
        .filter_map(|b| HeaderValue::from_bytes(b).ok())
        .collect()
}

/// Accept entries with what they select (OpenMetrics off, on).
const FORMAT_ENTRIES: &[(&str, Option<usize>, Option<usize>)] = &[
    // Indices into `all_content_types()`:
    // 0 TEXT, 1 OM 0.0.1, 2 PROTOBUF, 3..=7 text 1.0.0 (+ escaping), 8..=12 OM 1.0.0,
    // 13..=16 PROTOBUF with escaping.
    ("text/plain", Some(0), Some(0)),
    ("text/plain;version=0.0.4", Some(0), Some(0)),
    ("text/plain;version=1.0.0", Some(3), Some(3)),
    (
        "text/plain;version=1.0.0;escaping=allow-utf-8",
        Some(4),
        Some(4),
    ),
    ("text/plain;version=1.0.0;escaping=values", Some(7), Some(7)),
    ("text/plain;version=1.0.0;escaping=nope", Some(3), Some(3)),
    ("text/plain;version=0.0.2", None, None),
    ("application/openmetrics-text", None, Some(8)),
    (
        "application/openmetrics-text;version=1.0.0;escaping=underscores",
        None,
        Some(10),
    ),
    (
        "application/openmetrics-text;escaping=dots;version=1.0.0",
        None,
        Some(11),
    ),
    ("application/openmetrics-text;version=0.0.1", None, Some(1)),
    ("application/openmetrics-text;version=2.0.0", None, None),
    (PROTO, Some(2), Some(2)),
    (
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=values",
        Some(16),
        Some(16),
    ),
    (
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
        None,
        None,
    ),
    ("application/vnd.google.protobuf", None, None),
    ("*/*", Some(0), Some(0)),
    ("text/*", Some(0), Some(0)),
    ("application/*", None, None),
    ("application/json", None, None),
];

/// Writes a weight in thousandths in one of several valid spellings.
fn spell_q(q: u16, style: u8) -> Option<String> {
    match style % 4 {
        0 if q == 1000 => None, // implicit
        0 | 1 => Some(format!("{}.{:03}", q / 1000, q % 1000)),
        2 => {
            let s = format!("{}.{:03}", q / 1000, q % 1000);
            Some(s.trim_end_matches('0').to_string()) // "0.5", "1.", "0."
        }
        _ if q % 1000 == 0 => Some((q / 1000).to_string()),
        _ => Some(format!("\"{}.{:03}\"", q / 1000, q % 1000)),
    }
}

/// Weights, biased towards ties.
fn any_q() -> impl Strategy<Value = u16> {
    prop_oneof![
        prop::sample::select(vec![0u16, 1, 100, 500, 999, 1000]),
        0u16..=1000,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn format_is_total_and_in_table(raw in prop::collection::vec(any_bytes(), 0..4)) {
        let values = lines(&raw);
        let all = all_content_types();
        let off = negotiate_format(&values, false);
        prop_assert!(all.contains(&off));
        prop_assert_ne!(off.format, Format::OpenMetrics);
        let on = negotiate_format(&values, true);
        prop_assert!(all.contains(&on));
        // Enabling OpenMetrics only ever changes the answer to OpenMetrics.
        if on.format != Format::OpenMetrics {
            prop_assert_eq!(on, off);
        }
    }

    #[test]
    fn encoding_is_total_and_offered(
        raw in prop::collection::vec(any_bytes(), 0..4),
        offered in any_offered(),
    ) {
        let values = lines(&raw);
        let chosen = negotiate_encoding(&values, &offered);
        prop_assert!(chosen == Encoding::Identity || offered.contains(&chosen));
    }

    /// Well-formed headers: the result matches a direct reading of the rules, however
    /// the entries are spaced and split into header lines.
    #[test]
    fn format_matches_model(
        entries in prop::collection::vec(
            (0..FORMAT_ENTRIES.len(), any_q(), any::<u8>(), any::<bool>()), 0..8),
        split_at in any::<prop::sample::Index>(),
        openmetrics in any::<bool>(),
    ) {
        let all = all_content_types();
        let mut expected = ContentType::TEXT;
        let mut best_q = 0;
        let mut parts = Vec::new();
        for &(i, q, style, spaced) in &entries {
            let (media, off, on) = FORMAT_ENTRIES[i];
            let sel = if openmetrics { on } else { off };
            if let Some(sel) = sel {
                if q > best_q {
                    best_q = q;
                    expected = all[sel];
                }
            }
            let sep = if spaced { " ; " } else { ";" };
            let mut part = media.replace(';', sep);
            if let Some(q) = spell_q(q, style) {
                part = format!("{part}{sep}q={q}");
            }
            parts.push(part);
        }
        let joined = parts.join(if entries.len() % 2 == 0 { "," } else { " , " });
        prop_assert_eq!(fmt(&joined, openmetrics), expected, "{}", joined);
        // The same list split into two header lines.
        let cut = if parts.is_empty() { 0 } else { split_at.index(parts.len() + 1) };
        let (a, b) = parts.split_at(cut);
        prop_assert_eq!(fmt_lines(&[a.join(",").as_str(), b.join(",").as_str()], openmetrics), expected);
    }

    /// Well-formed headers: each offered coding gets its own entry's weight, else
    /// `*`'s (compressed codings only); the best weight above zero wins, ties in
    /// server order; otherwise identity.
    #[test]
    fn encoding_matches_model(
        entries in prop::collection::vec(
            (prop::sample::select(vec!["gzip", "x-gzip", "GZIP", "zstd", "identity", "*", "br", "deflate"]),
             any_q(), any::<u8>()), 0..8),
        offered in any_offered(),
    ) {
        let header = entries
            .iter()
            .map(|&(name, q, style)| match spell_q(q, style) {
                Some(q) => format!("{name};q={q}"),
                None => name.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let weight_of = |wanted: &str| {
            entries
                .iter()
                .find(|(name, _, _)| {
                    let name = name.to_ascii_lowercase();
                    name == wanted || (wanted == "gzip" && name == "x-gzip")
                })
                .map(|&(_, q, _)| q)
        };
        let star = entries.iter().find(|(n, _, _)| *n == "*").map(|&(_, q, _)| q);
        let mut expected = Encoding::Identity;
        let mut best_q = 0;
        for &e in &offered {
            let q = match e {
                Encoding::Identity => weight_of("identity"),
                other => weight_of(other.as_str()).or(star),
            }
            .unwrap_or(0);
            if q > best_q {
                best_q = q;
                expected = e;
            }
        }
        prop_assert_eq!(enc_offered(&header, &offered), expected, "{}", header);
    }
}

/// OpenMetrics 2.0.0 only when offered, and only for that exact version; the
/// escaping parameter is echoed; offered, it never displaces what a scraper that
/// did not name it gets.
#[test]
fn openmetrics_2_only_when_offered_and_named() {
    use super::format::OPENMETRICS_2_0_0;
    let om2 = |accept: &str, openmetrics: bool, offered: bool| {
        negotiate_format_offering(Some(&hv(accept)), openmetrics, offered)
    };
    let v2 = "application/openmetrics-text;version=2.0.0";
    assert_eq!(om2(v2, false, true), OPENMETRICS_2_0_0[0]);
    assert_eq!(om2(v2, true, true).format, Format::OpenMetrics2);
    assert_eq!(om2(v2, true, false), ContentType::TEXT);
    assert_eq!(negotiate_format(Some(&hv(v2)), true), ContentType::TEXT);
    for (i, scheme) in ESCAPING_SCHEMES.iter().enumerate() {
        let ct = om2(&format!("{v2};escaping={}", scheme.as_str()), false, true);
        assert_eq!(ct, OPENMETRICS_2_0_0[i + 1]);
        assert_eq!(ct.escaping, *scheme);
        assert_eq!(
            ct.header,
            format!(
                "application/openmetrics-text; version=2.0.0; charset=utf-8; escaping={}",
                scheme.as_str()
            )
        );
    }
    for other in [
        PROMETHEUS_3,
        PROMETHEUS_3_PROTOBUF_FIRST,
        PROMETHEUS_2_42,
        "application/openmetrics-text",
        "application/openmetrics-text;version=2",
        "*/*",
    ] {
        assert_eq!(om2(other, true, true), fmt(other, true), "{other}");
    }
    // Weights decide as always.
    assert_eq!(
        om2(
            &format!("{v2};q=0.5,text/plain;version=1.0.0;q=0.6"),
            true,
            true
        ),
        text_1(None)
    );
}
