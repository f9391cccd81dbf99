#!/usr/bin/env bash
# Debian packages the tests use. Idempotent; skips apt when everything is present.
set -euo pipefail
# Always: chromium for the virtual kiosk's browser tests (test/kiosk/browser.test.ts), mosquitto
# for the MQTT broker the gateway and fleet tests start on free ports (test/gateway, test/fleet),
# openssl for their TLS tests' certificates.
set -- "$@" chromium mosquitto openssl
need=()
for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
