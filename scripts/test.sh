#!/usr/bin/env bash
# Sets up and runs the whole test suite: pure codecs and state machines, routes and handlers
# without sockets, and live tests over real sockets (later: real brokers, started here).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"

echo "test: building (warnings are errors for our own code)"
build_log="$(mktemp)"
if ! swift build --build-tests 2>&1 | tee "$build_log" | grep -E "error:|warning:|Build complete" | grep -v "unhandled"; then
  true
fi
if grep -E "^/.*/(Sources|Tests)/.*(error|warning):" "$build_log" >/dev/null; then
  echo "test: the build has errors or warnings in Sources/ or Tests/" >&2
  grep -E "^/.*/(Sources|Tests)/.*(error|warning):" "$build_log" >&2
  exit 1
fi
grep -q "Build complete" "$build_log" || { echo "test: the build failed" >&2; tail -40 "$build_log" >&2; exit 1; }

echo "test: validating the examples"
"$(swift build --show-bin-path)/sluice" validate examples
"$(swift build --show-bin-path)/sluice" validate examples/*.example

echo "test: running the tests"
swift test --skip-build "$@"
