#!/usr/bin/env bash
# Instructions per operation of the quantile sketch and of hdrhistogram (ADR 6; BENCHMARKS.md,
# "Sketch against hdrhistogram"). Each figure is the difference of callgrind's instruction totals
# between two runs of `examples/sketch_vs_hdr.rs ops OP IMPL N` with different N, divided by the
# difference of N, so that start-up and set-up cancel out. Repeatable under load (instructions,
# not time). Needs valgrind.
#
#   scripts/callgrind-sketch.sh            # builds the example in release, then about 30 s
set -euo pipefail
cd "$(dirname "$0")/.."
nice -n 19 cargo build --release --locked --example sketch_vs_hdr >&2
bin=${CARGO_TARGET_DIR:-target}/release/examples/sketch_vs_hdr
out=$(mktemp)
trap 'rm -f "$out"' EXIT

instructions() { # op impl n
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" ops "$1" "$2" "$3" >/dev/null 2>&1
  awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

# op, unit, N1, N2 (record and window_record count N in thousands of samples)
rows=(
  "record|instructions per sample|100|200|1000"
  "window_record|instructions per sample, +1 ms each|100|200|1000"
  "merge_subtract|instructions per merge + subtract of a 500-sample slot|1000|2000|1"
  "summary|instructions per p50 + p95 + p99 of a full window|1000|2000|1"
  "hour|instructions per hour at 50 samples/s, a summary every 30 s|1|2|1"
)
echo "| operation | sketch | HDR, closed + open | HDR, running total |"
echo "|---|---|---|---|"
for row in "${rows[@]}"; do
  IFS='|' read -r op unit n1 n2 per <<<"$row"
  line="| \`$op\`: $unit"
  for impl in sketch hdr hdr_total; do
    a=$(instructions "$op" "$impl" "$n1")
    b=$(instructions "$op" "$impl" "$n2")
    line+=" | $(awk -v a="$a" -v b="$b" -v n="$((n2 - n1))" -v per="$per" 'BEGIN { printf "%.1f", (b - a) / n / per }')"
  done
  echo "$line |"
done
