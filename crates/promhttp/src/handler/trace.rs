//! The tracing span of one scrape, and the W3C `traceparent` header it picks up.
//!
//! Prometheus 3.6 and later send `traceparent` with every scrape, so the target can
//! tie its work to the scraper's trace. The span records the trace id and the
//! scraper's span id as fields; a subscriber that exports spans (or a log line's
//! formatter) reads them from there. A header that is not a valid `traceparent`
//! (W3C Trace Context, level 1 and 2: version, trace id, parent id, flags; all-zero
//! ids and version `ff` are invalid) is ignored: the scrape is served the same.

use http::header::HeaderMap;
use tracing::field::Empty;
use tracing::Span;

use super::render::Key;

/// What a valid `traceparent` header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceParent<'a> {
    /// 32 lower-case hex digits, not all zero.
    pub trace_id: &'a str,
    /// The scraper's span: 16 lower-case hex digits, not all zero.
    pub parent_id: &'a str,
    /// The `sampled` bit of the trace flags.
    pub sampled: bool,
}

/// Length of a version-00 header: `vv-` + 32 + `-` + 16 + `-` + `ff`.
const LEN: usize = 55;

impl<'a> TraceParent<'a> {
    /// Parses one header value. Only the first [`LEN`] bytes are looked at (later
    /// versions may append fields after a `-`; version 00 must end there).
    pub(crate) fn parse(value: &'a [u8]) -> Option<Self> {
        let head = value.get(..LEN).filter(|h| h.is_ascii())?;
        // ASCII: every index below is a character boundary.
        let head = std::str::from_utf8(head).ok()?;
        let rest = &value[LEN..];
        let version = &head[..2];
        let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
        let dashes = [2, 35, 52].iter().all(|&i| head.as_bytes()[i] == b'-');
        if !dashes || !hex(version) || version == "ff" {
            return None;
        }
        // Version 00 is exactly 55 bytes; a later version may go on after a dash.
        if (version == "00" && !rest.is_empty()) || rest.first().is_some_and(|&b| b != b'-') {
            return None;
        }
        let (trace_id, parent_id, flags) = (&head[3..35], &head[36..52], &head[53..55]);
        if !hex(trace_id) || !hex(parent_id) || !hex(flags) {
            return None;
        }
        if !nonzero(trace_id) || !nonzero(parent_id) {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(TraceParent {
            trace_id,
            parent_id,
            sampled: flags & 1 == 1,
        })
    }
}

/// The span one scrape runs in (`promhttp::scrape`, level DEBUG), with the negotiated
/// format and coding and, when the scraper sent a valid `traceparent`, its trace
/// and span ids. Nothing is parsed when no subscriber wants the span.
pub(crate) fn scrape_span(key: &Key, headers: &HeaderMap) -> Span {
    let span = tracing::debug_span!(
        target: "promhttp::scrape",
        "scrape",
        content_type = key.content_type.header,
        encoding = key.encoding.as_str(),
        trace_id = Empty,
        parent_span_id = Empty,
        sampled = Empty,
        status = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    // More than one header: the W3C rule is to ignore them all.
    let mut all = headers.get_all("traceparent").iter();
    if let (Some(value), None) = (all.next(), all.next()) {
        if let Some(tp) = TraceParent::parse(value.as_bytes()) {
            span.record("trace_id", tp.trace_id);
            span.record("parent_span_id", tp.parent_id);
            span.record("sampled", tp.sampled);
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_a_valid_header() {
        let tp = TraceParent::parse(VALID.as_bytes()).unwrap();
        assert_eq!(tp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id, "00f067aa0ba902b7");
        assert!(tp.sampled);
        let unsampled = VALID.replace("-01", "-00");
        assert!(!TraceParent::parse(unsampled.as_bytes()).unwrap().sampled);
    }

    #[test]
    fn later_versions_may_append_fields() {
        let v = VALID.replacen("00", "01", 1) + "-what-comes-next";
        assert!(TraceParent::parse(v.as_bytes()).is_some());
        let glued = VALID.replacen("00", "01", 1) + "x";
        assert_eq!(TraceParent::parse(glued.as_bytes()), None);
    }

    #[test]
    fn rejects_what_the_spec_rejects() {
        let bad = [
            String::new(),
            VALID[..54].to_owned(),
            format!("{VALID}-"),           // version 00 ends at 55
            VALID.replacen("00", "ff", 1), // version ff
            VALID.to_uppercase(),          // upper-case hex
            VALID.replace("4bf92f3577b34da6a3ce929d0e0e4736", &"0".repeat(32)),
            VALID.replace("00f067aa0ba902b7", &"0".repeat(16)),
            VALID.replace('-', "_"),
            VALID.replace("-01", "-0g"),
            VALID.replace("4bf9", "4bé"), // not ASCII: never sliced mid-character
        ];
        for b in &bad {
            assert_eq!(TraceParent::parse(b.as_bytes()), None, "{b:?}");
        }
        // Arbitrary bytes never panic.
        for len in 0..80 {
            let v: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let _ = TraceParent::parse(&v);
        }
    }

    /// Spans as their fields' names and values (a subscriber of our own: the
    /// crate has no `tracing-subscriber` dependency).
    type CapturedSpan = (&'static str, Vec<(String, String)>);

    #[derive(Clone, Default)]
    struct Capture {
        spans: std::sync::Arc<std::sync::Mutex<Vec<CapturedSpan>>>,
    }

    struct Fields<'a>(&'a mut Vec<(String, String)>);

    impl tracing::field::Visit for Fields<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            self.0.push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            let mut fields = Vec::new();
            attrs.record(&mut Fields(&mut fields));
            let mut spans = self.spans.lock().unwrap();
            spans.push((attrs.metadata().name(), fields));
            tracing::span::Id::from_u64(spans.len() as u64)
        }
        fn record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>) {
            let mut spans = self.spans.lock().unwrap();
            let i = id.into_u64() as usize - 1;
            values.record(&mut Fields(&mut spans[i].1));
        }
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {}
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    /// Scrapes once with these `traceparent` values; the fields of the scrape span.
    fn scrape_fields(traceparents: &[&str]) -> Vec<(String, String)> {
        let capture = Capture::default();
        let _default = tracing::subscriber::set_default(capture.clone());
        let handler = crate::MetricsHandler::builder(crate::metrics::Registry::new()).build();
        let mut request = http::Request::builder().uri("/metrics");
        for tp in traceparents {
            request = request.header("traceparent", *tp);
        }
        let request = request.body(()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // `tracing` caches whether a callsite is wanted; another test's thread that
        // meets the callsite first, with no subscriber of its own, can cache "no"
        // right after this thread's subscriber came (a race of tracing's callsite
        // registration). Such a stale "no" comes once per callsite: recompute and
        // scrape again, a bounded number of times.
        for _ in 0..3 {
            tracing::callsite::rebuild_interest_cache();
            let response = rt.block_on(handler.respond(&request));
            assert_eq!(response.status(), 200);
            let spans = capture.spans.lock().unwrap();
            let scrapes: Vec<_> = spans.iter().filter(|(n, _)| *n == "scrape").collect();
            assert!(scrapes.len() <= 1, "one scrape span: {spans:?}");
            if let Some(scrape) = scrapes.first() {
                return scrape.1.clone();
            }
        }
        panic!("no scrape span in three scrapes");
    }

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_scrape_span_carries_the_scrapers_trace() {
        let fields = scrape_fields(&[VALID]);
        assert_eq!(
            field(&fields, "trace_id"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(field(&fields, "parent_span_id"), Some("00f067aa0ba902b7"));
        assert_eq!(field(&fields, "sampled"), Some("true"));
        assert_eq!(field(&fields, "status"), Some("200"));
        assert_eq!(
            field(&fields, "content_type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
    }

    #[test]
    fn an_invalid_or_repeated_traceparent_is_ignored() {
        for headers in [&["00-zz"][..], &[VALID, VALID][..], &[][..]] {
            let fields = scrape_fields(headers);
            assert_eq!(field(&fields, "trace_id"), None, "{headers:?}");
            assert_eq!(field(&fields, "status"), Some("200"), "{headers:?}");
        }
    }
}
