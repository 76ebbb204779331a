//! The snapshot task: gathers the source every interval, encodes batches and queues them.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::watch;

use super::config::Config;
use super::queue::{Batch, Shared};
use super::series::series_of;
use super::wire::{cut_batches, try_encode_compressed, MAX_REQUEST_BYTES};
use crate::gather::gather_all;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(super) async fn snapshot_loop(
    config: Arc<Config>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ts = i64::MIN;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        snapshot(&config, &shared, &mut last_ts).await;
    }
    if config.final_snapshot {
        snapshot(&config, &shared, &mut last_ts).await;
    }
    shared.close();
}

async fn snapshot(config: &Arc<Config>, shared: &Shared, last_ts: &mut i64) {
    // Strictly increasing: receivers refuse a second, different value at one timestamp.
    let ts = now_ms().max(last_ts.saturating_add(1));
    *last_ts = ts;
    let cfg = config.clone();
    let batches = tokio::task::spawn_blocking(move || {
        let gathered = gather_all(&*cfg.gatherer);
        if !gathered.errors.is_empty() {
            tracing::warn!(
                errors = gathered.errors.len(),
                first = %gathered.errors[0],
                "remote write: gathering reported problems; the broken families are left out"
            );
        }
        let series = series_of(
            &gathered.families,
            &cfg.external_labels,
            ts,
            cfg.native_histograms,
        );
        let mut batches = Vec::new();
        let mut unsendable = 0;
        for (range, samples) in cut_batches(&series, cfg.max_batch, MAX_REQUEST_BYTES) {
            match try_encode_compressed(&series[range]) {
                Ok(body) => batches.push(Batch {
                    body: Bytes::from(body),
                    samples,
                }),
                // Only a single series over 4 GiB gets here.
                Err(e) => {
                    tracing::error!(samples, "remote write: a series cannot be sent: {e}");
                    unsendable += samples;
                }
            }
        }
        (batches, unsendable)
    })
    .await;
    match batches {
        Ok((batches, unsendable)) => {
            if unsendable > 0 {
                shared.metrics.failed.inc_by(unsendable as u64);
            }
            tracing::debug!(batches = batches.len(), "remote write snapshot taken");
            for b in batches {
                shared.push(b);
            }
        }
        Err(e) => tracing::error!("remote write snapshot failed: {e}"),
    }
}
