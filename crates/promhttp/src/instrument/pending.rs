//! The per-request state that travels with the response: what the service
//! shares with every request ([`Shared`]) and one request from call to end
//! ([`Pending`]).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use http::Request;

use super::labels::code_id;
use super::store::{HistKind, Key, Observation, Store, MAX_REQUEST_LABELS};
use super::RouteTemplate;
use crate::model::Label;

pub(crate) type LabelFn = Arc<dyn for<'a> Fn(&'a Parts) -> Option<&'a str> + Send + Sync>;
pub(crate) type ExemplarFn = Arc<dyn Fn(&Parts) -> Option<Vec<Label>> + Send + Sync>;

/// What every request of one [`HttpMetrics`] shares.
pub(crate) struct Shared {
    pub store: Store,
    pub label_fns: Vec<LabelFn>,
    pub exemplar: Option<ExemplarFn>,
}

/// One request between its call and its end: in flight until dropped, recorded at
/// most once by [`Pending::finish`].
pub(crate) struct Pending {
    shared: Arc<Shared>,
    start: Instant,
    key: Key,
    request_size: u64,
    exemplar: Option<Arc<[Label]>>,
    time_to_write_header: Option<f64>,
}

impl Pending {
    pub(super) fn start<B>(shared: &Arc<Shared>, request: Request<B>) -> (Pending, Request<B>) {
        let start = Instant::now();
        let store = &shared.store;
        let method = if store.use_method {
            store.methods.id(request.method())
        } else {
            0
        };
        let route = match &store.route {
            Some(r) => r.id(route_of(&request)),
            None => 0,
        };
        let request_size = if store.hists[HistKind::RequestSize as usize].is_some() {
            approximate_request_size(&request)
        } else {
            0
        };
        let mut ids = [0u32; MAX_REQUEST_LABELS];
        let mut exemplar = None;
        let request = if shared.label_fns.is_empty() && shared.exemplar.is_none() {
            request
        } else {
            let (parts, body) = request.into_parts();
            for (i, (f, interner)) in shared
                .label_fns
                .iter()
                .zip(&store.request_labels)
                .enumerate()
            {
                ids[i] = interner.id(f(&parts));
            }
            if let Some(f) = &shared.exemplar {
                exemplar = f(&parts)
                    .filter(|labels| valid_exemplar(labels))
                    .map(Arc::from);
            }
            Request::from_parts(parts, body)
        };
        store.in_flight_value.fetch_add(1, Ordering::Relaxed);
        let pending = Pending {
            shared: shared.clone(),
            start,
            key: Key {
                method,
                code: 0,
                route,
                request: ids,
            },
            request_size,
            exemplar,
            time_to_write_header: None,
        };
        (pending, request)
    }

    /// The response head is ready now.
    pub(crate) fn head_written(&mut self) {
        if self.shared.store.hists[HistKind::TimeToWriteHeader as usize].is_some() {
            self.time_to_write_header = Some(self.start.elapsed().as_secs_f64());
        }
    }

    /// Records the request with its status and the response bytes sent.
    pub(crate) fn finish(mut self, status: u16, response_size: u64) {
        let store = &self.shared.store;
        if store.records() {
            if store.use_code {
                self.key.code = code_id(status);
            }
            store.record(
                &self.key,
                &Observation {
                    duration: self.start.elapsed().as_secs_f64(),
                    request_size: self.request_size,
                    response_size,
                    time_to_write_header: self.time_to_write_header,
                    exemplar: self.exemplar.as_ref(),
                },
            );
        }
        // Dropping `self` ends the request's time in flight.
    }

    /// Records the request as failed in the inner service.
    pub(crate) fn finish_error(self) {
        let code = self.shared.store.error_code;
        self.finish(code, 0)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.shared
            .store
            .in_flight_value
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("start", &self.start)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn route_of<B>(request: &Request<B>) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(m) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Some(m.as_str());
    }
    request.extensions().get::<RouteTemplate>().map(|r| &*r.0)
}

/// Exemplar labels the encoders will write (the model's rule) and not empty.
fn valid_exemplar(labels: &[Label]) -> bool {
    !labels.is_empty() && crate::model::exemplar::check_labels(labels).is_ok()
}

/// Go's `computeApproximateRequestSize`: the URI, the method, the protocol, header
/// names and values, and the declared `Content-Length`.
fn approximate_request_size<B>(request: &Request<B>) -> u64 {
    let uri = request.uri();
    let mut size = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) {
        size += scheme.len() + 3 + authority.as_str().len();
    }
    size += request.method().as_str().len();
    size += "HTTP/1.1".len();
    for (name, value) in request.headers() {
        size += name.as_str().len() + value.len();
    }
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    (size as u64).saturating_add(declared)
}
