#!/usr/bin/env bash
# Cross-compiles libmeshtune.so for Android with cargo-ndk, into android/src/main/jniLibs/<abi>/,
# where the Gradle module (android/build.gradle.kts) packages it into the AAR.
#
#   scripts/build-android.sh              # arm64-v8a, armeabi-v7a, x86_64 (the `app` profile)
#   ABIS="arm64-v8a" scripts/build-android.sh
#   scripts/build-android.sh --help
#
# Needs: the Android NDK (ANDROID_NDK_HOME, or ANDROID_NDK_ROOT, or $ANDROID_HOME/ndk/<version>),
# cargo-ndk (cargo install cargo-ndk) and the Rust targets (rustup target add
# aarch64-linux-android armv7-linux-androideabi x86_64-linux-android). Each missing piece stops
# the run with the command that installs it.
#
# The profile is `app` (Cargo.toml: the release code, symbols stripped from the shipped
# library, line tables packed into target/<triple>/app/libmeshtune.so.dwp beside it, kept for
# symbolicating crash reports; only the .so is copied into jniLibs). cargo-ndk copies the
# library cargo reports as built, so a custom profile's directory is found (older releases, 2.11
# for one, looked for it elsewhere and failed: cargo-ndk issue 73). The bindings are not generated here: the
# generated Kotlin comes from scripts/generate-bindings.sh, from the unstripped release build,
# because uniffi-bindgen reads the metadata from the symbol table that `app` strips; the same
# sources and features give the same checksums in both (scripts/check-app-library.sh checks it).
# Not run on the machine these scripts are tested on (no NDK, no cargo-ndk there).
set -euo pipefail
cd "$(dirname "$0")/.."

ABIS=${ABIS:-"arm64-v8a armeabi-v7a x86_64"}
# minSdk of the Gradle module: the NDK API level the library is linked against.
PLATFORM=${ANDROID_PLATFORM:-23}
# The Cargo profile: app (what apps ship), or release / dev for a comparison.
PROFILE=${CARGO_PROFILE:-app}
OUT=android/src/main/jniLibs

usage() {
  cat <<USAGE
usage: scripts/build-android.sh [--help]

Builds libmeshtune.so (Cargo profile $PROFILE) for the Android ABIs in \$ABIS (default: $ABIS)
with cargo-ndk, linked against Android API $PLATFORM (\$ANDROID_PLATFORM), into
$OUT/<abi>/libmeshtune.so. The split debug info stays in target/<triple>/$PROFILE/.

Environment:
  ANDROID_NDK_HOME / ANDROID_NDK_ROOT   the NDK (or the newest \$ANDROID_HOME/ndk/<version>)
  ABIS                                  ABIs to build (arm64-v8a armeabi-v7a x86_64 x86)
  ANDROID_PLATFORM                      API level to link against (default 23)
  CARGO_PROFILE                         app (default: stripped, line tables apart), release or dev

Needs cargo-ndk (cargo install cargo-ndk) and the rustup targets of the ABIs:
  arm64-v8a -> aarch64-linux-android, armeabi-v7a -> armv7-linux-androideabi,
  x86_64 -> x86_64-linux-android, x86 -> i686-linux-android.
Then build the AAR: cd android && gradle assembleRelease (after scripts/generate-bindings.sh).
USAGE
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac

fail() { echo "error: $*" >&2; exit 1; }

case "$PROFILE" in
  app | release | dev) ;;
  *) fail "CARGO_PROFILE must be app, release or dev (got '$PROFILE')" ;;
esac

command -v cargo >/dev/null 2>&1 || fail "cargo not found; install Rust (https://rustup.rs)"
cargo ndk --version >/dev/null 2>&1 || fail "cargo-ndk not found; install it with: cargo install cargo-ndk"

NDK=${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}
if [ -z "$NDK" ] && [ -n "${ANDROID_HOME:-${ANDROID_SDK_ROOT:-}}" ]; then
  SDK=${ANDROID_HOME:-$ANDROID_SDK_ROOT}
  NDK=$(ls -d "$SDK"/ndk/* 2>/dev/null | sort -V | tail -n 1 || true)
fi
[ -n "$NDK" ] && [ -d "$NDK" ] || fail "the Android NDK was not found; set ANDROID_NDK_HOME to it (Android Studio: SDK Manager > SDK Tools > NDK; CI: the runner's \$ANDROID_NDK_LATEST_HOME)"
export ANDROID_NDK_HOME=$NDK

triple_of() {
  case "$1" in
    arm64-v8a) echo aarch64-linux-android ;;
    armeabi-v7a) echo armv7-linux-androideabi ;;
    x86_64) echo x86_64-linux-android ;;
    x86) echo i686-linux-android ;;
    *) fail "unknown ABI '$1' (arm64-v8a, armeabi-v7a, x86_64, x86)" ;;
  esac
}

ARGS=()
MISSING=()
INSTALLED=$(rustup target list --installed 2>/dev/null || true)
for abi in $ABIS; do
  triple=$(triple_of "$abi")
  grep -qx "$triple" <<<"$INSTALLED" || MISSING+=("$triple")
  ARGS+=(-t "$abi")
done
[ ${#MISSING[@]} = 0 ] || fail "Rust targets missing; install them with: rustup target add ${MISSING[*]}"

# Android 15 devices may use 16 KB memory pages: align the 64-bit libraries for them (NDK r28
# does it by default; older NDKs need the flag).
export CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS="${CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384"
export CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS="${CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384"

echo "==> cargo ndk ${ARGS[*]} --platform $PLATFORM build --profile $PROFILE (NDK: $NDK)"
mkdir -p "$OUT"
# jni-fastpath: FastRecorder's JNI entry points (ADR 7; without them it falls back to JNA direct).
cargo ndk "${ARGS[@]}" --platform "$PLATFORM" -o "$OUT" build --profile "$PROFILE" --locked -p meshtune --lib --features jni-fastpath

for abi in $ABIS; do
  [ -f "$OUT/$abi/libmeshtune.so" ] || fail "$OUT/$abi/libmeshtune.so was not produced"
done
echo "==> built:"
find "$OUT" -name 'libmeshtune.so' -exec ls -l {} \;
