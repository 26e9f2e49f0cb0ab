#!/usr/bin/env python3
"""Compare reprobe's per-step verdicts with the native truth.

usage: compare.py GRAPH.toml REPORT.json TRUTH.txt CHECKOUT1 CHECKOUT2 [--whole OUTDIR]

GRAPH.toml  the graph reprobe checked (from `reprobe import ninja -o`), for each step's outputs
REPORT.json `reprobe check --json`
TRUTH.txt   truth.sh's output (DIFFER/ONLY1/ONLY2 lines)
CHECKOUT1/2 the two native checkouts (symlink outputs are compared with readlink there)
--whole OUTDIR  a whole-command check: one step whose outputs are every file under OUTDIR

Prints one line per step (step, native, verdict, right/WRONG, note) and a summary line
  "summary: steps=N right=R wrong=W false_reproducible=F failed=X false_undeclared=U not_applied=A"
"""
import json, os, sys, tomllib

args = sys.argv[1:]
whole = None
if "--whole" in args:
    i = args.index("--whole"); whole = args[i + 1]; del args[i:i + 2]
graph_path, report_path, truth_path, d1, d2 = args
report = json.load(open(report_path))
differ = set()
only = set()
for line in open(truth_path):
    parts = line.rstrip("\n").split(" ", 1)
    if len(parts) == 2 and parts[0] == "DIFFER":
        differ.add(parts[1])
    elif len(parts) == 2 and parts[0] in ("ONLY1", "ONLY2"):
        only.add(parts[1])

if whole:
    outputs = {s["name"]: None for s in report["steps"]}
else:
    graph = tomllib.load(open(graph_path, "rb"))
    outputs = {name: decl.get("outputs", []) for name, decl in graph["steps"].items()}


def native(outs):
    """'differs', 'same' or 'unknown (why)' for a list of root-relative outputs."""
    if outs is None:  # whole command: every file under the out dir
        return ("differs" if differ or only else "same"), sorted(differ | only)
    bad = []
    for o in outs:
        if o in differ or o in only:
            bad.append(o); continue
        p1, p2 = os.path.join(d1, o), os.path.join(d2, o)
        if os.path.islink(p1) or os.path.islink(p2):
            if not (os.path.islink(p1) and os.path.islink(p2) and os.readlink(p1) == os.readlink(p2)):
                bad.append(o)
        elif os.path.isdir(p1):
            # a directory output: compare every file below it
            for root, _, files in os.walk(p1):
                for f in files:
                    rel = os.path.relpath(os.path.join(root, f), d1)
                    if rel in differ or rel in only:
                        bad.append(rel)
        elif not os.path.exists(p1):
            return "unknown (not built natively: %s)" % o, []
    return ("differs" if bad else "same"), bad


counts = dict(steps=0, right=0, wrong=0, false_reproducible=0, failed=0, false_undeclared=0,
              not_applied=0, false_alarm=0)
for s in report["steps"]:
    name, verdict = s["name"], s["verdict"]
    counts["steps"] += 1
    nat, bad = native(outputs.get(name, []))
    note = ""
    if s.get("not_applied"):
        counts["not_applied"] += 1
        note += " not_applied=" + ",".join(n.get("variation", "?") for n in s["not_applied"])
    if verdict == "failed":
        counts["failed"] += 1; counts["wrong"] += 1; ok = "WRONG(failed)"
    elif verdict == "undeclared":
        if nat == "same":
            counts["false_undeclared"] += 1; counts["wrong"] += 1; ok = "WRONG(false undeclared)"
        else:
            counts["wrong"] += 1; ok = "WRONG(undeclared, differs natively)"
        note += " undeclared=" + ",".join(str(u.get("path", u)) if isinstance(u, dict) else str(u)
                                          for u in s.get("undeclared", [])[:5])
    elif verdict == "network":
        counts["wrong"] += 1; ok = "WRONG(network)"
    elif nat.startswith("unknown"):
        ok = "n/a"
    elif nat == "differs" and verdict in ("nondeterministic", "cascade"):
        counts["right"] += 1; ok = "right"
    elif nat == "same" and verdict == "reproducible":
        counts["right"] += 1; ok = "right"
    elif nat == "differs" and verdict == "reproducible":
        counts["false_reproducible"] += 1; counts["wrong"] += 1; ok = "WRONG(false reproducible)"
    else:
        counts["false_alarm"] += 1; counts["wrong"] += 1; ok = "WRONG(false alarm)"
    reasons = sorted({r.get("kind", "?") for r in s.get("reasons", []) if isinstance(r, dict)})
    vw = s.get("varies_with", "")
    print(f"{name}\tnative={nat}\tverdict={verdict}\t{ok}\treasons={','.join(reasons)}"
          f"{' varies_with=' + json.dumps(vw) if vw else ''}{note}"
          f"{' differing=' + ','.join(bad[:3]) if bad and ok != 'right' else ''}")
print("summary: " + " ".join(f"{k}={v}" for k, v in counts.items()))
