#!/usr/bin/env python3
"""Survey how many GitHub Actions job variants `shipgate plan` would run natively.

Usage: python3 bench/workflow-survey.py SURVEY_DIR [--shipgate PATH] [--out results.json] [--top N]

SURVEY_DIR holds one git repository per surveyed project
(<owner>__<repo>/.github/workflows/*.yml|*.yaml): copy each project's `.github/`
into it and commit (`git init -q && git add -A && git commit -qm s`). The
projects of the README's survey: pallets/flask, fastapi/fastapi,
encode/starlette, pydantic/pydantic, pypa/pip, pytest-dev/pytest,
python-poetry/poetry, python/mypy, astral-sh/ruff, rust-lang/rust-analyzer,
tokio-rs/tokio, golangci/golangci-lint, cli/cli, vitejs/vite, sveltejs/svelte,
psf/requests, encode/httpx, pallets/click, psf/black, sqlalchemy/sqlalchemy,
celery/celery.  For every
workflow file it runs, from that repository's directory:

    shipgate plan .github/workflows/FILE --ignore-triggers --json

with SHIPGATE_ACTIONS_CACHE=/tmp/survey-cache (plan never fetches), writes the
raw per-file results to --out and prints a summary.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# First match wins; checked in this order.
REFUSAL_CAUSES = [
    ("asks for Windows", "Windows runner"),
    ("asks for macOS", "macOS runner"),
    ("asks for ARM64", "ARM64 runner"),
    ("is not a label this host serves", "label this host does not serve"),
    ("runs in the container", "job container"),
    # before "Docker": the service message also says "without Docker"
    ("no local equivalent", "service container (no local equivalent)"),
    ("Docker", "Docker (action/image)"),
    ("cannot be decided before the run", "cannot be decided before the run"),
    ("known only when the run starts", "known only when the run starts"),
]

# "refused: path/file.yml:12:5: rest" -> "rest"
LOCATION = re.compile(r"^refused:\s*(?:[^:\s]+:\d+(?::\d+)?:\s*)?")


def refusal_cause(reason):
    for needle, label in REFUSAL_CAUSES:
        if needle in reason:
            return label
    return "other: " + LOCATION.sub("", reason)[:80]


def other_skip_cause(reason):
    r = reason or ""
    if r.startswith("not selected"):
        return "not selected"
    if r.startswith("not triggered"):
        return "not triggered"
    if r.startswith("if") or "`if:" in r or " if:" in r or r.startswith("condition"):
        return "if"
    return r[:80] or "(no reason)"


def action_name(uses):
    return uses.split("@", 1)[0]


def is_sha(uses):
    ref = uses.split("@", 1)[1] if "@" in uses else ""
    return re.fullmatch(r"[0-9a-fA-F]{40}", ref) is not None


def workflow_files(repo_dir):
    wf = os.path.join(repo_dir, ".github", "workflows")
    if not os.path.isdir(wf):
        return []
    return sorted(f for f in os.listdir(wf)
                  if f.endswith((".yml", ".yaml")) and os.path.isfile(os.path.join(wf, f)))


def plan_file(shipgate, repo_dir, name, cache, timeout):
    env = dict(os.environ, SHIPGATE_ACTIONS_CACHE=cache)
    cmd = [shipgate, "plan", ".github/workflows/" + name, "--ignore-triggers", "--json"]
    try:
        p = subprocess.run(cmd, cwd=repo_dir, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""), f"timed out after {timeout}s"
    doc = None
    try:
        doc = json.loads(out) if out.strip() else None
    except json.JSONDecodeError:
        doc = None
    first_err = next((l.strip() for l in (err or "").splitlines() if l.strip()), "")
    rec = {"repo": os.path.basename(repo_dir), "file": name, "exit": rc,
           "stderrFirstLine": first_err if rc != 0 else None, "jsonParsed": doc is not None}
    if doc is not None:
        rec["jobs"] = [{"id": j.get("id"), "job": j.get("job"), "matrix": j.get("matrix"),
                        "status": j.get("status"), "reason": j.get("reason")} for j in doc.get("jobs", [])]
        rec["actions"] = [{"uses": a.get("uses"), "pinned": a.get("pinned"), "cachedCommit": a.get("cachedCommit")}
                          for a in doc.get("actions", []) or []]
    return rec


def summarize(results, top):
    s = collections.OrderedDict()
    planned = [r for r in results if r["exit"] == 0 and r["jsonParsed"]]
    failed = [r for r in results if r["exit"] != 0]
    jobs = [j for r in planned for j in r.get("jobs", [])]
    status = collections.Counter(j["status"] for j in jobs)
    refused = collections.Counter(refusal_cause(j["reason"] or "") for j in jobs
                                  if j["status"] != "run" and (j["reason"] or "").startswith("refused:"))
    other = collections.Counter(other_skip_cause(j["reason"]) for j in jobs
                                if j["status"] != "run" and not (j["reason"] or "").startswith("refused:"))
    actions = collections.Counter()
    uses_total = uses_pinned = 0
    for r in planned:
        acts = r.get("actions", [])
        uses_total += len(acts)
        uses_pinned += sum(1 for a in acts if a["pinned"] is True or (a["pinned"] is None and is_sha(a["uses"])))
        for name in {action_name(a["uses"]) for a in acts}:
            actions[name] += 1
    per_repo = collections.OrderedDict()
    for r in planned:
        d = per_repo.setdefault(r["repo"], collections.Counter())
        for j in r.get("jobs", []):
            d["variants"] += 1
            d["run"] += j["status"] == "run"
    s["files"] = len(results)
    s["planned"] = len(planned)
    s["failed"] = len(failed)
    s["nonzeroWithJSON"] = sum(1 for r in failed if r["jsonParsed"])
    s["variants"] = len(jobs)
    s["status"] = dict(status)
    s["run"] = status.get("run", 0)
    s["refused"] = sum(refused.values())
    s["refusedByCause"] = refused.most_common()
    s["otherSkips"] = sum(other.values())
    s["otherSkipsByCause"] = other.most_common()
    s["fetchedUsesEntries"] = uses_total
    s["fetchedUsesPinnedToSHA"] = uses_pinned
    s["topActions"] = actions.most_common(top)
    s["perRepo"] = {k: dict(v) for k, v in per_repo.items()}
    s["failures"] = [{"repo": r["repo"], "file": r["file"], "exit": r["exit"], "error": r["stderrFirstLine"]} for r in failed]
    return s


def print_summary(s):
    pct = lambda a, b: f"{100.0 * a / b:.1f}%" if b else "-"
    print(f"files {s['files']}  planned {s['planned']}  failed {s['failed']}")
    print(f"job variants {s['variants']}  run {s['run']} ({pct(s['run'], s['variants'])})  "
          f"refused {s['refused']}  other skips {s['otherSkips']}")
    print("refusals by cause:")
    for c, n in s["refusedByCause"]:
        print(f"  {n:5d}  {c}")
    print("other skips:")
    for c, n in s["otherSkipsByCause"]:
        print(f"  {n:5d}  {c}")
    print(f"fetched `uses`: {s['fetchedUsesEntries']}, pinned to SHA {s['fetchedUsesPinnedToSHA']}")
    print("top fetched actions (files using them):")
    for a, n in s["topActions"]:
        print(f"  {n:4d}  {a}")
    print("per repo (run/variants):")
    for k, v in s["perRepo"].items():
        print(f"  {k}: {v.get('run', 0)}/{v.get('variants', 0)}")
    if s["failures"]:
        print("failed to plan:")
        for f in s["failures"]:
            print(f"  {f['repo']}/{f['file']} (exit {f['exit']}): {f['error']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("survey_dir")
    ap.add_argument("--shipgate", default=os.path.join(HERE, "..", ".build", "release", "shipgate"))
    ap.add_argument("--out", default=None, help="raw results JSON (default SURVEY_DIR/results.json)")
    ap.add_argument("--cache", default="/tmp/survey-cache")
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    out = a.out or os.path.join(a.survey_dir, "results.json")
    results = []
    for repo in sorted(os.listdir(a.survey_dir)):
        rd = os.path.join(a.survey_dir, repo)
        if not os.path.isdir(os.path.join(rd, ".git")):
            continue
        for f in workflow_files(rd):
            results.append(plan_file(a.shipgate, rd, f, a.cache, a.timeout))
    s = summarize(results, a.top)
    with open(out, "w") as fh:
        json.dump({"summary": s, "files": results}, fh, indent=1)
    print_summary(s)
    print(f"raw results: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
