#!/usr/bin/env bash
# Sets up what Sluice needs on a fresh Debian machine with Swift 6.3 at /opt/swift:
# Debian packages for the tests and the tour (the brokers the integration tests start themselves:
# Mosquitto, RabbitMQ; keytool from the JRE makes JKS stores for the tests), and a Python virtual environment (.venv) with the independent clients the
# tests and the README use. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="/opt/swift/usr/bin:$PATH"
command -v swift >/dev/null || { echo "setup: swift is not on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }

packages=(openssl curl ca-certificates python3-venv mosquitto mosquitto-clients rabbitmq-server openjdk-17-jre-headless)
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
if ! .venv/bin/python -c "import websockets, pika" 2>/dev/null; then
  .venv/bin/pip install -q --disable-pip-version-check "websockets>=12" "pika>=1.3"
fi
