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
pnpm exec jest --coverage --ci
