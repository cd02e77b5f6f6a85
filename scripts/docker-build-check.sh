#!/bin/sh
# Reproduces the Dockerfile's build stage without a Docker engine and checks
# that the binary comes out and runs: see scripts/dockercheck/main.go.
# Uses the host's Go build and module caches; needs only the module proxy.
set -eu
cd "$(dirname "$0")/.."
exec "${GO:-go}" run ./scripts/dockercheck "$@"
