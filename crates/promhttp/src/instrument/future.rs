//! [`ResponseFuture`].

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use super::body::InstrumentedBody;
use super::pending::Pending;

pin_project! {
    /// The response future of [`InstrumentService`](super::InstrumentService).
    ///
    /// Dropped before the response is ready (the request was cancelled), it records
    /// nothing and ends the request's time in flight.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, pending: Pending) -> Self {
        ResponseFuture {
            inner,
            pending: Some(pending),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<InstrumentedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match ready!(this.inner.poll(cx)) {
            Ok(response) => {
                let mut pending = this.pending.take();
                if let Some(p) = &mut pending {
                    p.head_written();
                }
                let status = response.status().as_u16();
                Poll::Ready(Ok(
                    response.map(|b| InstrumentedBody::new(b, pending, status))
                ))
            }
            Err(e) => {
                if let Some(p) = this.pending.take() {
                    p.finish_error();
                }
                Poll::Ready(Err(e))
            }
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}
