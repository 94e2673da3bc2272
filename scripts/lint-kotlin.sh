#!/usr/bin/env bash
# ktlint on the hand-written Kotlin (android/, bindings/kotlin/src, the Gradle scripts), with the
# settings in .editorconfig (IntelliJ IDEA style, lines up to 160). The generated bindings
# (target/bindings) are not checked. ktlint comes from Maven Central through Maven, once.
#
#   scripts/lint-kotlin.sh        # check (the test command runs this)
#   scripts/lint-kotlin.sh -F     # format in place
set -euo pipefail
cd "$(dirname "$0")/.."
KTLINT_VERSION=1.5.0
# shellcheck source=lib/jvm.sh
source scripts/lib/jvm.sh
jvm_require "ktlint"
REPO_M2=${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}
JAR="$REPO_M2/com/pinterest/ktlint/ktlint-cli/$KTLINT_VERSION/ktlint-cli-$KTLINT_VERSION-all.jar"
if [ ! -f "$JAR" ]; then
  echo "==> fetching ktlint $KTLINT_VERSION from Maven Central"
  mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$REPO_M2" dependency:get -Dartifact="com.pinterest.ktlint:ktlint-cli:$KTLINT_VERSION:jar:all" -Dtransitive=false
fi
mapfile -t FILES < <(git ls-files 'android/src/**/*.kt' 'bindings/kotlin/src/**/*.kt' 'android/*.kts')
echo "==> ktlint $KTLINT_VERSION on ${#FILES[@]} hand-written Kotlin files"
java -jar "$JAR" --relative "$@" "${FILES[@]}"
