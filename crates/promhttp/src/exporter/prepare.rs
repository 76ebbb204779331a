//! What `start()` does before anything is bound: every check of the settings
//! that needs no I/O, then reading the web configuration, building TLS and basic
//! auth, and registering the hook failure counter.

use super::address::ListenAddress;
#[cfg(feature = "web-config")]
use super::builder::WebSource;
use super::builder::{ExporterBuilder, Handler};
use super::hooks::Registered;
use super::security::Security;
use super::server::{Parts, Server};
use super::{ExporterError, MAX_HEADER_BYTES, MIN_HEADER_BYTES};

#[cfg(feature = "web-config")]
use super::web_config;

impl ExporterBuilder {
    /// Every check that needs no I/O.
    pub(super) fn check(&self) -> Result<(), ExporterError> {
        if matches!(self.handler, Handler::Misused) {
            return Err(misused());
        }
        let p = &self.metrics_path;
        if !p.starts_with('/') || p == "/" || p == "/-/healthy" || p == "/-/ready" {
            return Err(invalid(
                "metrics_path",
                format!("{p:?} must start with '/' and must not be '/' or a health path"),
            ));
        }
        let l = &self.limits;
        for (name, d) in [
            ("header_read_timeout", l.header_read_timeout),
            ("idle_timeout", l.idle_timeout),
            ("write_timeout", l.write_timeout),
            ("response_timeout", l.response_timeout),
        ] {
            if d.is_zero() {
                return Err(invalid(
                    name,
                    "must not be zero: every connection would be closed at once",
                ));
            }
        }
        if self.updaters.iter().any(|(every, _)| every.is_zero()) {
            return Err(invalid("update_every", "the interval must not be zero"));
        }
        if l.max_connections == 0 {
            return Err(invalid(
                "max_connections",
                "must not be zero: nothing could be served",
            ));
        }
        if l.max_unsent_bytes == 0 {
            return Err(invalid(
                "max_unsent_bytes",
                "must not be zero: every page would be refused",
            ));
        }
        if l.http2_max_concurrent_streams == 0 {
            return Err(invalid(
                "http2_max_concurrent_streams",
                "must not be zero; turn HTTP/2 off with http2(false)",
            ));
        }
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&l.max_header_bytes) {
            return Err(invalid(
                "max_header_bytes",
                format!(
                    "{} is outside {MIN_HEADER_BYTES}..={MAX_HEADER_BYTES}",
                    l.max_header_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Checks the configuration, reads the web configuration file, builds
    /// everything it needs (TLS, basic auth), registers the hook failure counter,
    /// and only then binds: a configuration that cannot serve never holds the port.
    pub(super) fn prepare(
        mut self,
    ) -> Result<(Server, ListenAddress, Option<Registered>), ExporterError> {
        self.check()?;
        let handler = match std::mem::replace(&mut self.handler, Handler::Misused) {
            Handler::Builder(b) => b.build(),
            Handler::Built(h) => h,
            Handler::Misused => return Err(misused()),
        };
        #[cfg(feature = "web-config")]
        let security = {
            let web = match self.web.take() {
                None => None,
                Some(WebSource::Config(c)) => Some(*c),
                Some(WebSource::File(path)) => Some(
                    web_config::WebConfig::from_file(&path).map_err(ExporterError::WebConfig)?,
                ),
            };
            Security::from_config(web.as_ref())?
        };
        #[cfg(not(feature = "web-config"))]
        let security = Security::default();
        let registered = match &self.hook_registry {
            None => None,
            Some(registry) => Some(Registered::hook_failures(registry)?),
        };
        let server = Server::new(Parts {
            handler,
            security,
            metrics_path: self.metrics_path,
            landing: self.landing,
            http2: self.http2,
            hook: self.hook,
            hook_timeout: self.hook_timeout,
            hook_failures: registered.as_ref().map(Registered::counter),
            updaters: self.updaters,
            limits: self.limits,
        });
        Ok((server, self.addr, registered))
    }
}

pub(super) fn misused() -> ExporterError {
    invalid(
        "handler",
        "handler(..) configures the handler of Exporter::builder(gatherer); a builder \
         from with_handler(handler) serves that finished handler as it is",
    )
}

fn invalid(option: &'static str, reason: impl Into<String>) -> ExporterError {
    ExporterError::InvalidOption {
        option,
        reason: reason.into(),
    }
}
