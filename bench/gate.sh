#!/usr/bin/env bash
# bench/gate.sh — what the deploy gate costs: signing an approval, a gated run that blocks and
# its resume that deploys, a manual rollback, reading the trusted policy from a large tree,
# and verifying a long audit chain.
#
#   bench/gate.sh                 # 10 repeats, a 20,000-entry audit chain
#   REPEAT=5 ENTRIES=100000 bench/gate.sh
#   SHIPGATE=/path/to/shipgate bench/gate.sh
#
# No peer tool has signed approvals or an audit chain, so figures are absolute (medians, ms).
# For scale, the same run without a gate (a plain job) is timed too: the gate's own cost is
# the difference. The audit chain is written with Python's sqlite3 and hashlib in shipgate's
# documented entry format, which also checks that format independently.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPEAT=${REPEAT:-10}
ENTRIES=${ENTRIES:-20000}
SHIPGATE=${SHIPGATE:-$PWD/.build/release/shipgate}
if [ ! -x "$SHIPGATE" ]; then
  echo "bench/gate.sh: building $SHIPGATE (swift build -c release --product shipgate)" >&2
  swift build -c release --product shipgate
fi
TMP=$(mktemp -d /tmp/shipgate-gate-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
git="git -c user.name=bench -c user.email=bench@example.com -c init.defaultBranch=main"
mkdir -p repo/pipelines keys && cd repo
cat > pipelines/deploy.yml <<'YAML'
name: gate-bench
environments:
  prod:
    branches: [main]
    approvals: { required: 2, from: [alice, bob] }
    concurrency: 1
jobs:
  build:
    steps: [{ run: 'mkdir -p dist && date +%s%N > dist/app.txt' }]
    artifacts: { paths: ["dist/**"] }
  deploy:
    needs: [build]
    environment: prod
    steps: [{ run: 'true' }]
    rollback: [{ run: 'test -f "$SHIPGATE_ROLLBACK_ARTIFACTS/dist/app.txt"' }]
  plain:
    steps: [{ run: 'true' }]
YAML
for who in alice bob; do "$SHIPGATE" keygen "$who" --dir ../keys 2>/dev/null >> pipelines/approvers.yml; done
printf '.shipgate/\ndist/\n' > .gitignore
$git init -q && $git add -A && $git commit -qm bench
export SHIPGATE_ACTOR=bench NO_COLOR=1

ms() { python3 -c 'import sys,time; print(int(time.time()*1000))'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
time_ms() { local s e; s=$(date +%s%N); "$@" > /dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }

plain=(); blocked=(); approve=(); resume=()
for _ in $(seq "$REPEAT"); do
  plain+=("$(time_ms "$SHIPGATE" run pipelines/deploy.yml --job plain --output plain)")
  s=$(date +%s%N); out=$("$SHIPGATE" run pipelines/deploy.yml --job deploy --output plain 2>&1 || true); e=$(date +%s%N)
  blocked+=($(( (e - s) / 1000000 )))
  run=$(printf '%s' "$out" | grep -oE '[0-9]{8}-[0-9]{6}-[0-9]{3}[0-9a-f]{6}' | head -1)
  approve+=("$(time_ms "$SHIPGATE" approve "$run" --env prod --key ../keys/alice.key)")
  "$SHIPGATE" approve "$run" --env prod --key ../keys/bob.key > /dev/null
  resume+=("$(time_ms "$SHIPGATE" resume "$run" --output plain)")
done
status=$("$SHIPGATE" history --env prod --json | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["status"]=="success"))')
[ "$status" = "$REPEAT" ] || { echo "bench/gate.sh: expected $REPEAT successful deploys, got $status" >&2; exit 1; }

# Manual rollback: authorize (alice's key against the trusted keyring), restore the previous
# release's artifacts, run the trusted ref's rollback steps, record and audit.
rollback=()
for _ in $(seq "$REPEAT"); do
  rollback+=("$(time_ms "$SHIPGATE" rollback pipelines/deploy.yml --env prod --key ../keys/alice.key --reason bench)")
done
rolled=$("$SHIPGATE" history --env prod --json | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r.get("rollbackOf") and r["status"] in ("success", "rolled-back")))')
[ "$rolled" = "$REPEAT" ] || { echo "bench/gate.sh: expected $REPEAT manual rollbacks, got $rolled" >&2; exit 1; }

