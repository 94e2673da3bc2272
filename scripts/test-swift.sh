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
ROOT=${MESHTUNE_SWIFT_ROOT:-/var/cache/meshtune/swift-root}
ROOT=${ROOT%/}
SUITE=${MESHTUNE_SWIFT_SUITE:-stable}
SWIFT=/usr/libexec/swift/bin/swift   # inside ROOT
MNT=/meshtune                        # the repository, inside ROOT

die() { echo "error: $*" >&2; exit 1; }
step() { echo "==> $*"; }

[ "$(id -u)" -eq 0 ] || die "run as root: the Swift toolchain is used through chroot and bind mounts"
case "$ROOT" in /*) ;; *) die "MESHTUNE_SWIFT_ROOT must be an absolute path (got '$ROOT')" ;; esac
[ "$ROOT" != / ] || die "MESHTUNE_SWIFT_ROOT must not be /"
for tool in chroot mount umount mountpoint flock findmnt; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (util-linux / coreutils)"
done

# --- cleanup: every mount made by this run is undone on exit, whatever happened -----------
MOUNTED=()   # mount points made by this run, in order
TMP_ROOT=""  # a root being built by this run (removed unless completed)

unmount_all() {
  local i
  for (( i=${#MOUNTED[@]}-1; i>=0; i-- )); do
    umount "${MOUNTED[$i]}" 2>/dev/null || umount -l "${MOUNTED[$i]}" \
      || echo "warning: could not unmount ${MOUNTED[$i]}" >&2
  done
  MOUNTED=()
}

cleanup() {
  local rc=$?
  unmount_all
  if [ -n "$TMP_ROOT" ] && [ -d "$TMP_ROOT" ]; then
    remove_root_dir "$TMP_ROOT" || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Removes a (partial) root, but never across a mount point still inside it.
remove_root_dir() {
  local dir=$1
  if findmnt -rn -o TARGET | grep -q "^$dir\(/\|$\)"; then
    echo "warning: $dir still has mounts inside; not removing it" >&2
    return 1
  fi
  rm -rf --one-file-system "$dir"
}

# --- 1. libmeshtune and the generated bindings ----------------------------------------------
if [ "${SKIP_GENERATE:-0}" = 1 ]; then
  step "SKIP_GENERATE=1: using the bindings in target/bindings/swift"
else
  command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust (https://rustup.rs) and retry"
  step "scripts/generate-bindings.sh"
  "$REPO/scripts/generate-bindings.sh"
fi
for f in "$GEN/MeshTune.swift" "$GEN/MeshTuneFFI.h" "$GEN/MeshTuneFFI.modulemap" "$REPO/target/release/libmeshtune.so"; do
  [ -f "$f" ] || die "$f is missing; run scripts/generate-bindings.sh (or drop SKIP_GENERATE=1)"
done

# --- 2. The Swift root (cached) -------------------------------------------------------------
# Serialises runs that share the root: they mount into it, and one builds it.
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
if ! flock -n 9; then
  step "waiting for another run using $ROOT"
  flock 9
fi

debian_mirror() {
  # The URIs of the deb822 entry for the main distribution (Suites without '-', so not
  # -security or -updates), from this machine's own apt configuration.
  local f=/etc/apt/sources.list.d/debian.sources uri=""
  if [ -f "$f" ]; then
    uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; main = 0; deb = 0
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^[ \t]*#/) continue
          if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); split(line, u, /[ \t]+/); uris = u[1] }
          if (line ~ /^Types:/ && line ~ /[ \t]deb([ \t]|$)/) deb = 1
          if (line ~ /^Suites:/) {
            sub(/^Suites:[ \t]*/, "", line); n = split(line, s, /[ \t]+/)
            for (j = 1; j <= n; j++) if (s[j] != "" && s[j] !~ /-/) main = 1
          }
        }
        if (deb && main && uris != "") { print uris; exit }
      }' "$f")
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $3 !~ /-/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; exit } }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || return 1
  echo "$uri"
}

ensure_mmdebstrap() {
  command -v mmdebstrap >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die "mmdebstrap is not installed and there is no apt-get to install it"
  step "installing mmdebstrap (apt-get)"
  apt-get update -q || die "apt-get update failed; cannot install mmdebstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap \
    || die "apt-get install mmdebstrap failed; the Swift root cannot be built"
}

