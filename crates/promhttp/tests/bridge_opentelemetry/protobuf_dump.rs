//! A small decoder of length-delimited `io.prometheus.client.MetricFamily`
//! messages (`metrics.proto`, native histogram fields included) that prints what
//! it reads, one field a line, for golden comparisons. Unknown fields are an error.

type R<T> = Result<T, String>;

/// How a field is printed: a nested message (with its schema), or a scalar.
#[derive(Clone, Copy)]
enum Kind {
    Msg(&'static [(u32, &'static str, Kind)]),
    Str,
    U64,
    /// zig-zag encoded (sint32/sint64), possibly packed.
    Sint,
    F64,
    Enum(&'static [&'static str]),
}

use Kind::*;

const TIMESTAMP: &[(u32, &str, Kind)] = &[(1, "seconds", U64), (2, "nanos", U64)];
const LABEL: &[(u32, &str, Kind)] = &[(1, "name", Str), (2, "value", Str)];
const EXEMPLAR: &[(u32, &str, Kind)] = &[
    (1, "label", Msg(LABEL)),
    (2, "value", F64),
    (3, "timestamp", Msg(TIMESTAMP)),
];
const GAUGE: &[(u32, &str, Kind)] = &[(1, "value", F64)];
const COUNTER: &[(u32, &str, Kind)] = &[
    (1, "value", F64),
    (2, "exemplar", Msg(EXEMPLAR)),
    (3, "created_timestamp", Msg(TIMESTAMP)),
];
const BUCKET: &[(u32, &str, Kind)] = &[
    (1, "cumulative_count", U64),
    (2, "upper_bound", F64),
    (3, "exemplar", Msg(EXEMPLAR)),
];
const SPAN: &[(u32, &str, Kind)] = &[(1, "offset", Sint), (2, "length", U64)];
const HISTOGRAM: &[(u32, &str, Kind)] = &[
    (1, "sample_count", U64),
    (2, "sample_sum", F64),
    (3, "bucket", Msg(BUCKET)),
    (5, "schema", Sint),
    (6, "zero_threshold", F64),
    (7, "zero_count", U64),
    (9, "negative_span", Msg(SPAN)),
    (10, "negative_delta", Sint),
    (12, "positive_span", Msg(SPAN)),
    (13, "positive_delta", Sint),
    (15, "created_timestamp", Msg(TIMESTAMP)),
    (16, "exemplars", Msg(EXEMPLAR)),
];
const METRIC: &[(u32, &str, Kind)] = &[
    (1, "label", Msg(LABEL)),
    (2, "gauge", Msg(GAUGE)),
    (3, "counter", Msg(COUNTER)),
    (5, "untyped", Msg(GAUGE)),
    (6, "timestamp_ms", U64),
    (7, "histogram", Msg(HISTOGRAM)),
];
const TYPES: &[&str] = &[
    "COUNTER",
    "GAUGE",
    "SUMMARY",
    "UNTYPED",
    "HISTOGRAM",
    "GAUGE_HISTOGRAM",
];
const FAMILY: &[(u32, &str, Kind)] = &[
    (1, "name", Str),
    (2, "help", Str),
    (3, "type", Enum(TYPES)),
    (4, "metric", Msg(METRIC)),
    (5, "unit", Str),
];

fn varint(buf: &mut &[u8]) -> R<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or("truncated varint")?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> R<&'a [u8]> {
    if buf.len() < n {
        return Err(format!("truncated: need {n}, have {}", buf.len()));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn message(mut buf: &[u8], schema: &[(u32, &str, Kind)], depth: usize, out: &mut String) -> R<()> {
    let pad = "  ".repeat(depth);
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let (field, wire) = ((key >> 3) as u32, key & 7);
        let &(_, name, kind) = schema
            .iter()
            .find(|(n, _, _)| *n == field)
            .ok_or_else(|| format!("unknown field {field}"))?;
        match (wire, kind) {
            (0, U64) => out.push_str(&format!("{pad}{name}: {}\n", varint(&mut buf)?)),
            (0, Sint) => out.push_str(&format!("{pad}{name}: {}\n", zigzag(varint(&mut buf)?))),
            (0, Enum(names)) => {
                let v = varint(&mut buf)? as usize;
                out.push_str(&format!(
                    "{pad}{name}: {}\n",
                    names.get(v).ok_or("bad enum")?
                ));
            }
            (1, F64) => {
                let b = take(&mut buf, 8)?;
                let v = f64::from_le_bytes(b.try_into().map_err(|_| "f64")?);
                out.push_str(&format!("{pad}{name}: {v}\n"));
            }
            (2, _) => {
                let len = varint(&mut buf)? as usize;
                let body = take(&mut buf, len)?;
                match kind {
                    Str => out.push_str(&format!(
                        "{pad}{name}: {:?}\n",
                        std::str::from_utf8(body).map_err(|e| e.to_string())?
                    )),
                    Msg(inner) => {
                        out.push_str(&format!("{pad}{name} {{\n"));
                        message(body, inner, depth + 1, out)?;
                        out.push_str(&format!("{pad}}}\n"));
                    }
                    Sint => {
                        let mut packed = body;
                        let mut values = Vec::new();
                        while !packed.is_empty() {
                            values.push(zigzag(varint(&mut packed)?));
                        }
                        out.push_str(&format!("{pad}{name}: {values:?}\n"));
                    }
                    _ => return Err(format!("field {name}: unexpected length-delimited")),
                }
            }
            _ => return Err(format!("field {name}: unexpected wire type {wire}")),
        }
    }
    Ok(())
}

/// Every family of a delimited stream, printed.
pub fn dump(mut buf: &[u8]) -> R<String> {
    let mut out = String::new();
    while !buf.is_empty() {
        let len = varint(&mut buf)? as usize;
        let body = take(&mut buf, len)?;
        out.push_str("family {\n");
        message(body, FAMILY, 1, &mut out)?;
        out.push_str("}\n");
    }
    Ok(out)
}

/// The dump with each `created_timestamp { ... }` block (the SDK's start time, a
/// moment of the test run) replaced by one line that says it is there.
pub fn without_start_times(dump: &str) -> String {
    let mut out = String::new();
    let mut skipping: Option<String> = None;
    for line in dump.lines() {
        if let Some(indent) = &skipping {
            if line == format!("{indent}}}") {
                skipping = None;
            }
            continue;
        }
        if let Some(indent) = line.strip_suffix("created_timestamp {") {
            out.push_str(indent);
            out.push_str("created_timestamp: (the start time)\n");
            skipping = Some(indent.to_owned());
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
