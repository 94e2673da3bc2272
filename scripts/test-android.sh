#!/usr/bin/env bash
# Android glue on the host: compiles android/src/main/kotlin with the generated Kotlin bindings
# and bindings/kotlin/src/main/kotlin against the real Android framework classes (Robolectric's
# android-all, API 34), then runs android/src/test/kotlin under Robolectric (JUnit 4), with the
# facade tests calling the real core (host libmeshtune.so through JNA). Maven build file:
# android/host-test/pom.xml. Gradle and the Android Gradle Plugin are not used here (see
# android/build.gradle.kts for the real AAR build).
#
#   scripts/test-android.sh                   # generate the bindings + test
#   SKIP_GENERATE=1 scripts/test-android.sh   # test against the bindings already generated
#   scripts/test-android.sh bench             # the facade's per-sample benchmark instead (BENCHMARKS.md)
#
# Needs cargo (for the generation), Java 17+ and Maven. When Java or Maven is missing it installs
# them from Debian's packages if run as root, and otherwise stops with an error. Robolectric's
# instrumented android-all jar comes from Maven Central through Maven (about 150 MB, once).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
POM="$ROOT/android/host-test/pom.xml"
MODE=${1:-test}
case "$MODE" in
  test | bench) ;;
  *) echo "usage: $0 [test|bench] (SKIP_GENERATE=1 to reuse the generated bindings)" >&2; exit 2 ;;
esac

# shellcheck source=lib/jvm.sh
source scripts/lib/jvm.sh
jvm_require "the Android host tests (Robolectric API 34)"
jvm_kotlin_bindings
if ! grep -q 'fun `initLogging`' target/bindings/kotlin/dev/meshtune/meshtune.kt; then
  echo "error: target/bindings/kotlin is older than the library (no initLogging); rerun scripts/generate-bindings.sh" >&2
  exit 1
fi

REPORTS="$ROOT/android/host-test/target/surefire-reports"
rm -rf "$REPORTS"
status=0
if [ "$MODE" = bench ]; then
  echo "==> facade benchmark (android/host-test, FacadeBenchmark under Robolectric)"
  mvn -B -q -Dstyle.color=never -f "$POM" -Dtest=FacadeBenchmark -Dsurefire.failIfNoSpecifiedTests=false test || status=$?
  cat "$REPORTS"/dev.meshtune.android.FacadeBenchmark-output.txt 2>/dev/null | grep -A2 '^FacadeBenchmark' || true
  exit "$status"
fi
echo "==> mvn test (android/host-test: compile against android-all API 34, Robolectric tests)"
mvn -B -q -Dstyle.color=never -f "$POM" \
  -Dorg.slf4j.simpleLogger.log.org.apache.maven.plugin.surefire=info test || status=$?
if [ "$status" != 0 ] && [ -d "$REPORTS" ]; then
  echo "test output: $REPORTS (*-output.txt holds what each test class printed)" >&2
fi
exit "$status"
