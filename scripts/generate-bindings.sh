#!/usr/bin/env bash
# Builds libmeshtune (release) and generates the Kotlin and Swift bindings from it in library
# mode, into target/bindings/{kotlin,swift}. Generated code is not committed: it is rebuilt
# from the library on every test run, so it can never be stale.
#
#   scripts/generate-bindings.sh            # build + generate
#   OUT=dir scripts/generate-bindings.sh    # generate elsewhere
#   TEST_HOOKS=1 scripts/generate-bindings.sh   # the test command's build: adds the test-only
#                                                # forced-panic switch (never for an app build:
#                                                # its bindings would need the switch's symbols)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/bindings}
# jni-fastpath: the JNI entry points FastRecorder uses on the JVM (ADR 7); without them it
# falls back to JNA direct. The Swift bindings are generated from the same library and do not
# use them (the XCFramework build leaves the feature out).
FEATURES=bindgen,jni-fastpath
if [ "${TEST_HOOKS:-0}" = 1 ]; then
  FEATURES=bindgen,jni-fastpath,test-hooks
fi

cargo build --release --locked -p meshtune --lib --features "$FEATURES" --bin uniffi-bindgen
LIB=target/release/libmeshtune.so
[ -f "$LIB" ] || { echo "error: $LIB was not built" >&2; exit 1; }

rm -rf "$OUT/kotlin" "$OUT/swift"
mkdir -p "$OUT/kotlin" "$OUT/swift"
./target/release/uniffi-bindgen generate --library "$LIB" --language kotlin --no-format --out-dir "$OUT/kotlin"
./target/release/uniffi-bindgen generate --library "$LIB" --language swift --no-format --out-dir "$OUT/swift"
echo "bindings generated in $OUT (kotlin: package dev.meshtune; swift: module MeshTune, C module MeshTuneFFI)"
find "$OUT" -type f | sort
