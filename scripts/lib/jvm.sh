# Shared by scripts/test-kotlin.sh and scripts/test-android.sh (sourced, not run): a JDK 17+
# and Maven, installed from Debian's packages when missing and run as root; and the Kotlin
# bindings, generated from the library unless SKIP_GENERATE=1.

# jvm_require WHAT: Maven and Java 17+, or a clear error naming WHAT needs them.
jvm_require() {
  local what=$1
  if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing Maven and a JDK (apt-get install maven default-jdk-headless)"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update
      apt-get install -y maven default-jdk-headless
    else
      echo "error: Maven (mvn) and a JDK 17+ (java, javac) are needed for $what;" >&2
      echo "       install them (Debian/Ubuntu: sudo apt-get install maven default-jdk-headless) and retry" >&2
      exit 1
    fi
  fi
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  if [ -z "$major" ] || [ "${major%%.*}" -lt 17 ] 2>/dev/null; then
    echo "error: Java 17 or newer is needed for $what (found: ${major:-unknown}; see java -version)" >&2
    exit 1
  fi
}

# jvm_kotlin_bindings: generates the Kotlin bindings (unless SKIP_GENERATE=1) and checks that
# they and the library exist. Run from the repository root.
jvm_kotlin_bindings() {
  if [ "${SKIP_GENERATE:-0}" = 1 ]; then
    echo "==> SKIP_GENERATE=1: using the bindings in target/bindings/kotlin"
  else
    if ! command -v cargo >/dev/null 2>&1; then
      echo "error: cargo not found; install Rust (https://rustup.rs) and retry, or run with SKIP_GENERATE=1" >&2
      exit 1
    fi
    echo "==> building libmeshtune and generating the bindings"
    TEST_HOOKS=1 bash scripts/generate-bindings.sh >/dev/null
  fi
  local f
  for f in target/bindings/kotlin/dev/meshtune/meshtune.kt target/release/libmeshtune.so; do
    [ -f "$f" ] || { echo "error: $f is missing; run scripts/generate-bindings.sh" >&2; exit 1; }
  done
}
