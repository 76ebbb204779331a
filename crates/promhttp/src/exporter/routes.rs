//! What the exporter answers: header-size check, rate limit and basic auth, then
//! the metrics path, the landing page, the health paths, 404 and 405.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use super::activity;
use super::body::{ExporterBody, PageBudget, Reservation};
use super::hooks::ScrapeHook;
use super::security::Security;
use super::LandingPage;
use crate::handler::MetricsHandler;

#[cfg(feature = "web-config")]
use super::web_config;

pub(super) struct Routes {
    pub(super) handler: MetricsHandler,
    #[cfg_attr(not(feature = "web-config"), allow(dead_code))]
    pub(super) security: Security,
    pub(super) metrics_path: String,
    pub(super) landing: Option<Bytes>,
    pub(super) hook: Option<ScrapeHook>,
    pub(super) hook_timeout: Duration,
    pub(super) max_header_bytes: usize,
    pub(super) budget: Arc<PageBudget>,
}

/// An answer, and the room its page holds in the budget.
struct Answer {
    response: Response<Bytes>,
    room: Option<Reservation>,
}

impl From<Response<Bytes>> for Answer {
    fn from(response: Response<Bytes>) -> Self {
        Answer {
            response,
            room: None,
        }
    }
}

impl Routes {
    /// Answers one request; `request` (its place in the connection's activity)
    /// lives until the response body is sent or dropped.
    pub(super) async fn route<B>(
        &self,
        req: Request<B>,
        mut request: activity::Request,
    ) -> Response<ExporterBody> {
        let arrived = Instant::now();
        let answer = if head_size(&req) > self.max_header_bytes {
            simple(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "431 request header fields too large\n",
            )
            .into()
        } else {
            self.guarded(&req, &mut request, arrived).await
        };
        let (mut parts, bytes) = answer.response.into_parts();
        #[cfg(feature = "web-config")]
        // Configured headers go on every answer, refusals included.
        for (name, value) in &self.security.headers {
            parts.headers.insert(name.clone(), value.clone());
        }
        #[cfg(not(feature = "web-config"))]
        let _ = &mut parts;
        Response::from_parts(parts, ExporterBody::new(bytes, request, answer.room))
    }

    /// Rate limit, then basic auth, then the routes.
    async fn guarded<B>(
        &self,
        req: &Request<B>,
        request: &mut activity::Request,
        arrived: Instant,
    ) -> Answer {
        #[cfg(feature = "web-config")]
        {
            if let Some(limiter) = &self.security.limiter {
                if !limiter.allow() {
                    return simple(StatusCode::TOO_MANY_REQUESTS, "429 too many requests\n").into();
                }
            }
            if let Some(auth) = &self.security.auth {
                if !auth
                    .check_async(req.headers().get(header::AUTHORIZATION))
                    .await
                {
                    tracing::warn!(path = req.uri().path(), "basic auth refused");
                    let mut r = simple(StatusCode::UNAUTHORIZED, "401 unauthorized\n");
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(web_config::BasicAuth::WWW_AUTHENTICATE),
                    );
                    return r.into();
                }
            }
        }
        self.serve(req, request, arrived).await
    }

    async fn serve<B>(
        &self,
        req: &Request<B>,
        request: &mut activity::Request,
        arrived: Instant,
    ) -> Answer {
        let path = req.uri().path();
        let get_like = matches!(*req.method(), Method::GET | Method::HEAD);
        if path == self.metrics_path {
            return self.scrape(req, request, arrived, get_like).await;
        }
        let body = match path {
            "/" => self
                .landing
                .as_ref()
                .map(|html| (html.clone(), "text/html; charset=utf-8")),
            "/-/healthy" | "/-/ready" => {
                Some((Bytes::from_static(b"OK\n"), "text/plain; charset=utf-8"))
            }
            _ => None,
        };
        match body {
            None => simple(StatusCode::NOT_FOUND, "404 page not found\n").into(),
            Some(_) if !get_like => method_not_allowed().into(),
            Some((body, content_type)) => {
                let len = body.len();
                let mut r = Response::new(if req.method() == Method::HEAD {
                    Bytes::new()
                } else {
                    body
                });
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                r.into()
            }
        }
    }

    /// The metrics path: the per-connection scrape limit, the hook, the handler,
    /// then room for the page in the budget.
    async fn scrape<B>(
        &self,
        req: &Request<B>,
        request: &mut activity::Request,
        arrived: Instant,
        get_like: bool,
    ) -> Answer {
        if get_like {
            if !request.scrape() {
                let mut r = simple(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "503 a scrape is already in progress on this connection\n",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return r.into();
            }
            if let Some(hook) = &self.hook {
                // The scrape's deadline, as the handler computes it: one rule.
                let wait = self
                    .handler
                    .scrape_deadline(req.headers())
                    .map_or(self.hook_timeout, |d| d.min(self.hook_timeout));
                hook.run(wait).await;
            }
        }
        // The handler answers 405 itself for other methods; the hook's time comes
        // off the scrape's deadline.
        let response = self
            .handler
            .respond_since(req.method(), req.uri(), req.headers(), arrived)
            .await;
        if response.status() != StatusCode::OK || response.body().is_empty() {
            return response.into();
        }
        match self.budget.reserve(response.body()) {
            Some(room) => Answer {
                response,
                room: Some(room),
            },
            None => {
                tracing::warn!(
                    bytes = response.body().len(),
                    "unsent pages over the budget (max_unsent_bytes): answering 503"
                );
                let mut r = simple(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "503 too many pages waiting to be sent, try again later\n",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r.into()
            }
        }
    }
}

/// The size of a request's head as `max_header_bytes` counts it, the same on
/// every transport: method, path and query, authority when the URI carries it
/// (HTTP/2), and each header's name and value, plus 4 bytes per line.
fn head_size<B>(req: &Request<B>) -> usize {
    let uri = req.uri();
    let line = req.method().as_str().len()
        + uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + 4;
    req.headers().iter().fold(line, |n, (k, v)| {
        n.saturating_add(k.as_str().len() + v.len() + 4)
    })
}

fn simple(status: StatusCode, text: &'static str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(text.as_bytes()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn method_not_allowed() -> Response<Bytes> {
    let mut r = simple(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn landing_html(p: &LandingPage, metrics_path: &str) -> String {
    let name = html_escape(&p.name);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{name}</title></head>\n<body>\n<h1>{name}</h1>\n<p>{}</p>\n<p>Version: {}</p>\n<ul>\n<li><a href=\"{path}\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n</ul>\n</body>\n</html>\n",
        html_escape(&p.description),
        html_escape(&p.version),
        path = html_escape(metrics_path.trim_start_matches('/')),
    )
}
