#!/usr/bin/env bash
# swift format (the formatter in the Swift 6 toolchain) on the hand-written Swift: the iOS
# package's glue and tests, the bindings' tests and benchmark, both manifests. Settings in
# .swift-format (4 spaces, lines up to 140). The generated bindings (`Generated/`, target/) are
# not checked. It runs in the same cached Debian-stable root as scripts/test-swift.sh, under the
# same lock; it needs root.
#
#   scripts/lint-swift.sh        # check (the test command runs this); any finding fails
#   scripts/lint-swift.sh -i     # format in place
set -euo pipefail
MODE=lint
case "${1:-}" in
  "") ;;
  -i) MODE=format ;;
  *) echo "usage: $0 [-i]" >&2; exit 2 ;;
esac
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/swift-chroot.sh
. "$REPO/scripts/lib/swift-chroot.sh"
swift_chroot_setup
cd "$REPO"
mapfile -t FILES < <(git ls-files '*.swift' | grep -v '/Generated/')
swift_chroot_lock
ensure_root
swift_chroot_mount
step "swift format $MODE on ${#FILES[@]} hand-written Swift files"
if [ "$MODE" = format ]; then
  in_root "$MNT" "$SWIFT format format --configuration .swift-format --in-place ${FILES[*]}"
else
  # --strict: a finding is an error, so the command fails on it.
  in_root "$MNT" "$SWIFT format lint --configuration .swift-format --strict ${FILES[*]}"
fi
