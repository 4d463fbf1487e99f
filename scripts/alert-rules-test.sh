#!/usr/bin/env bash
# The Prometheus alert rules: `promtool check rules`, `promtool test rules` (series that fire and series that must
# not), and every metric the rules use is one the daemon exports (DaemonMetrics.swift). Needs promtool (Debian:
# prometheus).
#   scripts/alert-rules-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rules=contrib/prometheus/redis-healthd.rules.yml
command -v promtool >/dev/null || { echo "FAIL alert rules: promtool not found (apt-get install prometheus)"; exit 1; }
promtool check rules "$rules"
(cd contrib/prometheus && promtool test rules redis-healthd.rules.test.yml)
missing=()
for metric in $(grep -oE 'redis_healthd_[a-z0-9_]+' "$rules" | sed -E 's/_(bucket|count|sum)$//' | sort -u); do
    grep -q "\"$metric\"" Sources/HealthDaemon/Metrics/DaemonMetrics.swift || missing+=("$metric")
done
[ ${#missing[@]} -eq 0 ] || { echo "FAIL alert rules: metrics the daemon does not export: ${missing[*]}"; exit 1; }
echo "alert rules passed (check, test; every metric exported)"
