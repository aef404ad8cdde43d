#!/usr/bin/env bash
# The deploy-gate walkthrough on one machine (sh and python3 only): a scratch git repository
# with the demo pipeline, two HTTP servers standing in for staging and prod, three approver
# keys. Prints every command before running it. Leaves nothing behind unless KEEP=1.
set -euo pipefail
DEMO_NAME=deploy-demo
source "$(dirname "${BASH_SOURCE[0]}")/demo-lib.sh"
expect() { # expect CODE CMD...: runs CMD and checks its exit code
  local want=$1; shift
  printf '\033[36m$ %s\033[0m\n' "$*"
  set +e; "$@"; local got=$?; set -e
  if [ "$got" != "$want" ]; then echo "demo: expected exit $want, got $got" >&2; exit 1; fi
}

say "A scratch repository: the pipeline, its deploy scripts and the approvers keyring on main"
demo_repository
run cat pipelines/approvers.yml
demo_commit
export SHIPGATE_ACTOR=dev PROD_TOKEN=demo-prod-token NO_COLOR=1
python3 deploy/serve.py staging 18181 & pids+=($!)
python3 deploy/serve.py prod 18182 & pids+=($!)
sleep 0.5
for p in "${pids[@]}"; do
  kill -0 "$p" 2>/dev/null || { echo "demo: an HTTP server could not start (is port 18181 or 18182 in use?)" >&2; exit 1; }
done

say "1. Run: test, build, deploy to staging and verify; prod is blocked (exit 3) waiting for 2 approvals"
expect 3 "$SHIPGATE" run pipelines/deploy.yml --output plain
RUN=$("$SHIPGATE" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"])')
run "$SHIPGATE" approvals --pending

say "2. Two release managers approve (the actor, dev, could not)"
run "$SHIPGATE" approve "$RUN" --env prod --key "$KEYS/alice.key" --comment "staging looks good"
run "$SHIPGATE" approve "$RUN" --env prod --key "$KEYS/bob.key" --out "$DEMO/bob-approval.json"

say "3. Resume: finished jobs are reused, the prod gate passes, prod deploys and verifies"
run "$SHIPGATE" resume "$RUN" --output plain
run python3 -c "import urllib.request; print('prod serves', urllib.request.urlopen('http://127.0.0.1:18182/VERSION').read().decode().strip())"

say "4. A bad release (its health check is missing): staging verify fails and rolls back by itself"
touch BREAK_HEALTHCHECK
git -c user.name=dev -c user.email=dev@example.com add -A && git -c user.name=dev -c user.email=dev@example.com commit -qm "bad release" && git tag v1.0.1
expect 1 "$SHIPGATE" run pipelines/deploy.yml --output plain
run "$SHIPGATE" history --env staging

say "5. Prod's history and the tamper-evident audit log"
run "$SHIPGATE" history --env prod
run "$SHIPGATE" audit --env prod
run "$SHIPGATE" audit verify
echo
echo "demo finished: every step behaved as expected"
