#!/usr/bin/env bash
# Kotlin/JVM binding tests: builds libmeshtune, generates the Kotlin bindings from it, compiles
# them with the JUnit 5 tests in bindings/kotlin and runs them through JNA on the host JVM.
#
#   scripts/test-kotlin.sh                    # generate + test
#   SKIP_GENERATE=1 scripts/test-kotlin.sh    # test against the bindings already generated
#                                             # (generated with TEST_HOOKS=1: PanicTest.kt needs the test-only switch)
#   scripts/test-kotlin.sh bench              # generate + the FFI benchmark instead of the tests
#
# Needs cargo (for the generation), Java 17+ and Maven. When Java or Maven is missing it installs
# them from Debian's packages if run as root, and otherwise stops with an error.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
POM="$ROOT/bindings/kotlin/pom.xml"
MODE=${1:-test}
case "$MODE" in
  test | bench) ;;
  *) echo "usage: $0 [test|bench]" >&2; exit 2 ;;
esac

# shellcheck source=lib/jvm.sh
source scripts/lib/jvm.sh
jvm_require "the Kotlin tests"
jvm_kotlin_bindings

REPORTS="$ROOT/bindings/kotlin/target/surefire-reports"
rm -rf "$REPORTS"
# Quiet, except that Surefire's own logger stays at info so its per-class lines and its
# "Tests run: N, Failures: N, Errors: N, Skipped: N" summary are printed.
MVN=(mvn -B -q -Dstyle.color=never -f "$POM" -Dorg.slf4j.simpleLogger.log.org.apache.maven.plugin.surefire=info)
if [ "$MODE" = bench ]; then
  echo "==> FFI benchmark (mvn -B -f bindings/kotlin/pom.xml -Pbench test)"
  "${MVN[@]}" -Pbench test
  exit 0
fi

echo "==> mvn test (bindings/kotlin)"
status=0
"${MVN[@]}" test || status=$?
if [ "$status" != 0 ] && [ -d "$REPORTS" ]; then
  echo "test output: $REPORTS (*-output.txt holds what each test class printed)" >&2
fi
exit "$status"
