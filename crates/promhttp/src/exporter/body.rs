//! The exporter's response body: a page sent in pieces, each piece counted as
//! progress, the page's memory counted against the unsent-page budget.
//!
//! Sending the page in pieces is what lets the watchdog see an HTTP/2 client that
//! keeps its flow-control window shut: hyper asks for the next piece only when the
//! previous one found room, so a stuck stream stops asking, and the connection is
//! closed after the write timeout, which frees the page.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::util::lock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::activity::Request;

/// The size of the pieces a page is sent in: small enough that a stuck HTTP/2
/// stream holds little beyond its page, large enough that a page goes out in
/// few writes (64 KiB pieces cost 10-15 % of the exporter's throughput at 10k
/// series; 1 MiB pieces measure the same as one piece).
const PIECE: usize = 1024 * 1024;

/// The body of every exporter response.
pub(super) struct ExporterBody {
    rest: Bytes,
    /// Whether the page was cut into pieces (it is larger than one).
    sliced: bool,
    /// Released when the body ends or is dropped: the request is over.
    request: Option<Request>,
    budget: Option<Reservation>,
}

impl ExporterBody {
    /// A body answering `request`; a non-empty body counts as being sent from now.
    pub(super) fn new(bytes: Bytes, mut request: Request, budget: Option<Reservation>) -> Self {
        if !bytes.is_empty() {
            request.sending();
        }
        ExporterBody {
            rest: bytes,
            sliced: false,
            request: Some(request),
            budget,
        }
    }

    fn finish(&mut self) {
        self.request = None;
        self.budget = None;
    }
}

impl http_body::Body for ExporterBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            this.finish();
            return Poll::Ready(None);
        }
        if let Some(r) = &this.request {
            r.progress();
        }
        let piece = if this.rest.len() > PIECE {
            this.sliced = true;
            this.rest.split_to(PIECE)
        } else {
            // The last piece of a larger page is copied, so that the page's memory
            // is freed when the body ends (and leaves the budget), not when that
            // piece has been sent.
            let last = std::mem::take(&mut this.rest);
            if this.sliced {
                Bytes::copy_from_slice(&last)
            } else {
                last
            }
        };
        if this.rest.is_empty() {
            this.finish();
        }
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

/// Memory held by pages not yet fully sent, counted once per distinct page.
pub(super) struct PageBudget {
    limit: usize,
    state: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    bytes: usize,
    /// (address, length) of a page → responses holding it.
    pages: HashMap<(usize, usize), usize>,
}

impl PageBudget {
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(PageBudget {
            limit,
            state: Mutex::new(Held::default()),
        })
    }

    /// Reserves room for `page` until the reservation is dropped; `None` when a
    /// page not held yet would take the total over the limit.
    pub(super) fn reserve(self: &Arc<Self>, page: &Bytes) -> Option<Reservation> {
        let key = (page.as_ptr() as usize, page.len());
        let mut held = lock(&self.state);
        match held.pages.get_mut(&key) {
            Some(n) => *n += 1,
            None => {
                let total = held.bytes.checked_add(page.len())?;
                if total > self.limit {
                    return None;
                }
                held.bytes = total;
                held.pages.insert(key, 1);
            }
        }
        Some(Reservation {
            budget: self.clone(),
            key,
        })
    }

    /// Bytes currently held.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        lock(&self.state).bytes
    }
}

/// Room for one page in the budget, held by one response.
pub(super) struct Reservation {
    budget: Arc<PageBudget>,
    key: (usize, usize),
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut held = lock(&self.budget.state);
        if let Some(n) = held.pages.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                held.pages.remove(&self.key);
                held.bytes -= self.key.1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::activity::Activity;
    use http_body_util::BodyExt;
    use tokio::sync::Notify;

    #[test]
    fn a_shared_page_counts_once_and_the_budget_refuses_a_second_page() {
        let budget = PageBudget::new(150);
        let page = Bytes::from(vec![b'x'; 100]);
        let a = budget.reserve(&page).unwrap();
        let b = budget.reserve(&page.clone()).unwrap();
        assert_eq!(budget.held(), 100);
        let other = Bytes::from(vec![b'y'; 100]);
        assert!(budget.reserve(&other).is_none());
        drop(a);
        assert_eq!(budget.held(), 100);
        drop(b);
        assert_eq!(budget.held(), 0);
        assert!(budget.reserve(&other).is_some());
    }

    #[tokio::test]
    async fn a_page_goes_out_whole_in_pieces_and_releases_its_request_and_room() {
        let budget = PageBudget::new(usize::MAX);
        let activity = Activity::new(Arc::new(Notify::new()), 1);
        let page = Bytes::from((0..(4 * PIECE + 1000)).map(|i| i as u8).collect::<Vec<_>>());
        let room = budget.reserve(&page);
        let mut body = ExporterBody::new(page.clone(), activity.request(), room);
        assert!(activity.idle_since().is_none());
        let mut got = Vec::new();
        let mut pieces = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(data.len() <= PIECE);
            got.extend_from_slice(&data);
            pieces.push(data);
        }
        assert_eq!(got, page);
        assert_eq!(pieces.len(), 5);
        // The pieces are slices of the page, but the last one is a copy: once the
        // body has ended, nothing it handed out holds the page.
        let inside = |b: &Bytes| page.as_ptr_range().contains(&b.as_ptr());
        assert!(pieces[..4].iter().all(inside));
        assert!(!inside(&pieces[4]));
        assert!(activity.idle_since().is_some());
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn dropping_an_unsent_body_releases_everything() {
        let budget = PageBudget::new(usize::MAX);
        let activity = Activity::new(Arc::new(Notify::new()), 1);
        let page = Bytes::from(vec![1u8; 10]);
        let body = ExporterBody::new(page.clone(), activity.request(), budget.reserve(&page));
        assert_eq!(budget.held(), 10);
        drop(body);
        assert_eq!(budget.held(), 0);
        assert!(activity.idle_since().is_some());
    }
}
