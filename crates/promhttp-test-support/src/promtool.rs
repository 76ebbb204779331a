//! `promtool check metrics`.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::require_tool;

/// Runs `promtool check metrics` with `body` (text format 0.0.4) on stdin.
///
/// `Ok(())` when promtool exits 0 (no parse errors, no lint problems); otherwise
/// `Err` with its exit status and full stdout/stderr. Note promtool exits non-zero
/// for lint problems too (e.g. a counter not ending in `_total`); the text tells
/// which (`error while linting: ...` is a parse error). Panics, like
/// [`require_tool`], when promtool is missing: call it only from a test marked
/// `#[ignore = "needs promtool: ..."]`.
pub fn promtool_check_metrics(body: &[u8]) -> Result<(), String> {
    let promtool = require_tool("promtool");
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", promtool.display()));
    // Feed stdin from a thread so a large body can't deadlock against full pipes.
    let mut stdin = child.stdin.take().expect("promtool stdin");
    let input = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("promtool check metrics: still running after 30 s, killed".into());
            }
            Err(e) => return Err(format!("promtool check metrics: wait: {e}")),
        }
    }
    let _ = writer.join();
    let output = child.wait_with_output().expect("promtool output");
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "promtool check metrics exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
