#!/usr/bin/env bash
# The release console walkthrough (sh, python3, curl): a scratch repository with the deploy
# demo pipeline, a console key trusted under `consoles:`, two console users. A run blocks at
# prod; alice approves in the web console (log in, CSRF-protected form), bob through the JSON
# API (`shipgate approve --server`), and `resume` deploys prod.
#   SCREENSHOTS=DIR  also render the pending-approvals page and the run timeline with headless
#                    Chromium into DIR (docs/ uses this)
#   HOLD=1           keep the console running at the end, for a browser (Ctrl-C ends it)
set -euo pipefail
DEMO_NAME=console-demo
source "$(dirname "${BASH_SOURCE[0]}")/demo-lib.sh"
PORT=${PORT:-18080}

say "A scratch repository: pipeline, approvers alice/bob/carol and the console's key in the keyring"
demo_repository
console_line=$("$SHIPGATE" keygen console-1 --dir "$KEYS" 2>/dev/null)
printf 'consoles:\n  %s\n' "$console_line" >> pipelines/approvers.yml
run cat pipelines/approvers.yml
demo_commit
export SHIPGATE_ACTOR=dev PROD_TOKEN=demo-prod-token NO_COLOR=1
python3 deploy/serve.py staging 18181 & pids+=($!)
python3 deploy/serve.py prod 18182 & pids+=($!)

say "1. A run deploys to staging and blocks at prod (exit 3)"
set +e; "$SHIPGATE" run pipelines/deploy.yml --output plain >/dev/null; code=$?; set -e
[ "$code" = 3 ] || { echo "console demo: expected the run to block (exit 3), got $code" >&2; exit 1; }
RUN=$("$SHIPGATE" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["run"])')
echo "run $RUN is waiting for 2 approvals of prod"

say "2. Console users (bcrypt passwords) and an API token for bob"
echo "alice-demo-password" | run "$SHIPGATE" user add alice --password-stdin
echo "bob-demo-password" | run "$SHIPGATE" user add bob --password-stdin
BOB_TOKEN=$("$SHIPGATE" user token bob 2>/dev/null)

say "3. The console, signing with its own key on behalf of logged-in users"
"$SHIPGATE" serve --port "$PORT" --key "$KEYS/console-1.key" --pipeline pipelines/deploy.yml > "$DEMO/serve.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$DEMO/serve.log"; echo "console demo: the console did not start" >&2; exit 1; }
cat "$DEMO/serve.log"

say "4. alice logs in and approves in the browser form"
JAR=$DEMO/cookies
login_token=$(curl -fs -c "$JAR" "http://127.0.0.1:$PORT/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
curl -fs -b "$JAR" -c "$JAR" -o /dev/null -d "csrf=$login_token&user=alice&password=alice-demo-password" "http://127.0.0.1:$PORT/login"
curl -fs -b "$JAR" "http://127.0.0.1:$PORT/approvals" > "$DEMO/approvals.html"
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$DEMO/approvals.html" | head -1)
curl -fs -b "$JAR" -o "$DEMO/approved.html" --data-urlencode "csrf=$csrf" --data-urlencode "run=$RUN" --data-urlencode "environment=prod" \
  --data-urlencode "decision=approve" --data-urlencode "comment=staging verified, release notes checked" "http://127.0.0.1:$PORT/approvals"
grep -o 'alice approved the prod deploy[^<]*' "$DEMO/approved.html"
if [ -n "${SCREENSHOTS:-}" ]; then cp "$DEMO/approved.html" "$DEMO/pending.html"; fi

say "5. bob approves through the JSON API"
SHIPGATE_TOKEN=$BOB_TOKEN run "$SHIPGATE" approve "$RUN" --env prod --server "http://127.0.0.1:$PORT" --comment "LGTM"

say "6. resume: both console approvals count (the console key is trusted), prod deploys"
run "$SHIPGATE" resume "$RUN" --output plain
run "$SHIPGATE" audit --env prod
run curl -fs "http://127.0.0.1:$PORT/metrics" -o "$DEMO/metrics.txt"
grep -E '^shipgate_(pending_approvals|deploys)' "$DEMO/metrics.txt"

if [ -n "${SCREENSHOTS:-}" ]; then
  say "Screenshots with headless Chromium"
  out=$(cd "$REPO_ROOT" && mkdir -p "$SCREENSHOTS" && cd "$SCREENSHOTS" && pwd)
  "$SHIPGATE" report "$RUN" --html "$DEMO/run.html"
  chrome=$(command -v chromium || command -v chromium-browser)
  for page in pending run; do
    "$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1200 \
      --screenshot="$out/console-$page.png" "file://$DEMO/$page.html" 2>/dev/null
    echo "wrote $out/console-$page.png"
  done
fi
echo
echo "console demo finished: approved in the browser and through the API, deployed on resume"
if [ "${HOLD:-0}" = 1 ]; then
  echo "the console stays up at http://127.0.0.1:$PORT (alice / alice-demo-password); Ctrl-C ends it"
  wait
fi
