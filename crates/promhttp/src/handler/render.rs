//! Rendering a page: gather, check, encode, compress; shared among concurrent scrapes.
//!
//! A render runs on a render thread ([`super::threads`]). Scrapes that want the same bytes (same
//! format, coding and `name[]` filter) while one is running wait for it instead of
//! starting their own: with a collector that takes longer than the scrape interval,
//! at most one gather per kind of page runs, not one per scrape (client_golang#1477).
//! A render that finds, once gathering is done, that every scrape waiting for it
//! has gone (timed out or disconnected) stops there instead of encoding.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;
use tracing::Instrument;

use super::threads::{Task, RENDER_THREADS};
use super::{ErrorHandling, Inner};
use crate::encode::EncodeOptions;
use crate::gather::direct::encode_page as encode_with_direct;
use crate::gather::{normalize_keeping_direct, GatherError, GatherErrorKind, Gathered};
use crate::negotiate::{ContentType, Encoding};
use crate::util::{lock, panic_message};

/// What identifies the bytes of a page.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub content_type: ContentType,
    pub encoding: Encoding,
    pub names: Option<Arc<[String]>>,
}

/// The result of one render.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The body, compressed as the key says.
    Page(Bytes),
    /// Why there is no page (the text of the 500 answer).
    Failed(String),
}

type Slot = Option<Arc<Outcome>>;
pub(crate) type Jobs = Mutex<HashMap<Key, Arc<watch::Sender<Slot>>>>;

/// Waits for a render of `key`, joining one under way or starting one.
pub(crate) async fn rendered(inner: Arc<Inner>, key: Key) -> Outcome {
    // A render abandoned between our joining and its check is retried once.
    for _ in 0..2 {
        let mut rx = {
            let mut jobs = lock(&inner.jobs);
            match jobs.get(&key).filter(|_| inner.opts.coalesce) {
                Some(tx) => tx.subscribe(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    let tx = Arc::new(tx);
                    if inner.opts.coalesce {
                        jobs.insert(key.clone(), tx.clone());
                    }
                    drop(jobs);
                    start(inner.clone(), key.clone(), tx);
                    rx
                }
            }
        };
        let answer = match rx.wait_for(Option::is_some).await {
            Ok(slot) => slot.clone(),
            // The render ended without an answer: it was abandoned. Try again.
            Err(_) => None,
        };
        match answer.as_deref() {
            Some(Outcome::Page(b)) => return Outcome::Page(b.clone()),
            Some(Outcome::Failed(t)) => return Outcome::Failed(t.clone()),
            None => {}
        }
    }
    Outcome::Failed("the render was abandoned twice; try again\n".to_owned())
}

/// At most this many renders of one handler run at once; further ones wait (and
/// are dropped if every scrape waiting for them leaves first). With one stuck
/// collector, scrapes for ever new `name[]` filters cannot pile up threads.
pub(crate) const MAX_CONCURRENT_RENDERS: usize = 4;

/// One render in the job map; leaves the map however it ends (answered, abandoned,
/// panicked, or dropped unrun when the runtime shuts down), so no later scrape
/// joins a render that will never answer.
struct Job {
    inner: Arc<Inner>,
    key: Key,
    tx: Arc<watch::Sender<Slot>>,
}

impl Job {
    /// Renders here and now, then answers.
    fn run(self) {
        self.render()();
    }

    /// Renders, and returns what answers the waiting scrapes.
    fn render(self) -> Box<dyn FnOnce() + Send> {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            render(&self.inner, &self.key, Some(&self.tx))
        }))
        .unwrap_or_else(|panic| {
            Some(Outcome::Failed(format!(
                "1 error occurred:\n* rendering panicked: {}\n",
                panic_message(&*panic)
            )))
        });
        Box::new(move || {
            // Leave the map before answering, so later scrapes get a fresh render.
            self.leave();
            if let Some(outcome) = outcome {
                self.tx.send_replace(Some(Arc::new(outcome)));
            }
        })
    }

    fn leave(&self) {
        let mut jobs = lock(&self.inner.jobs);
        if jobs
            .get(&self.key)
            .is_some_and(|t| Arc::ptr_eq(t, &self.tx))
        {
            jobs.remove(&self.key);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.leave();
    }
}

fn start(inner: Arc<Inner>, key: Key, tx: Arc<watch::Sender<Slot>>) {
    let job = Job { inner, key, tx };
    let rt = match tokio::runtime::Handle::try_current() {
        Ok(rt) => rt,
        // Not inside a runtime: render right here.
        Err(_) => return job.run(),
    };
    let context = rt.clone();
    // The render runs in the span of the scrape that started it.
    let span = tracing::Span::current();
    let task_span = span.clone();
    rt.spawn(
        async move {
            let renders = job.inner.renders.clone();
            let permit = tokio::select! {
                p = renders.acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
                _ = job.tx.closed() => {
                    tracing::debug!("scrape abandoned before its render started");
                    return;
                }
            };
            // Collectors keep the runtime context they would have on its blocking pool.
            let task: Task = Box::new(move || {
                let _rt = context.enter();
                let _in = task_span.enter();
                let finish = job.render();
                Box::new(move || {
                    finish();
                    drop(permit);
                })
            });
            if let Err(e) = RENDER_THREADS.run(task) {
                // The job, dropped unrun, has left the map; the scrapes retry once.
                tracing::error!(error = %e, "starting a render thread failed");
            }
        }
        .instrument(span),
    );
}

