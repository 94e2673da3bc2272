#!/usr/bin/env bash
# Builds ios/MeshTuneFFI.xcframework (libmeshtune.a + C header + module map) for iOS devices
# and the iOS simulator, and copies the generated Swift into ios/Sources/MeshTune/Generated/,
# so that ios/Package.swift resolves and builds in Xcode. macOS with Xcode only.
#
#   scripts/build-xcframework.sh           # `app` build of the three targets, then the XCFramework
#   scripts/build-xcframework.sh --help
#
# Steps:
#   1. cargo build --profile app --lib for aarch64-apple-ios (devices), aarch64-apple-ios-sim
#      and x86_64-apple-ios (simulators on Apple silicon and Intel Macs). iOS apps cannot load a
#      dynamic library from a package, so the static library (libmeshtune.a) is used. `app` is
#      the profile apps ship (Cargo.toml): the release code with line tables only; `strip` acts
#      on linked outputs, not on a static library, whose symbols the app's own link and strip
#      settle.
#   2. lipo joins the two simulator slices into one fat library (an XCFramework holds one
#      library per platform variant, and both simulators are the same variant).
#   3. The Swift bindings are generated with uniffi-bindgen in library mode from the host
#      release build (the API is the same on every target, and uniffi-bindgen reads the
#      metadata from the symbol table, which `app` strips from linked libraries; the same
#      sources and features give the same checksums), and the generated Swift is copied into
#      the MeshTune target.
#   4. xcodebuild -create-xcframework with the header and module map in Headers/MeshTuneFFI/
#      (a subdirectory, so that the module map cannot collide with another XCFramework's).
#   5. The system frameworks the static library needs (rustc --print native-static-libs) are
#      checked against the linker settings of ios/Package.swift.
#
# Environment:
#   IPHONEOS_DEPLOYMENT_TARGET   minimum iOS of the Rust build (default 15.0, as Package.swift)
#   CARGO_PROFILE                app (default), release or dev
#
# Not run on the machine these scripts are tested on (Linux: no Xcode, no iOS SDK).
#
# Output (git-ignored): ios/MeshTuneFFI.xcframework, ios/Sources/MeshTune/Generated/MeshTune.swift,
# and the intermediate files under target/xcframework/.
set -euo pipefail

case "${1:-}" in
  "") ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "error: unknown argument '$1' (run it without arguments; --help explains)" >&2; exit 2 ;;
esac

die() { echo "error: $*" >&2; exit 1; }
step() { echo "==> $*"; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
DEVICE=aarch64-apple-ios
SIMULATORS=(aarch64-apple-ios-sim x86_64-apple-ios)
TARGETS=("$DEVICE" "${SIMULATORS[@]}")
PROFILE=${CARGO_PROFILE:-app}
case "$PROFILE" in
  app) PROFILE_DIR=app; PROFILE_FLAG=(--profile app) ;;
  release) PROFILE_DIR=release; PROFILE_FLAG=(--release) ;;
  dev) PROFILE_DIR=debug; PROFILE_FLAG=() ;;
  *) die "CARGO_PROFILE must be app, release or dev (got '$PROFILE')" ;;
esac
export IPHONEOS_DEPLOYMENT_TARGET=${IPHONEOS_DEPLOYMENT_TARGET:-15.0}
WORK="$REPO/target/xcframework"
OUT="$REPO/ios/MeshTuneFFI.xcframework"
GENERATED_SWIFT="$REPO/ios/Sources/MeshTune/Generated/MeshTune.swift"

# --- 0. Where we are ----------------------------------------------------------------------------
[ "$(uname -s)" = Darwin ] \
  || die "an XCFramework needs macOS with Xcode (xcodebuild, lipo and the iOS SDKs); this is $(uname -s). On Linux, scripts/test-ios.sh builds and tests the platform-independent glue."
