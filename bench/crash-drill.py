#!/usr/bin/env python3
"""bench/crash-drill.py — kill shipgate with SIGKILL at random moments, then check it lost nothing.

    bench/crash-drill.py                 # 200 trials
    TRIALS=50 bench/crash-drill.py
    SHIPGATE=/path/to/shipgate bench/crash-drill.py

Each trial changes a random subset of the inputs, starts `shipgate run` of a pipeline with
parallel cached jobs, artifacts and a deploy (with verify), and SIGKILLs the shipgate process
after a random delay between 0 and the length of a full run. Then it checks:

  1. the state database passes `PRAGMA integrity_check`;
  2. `shipgate audit verify` passes;
  3. no process of the run survives (every step carries a marker in its environment);
  4. `shipgate cache verify` passes (no blob or entry is damaged);
  5. `shipgate resume RUN` completes the run (exit 0);
  6. no job recorded as succeeded before the kill runs again on resume;
  7. no deploy is recorded twice or lost: every deploy step that started left a release row of
     the run, release ids are unique, and the run ends with exactly one good release.

Prints the counts and writes them as JSON to bench/out/crash-drill.json.
"""
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

RAN = DEPLOYS = ""
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRIALS = int(os.environ.get("TRIALS", "200"))
SHIPGATE = os.environ.get("SHIPGATE", os.path.join(ROOT, ".build/release/shipgate"))
SEED = int(os.environ.get("SEED", "20261127"))

PIPELINE = """\
name: crash-drill
environments:
  staging: { concurrency: 1 }
jobs:
  gen-a:
    inputs: ["src/a.txt"]
    outputs: ["out/a/**"]
    steps: [{ run: 'echo "ran gen-a $DRILL_MARK" >> ../ran.log; sleep 0.1; mkdir -p out/a; cat src/a.txt src/a.txt > out/a/a.txt' }]
  gen-b:
    inputs: ["src/b.txt"]
    outputs: ["out/b/**"]
    steps: [{ run: 'echo "ran gen-b $DRILL_MARK" >> ../ran.log; sleep 0.15; mkdir -p out/b; cat src/b.txt src/b.txt > out/b/b.txt' }]
  gen-c:
    inputs: ["src/c.txt"]
    outputs: ["out/c/**"]
    steps: [{ run: 'echo "ran gen-c $DRILL_MARK" >> ../ran.log; sleep 0.05; mkdir -p out/c; head -c 200000 /dev/urandom > out/c/noise.bin; cat src/c.txt > out/c/c.txt' }]
  gen-d:
    inputs: ["src/d.txt"]
    outputs: ["out/d/**"]
    steps: [{ run: 'echo "ran gen-d $DRILL_MARK" >> ../ran.log; sleep 0.2; mkdir -p out/d; cat src/d.txt > out/d/d.txt' }]
  build:
    needs: [gen-a, gen-b, gen-c, gen-d]
    steps: [{ run: 'echo "ran build $DRILL_MARK" >> ../ran.log; mkdir -p dist; cat out/a/a.txt out/b/b.txt out/c/c.txt out/d/d.txt > dist/app.txt; date +%s%N >> dist/app.txt' }]
    artifacts: { paths: ["dist/**"] }
  deploy:
    needs: [build]
    environment: staging
    steps:
      - run: 'echo "ran deploy $DRILL_MARK" >> ../ran.log; echo "start $SHIPGATE_RELEASE $DRILL_MARK" >> ../deploys.log; sleep 0.1; mkdir -p live; cp "$SHIPGATE_ARTIFACTS/dist/app.txt" live/app.txt'
    verify:
      - run: 'test -s live/app.txt && sleep 0.05'
    rollback:
      - run: 'cp "$SHIPGATE_ROLLBACK_ARTIFACTS/dist/app.txt" live/app.txt'
"""


def sh(args, cwd, env=None, timeout=120):
    return subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


def marked_processes(mark):
    """Pids whose environment holds DRILL_MARK=mark."""
    needle = ("DRILL_MARK=" + mark).encode() + b"\0"
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if needle in f.read() + b"\0":
                    found.append(int(pid))
        except OSError:
            pass
    return found


