#!/usr/bin/env bash
# promtool (and the prometheus binary, for the console templates' test) from Debian's `prometheus`
# package: `promtool check rules` and `promtool test rules` run on the rules `python -m k2infra alerts`
# generates. Idempotent: a machine that has promtool is left as it is.
#
# The package would start a Prometheus service on port 9090 at install: tools/apt-install.sh keeps it
# from doing so.
set -euo pipefail

say() { echo "[monitoring] $*" >&2; }
die() { say "error: $*"; exit 1; }

if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
    say "promtool present: $(promtool --version 2>&1 | head -n 1)"
    exit 0
fi
command -v apt-get >/dev/null || die "promtool is missing and this is not a Debian/Ubuntu machine (no apt-get): install Prometheus's promtool"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

log="$(mktemp -t k2-monitoring-apt.XXXXXX.log)"
t0=$SECONDS
say "installing Debian's prometheus package (promtool) without starting its service"
# tools/apt-install.sh keeps the package's service from starting (a policy-rc.d for the install).
bash "$(dirname "$0")/../apt-install.sh" "$log" prometheus || { tail -n 20 "$log" >&2; die "apt-get install prometheus failed (log: $log)"; }
command -v promtool >/dev/null || die "the prometheus package is installed but promtool is not on PATH"
# On a machine that runs systemd the unit is enabled for the next boot; nothing runs now.
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    as_root systemctl stop prometheus
    say "stopped the prometheus service the package started"
fi
rm -f "$log"
say "installed in $((SECONDS - t0))s: $(promtool --version 2>&1 | head -n 1)"
