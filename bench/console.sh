#!/usr/bin/env bash
# bench/console.sh — how fast the release console renders with a large history: a state store
# seeded with 10,000 runs (6 jobs each, gates, a release per run, three audit entries per run,
# a few deploys waiting for approval), then each page and API route fetched REPEAT times.
#
#   bench/console.sh                    # 10,000 runs, 30 fetches per page
#   RUNS=50000 REPEAT=50 bench/console.sh
#   SHIPGATE=/path/to/shipgate bench/console.sh
#
# Peer: nginx serving the same page's bytes as a static file, over the same loopback and curl:
# the floor for an HTTP round trip of that size. The target is < 100 ms per page.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${RUNS:-10000}
REPEAT=${REPEAT:-30}
PORT=${PORT:-18090}
NGINX_PORT=${NGINX_PORT:-18091}
SHIPGATE=${SHIPGATE:-$PWD/.build/release/shipgate}
if [ ! -x "$SHIPGATE" ]; then
  echo "bench/console.sh: building $SHIPGATE (swift build -c release --product shipgate)" >&2
  swift build -c release --product shipgate
fi
TMP=$(mktemp -d /tmp/shipgate-console-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
cd "$TMP"
git="git -c user.name=bench -c user.email=bench@example.com -c init.defaultBranch=main"
mkdir -p repo/pipelines keys && cd repo
cat > pipelines/deploy.yml <<'YAML'
name: console-bench
environments:
  staging: { concurrency: 1 }
  prod:
    branches: [main]
    approvals: { required: 2, from: [alice, bob] }
    concurrency: 1
    window: { days: [mon, tue, wed, thu, fri], hours: "09:00-17:00", timezone: Europe/Berlin }
jobs:
  lint: { steps: [{ run: 'true' }] }
  test: { steps: [{ run: 'true' }] }
  build: { steps: [{ run: 'true' }] }
  scan: { needs: [build], steps: [{ run: 'true' }] }
  deploy-staging: { needs: [test, build], environment: staging, steps: [{ run: 'true' }] }
  deploy-prod: { needs: [deploy-staging, scan], environment: prod, steps: [{ run: 'true' }] }
YAML
for who in alice bob; do "$SHIPGATE" keygen "$who" --dir ../keys 2>/dev/null >> pipelines/approvers.yml; done
printf 'consoles:\n  %s\n' "$("$SHIPGATE" keygen console --dir ../keys 2>/dev/null)" >> pipelines/approvers.yml
printf '.shipgate/\n' > .gitignore
$git init -q && $git add -A && $git commit -qm bench
export SHIPGATE_ACTOR=bench NO_COLOR=1
"$SHIPGATE" run pipelines/deploy.yml --job lint --output plain > /dev/null  # creates the state database

echo "seeding $RUNS runs ..." >&2
python3 - "$RUNS" "$(git rev-parse HEAD)" "$PWD" <<'PY'
import hashlib, json, sqlite3, sys, datetime
n, commit, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
db = sqlite3.connect(".shipgate/state.db")
t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)
last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
seq, prev = last if last else (0, "0" * 64)
runs, jobs, gates, deps, audit = [], [], [], [], []
def entry(at, kind, env, run, detail):
    global seq, prev
    seq += 1
    fields = [str(seq), at, kind, "bench", env, run, detail, prev]
    text = "shipgate-audit-1\n" + "".join("%d:%s\n" % (len(f.encode()), f) for f in fields)
    h = hashlib.sha256(text.encode()).hexdigest()
    audit.append((seq, at, kind, "bench", env, run, detail, prev, h))
    prev = h
