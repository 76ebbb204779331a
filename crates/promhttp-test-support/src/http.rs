//! An HTTP/1 client for tests, and a test server that records every exchange.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};

/// Time limit of one [`http_get`] (connect + response + whole body).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET url` over HTTP/1.1 with extra request headers; the body is returned as
/// received (no decompression). Errors as text, including the time limit.
pub async fn try_http_get(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let mut req = Request::get(url);
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
        let value = HeaderValue::from_str(value).map_err(|e| format!("{value:?}: {e}"))?;
        req = req.header(name, value);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("GET {url}: {e}"))?;
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http::<Empty<Bytes>>();
    let exchange = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("GET {url}: {e:?}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("GET {url}: reading body: {e}"))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    };
    tokio::time::timeout(HTTP_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("GET {url}: no complete response within {HTTP_TIMEOUT:?}"))?
}

/// [`try_http_get`] that panics on transport errors (any status is returned).
pub async fn http_get(url: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Bytes) {
    try_http_get(url, headers)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A header as text ("" when absent or not visible ASCII).
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for query strings).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One request/response seen by a [`TestServer`].
#[derive(Clone, Debug, Default)]
pub struct Exchange {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub user_agent: String,
    pub accept: String,
    pub accept_encoding: String,
    pub status: u16,
    pub content_type: String,
    pub content_encoding: String,
}

impl Exchange {
    /// Whether Prometheus (not one of our direct requests) sent it.
    pub fn is_prometheus_scrape(&self) -> bool {
        self.user_agent.starts_with("Prometheus/")
    }
}

/// An axum server on 127.0.0.1 (random port) that records every exchange.
/// Stopped (task aborted) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Serves `router` on 127.0.0.1:0 in a spawned task, recording each exchange.
pub async fn serve(router: axum::Router) -> TestServer {
    use axum::extract::Request as AxumRequest;
    use axum::middleware::{self, Next};

    let exchanges: Arc<Mutex<Vec<Exchange>>> = Arc::default();
    let log = exchanges.clone();
    let router = router.layer(middleware::from_fn(move |req: AxumRequest, next: Next| {
        let log = log.clone();
        async move {
            let h = req.headers();
            let mut exchange = Exchange {
                method: req.method().to_string(),
                uri: req.uri().to_string(),
                user_agent: header_str(h, "user-agent").to_owned(),
                accept: header_str(h, "accept").to_owned(),
                accept_encoding: header_str(h, "accept-encoding").to_owned(),
                ..Exchange::default()
            };
            let resp = next.run(req).await;
            exchange.status = resp.status().as_u16();
            exchange.content_type = header_str(resp.headers(), "content-type").to_owned();
            exchange.content_encoding = header_str(resp.headers(), "content-encoding").to_owned();
            log.lock().unwrap().push(exchange);
            resp
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("test server on {addr}: {e}");
        }
    });
    TestServer {
        addr,
        exchanges,
        task,
    }
}

impl TestServer {
    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything recorded so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }

    /// Exchanges whose request came from Prometheus.
    pub fn prometheus_exchanges(&self) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(Exchange::is_prometheus_scrape)
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encode_keeps_only_unreserved_characters() {
        assert_eq!(url_encode("a-Z.0_~"), "a-Z.0_~");
        assert_eq!(url_encode("up{job=\"x y\"}"), "up%7Bjob%3D%22x%20y%22%7D");
        assert_eq!(url_encode("é"), "%C3%A9");
    }

    #[tokio::test]
    async fn the_test_server_records_what_the_client_sent_and_got() {
        let server = serve(axum::Router::new().route(
            "/hello",
            axum::routing::get(|| async { ([("content-type", "text/plain")], "hi") }),
        ))
        .await;
        let (status, headers, body) = http_get(
            &server.url("/hello?x=1"),
            &[("user-agent", "Prometheus/2.42.0")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header_str(&headers, "content-type"), "text/plain");
        assert_eq!(body, "hi");
        let (status, _, _) = http_get(&server.url("/missing"), &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let seen = server.exchanges();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0].method, "GET");
        assert_eq!(seen[0].uri, "/hello?x=1");
        assert_eq!(seen[0].status, 200);
        assert_eq!(seen[0].content_type, "text/plain");
        assert_eq!(seen[1].status, 404);
        let from_prometheus = server.prometheus_exchanges();
        assert_eq!(from_prometheus.len(), 1);
        assert_eq!(from_prometheus[0].uri, "/hello?x=1");
    }

    #[tokio::test]
    async fn try_http_get_reports_a_refused_connection() {
        let url = format!("http://127.0.0.1:{}/", crate::free_port());
        let err = try_http_get(&url, &[]).await.unwrap_err();
        assert!(err.starts_with(&format!("GET {url}: ")), "{err}");
    }
}