/// Gathers, checks, encodes and compresses one page.
///
/// With `waiting` set, returns `None` (and leaves the job map) when nobody waits
/// for the page any more once gathering is done.
pub(crate) fn render(
    inner: &Inner,
    key: &Key,
    waiting: Option<&Arc<watch::Sender<Slot>>>,
) -> Option<Outcome> {
    let abandoned = |tx: &Arc<watch::Sender<Slot>>| {
        let mut jobs = lock(&inner.jobs);
        if tx.receiver_count() == 0 {
            if jobs.get(key).is_some_and(|t| Arc::ptr_eq(t, tx)) {
                jobs.remove(key);
            }
            return true;
        }
        false
    };
    if waiting.is_some_and(abandoned) {
        tracing::debug!("scrape abandoned before gathering; render stopped");
        return None;
    }
    let gathered = catch_unwind(AssertUnwindSafe(|| gather(inner, key)));
    let mut g = match gathered {
        Ok(g) => g,
        Err(panic) => {
            let mut g = Gathered::default();
            g.errors
                .push(GatherError::new(GatherErrorKind::SourcePanicked {
                    origin: "gathering".to_owned(),
                    message: panic_message(&*panic),
                }));
            g
        }
    };
    if !g.errors.is_empty() {
        if let Some(m) = &inner.metrics {
            m.errors.with_label_values(&["gathering"]).inc();
        }
        for e in &g.errors {
            tracing::error!(error = %e, "error gathering metrics");
        }
    }
    if waiting.is_some_and(abandoned) {
        tracing::debug!("scrape abandoned before encoding; render stopped");
        return None;
    }
    if !g.errors.is_empty() {
        let fail = match inner.opts.error_handling {
            ErrorHandling::HttpError | ErrorHandling::Panic => true,
            ErrorHandling::Continue => g.families.is_empty() && g.direct.is_empty(),
        };
        if fail {
            return Some(Outcome::Failed(error_text(&g.errors)));
        }
    }
    g.errors.clear();
    Some(encode_page(inner, key, &g))
}

fn gather(inner: &Inner, key: &Key) -> Gathered {
    let mut g = Gathered::default();
    inner.gatherer.gather_into(&mut g);
    if let Some(names) = &key.names {
        g.retain_names(|name| names.binary_search_by(|n| n.as_str().cmp(name)).is_ok());
    }
    normalize_keeping_direct(&mut g, key.content_type.escaping);
    g
}

fn error_text(errors: &[GatherError]) -> String {
    let mut s = match errors.len() {
        1 => "1 error occurred:\n".to_owned(),
        n => format!("{n} errors occurred:\n"),
    };
    for e in errors {
        s.push_str("* ");
        s.push_str(&e.to_string());
        s.push('\n');
    }
    s
}

fn hint_index(e: Encoding) -> usize {
    match e {
        Encoding::Identity => 0,
        Encoding::Gzip => 1,
        Encoding::Zstd => 2,
    }
}

fn encode_page(inner: &Inner, key: &Key, g: &Gathered) -> Outcome {
    let opts = EncodeOptions {
        created: inner.opts.created,
    };
    let mut page = inner.pages.take();
    page.make_room(inner.size_hints[0].load(Ordering::Relaxed));
    encode_with_direct(
        key.content_type.format,
        &g.families,
        &g.direct,
        &opts,
        page.buf(),
    );
    let len = page.as_ref().len();
    inner.size_hints[0].store(len, Ordering::Relaxed);
    page.last_page(len);
    if key.encoding == Encoding::Identity {
        // The body keeps the buffer; it goes back to the handler when the last
        // response holding the body is dropped, so large pages are not reallocated.
        return Outcome::Page(Bytes::from_owner(page));
    }
    // A compressed page goes into a buffer of the handler's too, lent and given
    // back the same way, from a pool of its own.
    let hint = &inner.size_hints[hint_index(key.encoding)];
    let mut body = inner.compressed.take();
    body.make_room(hint.load(Ordering::Relaxed));
    let levels = (inner.opts.gzip_level.get(), inner.opts.zstd_level.get());
    let compressed = inner
        .compressors
        .compress(key.encoding, levels, page.as_ref(), body.buf());
    drop(page);
    match compressed {
        Ok(()) => {
            let len = body.as_ref().len();
            hint.store(len, Ordering::Relaxed);
            body.last_page(len);
            Outcome::Page(Bytes::from_owner(body))
        }
        Err(e) => {
            if let Some(m) = &inner.metrics {
                m.errors.with_label_values(&["encoding"]).inc();
            }
            tracing::error!(error = %e, encoding = key.encoding.as_str(), "error compressing metrics");
            Outcome::Failed(format!(
                "1 error occurred:\n* compressing with {}: {e}\n",
                key.encoding.as_str()
            ))
        }
    }
}
