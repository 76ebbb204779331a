//! Metric storage of promhttp's own: counters, gauges and histograms (classic and
//! native) recorded without locks, served by the handler like any other source.
