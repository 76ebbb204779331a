#!/usr/bin/env bash
# The project's test command (what CI runs, what the README shows):
#
#   scripts/test.sh
#
# formatting, lints (warnings are errors), then every test of the workspace: unit,
# integration (real Prometheus 2.42 / promtool; install them with
# scripts/install-test-deps.sh, otherwise those tests are skipped outside CI),
# examples and doc tests. Extra arguments go to `cargo test`, e.g.
# `scripts/test.sh -- --nocapture`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets --all-features --locked -- -D warnings"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "cargo clippy -p promhttp (default features, and none) -- -D warnings"
cargo clippy -p promhttp --locked -- -D warnings
cargo clippy -p promhttp --no-default-features --locked -- -D warnings

step "cargo test --workspace --all-features --locked $*"
cargo test --workspace --all-features --locked "$@"

step "cargo doc --workspace --no-deps (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked
