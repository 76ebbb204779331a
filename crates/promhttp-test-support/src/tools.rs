//! External programs, free ports, temporary directories, log tails.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// What to do about a missing program (the tail of every `#[ignore = "needs ..."]`
/// reason, and of [`require_tool`]'s panic).
pub const INSTALL_HINT: &str = "run scripts/install-test-deps.sh";

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds an executable `name` in `PATH`, then in `/usr/bin` (where Debian's
/// packages put them, for environments with a bare `PATH`).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(std::iter::once(PathBuf::from("/usr/bin")))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Finds `name` like [`find_tool`]; panics, naming the program and how to install
/// it, when it is missing.
///
/// Call it only from a test marked `#[ignore = "needs <name>: run
/// scripts/install-test-deps.sh"]` (see the crate docs): such a test runs only when
/// asked (`--ignored`, `--include-ignored`, or `scripts/test.sh` with the program
/// installed or under `CI=true`), so a missing program is a failure, never a skip.
pub fn require_tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| {
        panic!(
            "{name} is not installed: {INSTALL_HINT} (this test is #[ignore]d because it \
             needs {name}; it ran because ignored tests were asked for)"
        )
    })
}

/// A TCP port that was free a moment ago on 127.0.0.1 (bind to port 0, read, drop).
/// Racy by nature; [`Prometheus`](crate::Prometheus) retries on "address already
/// in use".
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A fresh, unique directory under `std::env::temp_dir()` (created; the caller
/// removes it).
pub fn unique_temp_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// The last `lines` lines of a text file (lossy UTF-8), at most the last 64 KiB;
/// a placeholder when the file cannot be opened.
pub fn file_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return format!("<no log at {}>", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_tool_finds_a_shell_and_not_a_made_up_name() {
        assert!(find_tool("sh").is_some());
        assert_eq!(find_tool("promhttp-no-such-program"), None);
    }

    #[test]
    #[should_panic(
        expected = "promhttp-no-such-program is not installed: run scripts/install-test-deps.sh"
    )]
    fn require_tool_fails_with_the_install_hint() {
        require_tool("promhttp-no-such-program");
    }

    #[test]
    fn file_tail_keeps_the_last_lines() {
        let dir = unique_temp_dir("support-tail");
        let file = dir.join("log");
        fs::write(&file, "one\ntwo\nthree\n").unwrap();
        assert_eq!(file_tail(&file, 2), "two\nthree");
        assert_eq!(file_tail(&file, 10), "one\ntwo\nthree");
        assert!(file_tail(&dir.join("missing"), 2).starts_with("<no log at "));
        fs::remove_dir_all(&dir).unwrap();
    }
}
