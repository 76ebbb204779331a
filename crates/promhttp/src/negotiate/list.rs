//! List parsing (RFC 9110 §5.6): `#element`, tokens, quoted strings, parameters
//! and weights. Works on bytes, allocates nothing, and skips bad elements.

/// The largest weight, `q=1`, in thousandths.
pub(super) const Q_MAX: u16 = 1000;

/// One syntactically valid list element.
#[derive(Clone, Copy, Debug)]
pub(super) struct Element<'a> {
    /// Media type (`text`, `*`) or, for `Accept-Encoding`, the coding (`gzip`, `*`).
    pub(super) ty: &'a [u8],
    /// Media subtype (`plain`, `*`); empty for codings.
    pub(super) sub: &'a [u8],
    /// The validated parameter section (`; a=b; q=0.5`), weight included.
    params: &'a [u8],
    /// The first `q` parameter, in thousandths; [`Q_MAX`] without one.
    pub(super) q: u16,
}

impl<'a> Element<'a> {
    /// The value of the first parameter called `name` (case-insensitive).
    pub(super) fn param(&self, name: &[u8]) -> Option<Value<'a>> {
        let mut i = 0;
        loop {
            match next_param(self.params, i) {
                Ok(Param::Pair(n, value, next)) => {
                    if n.eq_ignore_ascii_case(name) {
                        return Some(value);
                    }
                    i = next;
                }
                Ok(Param::Empty(next)) => i = next,
                // `params` was validated, so `Err` cannot happen; stop anyway.
                Ok(Param::End(_)) | Err(Malformed) => return None,
            }
        }
    }
}

/// A parameter value: a token, or the inside of a quoted string (escapes intact).
#[derive(Clone, Copy, Debug)]
pub(super) struct Value<'a> {
    raw: &'a [u8],
    quoted: bool,
}

impl<'a> Value<'a> {
    /// The value's bytes with quoted-pair escapes resolved.
    fn bytes(self) -> impl Iterator<Item = u8> + 'a {
        let mut raw = self.raw.iter();
        let quoted = self.quoted;
        std::iter::from_fn(move || {
            let b = *raw.next()?;
            if quoted && b == b'\\' {
                // Validated: a backslash is always followed by the escaped byte.
                raw.next().copied()
            } else {
                Some(b)
            }
        })
    }

    pub(super) fn matches(self, other: &[u8]) -> bool {
        self.bytes().eq(other.iter().copied())
    }

    pub(super) fn matches_ignore_case(self, other: &[u8]) -> bool {
        self.bytes()
            .map(|b| b.to_ascii_lowercase())
            .eq(other.iter().map(u8::to_ascii_lowercase))
    }

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
    fn qvalue(self) -> Result<u16, Malformed> {
        let mut bytes = self.bytes();
        let mut q = match bytes.next() {
            Some(b'0') => 0,
            Some(b'1') => Q_MAX,
            _ => return Err(Malformed),
        };
        match bytes.next() {
            None => return Ok(q),
            Some(b'.') => {}
            Some(_) => return Err(Malformed),
        }
        let mut scale = 100;
        for b in bytes {
            if scale == 0 || !b.is_ascii_digit() {
                return Err(Malformed);
            }
            q += u16::from(b - b'0') * scale;
            scale /= 10;
        }
        if q > Q_MAX {
            return Err(Malformed);
        }
        Ok(q)
    }
}

/// A syntax error; the element containing it is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Malformed;

/// The valid elements of one header line, in order.
pub(super) struct Elements<'a> {
    s: &'a [u8],
    pos: usize,
    /// `type/subtype` elements (`Accept`) rather than single tokens (`Accept-Encoding`).
    media: bool,
}

impl<'a> Elements<'a> {
    pub(super) fn new(s: &'a [u8], media: bool) -> Self {
        Elements { s, pos: 0, media }
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Element<'a>;

    fn next(&mut self) -> Option<Element<'a>> {
        while self.pos < self.s.len() {
            let start = self.pos;
            match parse_element(self.s, start, self.media) {
                Ok((element, next)) => {
                    self.pos = next;
                    if element.is_some() {
                        return element;
                    }
                }
                Err(Malformed) => self.pos = skip_element(self.s, start),
            }
        }
        None
    }
}

/// Parses the element starting at `i`: `Ok((None, _))` for an empty one. The index
/// returned is just past the element's terminating comma (or the end of `s`).
fn parse_element(
    s: &[u8],
    i: usize,
    media: bool,
) -> Result<(Option<Element<'_>>, usize), Malformed> {
    let i = skip_ows(s, i);
    match s.get(i) {
        None => return Ok((None, i)),
        Some(b',') => return Ok((None, i + 1)),
        Some(_) => {}
    }
    let (ty, mut i) = token(s, i)?;
    let mut sub: &[u8] = &[];
    if media {
        if s.get(i) != Some(&b'/') {
            return Err(Malformed);
        }
        (sub, i) = token(s, i + 1)?;
        if ty == b"*" && sub != b"*" {
            return Err(Malformed);
        }
    }
    let params_start = i;
    let mut q = None;
    loop {
        match next_param(s, i)? {
            Param::End(end) => {
                let element = Element {
                    ty,
                    sub,
                    params: &s[params_start..i],
                    q: q.unwrap_or(Q_MAX),
                };
                let next = if end < s.len() { end + 1 } else { end };
                return Ok((Some(element), next));
            }
            Param::Empty(next) => i = next,
            Param::Pair(name, value, next) => {
                if name.eq_ignore_ascii_case(b"q") {
                    // Every `q` must be well-formed; the first one counts.
                    let weight = value.qvalue()?;
                    q.get_or_insert(weight);
                }
                i = next;
            }
        }
    }
}

/// One step through a parameter section.
enum Param<'a> {
    /// No more parameters: the index of the terminating `,` or the end of input.
    End(usize),
    /// An empty parameter (`;;`); continue at the index.
    Empty(usize),
    /// `name=value`; continue at the index.
    Pair(&'a [u8], Value<'a>, usize),
}

/// Parses `OWS ";" OWS [ name OWS "=" OWS value ]` at `i`, or recognises the end of
/// the element. (RFC 9110 allows no whitespace around `=`; we tolerate it.)
fn next_param(s: &[u8], i: usize) -> Result<Param<'_>, Malformed> {
    let i = skip_ows(s, i);
    match s.get(i) {
        None | Some(b',') => return Ok(Param::End(i)),
        Some(b';') => {}
        Some(_) => return Err(Malformed),
    }
    let i = skip_ows(s, i + 1);
    if matches!(s.get(i), None | Some(b',' | b';')) {
        return Ok(Param::Empty(i));
    }
    let (name, i) = token(s, i)?;
    let i = skip_ows(s, i);
    if s.get(i) != Some(&b'=') {
        return Err(Malformed);
    }
    let i = skip_ows(s, i + 1);
    let (value, i) = if s.get(i) == Some(&b'"') {
        quoted_string(s, i)?
    } else {
        let (raw, i) = token(s, i)?;
        (Value { raw, quoted: false }, i)
    };
    Ok(Param::Pair(name, value, i))
}

/// A non-empty token at `i`, and the index after it.
fn token(s: &[u8], i: usize) -> Result<(&[u8], usize), Malformed> {
    let len = s[i.min(s.len())..]
        .iter()
        .take_while(|&&b| is_tchar(b))
        .count();
    if len == 0 {
        return Err(Malformed);
    }
    Ok((&s[i..i + len], i + len))
}

/// A quoted string whose opening `"` is at `i`, and the index after its closing `"`.
fn quoted_string(s: &[u8], i: usize) -> Result<(Value<'_>, usize), Malformed> {
    let mut j = i + 1;
    loop {
        match *s.get(j).ok_or(Malformed)? {
            b'"' => {
                let value = Value {
                    raw: &s[i + 1..j],
                    quoted: true,
                };
                return Ok((value, j + 1));
            }
            b'\\' => match s.get(j + 1) {
                Some(&b) if b == b'\t' || (b >= b' ' && b != 0x7f) => j += 2,
                _ => return Err(Malformed),
            },
            // qdtext: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
            b if b == b'\t' || (b >= b' ' && b != 0x7f) => j += 1,
            _ => return Err(Malformed),
        }
    }
}

/// Error recovery: the index just past the next top-level `,` at or after `i`
/// (commas inside quoted strings do not count), or the end of `s`.
fn skip_element(s: &[u8], i: usize) -> usize {
    let mut in_quotes = false;
    let mut j = i;
    while j < s.len() {
        match s[j] {
            b'\\' if in_quotes => j += 1,
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => return j + 1,
            _ => {}
        }
        j += 1;
    }
    s.len()
}

fn skip_ows(s: &[u8], mut i: usize) -> usize {
    while matches!(s.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
