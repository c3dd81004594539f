#!/usr/bin/env bash
# The README's test command: install, build, type-check (tests included), lint, promtool, jest with coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
pnpm install --frozen-lockfile
pnpm exec tsc -b
pnpm exec tsc -p tsconfig.test.json
pnpm exec eslint --max-warnings 0 .
if [ -d examples/observability ] && [ -x examples/observability/check.sh ]; then
  examples/observability/check.sh
fi
# jest's own summary is printed as usual; the plain "N passed, N failed" line after it is for CI readers.
status=0
mkdir -p coverage
pnpm exec jest --coverage --ci --json --outputFile=coverage/jest-results.json || status=$?
if [ -f coverage/jest-results.json ]; then
  node -e 'const r = require("./coverage/jest-results.json"); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""))'
fi
exit "$status"
