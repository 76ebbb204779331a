//! `register_*!`: make a metric and register it in the default registry, as the
//! `prometheus` crate's macros of the same names do.

/// Makes an [`IntCounter`](crate::metrics::IntCounter) and registers it in the
/// [default registry](crate::metrics::default_registry):
/// `register_int_counter!(name, help)` or `register_int_counter!(opts)`.
/// Returns `Result<IntCounter, MetricError>`.
///
/// ```
/// let jobs = promhttp::register_int_counter!("macro_jobs_total", "Jobs run.").unwrap();
/// jobs.inc();
/// ```
#[macro_export]
macro_rules! register_int_counter {
    ($($args:tt)*) => { $crate::__register_plain!($crate::metrics::IntCounter, $($args)*) };
}

/// As [`register_int_counter!`], for a [`Counter`](crate::metrics::Counter).
#[macro_export]
macro_rules! register_counter {
    ($($args:tt)*) => { $crate::__register_plain!($crate::metrics::Counter, $($args)*) };
}

/// As [`register_int_counter!`], for an [`IntGauge`](crate::metrics::IntGauge).
#[macro_export]
macro_rules! register_int_gauge {
    ($($args:tt)*) => { $crate::__register_plain!($crate::metrics::IntGauge, $($args)*) };
}

/// As [`register_int_counter!`], for a [`Gauge`](crate::metrics::Gauge).
#[macro_export]
macro_rules! register_gauge {
    ($($args:tt)*) => { $crate::__register_plain!($crate::metrics::Gauge, $($args)*) };
}

/// Makes an [`IntCounterVec`](crate::metrics::IntCounterVec) and registers it in the
/// default registry: `register_int_counter_vec!(name, help, &["label", ...])` or
/// `register_int_counter_vec!(opts, &["label", ...])`.
///
/// ```
/// let requests =
///     promhttp::register_int_counter_vec!("macro_requests_total", "Requests.", &["code"]).unwrap();
/// requests.with_label_values(&["200"]).inc();
/// ```
#[macro_export]
macro_rules! register_int_counter_vec {
    ($($args:tt)*) => { $crate::__register_vec!($crate::metrics::IntCounterVec, $($args)*) };
}

/// As [`register_int_counter_vec!`], for a [`CounterVec`](crate::metrics::CounterVec).
#[macro_export]
macro_rules! register_counter_vec {
    ($($args:tt)*) => { $crate::__register_vec!($crate::metrics::CounterVec, $($args)*) };
}

/// As [`register_int_counter_vec!`], for an [`IntGaugeVec`](crate::metrics::IntGaugeVec).
#[macro_export]
macro_rules! register_int_gauge_vec {
    ($($args:tt)*) => { $crate::__register_vec!($crate::metrics::IntGaugeVec, $($args)*) };
}

/// As [`register_int_counter_vec!`], for a [`GaugeVec`](crate::metrics::GaugeVec).
#[macro_export]
macro_rules! register_gauge_vec {
    ($($args:tt)*) => { $crate::__register_vec!($crate::metrics::GaugeVec, $($args)*) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __register_plain {
    ($t:ty, $name:expr, $help:expr $(,)?) => {
        $crate::__register_plain!($t, $crate::metrics::Opts::new($name, $help))
    };
    ($t:ty, $opts:expr $(,)?) => {
        <$t>::with_opts($opts).and_then(|m| {
            $crate::metrics::register(::std::boxed::Box::new(::std::clone::Clone::clone(&m)))
                .map(|()| m)
        })
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __register_vec {
    ($t:ty, $name:expr, $help:expr, $labels:expr $(,)?) => {
        $crate::__register_vec!($t, $crate::metrics::Opts::new($name, $help), $labels)
    };
    ($t:ty, $opts:expr, $labels:expr $(,)?) => {
        <$t>::new($opts, $labels).and_then(|m| {
            $crate::metrics::register(::std::boxed::Box::new(::std::clone::Clone::clone(&m)))
                .map(|()| m)
        })
    };
}

/// Makes a [`Histogram`](crate::metrics::Histogram) and registers it in the
/// default registry: `register_histogram!(name, help)`,
/// `register_histogram!(name, help, buckets)` or `register_histogram!(opts)`
/// (a [`HistogramOpts`](crate::metrics::HistogramOpts)).
///
/// ```
/// let latency =
///     promhttp::register_histogram!("macro_latency_seconds", "Latency.", vec![0.1, 1.0]).unwrap();
/// latency.observe(0.5);
/// ```
#[macro_export]
macro_rules! register_histogram {
    ($name:expr, $help:expr $(,)?) => {
        $crate::register_histogram!($crate::metrics::HistogramOpts::new($name, $help))
    };
    ($name:expr, $help:expr, $buckets:expr $(,)?) => {
        $crate::register_histogram!(
            $crate::metrics::HistogramOpts::new($name, $help).buckets($buckets)
        )
    };
    ($opts:expr $(,)?) => {
        $crate::metrics::Histogram::with_opts($opts).and_then(|m| {
            $crate::metrics::register(::std::boxed::Box::new(::std::clone::Clone::clone(&m)))
                .map(|()| m)
        })
    };
}

/// Makes a [`HistogramVec`](crate::metrics::HistogramVec) and registers it in the
/// default registry: `register_histogram_vec!(name, help, labels)`,
/// `register_histogram_vec!(name, help, labels, buckets)` or
/// `register_histogram_vec!(opts, labels)`.
///
/// ```
/// let latency =
///     promhttp::register_histogram_vec!("macro_route_seconds", "Latency.", &["route"]).unwrap();
/// latency.with_label_values(&["/"]).observe(0.5);
/// ```
#[macro_export]
macro_rules! register_histogram_vec {
    ($name:expr, $help:expr, $labels:expr, $buckets:expr $(,)?) => {
        $crate::__register_vec!(
            $crate::metrics::HistogramVec,
            $crate::metrics::HistogramOpts::new($name, $help).buckets($buckets),
            $labels
        )
    };
    ($name:expr, $help:expr, $labels:expr $(,)?) => {
        $crate::__register_vec!(
            $crate::metrics::HistogramVec,
            $crate::metrics::HistogramOpts::new($name, $help),
            $labels
        )
    };
    ($opts:expr, $labels:expr $(,)?) => {
        $crate::__register_vec!($crate::metrics::HistogramVec, $opts, $labels)
    };
}
