#!/usr/bin/env bash
# Checks the observability examples: Prometheus config, alert rules, alert unit tests, dashboard queries.
# Run by scripts/test.sh (CI). Needs promtool (apt package `prometheus`) and node.
set -euo pipefail
cd "$(dirname "$0")"
promtool check config prometheus.yml
promtool check rules alerts.yml
promtool test rules alerts.test.yml
node check-extra.mjs
