#!/usr/bin/env bash
# Checks the Markdown docs (README.md, BENCHMARKS.md, docs/**/*.md), with
# nothing but bash and awk, in well under a second:
#
#   1. Every relative link resolves: the file exists and, for `file.md#anchor`, the file has a
#      heading with that anchor (GitHub's rule: lower case, punctuation dropped, spaces to -).
#   2. Every code block says what it is, on the line just before its opening fence:
#        <!-- fragment: ... -->        not compiled by the test command (a fragment, commands,
#                                      output), with the reason after the colon;
#        <!-- compiled: PATH (...) --> compiled and run by the test command as PATH; every
#                                      non-blank line of the block must appear in PATH, in
#                                      order (spaces collapsed), so the block cannot drift from
#                                      what is compiled.
#      docs/results.md is written by the simulator (`--markdown`) and exempt from rule 2.
set -euo pipefail
cd "$(dirname "$0")/.."

files=(README.md BENCHMARKS.md docs/*.md docs/adr/*.md)

awk '
function norm(s) { gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
function dirname(p,   i) { i = match(p, /\/[^\/]*$/); return i ? substr(p, 1, i - 1) : "." }
function slug(h) {
  h = tolower(h)
  gsub(/[!-,.\/:-@[-^`{-~]/, "", h)
  gsub(/ /, "-", h)
  return h
}
function exists(p) { return system("test -e \"" p "\"") == 0 }
function anchors(p,   line, a, n, fenced, key) {
  if (p in loaded) return
  loaded[p] = 1; fenced = 0
  while ((getline line < p) > 0) {
    if (line ~ /^ *```/) { fenced = !fenced; continue }
    if (fenced || line !~ /^#+ /) continue
    sub(/^#+ /, "", line); a = slug(line)
    key = p SUBSEP a
    if (key in seen) { n = seen[key]++; a = a "-" n; key = p SUBSEP a } else seen[key] = 1
    anchor[key] = 1
  }
  close(p)
}
function fail(msg) { print FILENAME ":" FNR ": " msg > "/dev/stderr"; errors++ }
function check_compiled(path, n,   line, i, want) {
  if (!exists(path)) { fail("compiled block names " path ", which does not exist"); return }
  i = 1
  while (i <= n && (getline line < path) > 0) if (norm(line) == block[i]) i++
  close(path)
  if (i <= n) fail("block line not found in " path " (in order): " block[i])
}
FNR == 1 { fenced = 0; prev = ""; generated = (FILENAME == "docs/results.md") }
{
  if (fenced) {
    if ($0 ~ /^ *``` *$/) {
      fenced = 0
      if (compiled != "") check_compiled(compiled, nblock)
    } else if (compiled != "" && norm($0) != "") block[++nblock] = norm($0)
    next
  }
  if ($0 ~ /^ *```/) {
    fenced = 1; compiled = ""; nblock = 0
    if (!generated) {
      if (prev ~ /^<!-- compiled: [^ ]+ .*-->$/ || prev ~ /^<!-- compiled: [^ ]+ *-->$/) {
        compiled = prev; sub(/^<!-- compiled: /, "", compiled); sub(/ .*$/, "", compiled)
      } else if (prev !~ /^<!-- fragment: .*-->$/) {
        fail("code block without <!-- fragment: ... --> or <!-- compiled: PATH ... --> on the line before")
      }
    }
    prev = $0; next
  }
  line = $0
  gsub(/`[^`]*`/, "", line)   # inline code is not a link
  while (match(line, /\]\([^) ]+\)/)) {
    target = substr(line, RSTART + 2, RLENGTH - 3); line = substr(line, RSTART + RLENGTH)
    if (target ~ /^(https?|mailto):/) continue
    path = target; frag = ""
    if (index(target, "#")) { path = substr(target, 1, index(target, "#") - 1); frag = substr(target, index(target, "#") + 1) }
    resolved = (path == "") ? FILENAME : dirname(FILENAME) "/" path
    if (!exists(resolved)) { fail("broken link: " target); continue }
    if (frag != "" && resolved ~ /\.md$/ && system("test -f \"" resolved "\"") == 0) {
      anchors(resolved)
      if (!((resolved SUBSEP frag) in anchor)) fail("no heading for anchor: " target)
    }
  }
  prev = $0
}
END {
  if (errors) { print errors " problem(s) in the docs" > "/dev/stderr"; exit 1 }
}
' "${files[@]}"
echo "docs: links resolve; every code block is compiled by a test or marked a fragment"
