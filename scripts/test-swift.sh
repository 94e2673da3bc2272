#!/usr/bin/env bash
# The Swift-on-Linux harness: builds libmeshtune, generates the Swift bindings, and runs the
# XCTest suite of bindings/swift against them with Swift 6 in a Debian "stable" chroot.
#
#   scripts/test-swift.sh            # generate bindings, swift build, swift test
#   scripts/test-swift.sh --bench    # generate bindings, release build, FFI benchmark
#
# Environment:
#   SKIP_GENERATE=1        use the bindings already in target/bindings/swift
#   MESHTUNE_SWIFT_ROOT    the cached Swift root (default /var/cache/meshtune/swift-root)
#   MESHTUNE_SWIFT_SUITE   Debian suite that provides swiftlang (default stable)
#   MESHTUNE_TEST_FILTER   passed to `swift test --filter`
#   MESHTUNE_BENCH_ROUNDS  timed rounds of each benchmark (default 15)
#
# Debian bookworm has no Swift; Debian stable (trixie) ships swiftlang (Swift 6.0 with
# Foundation and XCTest). The first run builds that root with mmdebstrap from the machine's own
# Debian mirror (about 2.5 GB, 1-2 minutes) and caches it outside the repository; later runs
# reuse it. The root is used through chroot, with /proc, /dev and the repository bind-mounted
# for the run and unmounted afterwards, also on failure. Needs root (chroot, mount).
# The chroot handling is scripts/lib/swift-chroot.sh, shared with scripts/test-ios.sh; the two
# never use the root at the same time (flock on the root's lock file).
set -euo pipefail

MODE=test
case "${1:-}" in
  "") ;;
  --bench) MODE=bench ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "error: unknown argument '$1' (use --bench, or nothing to run the tests)" >&2; exit 2 ;;
esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PKG="$REPO/bindings/swift"
GEN="$REPO/target/bindings/swift"
# shellcheck source=lib/swift-chroot.sh
. "$REPO/scripts/lib/swift-chroot.sh"
swift_chroot_setup

# --- 1. libmeshtune and the generated bindings ----------------------------------------------
swift_generated_bindings

# --- 2. The Swift root (cached), used by one run at a time ----------------------------------
swift_chroot_lock
ensure_root

# --- 3. Mounts (undone by the EXIT trap) ----------------------------------------------------
swift_chroot_mount

# --- 4. Generated sources into the package (only if changed, so builds stay incremental) ----
copy_if_changed "$GEN/MeshTune.swift" "$PKG/Sources/MeshTune/MeshTune.swift"
copy_if_changed "$GEN/MeshTuneFFI.h" "$PKG/Sources/MeshTuneFFI/MeshTuneFFI.h"
copy_if_changed "$GEN/MeshTuneFFI.modulemap" "$PKG/Sources/MeshTuneFFI/module.modulemap"

# --- 5. Build and run inside the root -------------------------------------------------------
DIR="$MNT/bindings/swift"
in_root "$DIR" "$SWIFT --version 2>&1 | head -1"

if [ "$MODE" = bench ]; then
  step "swift build -c release --product MeshTuneBench"
  in_root "$DIR" "$SWIFT build -c release --product MeshTuneBench"
  step "benchmark (release): .build/release/MeshTuneBench"
  in_root "$DIR" "timeout 600 .build/release/MeshTuneBench"
  exit 0
fi

step "swift build --build-tests"
in_root "$DIR" "$SWIFT build --build-tests"

run_swift_tests "$DIR" "Swift tests"
