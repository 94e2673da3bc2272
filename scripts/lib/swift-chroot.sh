# shellcheck shell=bash
# The Swift 6 toolchain in a cached Debian-stable chroot, shared by scripts/test-swift.sh (the
# generated bindings) and scripts/test-ios.sh (the iOS glue). Source it after setting REPO (the
# repository root), then:
#
#   swift_chroot_setup    # checks (root, tools, MESHTUNE_SWIFT_ROOT) and the cleanup traps
#   swift_chroot_lock     # waits for any other run using the same root (flock on ROOT.lock)
#   ensure_root           # builds the root once (mmdebstrap), or reuses the cached one
#   swift_chroot_mount    # /proc, /dev and the repository (at $MNT) into the root
#   in_root DIR 'cmd'     # runs cmd with bash in DIR (a path inside the root, e.g. $MNT/ios)
#
# Every mount made by this run is undone on exit, also on failure. Both scripts mount into the
# same root, so they hold the lock from before the root is touched until they exit: one never
# runs while the other has its mounts in place, and a stale mount found under the lock can only
# be one left by a killed run.
#
# Environment:
#   MESHTUNE_SWIFT_ROOT    the cached Swift root (default /var/cache/meshtune/swift-root)
#   MESHTUNE_SWIFT_SUITE   Debian suite that provides swiftlang (default stable)

ROOT=${MESHTUNE_SWIFT_ROOT:-/var/cache/meshtune/swift-root}
ROOT=${ROOT%/}
SUITE=${MESHTUNE_SWIFT_SUITE:-stable}
SWIFT=/usr/libexec/swift/bin/swift   # inside ROOT
MNT=/meshtune                        # the repository, inside ROOT

die() { echo "error: $*" >&2; exit 1; }
step() { echo "==> $*"; }

SWIFT_CHROOT_LOCKED=""  # set by swift_chroot_lock
MOUNTED=()   # mount points made by this run, in order
TMP_ROOT=""  # a root being built by this run (removed unless completed)

