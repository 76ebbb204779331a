//! [`PusherBuilder`]: a [`Pusher`]'s settings, checked by `build`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::{HeaderMap, Uri};

use super::client::Inner;
use super::url::{group_path, normalize_base_url};
use super::{PushError, PushFormat, Pusher};
use crate::gather::{DefaultRegistry, Gather};
use crate::model::is_valid_label_name;

/// The time limit of one request when [`PusherBuilder::timeout`] is not called.
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of a [`Pusher`]; errors are reported by [`build`](PusherBuilder::build).
#[must_use]
pub struct PusherBuilder {
    url: String,
    job: String,
    grouping: Vec<(String, String)>,
    basic_auth: Option<(String, String)>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    retries: u32,
    format: PushFormat,
    gatherer: Option<Arc<dyn Gather>>,
}

impl fmt::Debug for PusherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PusherBuilder")
            .field("url", &self.url)
            .field("job", &self.job)
            .field("grouping", &self.grouping)
            .field("basic_auth", &self.basic_auth.as_ref().map(|(u, _)| u))
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("format", &self.format)
            .field("gatherer", &self.gatherer.is_some())
            .finish()
    }
}

impl PusherBuilder {
    /// Adds a grouping label. Labels keep the order they are added in; a name may
    /// appear once, must be a valid label name and must not be `job`. Any value is
    /// allowed, empty or containing `/` included.
    pub fn grouping(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.grouping.push((name.into(), value.into()));
        self
    }