for tool in xcodebuild lipo xcrun cargo rustc; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (install Xcode and its command line tools, and Rust from https://rustup.rs)"
done
xcrun --sdk iphoneos --show-sdk-path >/dev/null 2>&1 || die "the iOS SDK is missing: install Xcode (not only the command line tools) and run xcode-select -s"
xcrun --sdk iphonesimulator --show-sdk-path >/dev/null 2>&1 || die "the iOS simulator SDK is missing from Xcode"
if command -v rustup >/dev/null 2>&1; then
  installed=$(rustup target list --installed)
  missing=()
  for t in "${TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed" || missing+=("$t")
  done
  [ ${#missing[@]} -eq 0 ] || die "Rust targets missing: ${missing[*]}. Install them with: rustup target add ${missing[*]}"
else
  for t in "${TARGETS[@]}"; do
    [ -d "$(rustc --print sysroot)/lib/rustlib/$t" ] || die "the Rust standard library for $t is missing (no rustup here: install it for your toolchain)"
  done
fi

# --- 1. The static library for each target ------------------------------------------------------
for t in "${TARGETS[@]}"; do
  step "cargo build ${PROFILE_FLAG[*]} --lib --target $t"
  cargo build --locked "${PROFILE_FLAG[@]}" --lib --target "$t"
  [ -f "target/$t/$PROFILE_DIR/libmeshtune.a" ] || die "target/$t/$PROFILE_DIR/libmeshtune.a was not built"
done

# --- 2. One simulator library -------------------------------------------------------------------
rm -rf "$WORK"
mkdir -p "$WORK/ios" "$WORK/ios-simulator" "$WORK/headers/MeshTuneFFI"
cp "target/$DEVICE/$PROFILE_DIR/libmeshtune.a" "$WORK/ios/libmeshtune.a"
sim_libs=()
for t in "${SIMULATORS[@]}"; do sim_libs+=("target/$t/$PROFILE_DIR/libmeshtune.a"); done
step "lipo -create ${SIMULATORS[*]} -> one simulator library"
lipo -create "${sim_libs[@]}" -output "$WORK/ios-simulator/libmeshtune.a"
lipo -info "$WORK/ios-simulator/libmeshtune.a"

# --- 3. Bindings: header, module map and Swift ---------------------------------------------------
# Generated in library mode from the host build (the API is the same on every target), as
# scripts/generate-bindings.sh does on Linux; here the host library is a .dylib.
step "uniffi-bindgen: Swift bindings from the host libmeshtune.dylib"
cargo build --locked --release --lib --features bindgen --bin uniffi-bindgen
HOST_LIB="$REPO/target/release/libmeshtune.dylib"
[ -f "$HOST_LIB" ] || die "$HOST_LIB was not built"
BINDINGS="$WORK/bindings"
rm -rf "$BINDINGS"
mkdir -p "$BINDINGS"
"$REPO/target/release/uniffi-bindgen" generate --library "$HOST_LIB" --language swift --no-format --out-dir "$BINDINGS"
for f in MeshTune.swift MeshTuneFFI.h MeshTuneFFI.modulemap; do
  [ -f "$BINDINGS/$f" ] || die "$BINDINGS/$f was not generated"
done
cp "$BINDINGS/MeshTuneFFI.h" "$WORK/headers/MeshTuneFFI/MeshTuneFFI.h"
cp "$BINDINGS/MeshTuneFFI.modulemap" "$WORK/headers/MeshTuneFFI/module.modulemap"
mkdir -p "$(dirname "$GENERATED_SWIFT")"
cp "$BINDINGS/MeshTune.swift" "$GENERATED_SWIFT"

# --- 4. The XCFramework ---------------------------------------------------------------------------
step "xcodebuild -create-xcframework -> ${OUT#"$REPO/"}"
rm -rf "$OUT"
xcodebuild -create-xcframework \
  -library "$WORK/ios/libmeshtune.a" -headers "$WORK/headers" \
  -library "$WORK/ios-simulator/libmeshtune.a" -headers "$WORK/headers" \
  -output "$OUT"

# --- 5. System libraries the static library needs -------------------------------------------------
step "checking the static library's system frameworks against ios/Package.swift"
native=$(cargo rustc --locked "${PROFILE_FLAG[@]}" --lib --crate-type staticlib --target "$DEVICE" -- --print native-static-libs 2>&1 \
  | sed -n 's/.*native-static-libs: //p' | tail -1)
echo "native-static-libs: $native"
missing=()
read -r -a words <<<"$native"
for (( i=0; i<${#words[@]}; i++ )); do
  if [ "${words[$i]}" = -framework ] && [ $((i + 1)) -lt ${#words[@]} ]; then
    fw=${words[$((i + 1))]}
    grep -q "linkedFramework(\"$fw\")" "$REPO/ios/Package.swift" || missing+=("$fw")
  fi
done
[ ${#missing[@]} -eq 0 ] \
  || die "ios/Package.swift does not link these frameworks that libmeshtune.a needs: ${missing[*]} (add .linkedFramework(\"NAME\") to meshTuneLinkerSettings)"

echo "built ${OUT#"$REPO/"} and ${GENERATED_SWIFT#"$REPO/"}; open ios/Package.swift in Xcode or add ios/ as a local package"
