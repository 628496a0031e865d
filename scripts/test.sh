#!/usr/bin/env bash
# The test command, used as-is by the README and by CI (.ci/run): installs missing system
# packages (scripts/install-deps.sh) and runs the whole test suite, unit tests and the real-peer
# tests against SIPp/baresip, in release mode: those tests relay RTP and place load, and an
# optimized build keeps them far from their liveness limits on small (2-core) machines.
#
# Usage: scripts/test.sh [cargo test arguments...]
#   e.g. scripts/test.sh --lib config        scripts/test.sh --test sip_tests -- --nocapture
# Set MERITLINE_SKIP_DEPS=1 to skip the package check.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -d "$HOME/.cargo/bin" ]; then
  PATH="$HOME/.cargo/bin:$PATH"
fi
if [ "${MERITLINE_SKIP_DEPS:-0}" != 1 ]; then
  scripts/install-deps.sh
fi

exec cargo test --release "$@"