# The trusted policy is read from every pipeline file of the trusted ref's tree: `plan` of the
# deploying pipeline in this small repository, then with 10,000 more committed files (100
# directories, 30 YAML files that are not pipelines). Peer: `git ls-tree -r` of the same tree.
plan_small=()
for _ in $(seq "$REPEAT"); do plan_small+=("$(time_ms "$SHIPGATE" plan pipelines/deploy.yml)"); done
python3 - <<'PY'
import os
for i in range(10000):
    d = "tree/d%03d" % (i // 100)
    os.makedirs(d, exist_ok=True)
    name = ("config%d.yml" % i) if i % 333 == 0 else ("f%d.txt" % i)
    with open(os.path.join(d, name), "w") as f:
        f.write("key: %d\n" % i if name.endswith(".yml") else "%d\n" % i)
PY
$git add -A && $git commit -qm tree
plan_big=(); lstree=()
for _ in $(seq "$REPEAT"); do
  plan_big+=("$(time_ms "$SHIPGATE" plan pipelines/deploy.yml)")
  lstree+=("$(time_ms git ls-tree -r HEAD)")
done

# A long audit chain, in shipgate's entry format, then `audit verify`.
python3 - "$ENTRIES" <<'PY'
import hashlib, sqlite3, sys
n = int(sys.argv[1])
db = sqlite3.connect(".shipgate/state.db")
last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
seq, prev = last if last else (0, "0" * 64)
rows = []
for i in range(n):
    seq += 1
    fields = [str(seq), "2026-11-26T12:00:00.000Z", "gate", "bench", "prod", "r%d" % i, '{"n":"%d"}' % i, prev]
    text = "shipgate-audit-1\n" + "".join("%d:%s\n" % (len(f.encode()), f) for f in fields)
    h = hashlib.sha256(text.encode()).hexdigest()
    rows.append((seq, fields[1], "gate", "bench", "prod", fields[5], fields[6], prev, h))
    prev = h
db.executemany("INSERT INTO audit (seq, at, kind, actor, environment, runID, detail, prevHash, hash) VALUES (?,?,?,?,?,?,?,?,?)", rows)
db.commit()
PY
verify=()
for _ in $(seq 3); do
  s=$(date +%s%N); "$SHIPGATE" audit verify > /dev/null; e=$(date +%s%N); verify+=($(( (e - s) / 1000000 )))
done

# Peer for the chain check: the same verification in Python (hashlib, sqlite3).
pyverify=()
for _ in $(seq 3); do
  s=$(date +%s%N)
  python3 - <<'PY'
import hashlib, sqlite3
prev = "0" * 64
for row in sqlite3.connect(".shipgate/state.db").execute("SELECT seq, at, kind, actor, environment, runID, detail, prevHash, hash FROM audit ORDER BY seq"):
    fields = [str(row[0]), row[1], row[2], row[3], row[4] if row[4] is not None else "\0", row[5] if row[5] is not None else "\0", row[6], row[7]]
    text = "shipgate-audit-1\n" + "".join("%d:%s\n" % (len(f.encode()), f) for f in fields)
    assert row[7] == prev and hashlib.sha256(text.encode()).hexdigest() == row[8], row[0]
    prev = row[8]
PY
  e=$(date +%s%N); pyverify+=($(( (e - s) / 1000000 )))
done

printf '\nshipgate deploy gate (%s repeats, medians)\n' "$REPEAT"
printf '  %-52s %6s ms\n' "run of one plain job (no gate), for scale" "$(printf '%s\n' "${plain[@]}" | median)"
printf '  %-52s %6s ms\n' "run: build, then the gate blocks the deploy (exit 3)" "$(printf '%s\n' "${blocked[@]}" | median)"
printf '  %-52s %6s ms\n' "approve (trusted keyring via libgit2, sign, record)" "$(printf '%s\n' "${approve[@]}" | median)"
printf '  %-52s %6s ms\n' "resume: gate passes (2 signatures), deploy, record" "$(printf '%s\n' "${resume[@]}" | median)"
printf '  %-52s %6s ms\n' "rollback --key (authorize, restore, trusted steps)" "$(printf '%s\n' "${rollback[@]}" | median)"
ps=$(printf '%s\n' "${plan_small[@]}" | median); pb=$(printf '%s\n' "${plan_big[@]}" | median); lt=$(printf '%s\n' "${lstree[@]}" | median)
printf '  %-52s %6s ms\n' "plan (trusted policy from the tree), small repository" "$ps"
printf '  %-52s %6s ms  (+%s ms)\n' "plan, with 10,000 more committed files" "$pb" "$(( pb - ps ))"
printf '  %-52s %6s ms\n' "peer: git ls-tree -r HEAD of that tree" "$lt"
entries=$(python3 -c 'import sqlite3; print(sqlite3.connect(".shipgate/state.db").execute("SELECT COUNT(*) FROM audit").fetchone()[0])')
v=$(printf '%s\n' "${verify[@]}" | median); p=$(printf '%s\n' "${pyverify[@]}" | median)
printf '  %-52s %6s ms\n' "audit verify, $entries entries" "$v"
printf '  %-52s %6s ms  (shipgate/python = %s)\n' "the same check in Python (hashlib + sqlite3)" "$p" "$(python3 -c "print(round($v / $p, 2))")"
