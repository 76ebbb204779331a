//! The view the OpenTelemetry tests share: one instrument's histogram recorded as
//! an exponential histogram (a native histogram on the page).

use opentelemetry_sdk::metrics::{Aggregation, Instrument, Stream};

/// A view that records the instrument named `name` as an exponential histogram of
/// at most 160 buckets at scale `max_scale` at most, with or without its minimum
/// and maximum; other instruments keep their default aggregation.
pub fn exponential(
    name: &'static str,
    max_scale: i8,
    record_min_max: bool,
) -> impl Fn(&Instrument) -> Option<Stream> + Send + Sync + 'static {
    move |i: &Instrument| {
        (i.name() == name).then(|| {
            Stream::builder()
                .with_aggregation(Aggregation::Base2ExponentialHistogram {
                    max_size: 160,
                    max_scale,
                    record_min_max,
                })
                .build()
                .expect("a valid stream")
        })
    }
}
