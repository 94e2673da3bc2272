#!/usr/bin/env bash
# The one test command (README: "Run all tests"). CI calls it through .ci/run.
# Runs the Rust unit, property, integration and doc tests of the core.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install Rust (https://rustup.rs) and retry" >&2
  exit 1
fi

echo "==> cargo test (unit, property, integration, doc tests)"
cargo test --all-targets --locked
cargo test --doc --locked

echo "==> benchmarks compile (run them with: cargo bench --bench core)"
cargo bench --bench core --locked --no-run