for i in range(n):
    rid = "2026%04d-%06d-%03d%06x" % (i // 1000 % 10000, i % 1000000, i % 1000, i)
    start = t0 + datetime.timedelta(minutes=7 * i)
    pending = i >= n - 5
    status = "blocked" if pending else ("failed" if i % 23 == 0 else "success")
    git = json.dumps({"author": "Dev <dev@example.com>", "branch": "main", "subject": "change %d" % i, "tag": "v1.%d.0" % i, "commit": commit})
    runs.append((rid, "console-bench", root + "/pipelines/deploy.yml", "sha256:p", status, "bench", commit, "main", "v1.%d.0" % i, root, 1, "bench-host", 0, None, git, iso(start), iso(start + datetime.timedelta(seconds=95))))
    for k, (job, ms) in enumerate([("lint", 4000), ("test", 30000), ("build", 45000), ("scan", 12000), ("deploy-staging", 20000), ("deploy-prod", 25000)]):
        js = "blocked" if pending and job == "deploy-prod" else ("cached" if k < 2 and i % 3 == 0 else "success")
        s = start + datetime.timedelta(seconds=k * 10)
        rec = {"id": job, "status": js, "attempts": 1, "durationMs": ms, "startedAt": iso(s)[:19] + "Z", "finishedAt": iso(s + datetime.timedelta(milliseconds=ms))[:19] + "Z", "outputs": {}, "continueOnError": False, "log": "logs/%s.log" % job}
        jobs.append((rid, job, js, json.dumps(rec), iso(s), ms))
    decision = json.dumps({"environment": "prod", "passed": not pending, "rules": [{"rule": "approvals", "passed": not pending, "detail": "2 of 2 approvals" if not pending else "0 of 2 approvals"}], "approvedBy": [], "refused": [], "approvalsMissing": 2 if pending else 0, "canApprove": ["alice", "bob"]})
    gates.append((rid, "deploy-prod", "prod", commit, "sha256:p", json.dumps({"build": "sha256:%064x" % i}), "blocked" if pending else "passed", decision, "bench", iso(start), iso(start)))
    entry(iso(start), "gate", "prod", rid, '{"decision":"%s"}' % ("blocked" if pending else "passed"))
    if not pending:
        env = "prod" if i % 2 else "staging"
        deps.append(("%s-%06d" % (env, i), env, rid, "deploy-" + env, "v1.%d.0" % i, commit, "{}", "[]", "success" if i % 17 else "rolled-back", "alice,bob", "bench", None, None, 1, "bench-host", iso(start), iso(start + datetime.timedelta(seconds=90))))
        entry(iso(start), "deploy-started", env, rid, "{}")
        entry(iso(start), "deploy", env, rid, '{"status":"success"}')
db.executemany("INSERT INTO runs (id, pipeline, pipelineFile, pipelineDigest, status, actor, commitID, branch, version, workspace, pid, host, partial, selection, git, startedAt, finishedAt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", runs)
db.executemany("INSERT INTO jobs (runID, id, status, record, finishedAt, durationMs) VALUES (?,?,?,?,?,?)", jobs)
db.executemany("INSERT INTO gates (runID, job, environment, commitID, pipelineDigest, artifacts, status, decision, requestedBy, requestedAt, updatedAt) VALUES (?,?,?,?,?,?,?,?,?,?,?)", gates)
db.executemany("INSERT INTO deployments (release, environment, runID, job, version, commitID, artifacts, files, status, approvedBy, actor, detail, rollbackOf, pid, host, startedAt, finishedAt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", deps)
db.executemany("INSERT INTO audit (seq, at, kind, actor, environment, runID, detail, prevHash, hash) VALUES (?,?,?,?,?,?,?,?,?)", audit)
db.commit()
print("seeded %d runs, %d jobs, %d releases, %d audit entries" % (len(runs), len(jobs), len(deps), len(audit)), file=sys.stderr)
PY
"$SHIPGATE" audit verify > /dev/null || { echo "bench/console.sh: the seeded audit chain does not verify" >&2; exit 1; }
echo "bench-password" | "$SHIPGATE" user add alice --password-stdin > /dev/null
TOKEN=$("$SHIPGATE" user token alice 2>/dev/null)
"$SHIPGATE" serve --port "$PORT" --key ../keys/console.key --pipeline pipelines/deploy.yml > ../serve.log 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && break; sleep 0.1; done
JAR=../cookies
tok=$(curl -fs -c $JAR "http://127.0.0.1:$PORT/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
curl -fs -b $JAR -c $JAR -o /dev/null -d "csrf=$tok&user=alice&password=bench-password" "http://127.0.0.1:$PORT/login"
RUN=$(python3 -c "import sqlite3; print(sqlite3.connect('.shipgate/state.db').execute('SELECT id FROM runs ORDER BY startedAt DESC LIMIT 1 OFFSET 10').fetchone()[0])")

# nginx as the peer: the approvals page's bytes as a static file.
mkdir -p ../www && chmod 755 "$TMP" ../www  # nginx workers run as another user
curl -fs -b $JAR "http://127.0.0.1:$PORT/approvals" > ../www/approvals.html
cat > ../nginx.conf <<CONF
worker_processes 1; daemon off; pid $TMP/nginx.pid; error_log $TMP/nginx-error.log;
events { worker_connections 64; }
http { access_log off; server { listen 127.0.0.1:$NGINX_PORT; root $TMP/www; } }
CONF
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -c "$TMP/nginx.conf" -p "$TMP" 2> /dev/null & pids+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$NGINX_PORT/approvals.html" > /dev/null 2>&1 && break; sleep 0.1; done

fetch() { # fetch NAME URL [curl args]: REPEAT times; prints "NAME p50 p95 bytes"
  local name=$1 url=$2; shift 2
  curl -fs "$@" "$url" -o /dev/null  # warm
  local times=() t bytes
  for _ in $(seq "$REPEAT"); do
    read -r t bytes < <(curl -fs "$@" -o /dev/null -w '%{time_total} %{size_download}\n' "$url")
    times+=("$t")
  done
  printf '%s\n' "${times[@]}" | python3 -c "
import sys; v = sorted(float(x) * 1000 for x in sys.stdin)
p = lambda q: v[min(len(v) - 1, int(round(q * (len(v) - 1))))]
print('%-34s %8.1f %8.1f %9d' % ('$name', p(0.5), p(0.95), $bytes))"
}
printf '\nrelease console with %s runs (%s fetches each; ms)\n' "$RUNS" "$REPEAT"
printf '%-34s %8s %8s %9s\n' "page" "p50" "p95" "bytes"
{
  fetch "/environments" "http://127.0.0.1:$PORT/environments" -b $JAR
  fetch "/approvals (5 pending, git, rules)" "http://127.0.0.1:$PORT/approvals" -b $JAR
  fetch "/runs (newest 50)" "http://127.0.0.1:$PORT/runs" -b $JAR
  fetch "/runs?page=150" "http://127.0.0.1:$PORT/runs?page=150" -b $JAR
  fetch "/runs/ID (timeline)" "http://127.0.0.1:$PORT/runs/$RUN" -b $JAR
  fetch "/environments/prod/history" "http://127.0.0.1:$PORT/environments/prod/history" -b $JAR
  fetch "/audit (chain verified)" "http://127.0.0.1:$PORT/audit" -b $JAR
  fetch "/metrics" "http://127.0.0.1:$PORT/metrics"
  fetch "/api/environments" "http://127.0.0.1:$PORT/api/environments" -H "Authorization: Bearer $TOKEN"
  fetch "/api/approvals?pending=true" "http://127.0.0.1:$PORT/api/approvals?pending=true" -H "Authorization: Bearer $TOKEN"
  fetch "nginx: approvals page, static" "http://127.0.0.1:$NGINX_PORT/approvals.html"
} | tee ../results.txt
python3 - ../results.txt <<'PY'
import sys
rows = [l.rsplit(None, 3) for l in open(sys.argv[1]) if l.strip()]
peer = float(rows[-1][1])
worst = max(rows[:-1], key=lambda r: float(r[2]))
approvals = next(r for r in rows if r[0].startswith("/approvals"))
print("\napprovals page vs nginx serving its bytes: %.1fx (p50 %.1f vs %.1f ms)" % (float(approvals[1]) / peer, float(approvals[1]), peer))
print("slowest p95: %s %.1f ms (target < 100 ms per page)" % (worst[0].strip(), float(worst[2])))
PY
