#!/usr/bin/env python3
"""Summarise bench/run.sh raw measurements: print the table, write JSON lines.

Called by bench/run.sh; not meant to be run by hand. Inputs (TSV, no header
unless noted):
  --raw   shape, n, tool, repeat, wall_s (or FAILED), rss_kb, cpu_s
  --tools header + tool, bin, version
  --cmds  shape, n, tool, command line
"""
import argparse
import json
import os
import socket
import statistics
import sys

TARGET_RATIO = 1.5   # shipgate/ninja, wide, N=1000
TARGET_RSS_MB = 60   # shipgate peak RSS


def read_tsv(path, header=False):
    rows = []
    if not path or not os.path.exists(path):
        return rows
    with open(path) as f:
        lines = f.read().splitlines()
    if header:
        lines = lines[1:]
    for line in lines:
        if line.strip():
            rows.append(line.split("\t"))
    return rows


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--tools", required=True)
    ap.add_argument("--cmds")
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--stamp", required=True)
    ap.add_argument("--parallel", type=int, required=True)
    ap.add_argument("--repeat", type=int, required=True)
    ap.add_argument("--load", default="?")
    ap.add_argument("--nproc", default="?")
    ap.add_argument("--busy", default="?,?", help="idle-machine CPU busy %% before,after")
    args = ap.parse_args(argv)

    tools = {r[0]: {"bin": r[1], "version": r[2] if len(r) > 2 else "?"}
             for r in read_tsv(args.tools, header=True)}
    tool_order = list(tools)
    cmds = {(r[0], int(r[1]), r[2]): r[3] for r in read_tsv(args.cmds)}

    # (shape, n) -> tool -> {"walls": [...], "rss": [...], "failed": bool}
    data = {}
    scen_order = []
    for shape, n, tool, _rep, wall, rss, cpu in read_tsv(args.raw):
        key = (shape, int(n))
        if key not in data:
            data[key] = {}
            scen_order.append(key)
        d = data[key].setdefault(tool, {"walls": [], "rss": [], "cpu": [], "failed": False})
        if wall == "FAILED":
            d["failed"] = True
        else:
            d["walls"].append(float(wall))
            d["rss"].append(int(rss))
            d["cpu"].append(float(cpu))

    results = []
    for key in scen_order:
        shape, n = key
        summ = {}
        for tool, d in data[key].items():
            if d["failed"] or not d["walls"]:
                summ[tool] = None
                continue
            med = statistics.median(d["walls"])
            summ[tool] = {
                "median": med,
                "min": min(d["walls"]),
                "max": max(d["walls"]),
                "per_job_ms": med / n * 1000.0,
                "rss_mb": max(d["rss"]) / 1024.0,
                "walls": d["walls"],
                "cpu": statistics.median(d["cpu"]),
            }
        base = {b: (summ.get(b) or {}).get("median") for b in ("ninja", "make")}
        for tool in sorted(data[key], key=lambda t: tool_order.index(t) if t in tool_order else 99):
            s = summ[tool]
            rec = {
                "type": "result",
                "stamp": args.stamp,
                "host": socket.gethostname(),
                "nproc": args.nproc,
                "load1_at_start": args.load,
                "cpu_busy_pct_before_after": args.busy,
                "shape": shape,
                "n": n,
                "tool": tool,
                "version": tools.get(tool, {}).get("version", "?"),
                "command": cmds.get((shape, n, tool)),
                "parallel": args.parallel,
                "repeat": args.repeat,
                "status": "failed" if s is None else "ok",
            }
            if s is not None:
                rec.update({
                    "walls_s": [round(w, 6) for w in s["walls"]],
                    "median_wall_s": round(s["median"], 6),
                    "min_wall_s": round(s["min"], 6),
                    "max_wall_s": round(s["max"], 6),
                    "per_job_ms": round(s["per_job_ms"], 4),
                    "median_cpu_s": round(s["cpu"], 3),
                    "peak_rss_mb": round(s["rss_mb"], 2),
                })
                for b, bv in base.items():
                    rec["ratio_vs_" + b] = round(s["median"] / bv, 4) if bv else None
            results.append(rec)

    # ---- table
    head = ["scenario", "tool", "median wall (s)", "min-max (s)", "per job (ms)",
            "CPU (s)", "peak RSS (MB)", "x ninja", "x make"]
    rows = []
    for r in results:
        scen = "%s N=%d" % (r["shape"], r["n"])
        if r["status"] != "ok":
            rows.append([scen, r["tool"], "FAILED", "", "", "", "", "", ""])
            continue
        rows.append([
            scen, r["tool"],
            "%.3f" % r["median_wall_s"],
            "%.3f-%.3f" % (r["min_wall_s"], r["max_wall_s"]),
            "%.3f" % r["per_job_ms"],
            "%.2f" % r["median_cpu_s"],
            "%.1f" % r["peak_rss_mb"],
            fmt(r.get("ratio_vs_ninja"), ".2f"),
            fmt(r.get("ratio_vs_make"), ".2f"),
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)] if rows else [len(h) for h in head]
    left = {0, 1}

    def line(cells):
        return "  ".join(str(c).ljust(w) if i in left else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    print()
    print(line(head))
    print("  ".join("-" * w for w in widths))
    prev = None
    for r, row in zip(results, rows):
        if prev is not None and (r["shape"], r["n"]) != prev:
            print()
        prev = (r["shape"], r["n"])
        print(line(row))
    print()

    # ---- targets: shipgate/ninja on wide N=1000 (else the largest wide N)
    def get(shape, n, tool):
        for r in results:
            if (r["shape"], r["n"], r["tool"]) == (shape, n, tool) and r["status"] == "ok":
                return r
        return None

    wide_ns = sorted({r["n"] for r in results if r["shape"] == "wide"})
    tn = 1000 if 1000 in wide_ns else (wide_ns[-1] if wide_ns else 1000)
    sg, nj = get("wide", tn, "shipgate"), get("wide", tn, "ninja")
    ratio = sg["median_wall_s"] / nj["median_wall_s"] if sg and nj else None
    sg_rss = [r["peak_rss_mb"] for r in results if r["tool"] == "shipgate" and r["status"] == "ok"]
    peak = max(sg_rss) if sg_rss else None
    print("shipgate/ninja (wide, N=%d): %s (target \u2264 %.1f\u00d7); shipgate peak RSS: %s (target < %d MB)"
          % (tn, (fmt(ratio, ".2f") + "\u00d7") if ratio is not None else "n/a", TARGET_RATIO,
             (fmt(peak, ".1f") + " MB") if peak is not None else "n/a", TARGET_RSS_MB))
    results.append({
        "type": "targets",
        "stamp": args.stamp,
        "n": tn,
        "shipgate_over_ninja_wide": round(ratio, 4) if ratio is not None else None,
        "target_ratio_max": TARGET_RATIO,
        "ratio_ok": (ratio <= TARGET_RATIO) if ratio is not None else None,
        "shipgate_peak_rss_mb": round(peak, 2) if peak is not None else None,
        "target_rss_mb_below": TARGET_RSS_MB,
        "rss_ok": (peak < TARGET_RSS_MB) if peak is not None else None,
    })

    os.makedirs(os.path.dirname(os.path.abspath(args.jsonl)), exist_ok=True)
    with open(args.jsonl, "w") as f:
        for r in results:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
