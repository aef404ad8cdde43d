#!/usr/bin/env bash
# bench/github.sh — what `--output github` costs next to `--output plain` (N trivial jobs,
# each printing a few lines), and how long `export github` takes for the repository's pipelines.
#
#   bench/github.sh            # N=1000, 5 repeats
#   N=200 REPEAT=3 bench/github.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-1000}
REPEAT=${REPEAT:-5}
SHIPGATE=${SHIPGATE:-$PWD/.build/release/shipgate}
[ -x "$SHIPGATE" ] || swift build -c release --product shipgate
TMP=$(mktemp -d /tmp/shipgate-github-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
{
  echo "name: github-bench"
  echo "jobs:"
  for i in $(seq "$N"); do
    printf '  j%d:\n    needs: []\n    steps: [{ run: "echo one; echo two; echo three" }]\n' "$i"
  done
} > "$TMP/pipeline.yml"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
time_run() { # MODE
  local s e
  rm -rf "$TMP/state"
  s=$(date +%s%N)
  GITHUB_OUTPUT="$TMP/out" GITHUB_STEP_SUMMARY="$TMP/summary" "$SHIPGATE" run "$TMP/pipeline.yml" --jobs 2 --output "$1" --state-dir "$TMP/state" > "$TMP/log" 2>&1
  e=$(date +%s%N)
  echo $(( (e - s) / 1000000 ))
}
plain=(); github=()
for _ in $(seq "$REPEAT"); do plain+=("$(time_run plain)"); github+=("$(time_run github)"); done
groups=$(grep -c '^::group::' "$TMP/log")
[ "$groups" = "$N" ] || { echo "bench/github.sh: expected $N groups, got $groups" >&2; exit 1; }
p=$(printf '%s\n' "${plain[@]}" | median); g=$(printf '%s\n' "${github[@]}" | median)
exports=()
for _ in $(seq "$REPEAT"); do
  s=$(date +%s%N)
  for f in pipelines/ci.yml pipelines/demo.yml pipelines/examples/webapp.yml pipelines/deploy-demo/pipeline.yml; do "$SHIPGATE" export github "$f" > /dev/null; done
  e=$(date +%s%N); exports+=($(( (e - s) / 1000000 )))
done
printf '\n%s jobs, %s repeats, medians\n' "$N" "$REPEAT"
printf '  %-44s %6s ms\n' "run --output plain" "$p"
printf '  %-44s %6s ms  (github/plain = %s)\n' "run --output github (groups, summary, outputs)" "$g" "$(python3 -c "print(round($g / $p, 2))")"
printf '  %-44s %6s ms\n' "export github of the 4 repository pipelines" "$(printf '%s\n' "${exports[@]}" | median)"
