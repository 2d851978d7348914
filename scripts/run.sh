#!/usr/bin/env bash
# Sets up, builds and runs the gateway with the example APIs of examples/ (Mock endpoint, no
# broker needed) on http://127.0.0.1:8082, and the management API on http://127.0.0.1:8083 with its
# APIs in run/sluice.db (SQLite). Extra arguments go to `sluice serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"
echo "run: building sluice (the first build takes a few minutes)"
swift build --product sluice -c "${SLUICE_BUILD:-debug}" 2>&1 | grep -E "error|warning: |Compiling sluice|Build complete" | grep -v "unhandled" || true
bin="$(swift build --product sluice -c "${SLUICE_BUILD:-debug}" --show-bin-path)/sluice"
[ -x "$bin" ] || { echo "run: the build failed" >&2; exit 1; }
mkdir -p run
exec "$bin" serve --config examples --management-database run/sluice.db "$@"