ensure_root() {
  if [ -d "$ROOT" ]; then
    [ -x "$ROOT$SWIFT" ] \
      || die "$ROOT exists but has no $SWIFT; it was not made by this script. Remove it (or set MESHTUNE_SWIFT_ROOT) and retry"
    step "Swift root: $ROOT (cached)"
    return 0
  fi
  # Partial roots left by an interrupted run (we hold the lock, so no one else is building).
  local stale
  for stale in "$ROOT".tmp.*; do
    [ -d "$stale" ] || continue
    echo "removing the partial root $stale of an interrupted run"
    remove_root_dir "$stale" || die "could not remove $stale (mounts inside?); remove it by hand"
  done
  ensure_mmdebstrap
  local mirror
  mirror=$(debian_mirror) || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources (URIs: of the main suite)"
  step "building the Swift root: mmdebstrap $SUITE from $mirror into $ROOT (about 2.5 GB, 1-2 minutes)"
  TMP_ROOT="$ROOT.tmp.$$"
  mmdebstrap --variant=apt --include=swiftlang,libc6-dev "$SUITE" "$TMP_ROOT" "$mirror" \
    || die "mmdebstrap failed: could not install swiftlang from Debian $SUITE ($mirror)"
  [ -x "$TMP_ROOT$SWIFT" ] || die "mmdebstrap finished but $SWIFT is missing from the root (is swiftlang in Debian $SUITE?)"
  mv "$TMP_ROOT" "$ROOT"
  TMP_ROOT=""
}
ensure_root

# --- 3. Mounts (undone by the EXIT trap) ----------------------------------------------------
mount_into_root() {  # mount_into_root <target inside ROOT> <mount args...>
  local target="$ROOT$1"; shift
  mkdir -p "$target"
  # A run killed with SIGKILL cannot unmount; we hold the lock, so such a mount is stale.
  while mountpoint -q "$target"; do umount "$target" 2>/dev/null || umount -l "$target"; done
  mount "$@" "$target"
  MOUNTED+=("$target")
}
mount_into_root /proc -t proc proc
mount_into_root /dev --bind /dev
mount_into_root "$MNT" --bind "$REPO"

# --- 4. Generated sources into the package (only if changed, so builds stay incremental) ----
copy_if_changed() {
  mkdir -p "$(dirname "$2")"
  cmp -s "$1" "$2" || cp "$1" "$2"
}
copy_if_changed "$GEN/MeshTune.swift" "$PKG/Sources/MeshTune/MeshTune.swift"
copy_if_changed "$GEN/MeshTuneFFI.h" "$PKG/Sources/MeshTuneFFI/MeshTuneFFI.h"
copy_if_changed "$GEN/MeshTuneFFI.modulemap" "$PKG/Sources/MeshTuneFFI/module.modulemap"

# --- 5. Build and run inside the root -------------------------------------------------------
in_root() {  # runs a bash command in the package directory inside ROOT
  chroot "$ROOT" /usr/bin/env -i \
    HOME=/root PATH=/usr/libexec/swift/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb \
    LD_LIBRARY_PATH="$MNT/target/release" \
    MESHTUNE_LIB_DIR="$MNT/target/release" \
    MESHTUNE_BENCH_ROUNDS="${MESHTUNE_BENCH_ROUNDS:-}" \
    /bin/bash -euo pipefail -c "cd '$MNT/bindings/swift' && $1"
}

in_root "$SWIFT --version 2>&1 | head -1"

if [ "$MODE" = bench ]; then
  step "swift build -c release --product MeshTuneBench"
  in_root "$SWIFT build -c release --product MeshTuneBench"
  step "benchmark (release): .build/release/MeshTuneBench"
  in_root "timeout 600 .build/release/MeshTuneBench"
  exit 0
fi

step "swift build --build-tests"
in_root "$SWIFT build --build-tests"

LOG=$(mktemp)
FILTER=""
[ -z "${MESHTUNE_TEST_FILTER:-}" ] || FILTER="--filter $(printf '%q' "$MESHTUNE_TEST_FILTER")"
step "swift test $FILTER"
set +e
in_root "timeout 900 $SWIFT test --skip-build --disable-swift-testing $FILTER" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E 'Executed [0-9]+ tests?, with [0-9]+ failures?' "$LOG" | tail -1 | sed 's/^[[:space:]]*//')
rm -f "$LOG"
[ "$rc" -eq 0 ] || die "swift test failed (exit $rc)${summary:+: $summary}"
[ -n "$summary" ] || die "swift test printed no XCTest summary"
echo "Swift tests: $summary"
