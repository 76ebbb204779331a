#!/usr/bin/env bash
# The project's test command (what CI runs, what the README shows):
#
#   scripts/test.sh
#
# formatting, lints (warnings are errors), then every test of the workspace: unit,
# integration, examples and doc tests. Extra arguments go to `cargo test`, e.g.
# `scripts/test.sh -- --nocapture`.
#
# Tests that need an external program (Prometheus 2.42, promtool, the Pushgateway,
# VictoriaMetrics, curl) are marked `#[ignore = "needs <program>, ...: ..."]`, so a
# plain `cargo test` lists them as ignored. This script reads the programs from those
# attributes and runs the ignored tests (`-- --ignored`, after the rest) when every
# program is installed, or under CI=true, where a missing one fails its tests;
# otherwise it says loudly which programs are missing (install them with
# scripts/install-test-deps.sh) and the tests stay ignored.
#
# crates/promhttp-pingora builds Pingora, the heaviest dependency tree (and needs
# cmake): it is its own last step, after the rest has passed, so a failure in the
# core crates shows up without waiting for it.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
step() { printf '\n==> [%ds] %s\n' "$((SECONDS - started))" "$*" >&2; }
# The Pingora crate is checked in its own step (see above). crates/promhttp-bench
# (recording benchmarks beside the peer libraries) only needs to compile and pass
# clippy: it is linted in its own step, its benches are never run here.
CORE=(--workspace --exclude promhttp-pingora --exclude promhttp-bench)

in_ci() {
    local ci=${CI:-}
    [[ $ci == 1 || ${ci,,} == true ]]
}
installed() { command -v "$1" >/dev/null 2>&1 || [[ -x /usr/bin/$1 ]]; }

# The extra arguments, split at the first `--`: cargo's, then the test binaries'.
CARGO_ARGS=() TEST_ARGS=() after_dashes=0
for arg in "$@"; do
    if ((after_dashes)); then
        TEST_ARGS+=("$arg")
    elif [[ $arg == -- ]]; then
        after_dashes=1
    else
        CARGO_ARGS+=("$arg")
    fi
done
# No second run when the first has the ignored tests already, or ran doc tests only.
second_run=1
for arg in ${TEST_ARGS[@]+"${TEST_ARGS[@]}"}; do
    [[ $arg == --ignored || $arg == --include-ignored ]] && second_run=0
done
for arg in ${CARGO_ARGS[@]+"${CARGO_ARGS[@]}"}; do
    [[ $arg == --doc ]] && second_run=0
done

# ignored_tests "DIR..." CARGO_TEST_ARGS...: runs the tests under the directories
# DIR... marked `#[ignore = "needs <program>, ...: ..."]` (cargo test with the extra
# arguments, plus `--ignored`) when their programs are installed or under CI;
# otherwise prints one loud line naming the missing programs.
ignored_tests() {
    local dirs=$1 program
    shift
    local needed=() missing=()
    # shellcheck disable=SC2086 # DIR... is a list
    mapfile -t needed < <(grep -rhoE --include='*.rs' '^[[:space:]]*#\[ignore = "needs [^:"]+' $dirs \
        | sed -E 's/.*"needs //' | tr ',' '\n' | tr -d ' ' | sort -u)
    ((${#needed[@]} > 0 && second_run)) || return 0
    for program in "${needed[@]}"; do
        installed "$program" || missing+=("$program")
    done
    if ((${#missing[@]} > 0)) && ! in_ci; then
        printf '\n!!! SKIPPED: the tests in %s that need %s are left ignored: not installed (run scripts/install-test-deps.sh; CI=true fails them instead)\n\n' \
            "$dirs" "${missing[*]}" >&2
        return 0
    fi
    step "cargo test $* --tests -- --ignored: the tests that need ${needed[*]}"
    cargo test "$@" --tests ${CARGO_ARGS[@]+"${CARGO_ARGS[@]}"} \
        -- --ignored ${TEST_ARGS[@]+"${TEST_ARGS[@]}"}
}

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy ${CORE[*]} --all-targets --all-features --locked -- -D warnings"
cargo clippy "${CORE[@]}" --all-targets --all-features --locked -- -D warnings

step "cargo clippy -p promhttp-bench --all-targets -- -D warnings (the benches compile, never run)"
cargo clippy -p promhttp-bench --all-targets --locked -- -D warnings

step "cargo clippy -p promhttp (default features, and none) -- -D warnings"
cargo clippy -p promhttp --locked -- -D warnings
cargo clippy -p promhttp --no-default-features --locked -- -D warnings

step "cargo clippy -p promhttp-demo --no-default-features (bench-server as the benchmarks build it)"
cargo clippy -p promhttp-demo --no-default-features --all-targets --locked -- -D warnings

step "cargo test ${CORE[*]} --all-features --locked $*"
cargo test "${CORE[@]}" --all-features --locked "$@"
ignored_tests "crates/promhttp crates/promhttp-demo crates/promhttp-test-support" \
    "${CORE[@]}" --all-features --locked

step "cargo doc ${CORE[*]} --no-deps (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc "${CORE[@]}" --no-deps --all-features --locked

step "promhttp-pingora: clippy -D warnings, tests (the pingora-proxy example against a real Prometheus), doc"
cargo clippy -p promhttp-pingora --all-targets --locked -- -D warnings
cargo test -p promhttp-pingora --locked "$@"
ignored_tests crates/promhttp-pingora -p promhttp-pingora --locked
RUSTDOCFLAGS="-D warnings" cargo doc -p promhttp-pingora --no-deps --locked

step "all passed"