    /// Sends HTTP basic authentication on every request (it replaces an
    /// `Authorization` header set with [`header`](Self::header)).
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Adds a header to every request (`Authorization` included, e.g. a bearer
    /// token). `Content-Type`, `Content-Length`, `Transfer-Encoding` and `Host`
    /// are set by the client and refused here.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The time limit of each request, from connecting to the end of the answer
    /// ([`DEFAULT_PUSH_TIMEOUT`], 10 s, when not called). Must not be zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a request that failed in transport, timed out or got a
    /// 5xx answer is sent again (0, the default: never). A 4xx is never retried.
    /// Each attempt has its own [`timeout`](Self::timeout); the waits between
    /// them are 200 ms, 400 ms, ... up to 5 s.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The body format: [`PushFormat::Protobuf`] (the default) or
    /// [`PushFormat::Text`]; the Pushgateway reads no other.
    pub fn format(mut self, format: PushFormat) -> Self {
        self.format = format;
        self
    }

    /// The source that [`Pusher::push`] and [`Pusher::add`] send (any [`Gather`]:
    /// a `prometheus::Registry`, [`Gatherers`](crate::Gatherers), ...). Without
    /// it, the crate's [`DefaultRegistry`] is pushed.
    pub fn gatherer(mut self, gatherer: impl Gather + 'static) -> Self {
        self.gatherer = Some(Arc::new(gatherer));
        self
    }

    /// Checks the settings and builds the [`Pusher`].
    pub fn build(self) -> Result<Pusher, PushError> {
        let base = normalize_base_url(&self.url)?;
        if self.job.is_empty() {
            return Err(PushError::InvalidOption {
                option: "job",
                reason: "the job name must not be empty".into(),
            });
        }
        for (i, (name, _)) in self.grouping.iter().enumerate() {
            let invalid = |reason: &str| PushError::InvalidGroupingLabel {
                name: name.clone(),
                reason: reason.to_owned(),
            };
            if name == "job" {
                return Err(invalid(
                    "\"job\" cannot be a grouping label: it is the job name given to Pusher::builder",
                ));
            }
            if !is_valid_label_name(name) {
                return Err(invalid(
                    "not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
                ));
            }
            if self.grouping[..i].iter().any(|(n, _)| n == name) {
                return Err(invalid("given twice"));
            }
        }
        if self.timeout.is_zero() {
            return Err(PushError::InvalidOption {
                option: "timeout",
                reason: "must not be zero".into(),
            });
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let invalid = |reason: String| PushError::InvalidHeader {
                name: name.clone(),
                reason,
            };
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| invalid(format!("not a valid header name ({e})")))?;
            if matches!(
                header_name.as_str(),
                "content-type" | "content-length" | "transfer-encoding" | "host"
            ) {
                return Err(invalid(
                    "set by the client and cannot be overridden".to_owned(),
                ));
            }
            let header_value = HeaderValue::from_str(value)
                .map_err(|e| invalid(format!("not a valid header value ({e})")))?;
            headers.append(header_name, header_value);
        }
        if let Some((user, password)) = &self.basic_auth {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let mut value = HeaderValue::from_str(&format!("Basic {token}")).map_err(|e| {
                PushError::InvalidHeader {
                    name: AUTHORIZATION.to_string(),
                    reason: format!("basic auth: {e}"),
                }
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let url = format!("{base}{}", group_path(&self.job, &self.grouping));
        let uri: Uri = url.parse().map_err(|e| PushError::InvalidUrl {
            url: url.clone(),
            reason: format!("{e}"),
        })?;
        Ok(Pusher {
            inner: Arc::new(Inner {
                url,
                uri,
                job: self.job,
                grouping: self.grouping,
                headers,
                timeout: self.timeout,
                retries: self.retries,
                format: self.format,
                gatherer: self
                    .gatherer
                    .unwrap_or_else(|| Arc::new(DefaultRegistry) as Arc<dyn Gather>),
            }),
        })
    }
}

impl Pusher {
    /// Settings for the group `job` on the gateway at `url` (`host:port`,
    /// `http://host:port` or with a path prefix).
    pub fn builder(url: impl Into<String>, job: impl Into<String>) -> PusherBuilder {
        PusherBuilder {
            url: url.into(),
            job: job.into(),
            grouping: Vec::new(),
            basic_auth: None,
            headers: Vec::new(),
            timeout: DEFAULT_PUSH_TIMEOUT,
            retries: 0,
            format: PushFormat::Protobuf,
            gatherer: None,
        }
    }

    /// A shortcut for `Pusher::builder(url, job).build()`, the documented
    /// defaults: no grouping labels, the default registry, protobuf, a 10 s time
    /// limit, no retries.
    pub fn new(url: impl Into<String>, job: impl Into<String>) -> Result<Pusher, PushError> {
        Pusher::builder(url, job).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(base: &str, job: &str, grouping: &[(&str, &str)]) -> Result<String, PushError> {
        let mut b = Pusher::builder(base, job);
        for (n, v) in grouping {
            b = b.grouping(*n, *v);
        }
        b.build().map(|p| p.url().to_owned())
    }

    #[test]
    fn scheme_and_trailing_slash() {
        assert_eq!(
            url("127.0.0.1:9091", "j", &[]).unwrap(),
            "http://127.0.0.1:9091/metrics/job/j"
        );
        assert_eq!(
            url("http://gw:9091/", "j", &[]).unwrap(),
            "http://gw:9091/metrics/job/j"
        );
        assert_eq!(
            url("HTTP://gw:9091/prefix//", "j", &[]).unwrap(),
            "http://gw:9091/prefix/metrics/job/j"
        );
    }

    #[test]
    fn job_with_slash_is_base64() {
        assert_eq!(
            url("gw:9091", "test/job", &[]).unwrap(),
            "http://gw:9091/metrics/job@base64/dGVzdC9qb2I"
        );
    }

    #[test]
    fn grouping_encodings() {
        assert_eq!(
            url(
                "gw:9091",
                "testjob",
                &[("foobar", "bu/ms"), ("empty", ""), ("a", "x"), ("b", "y")]
            )
            .unwrap(),
            "http://gw:9091/metrics/job/testjob/foobar@base64/YnUvbXM/empty@base64/=/a/x/b/y"
        );
        // Order as given.
        assert_eq!(
            url("gw:9091", "j", &[("b", "y"), ("a", "x")]).unwrap(),
            "http://gw:9091/metrics/job/j/b/y/a/x"
        );
        // Non-ASCII is percent-encoded.
        assert_eq!(
            url("gw:9091", "j", &[("titan", "Προμηθεύς")]).unwrap(),
            "http://gw:9091/metrics/job/j/titan/%CE%A0%CF%81%CE%BF%CE%BC%CE%B7%CE%B8%CE%B5%CF%8D%CF%82"
        );
        assert_eq!(
            url("gw:9091", "a b%?", &[("dot", ".")]).unwrap(),
            "http://gw:9091/metrics/job/a%20b%25%3F/dot@base64/Lg"
        );
        // URL-safe alphabet (`-`, not `+`), no padding.
        assert_eq!(
            url("gw:9091", "j", &[("x", "/>>>")]).unwrap(),
            "http://gw:9091/metrics/job/j/x@base64/Lz4-Pg"
        );
        let e = url("gw:9091", "", &[]).unwrap_err();
        assert!(
            matches!(e, PushError::InvalidOption { option: "job", .. }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "invalid Pushgateway client setting job: the job name must not be empty"
        );
    }

    #[test]
    fn refused_settings() {
        let err = |r: Result<String, PushError>| r.unwrap_err();
        let text = |r: Result<String, PushError>| err(r).to_string();
        assert!(matches!(
            err(url("https://gw:9091", "j", &[])),
            PushError::UnsupportedScheme { url } if url == "https://gw:9091"
        ));
        assert!(text(url("https://gw:9091", "j", &[])).contains("https is not supported yet"));
        for bad in ["ftp://gw", "", "http://u:p@gw:9091", "gw:9091?x=1"] {
            assert!(
                matches!(err(url(bad, "j", &[])), PushError::InvalidUrl { url, .. } if url == bad),
                "{bad}"
            );
        }
        assert!(text(url("ftp://gw", "j", &[])).contains("only http://"));
        assert!(text(url("", "j", &[])).contains("empty"));
        assert!(text(url("http://u:p@gw:9091", "j", &[])).contains("basic_auth"));
        assert!(text(url("gw:9091?x=1", "j", &[])).contains("query"));
        let label = |grouping: &[(&str, &str)]| match err(url("gw", "j", grouping)) {
            PushError::InvalidGroupingLabel { name, reason } => (name, reason),
            other => panic!("{other:?}"),
        };
        assert!(label(&[("job", "x")])
            .1
            .contains("\"job\" cannot be a grouping"));
        assert!(label(&[("foo\u{80}bar", "x")])
            .1
            .contains("not a valid label name"));
        assert_eq!(label(&[("__x", "x")]).0, "__x");
        assert_eq!(
            label(&[("a", "1"), ("a", "2")]),
            ("a".to_owned(), "given twice".to_owned())
        );
        assert_eq!(
            text(url("gw", "j", &[("a", "1"), ("a", "2")])),
            "invalid grouping label \"a\": given twice"
        );
        let header = |name: &str, value: &str| match Pusher::builder("gw", "j")
            .header(name, value)
            .build()
        {
            Err(PushError::InvalidHeader { name, reason }) => (name, reason),
            other => panic!("{other:?}"),
        };
        assert!(header("Host", "x").1.contains("cannot be overridden"));
        assert_eq!(header("X-A", "a\nb").0, "X-A");
        assert!(header("X A", "b").1.contains("not a valid header name"));
        let e = Pusher::builder("gw", "j")
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                e,
                PushError::InvalidOption {
                    option: "timeout",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "invalid Pushgateway client setting timeout: must not be zero"
        );
    }
}
