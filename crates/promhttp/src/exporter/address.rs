//! Where the exporter listens: the address as the user wrote it, resolved and
//! bound only by `start()`.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use tokio::net::{TcpListener, TcpSocket};

use super::ExporterError;

/// A listen address for [`ExporterBuilder::listen_address`](super::ExporterBuilder::listen_address),
/// in any form [`std::net::ToSocketAddrs`] takes, plus Go's `":port"`:
///
/// | given | binds |
/// |---|---|
/// | a [`SocketAddr`] (or `SocketAddrV4`/`V6`, `(IpAddr, u16)`, ...) | that address |
/// | `"127.0.0.1:9100"`, `"[::1]:9100"` | that address |
/// | `"localhost:9100"`, `("localhost", 9100)` | the first address the name resolves to that can be bound |
/// | `":9100"` (Go's form), `("", 9100)` | `0.0.0.0:9100`, every IPv4 interface; write `"[::]:9100"` for IPv6 (on Linux that one takes IPv4 too, unless `net.ipv6.bindv6only` is set) |
///
/// Nothing is parsed or looked up when the address is given: `start()` does it,
/// and a name that does not resolve, resolves to nothing, or has no valid port
/// (`"localhost:70000"`, `":http"`) is [`ExporterError::Resolve`]. Binding tries
/// each resolved address in turn, as [`std::net::TcpListener::bind`] does, and
/// reports the last failure as [`ExporterError::Bind`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenAddress(Repr);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    Addr(SocketAddr),
    /// `host:port`, `[v6]:port`, or `:port`, as written.
    Text(String),
    /// A host name (or address literal) and a port.
    Host(String, u16),
}

impl ListenAddress {
    /// Every address this stands for, in the order to try them.
    pub(super) async fn resolve(&self) -> Result<Vec<SocketAddr>, ExporterError> {
        let resolved: io::Result<Vec<SocketAddr>> = match &self.0 {
            Repr::Addr(a) => return Ok(vec![*a]),
            Repr::Text(s) => {
                if let Ok(a) = s.parse::<SocketAddr>() {
                    return Ok(vec![a]);
                }
                match s.strip_prefix(':') {
                    Some(port) => match port.parse::<u16>() {
                        Ok(port) => return Ok(vec![all_interfaces(port)]),
                        Err(_) => Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("invalid port {port:?}"),
                        )),
                    },
                    None => tokio::net::lookup_host(s.as_str())
                        .await
                        .map(Iterator::collect),
                }
            }
            Repr::Host(host, port) if host.is_empty() => return Ok(vec![all_interfaces(*port)]),
            Repr::Host(host, port) => tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map(Iterator::collect),
        };
        match resolved {
            Ok(addrs) if addrs.is_empty() => Err(self.unresolved(no_address())),
            Ok(addrs) => Ok(addrs),
            Err(source) => Err(self.unresolved(source)),
        }
    }

    /// Resolves, then binds the first address that can be bound, with a listen
    /// backlog of `backlog` (the system caps it); the listener and the address it
    /// is bound to.
    pub(super) async fn bind(
        &self,
        backlog: u32,
    ) -> Result<(TcpListener, SocketAddr), ExporterError> {
        let addrs = self.resolve().await?;
        bind_first(&addrs, backlog).unwrap_or_else(|| Err(self.unresolved(no_address())))
    }

    fn unresolved(&self, source: io::Error) -> ExporterError {
        ExporterError::Resolve {
            addr: self.to_string(),
            source,
        }
    }
}

fn no_address() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "resolved to no address")
}

