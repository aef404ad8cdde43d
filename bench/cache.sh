#!/usr/bin/env bash
# bench/cache.sh — the job cache: a fully cached rerun of N jobs over N*FILES input files,
# side by side with ninja's no-op build and go-task's checksum up-to-date run of the same
# work; and SHA-256 throughput on a 1 GiB file against `openssl dgst -sha256`.
#
# usage: bench/cache.sh            env: JOBS=1000 FILES=10 REPEAT=5 HASH_MB=1024 PARALLEL=2
#        SHIPGATE=path (default .build/release/shipgate)
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
JOBS=${JOBS:-1000} FILES=${FILES:-10} REPEAT=${REPEAT:-5} HASH_MB=${HASH_MB:-1024} PARALLEL=${PARALLEL:-2}
SHIPGATE=${SHIPGATE:-$ROOT/.build/release/shipgate}
if [[ ! -x $SHIPGATE ]]; then
  echo "==> building shipgate (release)" >&2
  (cd "$ROOT" && swift build -c release --product shipgate >&2)
fi
command -v ninja >/dev/null || { echo "==> installing ninja-build" >&2; apt-get install -y -qq ninja-build >/dev/null; }
command -v openssl >/dev/null || { echo "==> installing openssl" >&2; apt-get install -y -qq openssl >/dev/null; }
TASK=$(command -v task || true)
if [[ -z $TASK ]]; then pip install -q go-task-bin >/dev/null 2>&1 || true; TASK=$(command -v task || true); fi
# A pyenv shim costs ~100 ms per call: use the real binary.
if [[ -n $TASK ]] && grep -q pyenv "$TASK" 2>/dev/null; then TASK=$(pyenv which task 2>/dev/null || echo "$TASK"); fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shipgate-bench-cache.XXXXXX")
trap 'chmod -R u+w "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT
usec() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# time_runs LABEL CMD...: prints the median wall time in ms of REPEAT runs (after one warm-up).
time_runs() {
  local label=$1; shift
  "$@" >/dev/null 2>&1 || { echo "error: $label failed: $*" >&2; "$@" 2>&1 | tail -5 >&2; exit 1; }
  for _ in $(seq "$REPEAT"); do
    local t0; t0=$(usec); "$@" >/dev/null 2>&1; echo $(( ($(usec) - t0) / 1000 ))
  done | median
}

echo "==> generating $JOBS jobs x $FILES input files" >&2
W=$TMP/ws; python3 "$HERE/gen_cache.py" --jobs "$JOBS" --files "$FILES" --out "$W"
cd "$W"
echo "==> populating (first runs)" >&2
"$SHIPGATE" run pipeline.yml --jobs "$PARALLEL" --output plain --state-dir "$TMP/state" >/dev/null
ninja -j "$PARALLEL" >/dev/null
[[ -n $TASK ]] && "$TASK" --concurrency "$PARALLEL" --silent all >/dev/null 2>&1 || true

echo "==> timing no-op reruns ($REPEAT each, median)" >&2
SG=$(time_runs shipgate "$SHIPGATE" run pipeline.yml --jobs "$PARALLEL" --output plain --state-dir "$TMP/state")
# Every shipgate rerun must be fully cached.
"$SHIPGATE" run pipeline.yml --jobs "$PARALLEL" --output json --state-dir "$TMP/state" | grep -c '"status":"cached"' | grep -qx "$JOBS" \
  || { echo "error: the rerun was not fully cached" >&2; exit 1; }
NJ=$(time_runs ninja ninja -j "$PARALLEL")
TK=""; [[ -n $TASK ]] && TK=$(time_runs task "$TASK" --concurrency "$PARALLEL" --silent all)
RSS=$(/usr/bin/time -f '%M' "$SHIPGATE" run pipeline.yml --jobs "$PARALLEL" --output plain --state-dir "$TMP/state" 2>&1 >/dev/null | tail -1)

echo "==> hashing ${HASH_MB} MiB" >&2
H=$TMP/hash; mkdir -p "$H/state/cache"
head -c "$((HASH_MB * 1024 * 1024))" /dev/urandom > "$H/big.bin"
printf 'name: hash\njobs:\n  h:\n    inputs: [big.bin]\n    steps: [{run: "true"}]\n' > "$H/p.yml"
cat "$H/big.bin" > /dev/null  # page cache warm for both
OSSL=$(time_runs openssl openssl dgst -sha256 "$H/big.bin")
# `plan` hashes every input (its stat cache is never saved), so it measures the hasher.
PLAN=$(time_runs shipgate-plan "$SHIPGATE" plan "$H/p.yml" --state-dir "$H/state")
BASE=$(printf 'name: b\njobs: {b: {steps: [{run: "true"}]}}\n' > "$H/b.yml"; time_runs plan-baseline "$SHIPGATE" plan "$H/b.yml")
SGH=$((PLAN - BASE))

awk -v sg="$SG" -v nj="$NJ" -v tk="$TK" -v jobs="$JOBS" -v files="$FILES" -v rss="$RSS" \
    -v ossl="$OSSL" -v sgh="$SGH" -v mb="$HASH_MB" 'BEGIN {
  printf "\ncached rerun: %d jobs, %d input files (median wall, ms)\n", jobs, jobs * files
  printf "  %-26s %8d ms\n", "shipgate (all cached)", sg
  printf "  %-26s %8d ms   shipgate/ninja %.2fx (target <= 3x)\n", "ninja no-op", nj, sg / nj
  if (tk != "") printf "  %-26s %8d ms   shipgate/task  %.2fx (target < 1x)\n", "task up-to-date (checksum)", tk, sg / tk
  printf "  shipgate peak RSS: %.1f MB\n", rss / 1024
  printf "\nSHA-256 of %d MiB (median wall)\n", mb
  printf "  %-26s %8d ms  %6.2f GB/s\n", "openssl dgst -sha256", ossl, mb * 1.048576 / ossl
  printf "  %-26s %8d ms  %6.2f GB/s   shipgate/openssl throughput %.0f%% (target >= 80%%)\n", "shipgate (swift-crypto)", sgh, mb * 1.048576 / sgh, 100 * ossl / sgh
}'
