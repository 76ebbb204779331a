#!/usr/bin/env bash
# Installs the external programs the integration tests talk to, from Debian packages:
#
#   prometheus              /usr/bin/prometheus, /usr/bin/promtool (2.42 in Debian 12)
#   prometheus-pushgateway  /usr/bin/prometheus-pushgateway
#   victoria-metrics        /usr/bin/victoria-metrics
#   curl                    /usr/bin/curl (scripts/demo-with-prometheus.sh)
#   cmake                   /usr/bin/cmake: Pingora (crates/promhttp-pingora) compresses
#                           with zlib-ng, whose build script runs cmake
#
# Idempotent and fast when everything is present: it only runs `apt-get update` and
# `apt-get install` for packages whose binaries are missing. The packages ship
# systemd units / init scripts; this script makes sure none of those services is
# started (policy-rc.d while installing) or left running (stopped afterwards), so
# the tests own every Prometheus process on the machine.
#
# Usage: scripts/install-test-deps.sh        (as root, or with passwordless sudo)
set -euo pipefail

# package -> binaries that must exist for the package to count as installed
declare -A PKG_BINS=(
    [prometheus]="/usr/bin/prometheus /usr/bin/promtool"
    [prometheus-pushgateway]="/usr/bin/prometheus-pushgateway"
    [victoria-metrics]="/usr/bin/victoria-metrics"
    [curl]="/usr/bin/curl"
    [cmake]="/usr/bin/cmake"
)
PKGS=(prometheus prometheus-pushgateway victoria-metrics curl cmake)

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

missing=()
for pkg in "${PKGS[@]}"; do
    for bin in ${PKG_BINS[$pkg]}; do
        if [[ ! -x "$bin" ]]; then
            missing+=("$pkg")
            break
        fi
    done
done

if ((${#missing[@]} > 0)); then
    log "missing: ${missing[*]}"

    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=(sudo -n)
        else
            log "not root and no sudo: install ${missing[*]} manually"
            exit 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not found: this script supports Debian/Ubuntu only; install ${missing[*]} manually"
        exit 1
    fi

    # Keep maintainer scripts from starting the services: invoke-rc.d and
    # deb-systemd-invoke both ask /usr/sbin/policy-rc.d, and exit code 101 means
    # "action forbidden". Only install our own policy file if there is none, and
    # only remove the one we installed.
    POLICY=${PROMHTTP_POLICY_RC_D:-/usr/sbin/policy-rc.d} # override only to test this script
    own_policy=0
    cleanup() {
        if ((own_policy)); then
            "${SUDO[@]}" rm -f "$POLICY" || true
        fi
    }
    trap cleanup EXIT
    if [[ ! -e "$POLICY" ]]; then
        printf '#!/bin/sh\n# temporary, from promhttp scripts/install-test-deps.sh\nexit 101\n' |
            "${SUDO[@]}" tee "$POLICY" >/dev/null
        "${SUDO[@]}" chmod 0755 "$POLICY"
        own_policy=1
    fi

    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"

    cleanup
    own_policy=0
    trap - EXIT

    # Belt and braces: if something started a service anyway (a policy-rc.d that
    # allows starts, a systemd preset), stop it and keep it from starting at boot.
    # Only for the packages this run installed: a service someone set up on
    # purpose is left alone.
    # Each package names its systemd unit and init script after itself.
    for svc in "${missing[@]}"; do
        if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
            if systemctl cat "$svc.service" >/dev/null 2>&1; then
                "${SUDO[@]}" systemctl stop "$svc.service" 2>/dev/null || true
                "${SUDO[@]}" systemctl disable "$svc.service" 2>/dev/null || true
            fi
        elif [[ -x "/etc/init.d/$svc" ]]; then
            # `status` exits 0 only while the daemon runs.
            if "${SUDO[@]}" "/etc/init.d/$svc" status >/dev/null 2>&1; then
                log "stopping service $svc started by the package"
                "${SUDO[@]}" "/etc/init.d/$svc" stop || true
            fi
        fi
    done

    for pkg in "${missing[@]}"; do
        for bin in ${PKG_BINS[$pkg]}; do
            if [[ ! -x "$bin" ]]; then
                log "installed $pkg but $bin is still missing"
                exit 1
            fi
        done
    done
else
    log "all test dependencies present, nothing to install"
fi

# A daemon run by a service account means a packaged service is up: say so loudly
# (tests use their own ports, so it is not fatal, but it should not be there).
for user in prometheus victoria-metrics; do
    if id "$user" >/dev/null 2>&1 && pgrep -u "$user" >/dev/null 2>&1; then
        log "WARNING: processes of service user '$user' are running:"
        pgrep -a -u "$user" >&2 || true
    fi
done

pkg_version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "?"; }
echo "prometheus:             $(/usr/bin/prometheus --version 2>&1 | head -n1)"
echo "promtool:               $(/usr/bin/promtool --version 2>&1 | head -n1)"
echo "prometheus-pushgateway: $(/usr/bin/prometheus-pushgateway --version 2>&1 | head -n1)"
# The Debian build of victoria-metrics prints an empty -version; use the package's.
echo "victoria-metrics:       $(pkg_version victoria-metrics)"
