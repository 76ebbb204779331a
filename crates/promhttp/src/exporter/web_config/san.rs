//! Just enough DER to read the subject alternative names of an X.509 certificate
//! (RFC 5280 section 4.2.1.6), for `client_allowed_sans`.
//!
//! Every read is bounds-checked; malformed input is an error, never a panic.

use std::fmt;
use std::net::IpAddr;

/// One subject alternative name of the kinds exporter-toolkit compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum San {
    Dns(String),
    Email(String),
    Uri(String),
    Ip(IpAddr),
}

impl San {
    /// Whether an entry of `client_allowed_sans` names this SAN. Text SANs compare
    /// exactly, as in Go; IP SANs compare as addresses (`::1` and `0:0::1` are equal).
    pub(super) fn matches(&self, allowed: &str) -> bool {
        match self {
            San::Dns(s) | San::Email(s) | San::Uri(s) => s == allowed,
            San::Ip(ip) => allowed
                .parse::<IpAddr>()
                .is_ok_and(|a| a.to_canonical() == ip.to_canonical()),
        }
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(s) => write!(f, "DNS:{s}"),
            San::Email(s) => write!(f, "email:{s}"),
            San::Uri(s) => write!(f, "URI:{s}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
/// `[3] EXPLICIT Extensions` in `TBSCertificate`.
const EXTENSIONS: u8 = 0xA3;
/// id-ce-subjectAltName, 2.5.29.17.
const SAN_OID: &[u8] = &[0x55, 0x1D, 0x11];
// GeneralName choices (context-specific, primitive).
const RFC822_NAME: u8 = 0x81;
const DNS_NAME: u8 = 0x82;
const URI: u8 = 0x86;
const IP_ADDRESS: u8 = 0x87;

type Result<T> = std::result::Result<T, &'static str>;

/// A cursor over DER bytes.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Reads one TLV: (tag, contents).
    fn read(&mut self) -> Result<(u8, &'a [u8])> {
        let (&tag, rest) = self.data.split_first().ok_or("truncated tag")?;
        if tag & 0x1F == 0x1F {
            return Err("multi-byte tags are not used in certificates");
        }
        let (&first, mut rest) = rest.split_first().ok_or("truncated length")?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 {
                return Err("unsupported length encoding");
            }
            if rest.len() < n {
                return Err("truncated length");
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | usize::from(b);
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return Err("truncated value");
        }
        let (value, rest) = rest.split_at(len);
        self.data = rest;
        Ok((tag, value))
    }

    /// Reads one TLV and checks its tag.
    fn expect(&mut self, tag: u8) -> Result<&'a [u8]> {
        match self.read()? {
            (t, value) if t == tag => Ok(value),
            _ => Err("unexpected tag"),
        }
    }
}

/// The DNS, e-mail, URI and IP subject alternative names of a DER certificate, in order.
/// A certificate without the extension has none.
pub(super) fn subject_alt_names(cert_der: &[u8]) -> Result<Vec<San>> {
    let cert = Reader::new(cert_der).expect(SEQUENCE)?;
    let tbs = Reader::new(cert).expect(SEQUENCE)?;
    let mut tbs = Reader::new(tbs);
    let mut out = Vec::new();
    // Walk the TBSCertificate fields; the extensions, if any, come last.
    while !tbs.is_empty() {
        let (tag, value) = tbs.read()?;
        if tag != EXTENSIONS {
            continue;
        }
        let mut extensions = Reader::new(Reader::new(value).expect(SEQUENCE)?);
        while !extensions.is_empty() {
            let mut ext = Reader::new(extensions.expect(SEQUENCE)?);
            let oid = ext.expect(OID)?;
            let (mut tag, mut value) = ext.read()?;
            if tag == BOOLEAN {
                (tag, value) = ext.read()?;
            }
            if tag != OCTET_STRING {
                return Err("extension value is not an OCTET STRING");
            }
            if oid == SAN_OID {
                read_general_names(value, &mut out)?;
            }
        }
    }
    Ok(out)
}

fn read_general_names(der: &[u8], out: &mut Vec<San>) -> Result<()> {
    let mut names = Reader::new(Reader::new(der).expect(SEQUENCE)?);
    while !names.is_empty() {
        let (tag, value) = names.read()?;
        let text = || {
            std::str::from_utf8(value)
                .ok()
                .filter(|s| s.is_ascii())
                .map(str::to_owned)
                .ok_or("SAN is not ASCII")
        };
        match tag {
            DNS_NAME => out.push(San::Dns(text()?)),
            RFC822_NAME => out.push(San::Email(text()?)),
            URI => out.push(San::Uri(text()?)),
            IP_ADDRESS => match value.len() {
                4 => out.push(San::Ip(IpAddr::from(
                    <[u8; 4]>::try_from(value).map_err(|_| "bad IPv4 SAN")?,
                ))),
                16 => out.push(San::Ip(IpAddr::from(
                    <[u8; 16]>::try_from(value).map_err(|_| "bad IPv6 SAN")?,
                ))),
                _ => return Err("IP SAN is neither 4 nor 16 bytes"),
            },
            // otherName, x400Address, directoryName, ediPartyName, registeredID.
            _ => {}
        }
    }
    Ok(())
}
