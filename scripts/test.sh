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
#
# crates/promhttp-pingora builds Pingora, the heaviest dependency tree (and needs
# cmake): it is its own last step, after the rest has passed, so a failure in the
# core crates shows up without waiting for it.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
step() { printf '\n==> [%ds] %s\n' "$((SECONDS - started))" "$*" >&2; }
# The Pingora crate is checked in its own step (see above).
CORE=(--workspace --exclude promhttp-pingora)

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --exclude promhttp-pingora --all-targets --all-features --locked -- -D warnings"
cargo clippy "${CORE[@]}" --all-targets --all-features --locked -- -D warnings

step "cargo clippy -p promhttp (default features, and none) -- -D warnings"
cargo clippy -p promhttp --locked -- -D warnings
cargo clippy -p promhttp --no-default-features --locked -- -D warnings

step "cargo test --workspace --exclude promhttp-pingora --all-features --locked $*"
cargo test "${CORE[@]}" --all-features --locked "$@"

step "cargo doc --workspace --exclude promhttp-pingora --no-deps (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc "${CORE[@]}" --no-deps --all-features --locked

step "promhttp-pingora: clippy -D warnings, tests (the pingora-proxy example against a real Prometheus), doc"
cargo clippy -p promhttp-pingora --all-targets --locked -- -D warnings
cargo test -p promhttp-pingora --locked "$@"
RUSTDOCFLAGS="-D warnings" cargo doc -p promhttp-pingora --no-deps --locked

step "all passed"
