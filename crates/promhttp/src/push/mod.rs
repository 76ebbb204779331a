//! Sending metrics out instead of being scraped.
//!
//! * [`pushgateway`]: a Pushgateway client: [`Pusher`] pushes (`PUT`), adds
//!   (`POST`) and deletes (`DELETE`) a group; [`PeriodicPusher`] pushes on an
//!   interval and once more (optionally deleting the group) on shutdown.
//! * `remote_write` (feature `remote-write`): a Prometheus remote write 1.0 sender.
//!
//! Everything here is async on Tokio, with a time limit on every request, and
//! has blocking variants that are safe to call with or without a runtime.
//!
//! ```no_run
//! # async fn run() -> Result<(), promhttp::push::PushError> {
//! use promhttp::prometheus::{IntCounter, Registry};
//! use promhttp::push::Pusher;
//!
//! let registry = Registry::new();
//! let done = IntCounter::new("batch_jobs_done_total", "Jobs done.").unwrap();
//! registry.register(Box::new(done.clone())).unwrap();
//! done.inc();
//!
//! let pusher = Pusher::builder("127.0.0.1:9091", "nightly_batch")
//!     .grouping("instance", "db-1")
//!     .gatherer(registry)
//!     .build()?;
//! pusher.push().await?;
//! # Ok(()) }
//! ```

pub mod pushgateway;
#[cfg(feature = "remote-write")]
pub mod remote_write;

pub use pushgateway::{
    Method, PeriodicHandle, PeriodicMethod, PeriodicPusher, PeriodicPusherBuilder, PeriodicStats,
    PushError, PushFormat, Pusher, PusherBuilder, DEFAULT_PUSH_TIMEOUT,
};

/// Server-sent text made safe to show in one line of a log or a terminal: control
/// characters become escapes (`\n`, `\r`, `\t`, otherwise `\x1b`-style for C0 and
/// DEL, `\u{9b}`-style for C1), as do Unicode line and paragraph separators and
/// bidirectional overrides and isolates (which reorder what a reader sees).
/// Everything else, printable non-ASCII text and backslashes included, is kept as
/// is: the result is for reading, not for decoding back.
pub(crate) fn escape_control(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0'..='\u{1f}' | '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            '\u{80}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chain_names_each_new_cause_once() {
        #[derive(Debug)]
        struct Outer(std::io::Error, &'static str);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.1)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            crate::util::error_chain(&Outer(refused(), "client error (Connect)")),
            "client error (Connect): refused"
        );
        // A cause already in the text is not repeated.
        assert_eq!(
            crate::util::error_chain(&Outer(refused(), "connect: refused")),
            "connect: refused"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape_control("a\u{1b}[31mred\u{1b}[0m\r\n\tb\u{7}\0\u{7f}"),
            "a\\x1b[31mred\\x1b[0m\\r\\n\\tb\\x07\\x00\\x7f"
        );
        assert_eq!(
            escape_control("\u{9b}2J \u{2028} \u{202e}cba"),
            "\\u{9b}2J \\u{2028} \\u{202e}cba"
        );
        // Printable text, non-ASCII and backslashes included, is unchanged.
        let kept = "Prometheus → Προμηθεύς, 普罗米修斯 🔥 C:\\dir \"q\" \u{fffd}";
        assert_eq!(escape_control(kept), kept);
        assert_eq!(escape_control(""), "");
    }
}
