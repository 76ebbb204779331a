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

#[cfg(test)]
mod tests {
    //! Hostile DER: the parser guards a security check (`client_allowed_sans`), so it
    //! must refuse or read correctly whatever a client certificate holds, and never
    //! panic (a slice read out of bounds would).

    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    // ---- A small DER writer. ----

    /// DER length octets: short form below 128, otherwise the minimal long form.
    fn der_len(len: usize) -> Vec<u8> {
        if len < 0x80 {
            return vec![len as u8];
        }
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }

    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(der_len(contents.len()));
        out.extend_from_slice(contents);
        out
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(SEQUENCE, &parts.concat())
    }

    /// An extension: OID, optional `critical`, and the OCTET STRING's contents.
    type Extension = (Vec<u8>, Option<bool>, Vec<u8>);

    /// A certificate whose TBS fields before the extensions have the right shapes
    /// (the parser skips them) and whose extensions are `extensions`, in order.
    fn certificate(extensions: &[Extension]) -> Vec<u8> {
        let ecdsa_sha256 = seq(&[tlv(OID, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02])]);
        let name = seq(&[tlv(
            0x31,
            &seq(&[tlv(OID, &[0x55, 0x04, 0x03]), tlv(0x0C, b"client")]),
        )]);
        let validity = seq(&[tlv(0x17, b"250101000000Z"), tlv(0x17, b"350101000000Z")]);
        let key = seq(&[
            seq(&[tlv(OID, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01])]),
            tlv(0x03, &[0x00, 0x04, 0x01, 0x02]),
        ]);
        let mut tbs = vec![
            tlv(0xA0, &tlv(0x02, &[2])),
            tlv(0x02, &[0x01, 0x23]),
            ecdsa_sha256.clone(),
            name.clone(),
            validity,
            name,
            key,
        ];
        if !extensions.is_empty() {
            let exts: Vec<Vec<u8>> = extensions
                .iter()
                .map(|(oid, critical, value)| {
                    let mut parts = vec![tlv(OID, oid)];
                    if let Some(c) = critical {
                        parts.push(tlv(BOOLEAN, &[if *c { 0xFF } else { 0x00 }]));
                    }
                    parts.push(tlv(OCTET_STRING, value));
                    seq(&parts)
                })
                .collect();
            tbs.push(tlv(EXTENSIONS, &seq(&exts)));
        }
        seq(&[seq(&tbs), ecdsa_sha256, tlv(0x03, &[0x00, 0xAB, 0xCD])])
    }

    /// A general name: one of the kinds read, or another kind (skipped) with any
    /// contents.
    #[derive(Clone, Debug)]
    enum Name {
        Read(San),
        Other(u8, Vec<u8>),
    }

    fn general_name(name: &Name) -> Vec<u8> {
        match name {
            Name::Read(San::Dns(s)) => tlv(DNS_NAME, s.as_bytes()),
            Name::Read(San::Email(s)) => tlv(RFC822_NAME, s.as_bytes()),
            Name::Read(San::Uri(s)) => tlv(URI, s.as_bytes()),
            Name::Read(San::Ip(IpAddr::V4(a))) => tlv(IP_ADDRESS, &a.octets()),
            Name::Read(San::Ip(IpAddr::V6(a))) => tlv(IP_ADDRESS, &a.octets()),
            Name::Other(tag, contents) => tlv(*tag, contents),
        }
    }

    // ---- Generators. ----

    /// ASCII text, long enough at times to need a long-form length.
    fn ascii() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::collection::vec(0x20u8..0x7F, 0..40),
            prop::collection::vec(0u8..0x80, 100..300),
        ]
        .prop_map(|bytes| String::from_utf8(bytes).expect("ASCII"))
    }

    fn name() -> impl Strategy<Value = Name> {
        // otherName, x400Address, directoryName, ediPartyName, registeredID.
        let other_tag = prop::sample::select(vec![0xA0, 0xA3, 0xA4, 0xA5, 0x88]);
        prop_oneof![
            ascii().prop_map(|s| Name::Read(San::Dns(s))),
            ascii().prop_map(|s| Name::Read(San::Email(s))),
            ascii().prop_map(|s| Name::Read(San::Uri(s))),
            any::<[u8; 4]>().prop_map(|a| Name::Read(San::Ip(Ipv4Addr::from(a).into()))),
            any::<[u8; 16]>().prop_map(|a| Name::Read(San::Ip(Ipv6Addr::from(a).into()))),
            (other_tag, prop::collection::vec(any::<u8>(), 0..40))
                .prop_map(|(tag, contents)| Name::Other(tag, contents)),
        ]
    }

    /// Another extension (basicConstraints, keyUsage, or an arbitrary OID that is
    /// not the SAN one) with any contents.
    fn other_extension() -> impl Strategy<Value = Extension> {
        let oid = prop_oneof![
            Just(vec![0x55, 0x1D, 0x13]),
            Just(vec![0x55, 0x1D, 0x0F]),
            prop::collection::vec(any::<u8>(), 0..8).prop_filter("not SAN", |o| o != SAN_OID),
        ];
        (
            oid,
            prop::option::of(any::<bool>()),
            prop::collection::vec(any::<u8>(), 0..200),
        )
    }

    /// How a hostile TLV states its length.
    #[derive(Clone, Debug)]
    enum Length {
        /// The true length, DER-encoded.
        True,
        /// A short-form length that is most likely wrong.
        Short(u8),
        /// `0x80 | n` and the bytes given, n from 0 (indefinite) to 127.
        Long(u8, Vec<u8>),
        /// The true length in long form with leading zero bytes.
        Padded(u8),
    }

    fn length() -> impl Strategy<Value = Length> {
        prop_oneof![
            4 => Just(Length::True),
            1 => (0u8..0x80).prop_map(Length::Short),
            1 => (0u8..0x80, prop::collection::vec(any::<u8>(), 0..10))
                .prop_map(|(n, bytes)| Length::Long(n, bytes)),
            1 => (1u8..4).prop_map(Length::Padded),
        ]
    }

    fn hostile_tlv(tag: u8, contents: &[u8], length: &Length) -> Vec<u8> {
        let mut out = vec![tag];
        match length {
            Length::True => out.extend(der_len(contents.len())),
            Length::Short(n) => out.push(*n),
            Length::Long(n, bytes) => {
                out.push(0x80 | n);
                out.extend(bytes);
            }
            Length::Padded(zeros) => {
                let true_len = der_len(contents.len());
                let digits = if true_len[0] < 0x80 {
                    &true_len[..]
                } else {
                    &true_len[1..]
                };
                out.push(0x80 | (*zeros + digits.len() as u8));
                out.extend(std::iter::repeat_n(0, usize::from(*zeros)));
                out.extend(digits);
            }
        }
        out.extend_from_slice(contents);
        out
    }

    /// Nested TLVs with the tags the parser looks for (and any other), lengths true
    /// or lying, and garbage at the leaves.
    fn hostile() -> impl Strategy<Value = Vec<u8>> {
        let tag = prop_oneof![
            prop::sample::select(vec![
                SEQUENCE,
                EXTENSIONS,
                OID,
                BOOLEAN,
                OCTET_STRING,
                DNS_NAME,
                RFC822_NAME,
                URI,
                IP_ADDRESS,
                0x1F,
                0xFF,
            ]),
            any::<u8>(),
        ];
        let leaf = prop::collection::vec(any::<u8>(), 0..24);
        leaf.prop_recursive(5, 64, 4, move |inner| {
            (tag.clone(), prop::collection::vec(inner, 0..4), length())
                .prop_map(|(tag, children, length)| hostile_tlv(tag, &children.concat(), &length))
        })
    }

    fn names_read(names: &[Name]) -> Vec<San> {
        names
            .iter()
            .filter_map(|n| match n {
                Name::Read(san) => Some(san.clone()),
                Name::Other(..) => None,
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A certificate built with any names, among other extensions, reads back as
        /// exactly the names of the kinds compared, in order. Every strict prefix of
        /// it is refused, and so is a certificate whose SAN value is cut short inside
        /// lengths that are all true around it.
        #[test]
        fn well_formed_sans_round_trip(
            names in prop::collection::vec(name(), 0..8),
            critical in prop::option::of(any::<bool>()),
            before in prop::collection::vec(other_extension(), 0..3),
            after in prop::collection::vec(other_extension(), 0..3),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 8),
        ) {
            let value = seq(&names.iter().map(general_name).collect::<Vec<_>>());
            let with_value = |value: Vec<u8>| {
                let mut extensions = before.clone();
                extensions.push((SAN_OID.to_vec(), critical, value));
                extensions.extend(after.iter().cloned());
                certificate(&extensions)
            };
            let der = with_value(value.clone());
            prop_assert_eq!(subject_alt_names(&der), Ok(names_read(&names)));
            for cut in 0..der.len() {
                prop_assert!(subject_alt_names(&der[..cut]).is_err(), "prefix of {} bytes", cut);
            }
            for cut in &cuts {
                let short = with_value(value[..cut.index(value.len())].to_vec());
                prop_assert!(subject_alt_names(&short).is_err());
            }
        }

        /// Any bytes at all: an answer, never a panic.
        #[test]
        fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = subject_alt_names(&bytes);
        }

        /// Nested garbage with lying lengths, on its own, as the extensions of a
        /// certificate, as an extension, and as the SAN extension's value.
        #[test]
        fn nested_garbage(garbage in hostile(), critical in any::<bool>()) {
            let _ = subject_alt_names(&garbage);
            let _ = subject_alt_names(&seq(&[seq(&[tlv(EXTENSIONS, &garbage)])]));
            let _ = subject_alt_names(&seq(&[seq(&[tlv(
                EXTENSIONS,
                &seq(std::slice::from_ref(&garbage)),
            )])]));
            let _ = subject_alt_names(&certificate(&[(SAN_OID.to_vec(), Some(critical), garbage.clone())]));
            let _ = subject_alt_names(&certificate(&[(SAN_OID.to_vec(), None, seq(&[garbage]))]));
        }

        /// A well-formed certificate with one byte changed, or a run of bytes cut
        /// out: an answer, never a panic.
        #[test]
        fn corrupted_certificates(
            names in prop::collection::vec(name(), 1..5),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in 0usize..8,
        ) {
            let der = certificate(&[(
                SAN_OID.to_vec(),
                None,
                seq(&names.iter().map(general_name).collect::<Vec<_>>()),
            )]);
            let i = at.index(der.len());
            let mut changed = der.clone();
            changed[i] = byte;
            let _ = subject_alt_names(&changed);
            let mut shortened = der.clone();
            shortened.drain(i..(i + cut).min(der.len()));
            let _ = subject_alt_names(&shortened);
        }
    }

    #[test]
    fn lengths_that_lie_are_refused() {
        let der = certificate(&[(SAN_OID.to_vec(), None, seq(&[tlv(DNS_NAME, b"a.example")]))]);
        assert_eq!(
            subject_alt_names(&der),
            Ok(vec![San::Dns("a.example".into())])
        );
        // The outer length replaced: indefinite, five length bytes, more than there is.
        let (_, body) = Reader::new(&der).read().unwrap();
        for header in [
            &[0x30, 0x80][..],
            &[0x30, 0x85, 0, 0, 0, 0, 1],
            &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
        ] {
            let mut bad = header.to_vec();
            bad.extend_from_slice(body);
            assert!(subject_alt_names(&bad).is_err(), "{header:02x?}");
        }
        // A general name that claims more bytes than its SEQUENCE holds.
        let bad = certificate(&[(SAN_OID.to_vec(), None, seq(&[vec![DNS_NAME, 0x7F, b'a']]))]);
        assert_eq!(subject_alt_names(&bad), Err("truncated value"));
        // Multi-byte tags, IP addresses of other sizes, non-ASCII text.
        let bad = certificate(&[(SAN_OID.to_vec(), None, seq(&[tlv(0x1F, b"x")]))]);
        assert!(subject_alt_names(&bad).is_err());
        let bad = certificate(&[(SAN_OID.to_vec(), None, seq(&[tlv(IP_ADDRESS, &[1, 2, 3])]))]);
        assert_eq!(
            subject_alt_names(&bad),
            Err("IP SAN is neither 4 nor 16 bytes")
        );
        let bad = certificate(&[(
            SAN_OID.to_vec(),
            None,
            seq(&[tlv(DNS_NAME, "é".as_bytes())]),
        )]);
        assert_eq!(subject_alt_names(&bad), Err("SAN is not ASCII"));
    }
}
