#!/usr/bin/env bash
# bench/git-hash.sh — input hashing with and without git's index: a no-change `shipgate plan`
# of a job whose inputs are FILES tracked files (default 50,000). `plan` never saves the stat
# cache, so without the index every plan reads and hashes every input; with it, unmodified
# tracked files are identified from the index by their stat data alone.
#
# usage: bench/git-hash.sh      env: FILES=50000 SIZE=4096 REPEAT=5 SHIPGATE=path
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
FILES=${FILES:-50000} SIZE=${SIZE:-4096} REPEAT=${REPEAT:-5}
SHIPGATE=${SHIPGATE:-$ROOT/.build/release/shipgate}
[[ -x $SHIPGATE ]] || (cd "$ROOT" && swift build -c release --product shipgate >&2)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/shipgate-bench-git.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
usec() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() {
  "$@" >/dev/null
  for _ in $(seq "$REPEAT"); do local t0; t0=$(usec); "$@" >/dev/null; echo $(( ($(usec) - t0) / 1000 )); done | median
}
echo "==> making a repository of $FILES files of $SIZE bytes" >&2
cd "$TMP" && git init -q -b main repo && cd repo
python3 - "$FILES" "$SIZE" <<'PY'
import os, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    d = f"src/d{i // 500:03d}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i:05d}.txt", "wb") as fh:
        fh.write((f"file {i} " * (size // 8 + 1)).encode()[:size])
PY
printf '.shipgate\n' > .gitignore
printf 'name: git-hash\njobs:\n  build:\n    inputs: ["src/**"]\n    steps: [{run: "true"}]\n' > shipgate.yml
# Files older than the index are not racily clean.
find . -path ./.git -prune -o -exec touch -h -d '1 hour ago' {} + 2>/dev/null
git add -A && git -c user.name=b -c user.email=b@x commit -qm files
mkdir -p .shipgate/cache   # plan consults the cache only when it exists
FAST=$(time_runs "$SHIPGATE" plan shipgate.yml)
SLOW=$(time_runs "$SHIPGATE" plan shipgate.yml --no-git-index)
# Both must compute the same key.
K1=$("$SHIPGATE" plan shipgate.yml --json | grep -o '"cacheKey":"[0-9a-f]*"')
K2=$("$SHIPGATE" plan shipgate.yml --json --no-git-index | grep -o '"cacheKey":"[0-9a-f]*"')
[[ $K1 == "$K2" ]] || { echo "error: keys differ: $K1 vs $K2" >&2; exit 1; }
awk -v f="$FAST" -v s="$SLOW" -v n="$FILES" -v size="$SIZE" 'BEGIN {
  printf "no-change plan, %d tracked input files of %d bytes (median wall, ms)\n", n, size
  printf "  %-30s %8d ms\n", "with git index (fast path)", f
  printf "  %-30s %8d ms   %.1fx slower\n", "hashing every file", s, s / f
  printf "  same cache key both ways: yes\n"
}'
