//! Push a small registry (a counter and a histogram, like the demo service's) to
//! a Pushgateway once, or delete the group.
//!
//! ```text
//! cargo run --release -p promhttp --features push --example push -- \
//!     --gateway http://127.0.0.1:9091 --job demo [--grouping key=value]... \
//!     [--text] [--timeout SECONDS] [--delete]
//! curl -s http://127.0.0.1:9091/api/v1/metrics
//! ```
//!
//! `--gateway` may omit `http://`. Grouping values may contain `/` or be empty
//! (`--grouping instance=`): they are sent in the Pushgateway's base64 form.
//! `--text` sends text format 0.0.4 instead of protobuf. `--delete` deletes the
//! group instead of pushing. On failure the program prints the error (with the
//! gateway's message) and exits with status 1; bad arguments exit with status 2.

use std::process::ExitCode;
use std::time::Duration;

use promhttp::prometheus::{Histogram, HistogramOpts, IntCounter, Registry};
use promhttp::push::{PushFormat, Pusher};

const USAGE: &str = "usage: push --gateway URL --job NAME [--grouping KEY=VALUE]... [--text] [--timeout SECONDS] [--delete]";

struct Args {
    gateway: String,
    job: String,
    grouping: Vec<(String, String)>,
    text: bool,
    timeout: Option<Duration>,
    delete: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut gateway = None;
    let mut job = None;
    let mut grouping = Vec::new();
    let mut text = false;
    let mut timeout = None;
    let mut delete = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--gateway" => gateway = Some(value("--gateway")?),
            "--job" => job = Some(value("--job")?),
            "--grouping" => {
                let pair = value("--grouping")?;
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("--grouping {pair:?}: expected KEY=VALUE"))?;
                grouping.push((k.to_owned(), v.to_owned()));
            }
            "--timeout" => {
                let s = value("--timeout")?;
                let secs: f64 = s
                    .parse()
                    .map_err(|_| format!("--timeout {s:?}: expected seconds"))?;
                timeout = Some(
                    Duration::try_from_secs_f64(secs)
                        .map_err(|_| format!("--timeout {s:?}: expected seconds"))?,
                );
            }
            "--text" => text = true,
            "--delete" => delete = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        gateway: gateway.ok_or("--gateway is required")?,
        job: job.ok_or("--job is required")?,
        grouping,
        text,
        timeout,
        delete,
    })
}

/// A registry like the demo service's: requests and their response times.
fn registry() -> Registry {
    let registry = Registry::new();
    let requests =
        IntCounter::new("demo_incoming_requests_total", "Incoming requests.").expect("counter");
    let response_time = Histogram::with_opts(
        HistogramOpts::new("demo_response_time_seconds", "Response times.")
            .buckets(vec![0.005, 0.01, 0.05, 0.1, 0.5, 1.0]),
    )
    .expect("histogram");
    registry
        .register(Box::new(requests.clone()))
        .expect("register");
    registry
        .register(Box::new(response_time.clone()))
        .expect("register");
    for (i, seconds) in [0.003, 0.02, 0.02, 0.07, 0.3, 1.5].iter().enumerate() {
        requests.inc_by(i as u64 + 1);
        response_time.observe(*seconds);
    }
    registry
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("push: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut builder = Pusher::builder(args.gateway, args.job).gatherer(registry());
    for (k, v) in args.grouping {
        builder = builder.grouping(k, v);
    }
    if args.text {
        builder = builder.format(PushFormat::Text);
    }
    if let Some(t) = args.timeout {
        builder = builder.timeout(t);
    }
    let pusher = match builder.build() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("push: {e}");
            return ExitCode::from(2);
        }
    };
    let (result, done) = if args.delete {
        (pusher.delete().await, "deleted")
    } else {
        (pusher.push().await, "pushed to")
    };
    match result {
        Ok(()) => {
            println!("{done} {}", pusher.url());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("push: {e}");
            ExitCode::FAILURE
        }
    }
}
