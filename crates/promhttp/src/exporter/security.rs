//! TLS, basic auth, security headers and the rate limit, from the web configuration.

#[cfg(feature = "web-config")]
use std::time::{Duration, Instant};

#[cfg(feature = "web-config")]
use super::ExporterError;

#[cfg(feature = "web-config")]
use super::web_config;

/// TLS, authentication, headers and rate limit from the web configuration.
#[derive(Default)]
pub(super) struct Security {
    #[cfg(feature = "web-config")]
    pub(super) tls: Option<web_config::TlsAcceptor>,
    #[cfg(feature = "web-config")]
    pub(super) auth: Option<web_config::BasicAuth>,
    #[cfg(feature = "web-config")]
    pub(super) headers: http::HeaderMap,
    #[cfg(feature = "web-config")]
    pub(super) limiter: Option<RateLimiter>,
    #[cfg(feature = "web-config")]
    http2: Option<bool>,
}

impl Security {
    /// Everything the web configuration asks for, built and checked.
    #[cfg(feature = "web-config")]
    pub(super) fn from_config(
        web: Option<&web_config::WebConfig>,
    ) -> Result<Security, ExporterError> {
        let Some(web) = web else {
            return Ok(Security::default());
        };
        web.validate().map_err(ExporterError::WebConfig)?;
        let tls = web.tls_acceptor().map_err(ExporterError::WebConfig)?;
        let auth = web.basic_auth().map_err(ExporterError::WebConfig)?;
        Ok(Security {
            tls,
            auth,
            headers: web.http.header_map(),
            limiter: web
                .rate_limit
                .as_ref()
                .map(|r| RateLimiter::new(r.interval, r.burst)),
            http2: Some(web.http.http2),
        })
    }

    pub(super) fn http2_allowed(&self, builder_http2: bool) -> bool {
        #[cfg(feature = "web-config")]
        if self.http2 == Some(false) {
            return false;
        }
        builder_http2
    }
}

/// A token bucket: `burst` tokens, one more every `interval` (Go's `x/time/rate`).
#[cfg(feature = "web-config")]
pub(super) struct RateLimiter {
    interval: Duration,
    burst: u32,
    state: std::sync::Mutex<(f64, Instant)>,
}

#[cfg(feature = "web-config")]
impl RateLimiter {
    fn new(interval: Duration, burst: u32) -> Self {
        RateLimiter {
            interval,
            burst,
            state: std::sync::Mutex::new((f64::from(burst), Instant::now())),
        }
    }

    pub(super) fn allow(&self) -> bool {
        let mut st = crate::util::lock(&self.state);
        let now = Instant::now();
        let refill = now.duration_since(st.1).as_secs_f64() / self.interval.as_secs_f64().max(1e-9);
        st.0 = (st.0 + refill).min(f64::from(self.burst));
        st.1 = now;
        if st.0 >= 1.0 {
            st.0 -= 1.0;
            true
        } else {
            false
        }
    }
}
