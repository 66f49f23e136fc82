#!/usr/bin/env bash
# The monitoring tools, from Debian's packages:
#   prometheus               promtool (`promtool check rules` / `test rules` on the rules `python -m k2infra
#                            alerts` generates) and prometheus (the console pages' tests, `make monitor`)
#   prometheus-alertmanager  the Alertmanager of `make monitor` and of the end-to-end alert test
#   chromium, chromium-driver  a real browser for the dashboards' test (Selenium drives it; Playwright's
#                            own browser download cannot work where only package registries are reached)
# Idempotent: a machine that has every command is left as it is.
#
# The packages would start Prometheus and Alertmanager services (ports 9090, 9093) at install:
# tools/apt-install.sh keeps them from doing so.
set -euo pipefail

say() { echo "[monitoring] $*" >&2; }
die() { say "error: $*"; exit 1; }

PACKAGES=(prometheus prometheus-alertmanager chromium chromium-driver)
COMMANDS=(promtool prometheus prometheus-alertmanager chromium chromedriver)
missing=()
for command in "${COMMANDS[@]}"; do command -v "$command" >/dev/null || missing+=("$command"); done
if [ ${#missing[@]} -eq 0 ]; then
    say "present: $(promtool --version 2>&1 | head -n 1); $(prometheus-alertmanager --version 2>&1 | head -n 1); $(chromium --version 2>/dev/null)"
    exit 0
fi
command -v apt-get >/dev/null || die "missing ${missing[*]} and this is not a Debian/Ubuntu machine (no apt-get): install ${PACKAGES[*]}"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

log="$(mktemp -t k2-monitoring-apt.XXXXXX.log)"
t0=$SECONDS
say "installing Debian's ${PACKAGES[*]} (missing: ${missing[*]}) without starting their services"
bash "$(dirname "$0")/../apt-install.sh" "$log" "${PACKAGES[@]}" || { tail -n 20 "$log" >&2; die "apt-get install ${PACKAGES[*]} failed (log: $log)"; }
for command in "${COMMANDS[@]}"; do
    command -v "$command" >/dev/null || die "${PACKAGES[*]} are installed but $command is not on PATH"
done
# On a machine that runs systemd the units are enabled for the next boot; nothing runs now.
for service in prometheus prometheus-alertmanager; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
        as_root systemctl stop "$service"
        say "stopped the $service service the package started"
    fi
done
rm -f "$log"
say "installed in $((SECONDS - t0))s: $(promtool --version 2>&1 | head -n 1); $(chromium --version 2>/dev/null)"
