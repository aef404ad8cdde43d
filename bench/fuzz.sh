#!/usr/bin/env bash
# bench/fuzz.sh — coverage-guided fuzzing (libFuzzer + AddressSanitizer) of the parsers of
# untrusted text: the pipeline loader (and planner), the keyring loader and the approval
# statement decoder (Sources/ShipgateFuzz).
#
#   bench/fuzz.sh 600            # fuzz for 600 seconds (default 300)
#   JOBS=2 bench/fuzz.sh 1800    # two fuzzing processes sharing the corpus
#
# Seeds: every YAML file under pipelines/ and Tests/, and the approval statements the tests
# write. The corpus grows in .build-fuzz/corpus (kept between runs); crashing inputs are
# written to .build-fuzz/crashes/ and must become regression tests
# (Tests/ShipgateLoadingTests/Fixtures/fuzz/). Prints executions, coverage and crashes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_TO_RUN=${1:-300}
JOBS=${JOBS:-1}
OUT=.build-fuzz
mkdir -p "$OUT/corpus" "$OUT/crashes" "$OUT/seeds"
echo "bench/fuzz.sh: building the fuzz target (-sanitize=fuzzer,address) in $OUT" >&2
swift build --scratch-path "$OUT/build" --product ShipgateFuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DSHIPGATE_FUZZ 2>&1 | grep -E "error|warning: unre|Compiling ShipgateFuzz|Build" >&2 || true
BIN=$OUT/build/debug/ShipgateFuzz
[ -x "$BIN" ] || { echo "bench/fuzz.sh: the fuzz build failed" >&2; exit 1; }

# Seeds (copied by content hash, so reruns do not duplicate them).
find pipelines Tests -name '*.yml' -o -name '*.yaml' -o -name '*approval*.json' | while read -r f; do
  cp "$f" "$OUT/seeds/$(sha1sum "$f" | cut -c1-16)"
done
cat > "$OUT/seeds/statement.json" <<'JSON'
{"approver":"alice","artifacts":{"build":"sha256:1"},"breakGlass":null,"comment":"ok","commit":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","decision":"approve","environment":"prod","expiresAt":"2026-11-28T00:00:00Z","format":"shipgate-approval-1","issuedAt":"2026-11-27T00:00:00Z","pipelineDigest":"sha256:p","runID":"r1","signature":"AAAA","signedBy":"console-1"}
JSON

LOG=$OUT/run-$(date +%Y%m%dT%H%M%S).log
rm -f "$OUT"/fuzz-[0-9].log "$OUT"/fuzz-[0-9][0-9].log
echo "bench/fuzz.sh: fuzzing for ${SECONDS_TO_RUN}s with $JOBS job(s); log $LOG" >&2
# One job runs in this process (its output is $LOG); several run as workers, each logging to
# fuzz-N.log, which are appended to $LOG at the end.
parallel=()
[ "$JOBS" -gt 1 ] && parallel=(-jobs="$JOBS" -workers="$JOBS")
set +e
(cd "$OUT" && "../$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  "${parallel[@]}" -artifact_prefix=crashes/ -print_final_stats=1 corpus seeds) > "$LOG" 2>&1
code=$?
set -e
for f in "$OUT"/fuzz-[0-9].log "$OUT"/fuzz-[0-9][0-9].log; do [ -e "$f" ] && cat "$f" >> "$LOG"; done
execs=$(grep -h "stat::number_of_executed_units" "$LOG" | awk '{s+=$2} END {print s+0}')
edges=$(sed -nE 's/.*Loaded 1 modules +\(([0-9]+) inline.*/\1/p' "$LOG" | head -1)
seed_cov=$(grep -hoE "INITED cov: [0-9]+" "$LOG" | head -1 | grep -oE "[0-9]+$")
cov=$(grep -hoE "DONE +cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]+" "$LOG" | tail -1)
crashes=$(ls "$OUT/crashes" | wc -l)
echo
echo "fuzzed ${SECONDS_TO_RUN}s with $JOBS job(s): $execs executions; coverage at start (seeds) ${seed_cov:-?} edges, at the end: ${cov:-?} (of ${edges:-?} instrumented edges in the binary); crashes in $OUT/crashes: $crashes (exit $code)"
[ "$crashes" = 0 ] || { ls -la "$OUT/crashes"; exit 1; }