swift_chroot_setup() {
  [ -n "${REPO:-}" ] || die "swift-chroot.sh: REPO is not set"
  [ "$(id -u)" -eq 0 ] || die "run as root: the Swift toolchain is used through chroot and bind mounts"
  case "$ROOT" in /*) ;; *) die "MESHTUNE_SWIFT_ROOT must be an absolute path (got '$ROOT')" ;; esac
  [ "$ROOT" != / ] || die "MESHTUNE_SWIFT_ROOT must not be /"
  local tool
  for tool in chroot mount umount mountpoint flock findmnt; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (util-linux / coreutils)"
  done
  trap swift_chroot_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# --- cleanup: every mount made by this run is undone on exit, whatever happened -----------
unmount_all() {
  local i
  for (( i=${#MOUNTED[@]}-1; i>=0; i-- )); do
    umount "${MOUNTED[$i]}" 2>/dev/null || umount -l "${MOUNTED[$i]}" \
      || echo "warning: could not unmount ${MOUNTED[$i]}" >&2
  done
  MOUNTED=()
}

swift_chroot_cleanup() {
  local rc=$?
  unmount_all
  if [ -n "$TMP_ROOT" ] && [ -d "$TMP_ROOT" ]; then
    remove_root_dir "$TMP_ROOT" || true
  fi
  exit "$rc"
}

# Removes a (partial) root, but never across a mount point still inside it.
remove_root_dir() {
  local dir=$1
  if findmnt -rn -o TARGET | grep -q "^$dir\(/\|$\)"; then
    echo "warning: $dir still has mounts inside; not removing it" >&2
    return 1
  fi
  rm -rf --one-file-system "$dir"
}

# --- the lock: serialises runs that share the root (they mount into it, and one builds it) --
# Held on file descriptor 9 until the script exits.
swift_chroot_lock() {
  mkdir -p "$(dirname "$ROOT")"
  exec 9>"$ROOT.lock"
  if ! flock -n 9; then
    step "waiting for another run using $ROOT"
    flock 9
  fi
  SWIFT_CHROOT_LOCKED=1
}

# --- the root (cached) ------------------------------------------------------------------------
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

# --- mounts (undone by the EXIT trap) ---------------------------------------------------------
mount_into_root() {  # mount_into_root <target inside ROOT> <mount args...>
  local target="$ROOT$1"; shift
  mkdir -p "$target"
  # A run killed with SIGKILL cannot unmount; we hold the lock, so such a mount is stale.
  while mountpoint -q "$target"; do umount "$target" 2>/dev/null || umount -l "$target"; done
  mount "$@" "$target"
  MOUNTED+=("$target")
}

swift_chroot_mount() {
  [ -n "${SWIFT_CHROOT_LOCKED:-}" ] || die "swift_chroot_mount: call swift_chroot_lock first"
  mount_into_root /proc -t proc proc
  mount_into_root /dev --bind /dev
  mount_into_root "$MNT" --bind "$REPO"
}

# --- helpers ----------------------------------------------------------------------------------
copy_if_changed() {  # copies only if changed, so that SwiftPM builds stay incremental
  mkdir -p "$(dirname "$2")"
  cmp -s "$1" "$2" || cp "$1" "$2"
}

in_root() {  # in_root <directory inside ROOT> <bash command>
  local dir=$1 cmd=$2
  chroot "$ROOT" /usr/bin/env -i \
    HOME=/root PATH=/usr/libexec/swift/bin:/usr/bin:/bin LANG=C.UTF-8 TERM=dumb \
    LD_LIBRARY_PATH="$MNT/target/release" \
    MESHTUNE_LIB_DIR="$MNT/target/release" \
    MESHTUNE_BENCH_ROUNDS="${MESHTUNE_BENCH_ROUNDS:-}" \
    /bin/bash -euo pipefail -c "cd '$dir' && $cmd"
}

# Runs `swift test` (already built) in DIR, prints its output, and ends the run with an error
# unless it passed and printed an XCTest summary. LABEL names the suite in the last line.
run_swift_tests() {  # run_swift_tests <directory inside ROOT> <label>
  local dir=$1 label=$2 log rc summary filter=""
  log=$(mktemp)
  [ -z "${MESHTUNE_TEST_FILTER:-}" ] || filter="--filter $(printf '%q' "$MESHTUNE_TEST_FILTER")"
  step "swift test $filter"
  set +e
  in_root "$dir" "timeout 900 $SWIFT test --skip-build --disable-swift-testing $filter" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  summary=$(grep -E 'Executed [0-9]+ tests?, with [0-9]+ failures?' "$log" | tail -1 | sed 's/^[[:space:]]*//')
  rm -f "$log"
  [ "$rc" -eq 0 ] || die "swift test failed (exit $rc)${summary:+: $summary}"
  [ -n "$summary" ] || die "swift test printed no XCTest summary"
  echo "$label: $summary"
}

# swift_generated_bindings: generates the Swift bindings (unless SKIP_GENERATE=1) and checks
# that they and the library exist. Needs REPO and GEN (target/bindings/swift) set.
swift_generated_bindings() {
  if [ "${SKIP_GENERATE:-0}" = 1 ]; then
    step "SKIP_GENERATE=1: using the bindings in target/bindings/swift"
  else
    command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust (https://rustup.rs) and retry"
    step "scripts/generate-bindings.sh"
    TEST_HOOKS=1 "$REPO/scripts/generate-bindings.sh"
  fi
  local f
  for f in "$GEN/MeshTune.swift" "$GEN/MeshTuneFFI.h" "$GEN/MeshTuneFFI.modulemap" "$REPO/target/release/libmeshtune.so"; do
    [ -f "$f" ] || die "$f is missing; run scripts/generate-bindings.sh (or drop SKIP_GENERATE=1)"
  done
}
