//! [`Method`]: what a request does to the group; [`PeriodicMethod`]: the subset a
//! [`PeriodicPusher`](super::PeriodicPusher) may repeat.

use std::fmt;

use http::StatusCode;

/// What a request does to the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `PUT`: replace all metrics of the group.
    Push,
    /// `POST`: replace the metrics with the names pushed, keep the others.
    Add,
    /// `DELETE`: remove the group.
    Delete,
}

impl Method {
    /// The HTTP method.
    pub fn http_method(self) -> http::Method {
        match self {
            Method::Push => http::Method::PUT,
            Method::Add => http::Method::POST,
            Method::Delete => http::Method::DELETE,
        }
    }

    /// How error messages describe it: `pushing to`, `adding to`, `deleting`.
    pub(super) fn doing(self) -> &'static str {
        match self {
            Method::Push => "pushing to",
            Method::Add => "adding to",
            Method::Delete => "deleting",
        }
    }

    pub(super) fn accepts(self, status: StatusCode) -> bool {
        // The Pushgateway answers 200 (older) or 202 to PUT/POST, 202 to DELETE.
        status == StatusCode::OK || status == StatusCode::ACCEPTED
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Push => "push (PUT)",
            Method::Add => "add (POST)",
            Method::Delete => "delete (DELETE)",
        })
    }
}

/// What a [`PeriodicPusher`](super::PeriodicPusher) sends on each tick: a push
/// or an add. Deleting on an interval makes no sense, so it is not a choice here
/// (see [`delete_on_shutdown`](super::PeriodicPusherBuilder::delete_on_shutdown)).
///
/// ```compile_fail
/// // A periodic delete cannot be written.
/// let _ = promhttp::push::PeriodicMethod::Delete;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PeriodicMethod {
    /// `PUT` (the default): replace all metrics of the group.
    #[default]
    Push,
    /// `POST`: replace the metrics with the names pushed, keep the others.
    Add,
}

impl From<PeriodicMethod> for Method {
    fn from(method: PeriodicMethod) -> Method {
        match method {
            PeriodicMethod::Push => Method::Push,
            PeriodicMethod::Add => Method::Add,
        }
    }
}

impl fmt::Display for PeriodicMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Method::from(*self).fmt(f)
    }
}