fn all_interfaces(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Addr(a) => a.fmt(f),
            Repr::Text(s) => f.write_str(s),
            Repr::Host(host, port) if host.contains(':') => write!(f, "[{host}]:{port}"),
            Repr::Host(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

impl From<SocketAddr> for ListenAddress {
    fn from(a: SocketAddr) -> Self {
        ListenAddress(Repr::Addr(a))
    }
}

impl From<SocketAddrV4> for ListenAddress {
    fn from(a: SocketAddrV4) -> Self {
        SocketAddr::V4(a).into()
    }
}

impl From<SocketAddrV6> for ListenAddress {
    fn from(a: SocketAddrV6) -> Self {
        SocketAddr::V6(a).into()
    }
}

impl From<(IpAddr, u16)> for ListenAddress {
    fn from(a: (IpAddr, u16)) -> Self {
        SocketAddr::from(a).into()
    }
}

impl From<(Ipv4Addr, u16)> for ListenAddress {
    fn from(a: (Ipv4Addr, u16)) -> Self {
        SocketAddr::from(a).into()
    }
}

impl From<(Ipv6Addr, u16)> for ListenAddress {
    fn from(a: (Ipv6Addr, u16)) -> Self {
        SocketAddr::from(a).into()
    }
}

impl From<&str> for ListenAddress {
    fn from(s: &str) -> Self {
        ListenAddress(Repr::Text(s.to_owned()))
    }
}

impl From<String> for ListenAddress {
    fn from(s: String) -> Self {
        ListenAddress(Repr::Text(s))
    }
}

impl From<&String> for ListenAddress {
    fn from(s: &String) -> Self {
        s.as_str().into()
    }
}

impl From<(&str, u16)> for ListenAddress {
    fn from((host, port): (&str, u16)) -> Self {
        ListenAddress(Repr::Host(host.to_owned(), port))
    }
}

impl From<(String, u16)> for ListenAddress {
    fn from((host, port): (String, u16)) -> Self {
        ListenAddress(Repr::Host(host, port))
    }
}

/// Binds the first of `addrs` that can be bound, as `std::net::TcpListener::bind`
/// does; the last failure when none can, `None` when there is none to try.
fn bind_first(
    addrs: &[SocketAddr],
    backlog: u32,
) -> Option<Result<(TcpListener, SocketAddr), ExporterError>> {
    let mut last = None;
    for &addr in addrs {
        match bind(addr, backlog) {
            Ok(listener) => return Some(Ok(listener)),
            Err(source) => {
                tracing::debug!(%addr, "cannot listen: {source}");
                last = Some(Err(ExporterError::Bind { addr, source }));
            }
        }
    }
    last
}

fn bind(addr: SocketAddr, backlog: u32) -> io::Result<(TcpListener, SocketAddr)> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }?;
    // As std and tokio do on Unix: a restarted exporter can bind at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(backlog)?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn resolve(a: impl Into<ListenAddress>) -> Result<Vec<SocketAddr>, ExporterError> {
        a.into().resolve().await
    }

    #[tokio::test]
    async fn addresses_and_their_text_resolve_to_themselves() {
        let v4 = SocketAddr::from(([127, 0, 0, 1], 9100));
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 9100));
        assert_eq!(resolve(v4).await.unwrap(), [v4]);
        assert_eq!(resolve((Ipv4Addr::LOCALHOST, 9100)).await.unwrap(), [v4]);
        assert_eq!(
            resolve((IpAddr::from(Ipv6Addr::LOCALHOST), 9100))
                .await
                .unwrap(),
            [v6]
        );
        assert_eq!(resolve("127.0.0.1:9100").await.unwrap(), [v4]);
        assert_eq!(resolve("[::1]:9100").await.unwrap(), [v6]);
        assert_eq!(resolve(String::from("[::1]:9100")).await.unwrap(), [v6]);
        assert_eq!(resolve(("::1", 9100)).await.unwrap(), [v6]);
    }

    #[tokio::test]
    async fn gos_port_only_form_is_every_ipv4_interface() {
        let any = SocketAddr::from(([0, 0, 0, 0], 9100));
        assert_eq!(resolve(":9100").await.unwrap(), [any]);
        assert_eq!(resolve(("", 9100)).await.unwrap(), [any]);
    }

    #[tokio::test]
    async fn names_resolve_when_started() {
        let addrs = resolve("localhost:9100").await.unwrap();
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 9100),
            "{addrs:?}"
        );
        assert_eq!(resolve(("localhost", 9100)).await.unwrap(), addrs);
    }

    #[tokio::test]
    async fn what_cannot_resolve_is_a_resolve_error_naming_the_address() {
        for given in [
            "no-such-host.invalid:9100",
            "localhost:70000",
            "127.0.0.1:70000",
            ":70000",
            ":http",
            "localhost",
            "",
        ] {
            match resolve(given).await {
                Err(ExporterError::Resolve { addr, source }) => {
                    assert_eq!(addr, given);
                    let e = ExporterError::Resolve { addr, source };
                    assert!(e.to_string().contains(&format!("{given:?}")), "{e}");
                    assert!(std::error::Error::source(&e).is_some());
                }
                other => panic!("{given}: {other:?}"),
            }
        }
    }

    #[test]
    fn binding_tries_each_address_and_reports_the_last_failure() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let taken = busy.local_addr().unwrap();
            let free = SocketAddr::from(([127, 0, 0, 1], 0));
            // The taken one fails; the next is bound.
            let (l, bound) = bind_first(&[taken, free], 16).unwrap().unwrap();
            assert_ne!(bound, taken);
            assert_eq!(l.local_addr().unwrap(), bound);
            // Only taken ones: the last failure, with its address.
            let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let taken2 = other.local_addr().unwrap();
            match bind_first(&[taken, taken2], 16) {
                Some(Err(ExporterError::Bind { addr, source })) => {
                    assert_eq!(addr, taken2);
                    assert_eq!(source.kind(), io::ErrorKind::AddrInUse);
                }
                other => panic!("{other:?}"),
            }
            assert!(bind_first(&[], 16).is_none());
        });
    }
}
