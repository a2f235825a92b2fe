#!/usr/bin/env bash
# The test command: installs what is missing, fetches SmolLM2, builds in release mode (numeric tests
# need optimized kernels) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/fetch_model.sh
swift build -c release --build-tests
swift test -c release --skip-build "$@"
