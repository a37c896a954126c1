#!/usr/bin/env bash
# The whole test suite: formatting, lints, the offline tests (unit and integration, against a mock
# backend), then the end-to-end suite against a real llama.cpp server with real GGUF models.
# One build profile (release) serves all of it. Set SKIP_E2E=1 for the offline part only.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy (release, all targets)"
cargo clippy --release --all-targets -- -D warnings

if [ "${SKIP_E2E:-0}" != "1" ]; then
  # tsc, which tests/checks.rs runs as a project's own checker, comes with the end-to-end suite's
  # npm clients; installed first, so that test runs rather than says it has nothing to test.
  step "npm clients (tests/e2e/npm.sh)"
  # shellcheck source=tests/e2e/npm.sh
  . tests/e2e/npm.sh
  npm_setup
  export LEX_REQUIRE_TSC=1
fi

step "cargo test (release, offline)"
cargo test --release

if [ "${SKIP_E2E:-0}" = "1" ]; then
  echo "SKIP_E2E=1: end-to-end suite skipped"
  exit 0
fi

step "end-to-end suite against a real local model"
tests/e2e/run.sh
