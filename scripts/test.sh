#!/usr/bin/env bash
# The one test command (README: "The two commands"). CI calls it through .ci/run.
#
#   1. Rust: unit, property, integration and doc tests of the core and of the simulator
#      (sim/); the benchmarks compile; clippy passes with warnings as errors; rustfmt agrees;
#      the docs' links resolve and their code blocks are compiled or marked fragments.
#   2. Bindings: builds libmeshtune (release) and generates the Kotlin and Swift bindings.
#   3. Kotlin on the JVM (Maven, JUnit 5, JNA) against the generated Kotlin; ktlint on the
#      hand-written Kotlin (scripts/lint-kotlin.sh, .editorconfig).
#   4. Android glue (android/) compiled against the real framework classes, Robolectric tests.
#   5. Swift on Linux (SwiftPM, XCTest, in a cached Debian-stable chroot) against the generated Swift;
#      swift format on the hand-written Swift (scripts/lint-swift.sh, .swift-format).
#   6. The iOS package's glue (ios/) on Linux, same chroot.
#
# Each step installs what it is missing on a fresh machine (as root) or stops with a clear
# error; nothing is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install Rust (https://rustup.rs) and retry" >&2
  exit 1
fi

echo "==> [1/6] cargo test (core and simulator: unit, property, integration, doc tests)"
cargo test --all-targets --locked
cargo test --doc --locked
cargo bench --bench core --locked --no-run
# Lints are part of the test: no unwrap/expect/panic in library code (see src/lib.rs).
if ! cargo clippy --version >/dev/null 2>&1; then
  echo "==> installing clippy (rustup component add clippy)"
  rustup component add clippy || { echo "error: clippy is not available (rustup component add clippy)" >&2; exit 1; }
fi
cargo clippy --all-targets --locked -- -D warnings
# Formatting is part of the test too (rustfmt.toml: width 120).
if ! cargo fmt --version >/dev/null 2>&1; then
  echo "==> installing rustfmt (rustup component add rustfmt)"
  rustup component add rustfmt || { echo "error: rustfmt is not available (rustup component add rustfmt)" >&2; exit 1; }
fi
cargo fmt --all --check
# The docs (scripts/check-docs.sh: bash and awk, well under a second).
bash scripts/check-docs.sh

echo "==> [2/6] generate the Kotlin and Swift bindings from libmeshtune.so"
# With the test-only forced-panic switch (src/test_hooks.rs): the suites check that no panic
# reaches the app.
TEST_HOOKS=1 bash scripts/generate-bindings.sh

echo "==> [3/6] Kotlin bindings on the JVM (and ktlint on the hand-written Kotlin)"
bash scripts/lint-kotlin.sh
SKIP_GENERATE=1 bash scripts/test-kotlin.sh

echo "==> [4/6] Android glue (Robolectric, real framework classes)"
SKIP_GENERATE=1 bash scripts/test-android.sh

echo "==> [5/6] Swift bindings on Linux (and swift format on the hand-written Swift)"
bash scripts/lint-swift.sh
SKIP_GENERATE=1 bash scripts/test-swift.sh

echo "==> [6/6] iOS glue on Linux"
SKIP_GENERATE=1 bash scripts/test-ios.sh

echo "==> all tests passed"
