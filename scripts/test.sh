#!/usr/bin/env bash
# Runs every test of the project (unit, SDK mocks, wiremock, end-to-end).
# The end-to-end tests need moto (an AWS emulator from PyPI) and kubectl:
# moto goes into .venv here on the first run; kubectl must be on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.1.22"
if [ ! -x .venv/bin/moto_server ]; then
  echo "==> creating .venv with moto[server]==$MOTO_VERSION"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "kubectl is needed on PATH: the end-to-end tests reach the plugin through it" >&2
  exit 1
fi
exec cargo test --locked "$@"
