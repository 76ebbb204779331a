//! A strict decoder, written against the protobuf encoding spec; used only by the tests.
//!
//! It parses the delimited stream into plain structs that mirror `metrics.proto`,
//! with doubles kept as bit patterns (so NaNs compare exactly), and rejects
//! anything our encoder should never produce: unknown fields, wrong wire types,
//! repeated singular fields, fields out of declaration order, non-canonical
//! varints, missing always-written fields, non-zero-omitting proto3 timestamps.
//! Native-histogram deltas are accepted packed or not, as the spec requires of
//! parsers; the other native fields strictly.

use super::MAX_TIMESTAMP_SECONDS;

#[derive(Clone, Debug, PartialEq)]
pub(super) struct PFamily {
    pub(super) name: String,
    pub(super) help: Option<String>,
    pub(super) metric_type: u64,
    pub(super) metrics: Vec<PMetric>,
    pub(super) unit: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct PMetric {
    pub(super) labels: Vec<PLabel>,
    pub(super) value: PValue,
    pub(super) timestamp_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct PLabel {
    pub(super) name: String,
    pub(super) value: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum PValue {
    Gauge(u64),
    Counter {
        value: u64,
        exemplar: Option<PExemplar>,
        created: Option<PTimestamp>,
    },
    Summary {
        count: u64,
        sum: u64,
        quantiles: Vec<(u64, u64)>,
        created: Option<PTimestamp>,
    },
    Untyped(u64),
    Histogram {
        count: u64,
        sum: u64,
        buckets: Vec<PBucket>,
        created: Option<PTimestamp>,
        native: Option<PNative>,
    },
}

/// The native-histogram fields of a `Histogram`: present together or not at all.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct PNative {
    pub(super) schema: i32,
    pub(super) zero_threshold: u64,
    pub(super) zero_count: u64,
    /// `(offset, length)`.
    pub(super) negative_spans: Vec<(i32, u32)>,
    pub(super) negative_deltas: Vec<i64>,
    pub(super) positive_spans: Vec<(i32, u32)>,
    pub(super) positive_deltas: Vec<i64>,
    pub(super) exemplars: Vec<PExemplar>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct PBucket {
    pub(super) cumulative_count: u64,
    pub(super) upper_bound: u64,
    pub(super) exemplar: Option<PExemplar>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct PExemplar {
    pub(super) labels: Vec<PLabel>,
    pub(super) value: u64,
    pub(super) timestamp: Option<PTimestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct PTimestamp {
    pub(super) seconds: i64,
    pub(super) nanos: i32,
}

#[derive(Clone, Copy, Debug)]
enum Wire<'a> {
    Varint(u64),
    I64(u64),
    Len(&'a [u8]),
}

type R<T> = Result<T, String>;

pub(super) fn read_varint(buf: &mut &[u8]) -> R<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let byte = *buf.get(i).ok_or("truncated varint")?;
        if i == 9 && byte > 1 {
            return Err("varint overflows 64 bits".into());
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Err("non-canonical varint".into());
            }
            *buf = &buf[i + 1..];
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> R<&'a [u8]> {
    if buf.len() < n {
        return Err(format!("truncated: need {n}, have {}", buf.len()));
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

/// Splits a message into fields. `order` lists the field numbers the message may
/// have, in the order they must appear; `repeated` those that may appear twice.
fn fields<'a>(mut msg: &'a [u8], order: &[u64], repeated: &[u64]) -> R<Vec<(u64, Wire<'a>)>> {
    let mut out: Vec<(u64, Wire<'a>)> = Vec::new();
    let mut last_index = 0;
    while !msg.is_empty() {
        let key = read_varint(&mut msg)?;
        let number = key >> 3;
        let wire = match key & 7 {
            0 => Wire::Varint(read_varint(&mut msg)?),
            1 => Wire::I64(u64::from_le_bytes(take(&mut msg, 8)?.try_into().unwrap())),
            2 => {
                let n = read_varint(&mut msg)? as usize;
                Wire::Len(take(&mut msg, n)?)
            }
            t => return Err(format!("field {number}: unexpected wire type {t}")),
        };
        let index = order
            .iter()
            .position(|&n| n == number)
            .ok_or_else(|| format!("unknown field {number}"))?;
        if index < last_index {
            return Err(format!("field {number} out of order"));
        }
        if !repeated.contains(&number) && out.iter().any(|(n, _)| *n == number) {
            return Err(format!("singular field {number} repeated"));
        }
        last_index = index;
        out.push((number, wire));
    }
    Ok(out)
}

fn varint(w: Wire<'_>) -> R<u64> {
    match w {
        Wire::Varint(v) => Ok(v),
        other => Err(format!("expected varint, got {other:?}")),
    }
}

fn double(w: Wire<'_>) -> R<u64> {
    match w {
        Wire::I64(v) => Ok(v),
        other => Err(format!("expected double, got {other:?}")),
    }
}

fn bytes<'a>(w: Wire<'a>) -> R<&'a [u8]> {
    match w {
        Wire::Len(b) => Ok(b),
        other => Err(format!("expected bytes, got {other:?}")),
    }
}

fn string(w: Wire<'_>) -> R<String> {
    String::from_utf8(bytes(w)?.to_vec()).map_err(|e| e.to_string())
}

fn required<T>(value: Option<T>, what: &str) -> R<T> {
    value.ok_or_else(|| format!("missing {what}"))
}

pub(super) fn decode_stream(mut buf: &[u8]) -> R<Vec<PFamily>> {
    let mut families = Vec::new();
    while !buf.is_empty() {
        let n = read_varint(&mut buf)? as usize;
        families.push(decode_family(take(&mut buf, n)?)?);
    }
    Ok(families)
}

fn decode_family(msg: &[u8]) -> R<PFamily> {
    let (mut name, mut help, mut metric_type, mut unit) = (None, None, None, None);
    let mut metrics = Vec::new();
    for (number, w) in fields(msg, &[1, 2, 3, 4, 5], &[4])? {
        match number {
            1 => name = Some(string(w)?),
            2 => help = Some(string(w)?),
            3 => metric_type = Some(varint(w)?),
            4 => metrics.push(decode_metric(bytes(w)?)?),
            _ => unit = Some(string(w)?),
        }
    }
    Ok(PFamily {
        name: required(name, "family name")?,
        help,
        metric_type: required(metric_type, "family type")?,
        metrics,
        unit,
    })
}

fn decode_metric(msg: &[u8]) -> R<PMetric> {
    let mut labels = Vec::new();
    let mut values = Vec::new();
    let mut timestamp_ms = None;
    for (number, w) in fields(msg, &[1, 2, 3, 4, 5, 7, 6], &[1])? {
        match number {
            1 => labels.push(decode_label(bytes(w)?)?),
            2 => values.push(PValue::Gauge(decode_scalar(bytes(w)?)?)),
            3 => values.push(decode_counter(bytes(w)?)?),
            4 => values.push(decode_summary(bytes(w)?)?),
            5 => values.push(PValue::Untyped(decode_scalar(bytes(w)?)?)),
            7 => values.push(decode_histogram(bytes(w)?)?),
            _ => timestamp_ms = Some(varint(w)? as i64),
        }
    }
    if values.len() != 1 {
        return Err(format!("metric has {} values", values.len()));
    }
    Ok(PMetric {
        labels,
        value: values.pop().unwrap(),
        timestamp_ms,
    })
}

fn decode_label(msg: &[u8]) -> R<PLabel> {
    let (mut name, mut value) = (None, None);
    for (number, w) in fields(msg, &[1, 2], &[])? {
        match number {
            1 => name = Some(string(w)?),
            _ => value = Some(string(w)?),
        }
    }
    Ok(PLabel {
        name: required(name, "label name")?,
        value: required(value, "label value")?,
    })
}

fn decode_scalar(msg: &[u8]) -> R<u64> {
    let f = fields(msg, &[1], &[])?;
    required(f.first(), "value").and_then(|(_, w)| double(*w))
}

fn decode_counter(msg: &[u8]) -> R<PValue> {
    let (mut value, mut exemplar, mut created) = (None, None, None);
    for (number, w) in fields(msg, &[1, 2, 3], &[])? {
        match number {
            1 => value = Some(double(w)?),
            2 => exemplar = Some(decode_exemplar(bytes(w)?)?),
            _ => created = Some(decode_timestamp(bytes(w)?)?),
        }
    }
    Ok(PValue::Counter {
        value: required(value, "counter value")?,
        exemplar,
        created,
    })
}

fn decode_summary(msg: &[u8]) -> R<PValue> {
    let (mut count, mut sum, mut created) = (None, None, None);
    let mut quantiles = Vec::new();
    for (number, w) in fields(msg, &[1, 2, 3, 4], &[3])? {
        match number {
            1 => count = Some(varint(w)?),
            2 => sum = Some(double(w)?),
            3 => {
                let (mut q, mut v) = (None, None);
                for (number, w) in fields(bytes(w)?, &[1, 2], &[])? {
                    match number {
                        1 => q = Some(double(w)?),
                        _ => v = Some(double(w)?),
                    }
                }
                quantiles.push((required(q, "quantile")?, required(v, "quantile value")?));
            }
            _ => created = Some(decode_timestamp(bytes(w)?)?),
        }
    }
    Ok(PValue::Summary {
        count: required(count, "summary count")?,
        sum: required(sum, "summary sum")?,
        quantiles,
        created,
    })
}

fn decode_histogram(msg: &[u8]) -> R<PValue> {
    let (mut count, mut sum, mut created) = (None, None, None);
    let mut buckets = Vec::new();
    let (mut schema, mut zero_threshold, mut zero_count) = (None, None, None);
    let mut native = PNative::default();
    let mut native_fields = 0;
    let order = [1, 2, 3, 5, 6, 7, 9, 10, 12, 13, 15, 16];
    for (number, w) in fields(msg, &order, &[3, 9, 10, 12, 13, 16])? {
        if ![1, 2, 3, 15].contains(&number) {
            native_fields += 1;
        }
        match number {
            1 => count = Some(varint(w)?),
            2 => sum = Some(double(w)?),
            3 => buckets.push(decode_bucket(bytes(w)?)?),
            5 => schema = Some(unzigzag32(varint(w)?)?),
            6 => zero_threshold = Some(double(w)?),
            7 => zero_count = Some(varint(w)?),
            9 => native.negative_spans.push(decode_span(bytes(w)?)?),
            10 => deltas(w, &mut native.negative_deltas)?,
            12 => native.positive_spans.push(decode_span(bytes(w)?)?),
            13 => deltas(w, &mut native.positive_deltas)?,
            15 => created = Some(decode_timestamp(bytes(w)?)?),
            _ => {
                let exemplar = decode_exemplar(bytes(w)?)?;
                if exemplar.timestamp.is_none() {
                    return Err("native exemplar without a timestamp".into());
                }
                native.exemplars.push(exemplar);
            }
        }
    }
    let native = match native_fields {
        0 => None,
        _ => {
            native.schema = required(schema, "native schema")?;
            native.zero_threshold = required(zero_threshold, "native zero threshold")?;
            native.zero_count = required(zero_count, "native zero count")?;
            if native.positive_spans.is_empty() && native.negative_spans.is_empty() {
                return Err("native histogram without a span looks classic".into());
            }
            Some(native)
        }
    };
    Ok(PValue::Histogram {
        count: required(count, "histogram count")?,
        sum: required(sum, "histogram sum")?,
        buckets,
        created,
        native,
    })
}

fn unzigzag64(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

fn unzigzag32(v: u64) -> R<i32> {
    let v = u32::try_from(v).map_err(|_| format!("sint32 out of range: {v}"))?;
    Ok((v >> 1) as i32 ^ -((v & 1) as i32))
}

/// `sint64` deltas: one varint field, or a packed run of them.
fn deltas(w: Wire<'_>, out: &mut Vec<i64>) -> R<()> {
    match w {
        Wire::Varint(v) => out.push(unzigzag64(v)),
        Wire::Len(mut packed) => {
            while !packed.is_empty() {
                out.push(unzigzag64(read_varint(&mut packed)?));
            }
        }
        other => return Err(format!("expected sint64 deltas, got {other:?}")),
    }
    Ok(())
}

fn decode_span(msg: &[u8]) -> R<(i32, u32)> {
    let (mut offset, mut length) = (None, None);
    for (number, w) in fields(msg, &[1, 2], &[])? {
        match number {
            1 => offset = Some(unzigzag32(varint(w)?)?),
            _ => length = Some(u32::try_from(varint(w)?).map_err(|e| e.to_string())?),
        }
    }
    Ok((
        required(offset, "span offset")?,
        required(length, "span length")?,
    ))
}

fn decode_bucket(msg: &[u8]) -> R<PBucket> {
    let (mut count, mut bound, mut exemplar) = (None, None, None);
    for (number, w) in fields(msg, &[1, 2, 3], &[])? {
        match number {
            1 => count = Some(varint(w)?),
            2 => bound = Some(double(w)?),
            _ => exemplar = Some(decode_exemplar(bytes(w)?)?),
        }
    }
    Ok(PBucket {
        cumulative_count: required(count, "cumulative count")?,
        upper_bound: required(bound, "upper bound")?,
        exemplar,
    })
}

fn decode_exemplar(msg: &[u8]) -> R<PExemplar> {
    let (mut value, mut timestamp) = (None, None);
    let mut labels = Vec::new();
    for (number, w) in fields(msg, &[1, 2, 3], &[1])? {
        match number {
            1 => labels.push(decode_label(bytes(w)?)?),
            2 => value = Some(double(w)?),
            _ => timestamp = Some(decode_timestamp(bytes(w)?)?),
        }
    }
    Ok(PExemplar {
        labels,
        value: required(value, "exemplar value")?,
        timestamp,
    })
}

fn decode_timestamp(msg: &[u8]) -> R<PTimestamp> {
    let mut ts = PTimestamp {
        seconds: 0,
        nanos: 0,
    };
    for (number, w) in fields(msg, &[1, 2], &[])? {
        let v = varint(w)?;
        if v == 0 {
            return Err("proto3 zero field written".into());
        }
        match number {
            1 => ts.seconds = v as i64,
            _ => {
                ts.nanos = i32::try_from(v).map_err(|e| e.to_string())?;
            }
        }
    }
    if !(0..1_000_000_000).contains(&ts.nanos) || !(0..=MAX_TIMESTAMP_SECONDS).contains(&ts.seconds)
    {
        return Err(format!("timestamp out of range: {ts:?}"));
    }
    Ok(ts)
}
