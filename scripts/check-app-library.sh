#!/usr/bin/env bash
# Checks that the library apps link (`--profile app`, symbols stripped) answers the bindings
# generated from the release library (scripts/generate-bindings.sh), on the host:
#
#   1. builds the release library with uniffi-bindgen and generates the Swift bindings from it
#      (library mode reads the UniFFI metadata from the library's symbol table, `.symtab`, which
#      the `app` profile strips: uniffi-bindgen 0.32 finds no metadata in a stripped library,
#      which is why the bindings always come from the release build);
#   2. builds the `app` library with the same features;
#   3. compares the exported (dynamic) symbols of the two: the same names, every uniffi scaffolding
#      function and `UNIFFI_META_*` among them;
#   4. loads the `app` library (Python ctypes) and calls its contract-version and checksum
#      functions, which the generated Kotlin and Swift call at load time: each must return what
#      the generated bindings expect (the checksums are computed at compile time from the
#      metadata, so the profile does not change them; this checks it).
#
#   scripts/check-app-library.sh                      # features jni-fastpath (the Android build)
#   FEATURES= scripts/check-app-library.sh            # no features (the XCFramework build)
#
# Not part of scripts/test.sh (a second optimized build of the library, about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
FEATURES=${FEATURES-jni-fastpath}
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

bindgen_features=bindgen${FEATURES:+,$FEATURES}
echo "==> release library and uniffi-bindgen (features $bindgen_features)"
cargo build --release --locked -p meshtune --lib --features "$bindgen_features" --bin uniffi-bindgen
cp "$TARGET/release/libmeshtune.so" "$WORK/release.so"
"$TARGET/release/uniffi-bindgen" generate --library "$WORK/release.so" --language swift --no-format --out-dir "$WORK/swift" >/dev/null

echo "==> app library (features ${FEATURES:-none})"
cargo build --profile app --locked -p meshtune --lib ${FEATURES:+--features "$FEATURES"}
cp "$TARGET/app/libmeshtune.so" "$WORK/app.so"
ls -l "$WORK/release.so" "$WORK/app.so"

echo "==> exported symbols"
nm -D --defined-only "$WORK/release.so" | awk '{print $3}' | sort >"$WORK/release.syms"
nm -D --defined-only "$WORK/app.so" | awk '{print $3}' | sort >"$WORK/app.syms"
if ! diff -u "$WORK/release.syms" "$WORK/app.syms"; then
  echo "error: the app library exports other symbols than the release library" >&2
  exit 1
fi
echo "the same $(wc -l <"$WORK/app.syms") exported symbols ($(grep -c '^uniffi_meshtune_' "$WORK/app.syms") uniffi_meshtune_*, $(grep -c '^UNIFFI_META_' "$WORK/app.syms") UNIFFI_META_*)"
if nm "$WORK/app.so" >/dev/null 2>&1 && [ -n "$(nm "$WORK/app.so" 2>/dev/null)" ]; then
  echo "error: the app library still has a symbol table (is strip off in [profile.app]?)" >&2
  exit 1
fi

echo "==> checksums and contract version, called in the app library"
python3 - "$WORK/app.so" "$WORK/swift/MeshTune.swift" <<'PY'
import ctypes, re, sys
lib = ctypes.CDLL(sys.argv[1])
swift = open(sys.argv[2]).read()
contract = int(re.search(r"let bindings_contract_version = (\d+)", swift).group(1))
f = lib.ffi_meshtune_uniffi_contract_version
f.restype = ctypes.c_uint32
assert f() == contract, (f(), contract)
expected = re.findall(r"if \(?(uniffi_meshtune_checksum_\w+)\(\) != (\d+)\)?", swift)
assert expected, "no checksum checks found in the generated Swift"
bad = []
for name, value in expected:
    g = getattr(lib, name)
    g.restype = ctypes.c_uint16
    if g() != int(value):
        bad.append((name, g(), value))
assert not bad, bad
print(f"contract version {contract}; {len(expected)} checksums as the generated bindings expect")
PY
echo "==> the app library answers the bindings generated from the release library"
