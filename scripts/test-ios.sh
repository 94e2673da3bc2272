#!/usr/bin/env bash
# The iOS glue on Linux: builds libmeshtune, generates the Swift bindings, and builds the
# ios/ Swift package (the generated Swift + the glue of ios/Sources/MeshTune) against the host
# libmeshtune.so, then runs its XCTest suite (ios/Tests) with Swift 6 in the same cached
# Debian-stable chroot as scripts/test-swift.sh.
#
#   scripts/test-ios.sh            # generate bindings, swift build, swift test
#
# What runs here: everything in ios/Sources/MeshTune that is not Apple-only (the action
# mappings, duty cycling, the AsyncStream wrapper, acknowledgements, the collectors' mappings,
# the session facade against the real core). The Apple-only files (ios/Sources/MeshTune/Apple,
# behind `#if canImport(UIKit)` / `#if canImport(CoreBluetooth)`) compile only with an Apple
# SDK: scripts/build-xcframework.sh and Xcode on a Mac.
#
# Environment:
#   SKIP_GENERATE=1        use the bindings already in target/bindings/swift
#   MESHTUNE_SWIFT_ROOT    the cached Swift root (default /var/cache/meshtune/swift-root)
#   MESHTUNE_SWIFT_SUITE   Debian suite that provides swiftlang (default stable)
#   MESHTUNE_TEST_FILTER   passed to `swift test --filter`
#
# Needs root (chroot, mount). Never runs at the same time as scripts/test-swift.sh: both hold
# the root's lock (scripts/lib/swift-chroot.sh) while their mounts exist.
set -euo pipefail

case "${1:-}" in
  "") ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "error: unknown argument '$1' (run it without arguments; --help explains)" >&2; exit 2 ;;
esac

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PKG="$REPO/ios"
GEN="$REPO/target/bindings/swift"
# shellcheck source=lib/swift-chroot.sh
. "$REPO/scripts/lib/swift-chroot.sh"
swift_chroot_setup

# --- 1. Apple-only code stays behind its guards ----------------------------------------------
# Files importing UIKit or CoreBluetooth live in Sources/MeshTune/Apple and start with the
# matching `#if canImport(...)`, so the rest of the target (and these tests) builds without them.
step "checking that Apple-only code is behind #if canImport(UIKit/CoreBluetooth)"
while IFS= read -r -d '' f; do
  rel=${f#"$REPO/"}
  first=$(awk '!/^[[:space:]]*(\/\/.*)?$/ { print; exit }' "$f")
  case "$f" in
    "$PKG/Sources/MeshTune/Apple/"*)
      case "$first" in
        "#if canImport(UIKit)"|"#if canImport(CoreBluetooth)") ;;
        *) die "$rel must start with '#if canImport(UIKit)' or '#if canImport(CoreBluetooth)' (found: $first)" ;;
      esac ;;
    "$PKG/Sources/MeshTune/Generated/"*) ;;
    *)
      if grep -n -E '^[[:space:]]*import[[:space:]]+(UIKit|CoreBluetooth|os)[[:space:]]*$' "$f" >/dev/null; then
        die "$rel imports an Apple-only module; move that code to ios/Sources/MeshTune/Apple/ behind #if canImport"
      fi ;;
  esac
done < <(find "$PKG/Sources" -name '*.swift' -print0)

# --- 2. libmeshtune and the generated bindings ------------------------------------------------
swift_generated_bindings

# --- 3. The Swift root (cached), used by one run at a time ----------------------------------
swift_chroot_lock
ensure_root
swift_chroot_mount

# --- 4. Generated sources into the package (git-ignored; copied only if changed) -------------
# The same place scripts/build-xcframework.sh puts the Swift for Apple builds; the C module is
# a system library target on Linux (LinuxFFI/), the XCFramework on Apple platforms.
copy_if_changed "$GEN/MeshTune.swift" "$PKG/Sources/MeshTune/Generated/MeshTune.swift"
copy_if_changed "$GEN/MeshTuneFFI.h" "$PKG/LinuxFFI/MeshTuneFFI/MeshTuneFFI.h"
copy_if_changed "$GEN/MeshTuneFFI.modulemap" "$PKG/LinuxFFI/MeshTuneFFI/module.modulemap"

# --- 5. Build and run inside the root ---------------------------------------------------------
DIR="$MNT/ios"
in_root "$DIR" "$SWIFT --version 2>&1 | head -1"
step "swift build --build-tests (ios/)"
in_root "$DIR" "$SWIFT build --build-tests"
run_swift_tests "$DIR" "iOS glue tests"
