#!/usr/bin/env bash
# bench/workspace.sh — cost of `isolation: { workspace: private }`: one job over a git
# repository of FILES files (SIZE bytes each), shared vs private workspace, next to
# tar (the non-ignored files, plus cp -a .git) and `git worktree add` of the same tree in the same run. Median of REPEAT.
#
# usage: bench/workspace.sh            env: FILES=5000 SIZE=4096 REPEAT=5
#        SHIPGATE=path (default .build/release/shipgate, built if missing)
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=${FILES:-5000} SIZE=${SIZE:-4096} REPEAT=${REPEAT:-5}
SHIPGATE=${SHIPGATE:-$ROOT/.build/release/shipgate}
[ -x "$SHIPGATE" ] || (cd "$ROOT" && swift build -c release --product shipgate >&2)
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT
repo=$work/repo && mkdir -p "$repo" && cd "$repo"
git init -q && printf '.shipgate/\n.venv/\n' > .gitignore
python3 - "$FILES" "$SIZE" <<'PY'
import os, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    d = f"src/m{i % 50}"
    os.makedirs(d, exist_ok=True)
    open(f"{d}/f{i}.py", "wb").write(os.urandom(size // 2).hex().encode()[:size])
PY
mkdir -p .venv && head -c 50000000 /dev/zero > .venv/big   # ignored: never copied
git add -A && git -c user.name=b -c user.email=b@b commit -qm bench
for mode in shared private; do
  printf 'name: ws\njobs:\n  one:\n    isolation: { workspace: %s }\n    steps: [{ run: "true" }]\n' "$mode" > $mode.yml
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
for tool in shared private tar worktree; do
  m=$(for _ in $(seq "$REPEAT"); do
    case $tool in
      shared|private) ms "$SHIPGATE" run $tool.yml --output plain ;;
      tar) rm -rf "$work/copy"; mkdir -p "$work/copy"; ms sh -c "git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C '$work/copy' && cp -a .git '$work/copy/'" ;;
      worktree) rm -rf "$work/wt"; git worktree prune; ms git worktree add -q --detach "$work/wt" ;;
    esac
  done | median)
  printf '%-9s %6s ms  (%s files of %s bytes, median of %s)\n' "$tool" "$m" "$FILES" "$SIZE" "$REPEAT"
done
