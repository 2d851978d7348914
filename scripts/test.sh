#!/usr/bin/env bash
# Sets up and runs the whole test suite: pure codecs and state machines, routes and handlers
# without sockets, and live tests over real sockets against real brokers the tests start.
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

# Two phases. The pure layers (codecs, state machines, schemas, handlers without sockets) run in
# parallel. The tests with sockets and real brokers run one at a time: they start Mosquitto,
# RabbitMQ nodes and Tansu brokers and measure broker restarts and time-outs, and on two cores
# running them side by side starves them into failing for want of CPU, not for a defect.
live='(MQTT5Tests|AMQP091Tests|KafkaClientTests|IntegrationTests)\.|LiveGatewayTests'
echo "test: running the pure and handler tests (in parallel)"
swift test --skip-build --skip "$live" "$@"
echo "test: running the tests with sockets and real brokers (one at a time)"
swift test --skip-build --no-parallel --filter "$live" "$@"

# The benchmark's short mode (a few seconds per workload, every workload): CI runs it so that the
# bench never rots. It uses the debug build just made, so its figures mean nothing; the figures
# come from `bench/run` with a release build (bench/README.md). It fails only when a tool or a
# server of the bench fails to run. Skipped when arguments select tests.
if [ $# -eq 0 ] && [ "${SLUICE_TEST_BENCH:-1}" != 0 ]; then
  echo "test: the benchmark in short mode (bench/run --short, debug build)"
  SLUICE_BIN="$(swift build --show-bin-path)/sluice" bench/run --short
fi
