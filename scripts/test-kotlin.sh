#!/usr/bin/env bash
# Kotlin/JVM binding tests: builds libmeshtune, generates the Kotlin bindings from it, compiles
# them with the JUnit 5 tests in bindings/kotlin and runs them through JNA on the host JVM.
#
#   scripts/test-kotlin.sh                    # generate + test
#   SKIP_GENERATE=1 scripts/test-kotlin.sh    # test against the bindings already generated
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

if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Maven and a JDK (apt-get install maven default-jdk-headless)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y maven default-jdk-headless
  else
    echo "error: Maven (mvn) and a JDK 17+ (java, javac) are needed for the Kotlin tests;" >&2
    echo "       install them (Debian/Ubuntu: sudo apt-get install maven default-jdk-headless) and retry" >&2
    exit 1
  fi
fi
JAVA_MAJOR=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
if [ -z "$JAVA_MAJOR" ] || [ "${JAVA_MAJOR%%.*}" -lt 17 ] 2>/dev/null; then
  echo "error: Java 17 or newer is needed (found: ${JAVA_MAJOR:-unknown}; see java -version)" >&2
  exit 1
fi

if [ "${SKIP_GENERATE:-0}" = 1 ]; then
  echo "==> SKIP_GENERATE=1: using the bindings in target/bindings/kotlin"
else
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found; install Rust (https://rustup.rs) and retry, or run with SKIP_GENERATE=1" >&2
    exit 1
  fi
  echo "==> building libmeshtune and generating the bindings"
  bash scripts/generate-bindings.sh >/dev/null
fi
for f in target/bindings/kotlin/dev/meshtune/meshtune.kt target/release/libmeshtune.so; do
  [ -f "$f" ] || { echo "error: $f is missing; run scripts/generate-bindings.sh" >&2; exit 1; }
done

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