def main():
    if not os.access(SHIPGATE, os.X_OK):
        print("bench/crash-drill.py: building %s" % SHIPGATE, file=sys.stderr)
        subprocess.run(["swift", "build", "-c", "release", "--product", "shipgate"], cwd=ROOT, check=True)
    rng = random.Random(SEED)
    tmp = tempfile.mkdtemp(prefix="shipgate-crash-drill.")
    work = os.path.join(tmp, "work")
    global RAN, DEPLOYS
    RAN, DEPLOYS = os.path.join(tmp, "ran.log"), os.path.join(tmp, "deploys.log")  # the steps write ../ran.log
    os.makedirs(os.path.join(work, "pipelines"))
    os.makedirs(os.path.join(work, "src"))
    with open(os.path.join(work, "pipelines/drill.yml"), "w") as f:
        f.write(PIPELINE)
    for name in "abcd":
        with open(os.path.join(work, "src/%s.txt" % name), "w") as f:
            f.write("%s 0\n" % name)
    with open(os.path.join(work, ".gitignore"), "w") as f:
        f.write(".shipgate/\nout/\ndist/\nlive/\n")
    git = ["git", "-c", "user.name=drill", "-c", "user.email=drill@example.com"]
    sh(git + ["init", "-q", "-b", "main"], work)
    sh(git + ["add", "-A"], work)
    sh(git + ["commit", "-qm", "drill"], work)
    base_env = dict(os.environ, NO_COLOR="1", SHIPGATE_ACTOR="drill")
    base_env.pop("SHIPGATE_STATE_DIR", None)

    # One full run first: how long a run takes, so kills land anywhere in it.
    t0 = time.time()
    first = sh([SHIPGATE, "run", "pipelines/drill.yml", "--output", "plain"], work, dict(base_env, DRILL_MARK="warmup"))
    full = time.time() - t0
    if first.returncode != 0:
        print(first.stdout)
        sys.exit("bench/crash-drill.py: the warm-up run failed")

    counts = {"trials": 0, "killed_before_run_recorded": 0, "finished_before_kill": 0, "resumed": 0, "failures": {}}
    examples = {}

    def fail(check, trial, detail):
        counts["failures"][check] = counts["failures"].get(check, 0) + 1
        examples.setdefault(check, "trial %d: %s" % (trial, detail[:400]))

    db = os.path.join(work, ".shipgate/state.db")
    for trial in range(1, TRIALS + 1):
        counts["trials"] += 1
        mark = "trial-%d" % trial
        for name in "abcd":  # change about half of the inputs, so some jobs are cached
            if rng.random() < 0.5:
                with open(os.path.join(work, "src/%s.txt" % name), "w") as f:
                    f.write("%s %d\n" % (name, trial))
        env = dict(base_env, DRILL_MARK=mark)
        ran_before = open(RAN).read().count("\n") if os.path.exists(RAN) else 0
        proc = subprocess.Popen([SHIPGATE, "run", "pipelines/drill.yml", "--output", "plain"], cwd=work, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, full))
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

        # 3. No process of the run survives (the reaper ends steps within about a second).
        deadline = time.time() + 5
        left = marked_processes(mark)
        while left and time.time() < deadline:
            time.sleep(0.1)
            left = marked_processes(mark)
        if left:
            fail("process survived", trial, "pids %s" % left)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

        # 1. Integrity.
        try:
            con = sqlite3.connect(db, timeout=30)
            ok = con.execute("PRAGMA integrity_check").fetchone()[0]
            con.close()
            if ok != "ok":
                fail("integrity_check", trial, ok)
        except sqlite3.Error as e:
            fail("integrity_check", trial, str(e))
        # 2. Audit chain.
        r = sh([SHIPGATE, "audit", "verify"], work, base_env)
        if r.returncode != 0:
            fail("audit verify", trial, r.stdout)
        # 4. Cache.
        r = sh([SHIPGATE, "cache", "verify"], work, base_env)
        if r.returncode != 0:
            fail("cache verify", trial, r.stdout)

        # Which run was it, and what had succeeded?
        status = sh([SHIPGATE, "status", "--json"], work, base_env)
        try:
            st = json.loads(status.stdout)
        except ValueError:
            st = {}
        run_id = st.get("run")
        mark_runs = [l for l in open(RAN).read().splitlines()[ran_before:]] if os.path.exists(RAN) else []
        if not run_id or run_id == last_run_id(counts):
            # Killed before the run was recorded: nothing to resume; nothing may have deployed.
            counts["killed_before_run_recorded"] += 1
            counts["last_run"] = run_id
            if any(l.startswith("ran deploy") for l in mark_runs):
                fail("deploy lost", trial, "a deploy step ran in a run that was never recorded")
            continue
        counts["last_run"] = run_id
        # Recorded successes: the state database and the run's journal (one line per job).
        succeeded = {j["id"] for j in st.get("jobs", []) if j.get("status") in ("success", "cached")}
        journal = os.path.join(work, ".shipgate/runs", run_id, "jobs.jsonl")
        if os.path.exists(journal):
            for line in open(journal).read().splitlines():
                try:
                    j = json.loads(line)
                except ValueError:
                    continue  # a line cut by the kill
                if j.get("status") in ("success", "cached"):
                    succeeded.add(j["id"])

        if st.get("status") == "success":
            counts["finished_before_kill"] += 1  # the kill came after the run's end
        else:
            # 5. Resume completes.
            before = open(RAN).read().count("\n")
            r = sh([SHIPGATE, "resume", run_id, "--output", "plain"], work, env, timeout=300)
            if r.returncode != 0:
                fail("resume", trial, r.stdout[-600:])
                continue
            counts["resumed"] += 1
            # 6. Nothing that had succeeded ran again.
            again = [l.split()[1] for l in open(RAN).read().splitlines()[before:] if l.startswith("ran ")]
            rerun = sorted(set(again) & succeeded)
            if rerun:
                fail("succeeded job rerun", trial, "%s ran again (succeeded before the kill: %s)" % (rerun, sorted(succeeded)))
        # 7. Deploys: every started deploy has its release row, ids are unique, one good release.
        con = sqlite3.connect(db, timeout=30)
        rows = con.execute("SELECT release, status FROM deployments WHERE runID = ?", (run_id,)).fetchall()
        con.close()
        started = [l.split()[1] for l in open(DEPLOYS).read().splitlines() if l.endswith(" " + mark)] if os.path.exists(DEPLOYS) else []
        releases = [r[0] for r in rows]
        if len(releases) != len(set(releases)):
            fail("deploy recorded twice", trial, str(rows))
        missing = sorted(set(started) - set(releases))
        if missing:
            fail("deploy lost", trial, "started but not recorded: %s (rows %s)" % (missing, rows))
        good = [r for r in rows if r[1] == "success"]
        if len(good) != 1:
            fail("deploy recorded twice" if len(good) > 1 else "deploy lost", trial, "good releases of the run: %s" % rows)
        if trial % 20 == 0:
            print("  %d/%d trials, %d failures so far" % (trial, TRIALS, sum(counts["failures"].values())), file=sys.stderr)

    shutil.rmtree(tmp, ignore_errors=True)
    counts.pop("last_run", None)
    counts["full_run_seconds"] = round(full, 2)
    counts["examples"] = examples
    os.makedirs(os.path.join(ROOT, "bench/out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench/out/crash-drill.json"), "w") as f:
        json.dump(counts, f, indent=2)
    print("\ncrash drill: %d trials (SIGKILL at 0–%.1f s into a run of that length)" % (counts["trials"], full))
    print("  killed before the run was recorded: %d; after it finished: %d; resumed: %d" % (
        counts["killed_before_run_recorded"], counts["finished_before_kill"], counts["resumed"]))
    checks = ["integrity_check", "audit verify", "process survived", "cache verify", "resume", "succeeded job rerun", "deploy recorded twice", "deploy lost"]
    for c in checks:
        print("  %-24s %d failure(s)%s" % (c, counts["failures"].get(c, 0), ("  e.g. " + examples[c]) if c in examples else ""))
    sys.exit(1 if counts["failures"] else 0)


def last_run_id(counts):
    return counts.get("last_run")


if __name__ == "__main__":
    main()
