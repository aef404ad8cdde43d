#!/usr/bin/env python3
"""Generates the cached-rerun scenario: N jobs, each reading FILES input files and writing one
output, for shipgate (pipeline.yml), ninja (build.ninja) and go-task (Taskfile.yml).

usage: gen_cache.py --jobs 1000 --files 10 --out DIR
"""
import argparse
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    pipeline = ["name: bench-cache", "jobs:"]
    ninja = ["rule cat", "  command = cat $in > $out", ""]
    task = ["version: '3'", "tasks:"]
    alls = []
    for j in range(a.jobs):
        name = f"j{j:04d}"
        src = os.path.join(a.out, "src", name)
        os.makedirs(src, exist_ok=True)
        inputs = []
        for f in range(a.files):
            path = f"src/{name}/f{f}.txt"
            with open(os.path.join(a.out, path), "w") as fh:
                fh.write(f"{name} file {f}\n" * 20)
            inputs.append(path)
        pipeline += [
            f"  {name}:",
            "    needs: []",
            f'    inputs: ["src/{name}/**"]',
            f"    outputs: [out/{name}.txt]",
            "    steps:",
            f'      - run: "mkdir -p out && cat src/{name}/* > out/{name}.txt"',
        ]
        ninja.append(f"build out/{name}.txt: cat {' '.join(inputs)}")
        task += [
            f"  {name}:",
            f"    sources: ['src/{name}/**']",
            f"    generates: ['out/{name}.txt']",
            f"    cmds: ['mkdir -p out && cat src/{name}/* > out/{name}.txt']",
        ]
        alls.append(name)
    task += ["  all:", "    deps: [" + ", ".join(alls) + "]"]
    for fname, lines in (("pipeline.yml", pipeline), ("build.ninja", ninja), ("Taskfile.yml", task)):
        with open(os.path.join(a.out, fname), "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
