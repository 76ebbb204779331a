//! [`ClientInstrumentLayer`], [`ClientInstrumentService`] and their future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::ClientMetrics;
use crate::instrument::labels::{code_id, CODE_ERROR};
use crate::instrument::store::{Key, Observation, MAX_REQUEST_LABELS};

/// A tower layer recording round trips in a [`ClientMetrics`]; made by
/// [`ClientMetrics::layer`].
#[derive(Clone, Debug)]
pub struct ClientInstrumentLayer {
    metrics: ClientMetrics,
}

impl ClientInstrumentLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: ClientMetrics) -> Self {
        ClientInstrumentLayer { metrics }
    }
}

impl<S> Layer<S> for ClientInstrumentLayer {
    type Service = ClientInstrumentService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientInstrumentService::new(inner, self.metrics.clone())
    }
}

/// An HTTP client service instrumented with [`ClientMetrics`]; made by
/// [`ClientInstrumentLayer`].
///
/// Each call is recorded once: with the response's status when the response head
/// arrives, or with `code="error"` when the inner service fails. Responses and
/// errors are passed on unchanged.
#[derive(Clone)]
pub struct ClientInstrumentService<S> {
    inner: S,
    metrics: ClientMetrics,
}

impl<S> ClientInstrumentService<S> {
    /// Instruments `inner` with `metrics`.
    pub fn new(inner: S, metrics: ClientMetrics) -> Self {
        ClientInstrumentService { inner, metrics }
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

impl<S: fmt::Debug> fmt::Debug for ClientInstrumentService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientInstrumentService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, R> Service<Request<B>> for ClientInstrumentService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = ClientResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let pending = RoundTrip::start(&self.metrics, request.method());
        ClientResponseFuture {
            inner: self.inner.call(request),
            pending: Some(pending),
        }
    }
}

/// One round trip between its call and its response head: in flight until dropped,
/// recorded at most once. Shared with the `reqwest` middleware.
pub(crate) struct RoundTrip {
    metrics: ClientMetrics,
    start: Instant,
    method: u16,
}

impl RoundTrip {
    pub(crate) fn start(metrics: &ClientMetrics, method: &http::Method) -> Self {
        let store = &metrics.shared.requests;
        store.in_flight_value.fetch_add(1, Ordering::Relaxed);
        RoundTrip {
            metrics: metrics.clone(),
            start: Instant::now(),
            method: store.methods.id(method),
        }
    }

    pub(crate) fn finish(self, code: u16) {
        let key = Key {
            method: self.method,
            code,
            route: 0,
            request: [0; MAX_REQUEST_LABELS],
        };
        self.metrics.shared.requests.record(
            &key,
            &Observation {
                duration: self.start.elapsed().as_secs_f64(),
                request_size: 0,
                response_size: 0,
                time_to_write_header: None,
                exemplar: None,
            },
        );
        // Dropping `self` ends the round trip's time in flight.
    }
}

impl Drop for RoundTrip {
    fn drop(&mut self) {
        self.metrics
            .shared
            .requests
            .in_flight_value
            .fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project! {
    /// The response future of [`ClientInstrumentService`].
    ///
    /// Dropped before the response head arrived (the request was cancelled), it
    /// records nothing and ends the round trip's time in flight.
    pub struct ClientResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<RoundTrip>,
    }
}

impl<F, R, E> Future for ClientResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(p) = this.pending.take() {
            match &result {
                Ok(response) => p.finish(code_id(response.status().as_u16())),
                Err(_) => {
                    tracing::debug!("HTTP client round trip failed; recorded as code=\"error\"");
                    p.finish(CODE_ERROR)
                }
            }
        }
        Poll::Ready(result)
    }
}

impl<F> fmt::Debug for ClientResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientResponseFuture")
            .field("pending", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}
