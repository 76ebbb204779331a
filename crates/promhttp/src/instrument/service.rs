//! [`InstrumentService`]: the tower service that wraps yours.

use std::fmt;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::pending::Pending;
use super::HttpMetrics;

/// A service instrumented with [`HttpMetrics`]; made by
/// [`InstrumentLayer`](super::InstrumentLayer).
///
/// Its responses carry an [`InstrumentedBody`](super::InstrumentedBody), which records
/// the request when it ends or is dropped. Errors of the inner service are passed
/// on unchanged, after being recorded with the configured error code.
#[derive(Clone)]
pub struct InstrumentService<S> {
    inner: S,
    metrics: HttpMetrics,
}

impl<S> InstrumentService<S> {
    /// Instruments `inner` with `metrics`.
    pub fn new(inner: S, metrics: HttpMetrics) -> Self {
        InstrumentService { inner, metrics }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for InstrumentService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for InstrumentService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<super::InstrumentedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (pending, request) = Pending::start(&self.metrics.shared, request);
        ResponseFuture::new(self.inner.call(request), pending)
    }
}
