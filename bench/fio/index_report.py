"""index_report.py - RESULTS.md for a bench/fio run on several kernels (report.py --index OUT K...).

Each kernel's VM run has its own report (RESULTS-K.md, results/K/ with goals.json, written by
report.py RAW OUT K); this page puts the issue-18 goals of every kernel side by side, links the
reports and appends results/NOTES.md. Ratios are never taken across kernels: each figure is a
ratio within its own VM run.
"""
import json, os, re


def goal_cell(g):
    if g is None or g.get("ratio") is None:
        return "-"
    rng = f" ({g['min']:.2f}-{g['max']:.2f})" if g.get("min") is not None and len(g.get("per_repeat", [])) > 1 else ""
    if g.get("met") is None:
        verdict = ""
    elif g["met"]:
        verdict = " met"
    else:
        verdict = f" **missed** by {abs(g['ratio'] - g['bound']) / g['bound'] * 100:.0f}%"
    return f"**{g['ratio']:.2f}x**{rng}{verdict}"


def main(out, kernels):
    runs = {}
    for k in kernels:
        p = os.path.join(out, "results", k, "goals.json")
        runs[k] = json.load(open(p)) if os.path.exists(p) else {"goals": []}
    L = ["# LoopOrder vs the kernel loop driver: fio side by side, per kernel\n",
         "> **Absolute numbers mean nothing here.** Everything runs in a qemu **TCG** (software-emulated) VM on a "
         "small shared host; only the **ratios within one VM run** count, so every figure below is a ratio within one "
         "kernel's run, never across kernels. Regenerate with one command: `BENCH_PRESET=issue18 bench/fio/run.sh` "
         "(both kernels in turn; see [bench/fio/README.md](fio/README.md)).\n",
         "## Runs\n"]
    for k in kernels:
        r = runs[k]
        L.append(f"- **{k}**: [RESULTS-{k}.md](RESULTS-{k}.md), guest kernel {r.get('kernel', '?')}, {r.get('date', '?')}, "
                 f"commit `{r.get('commit', '?')}`, {r.get('repeats', '?')} repeats of {r.get('runtime', '?')} s per job, "
                 f"VM wall time {r.get('vm_seconds', '?')} s")
    L.append("")
    # the goals in the order of the first kernel that has them, then any only another has
    order = []
    for k in kernels:
        for g in runs[k]["goals"]:
            if g["what"] not in order:
                order.append(g["what"])
    if order:
        L.append("## Issue 18 goals, per kernel\n")
        L.append("Ratio of the medians over the interleaved repeats, in brackets the lowest and highest ratio within one "
                 "repeat (the spread); CPU per I/O is guest-wide (`/proc/stat`) over fio's measured window, lower is "
                 "better. Rows without a bound are for reading the others.\n")
        L.append("| goal | want | " + " | ".join(kernels) + " |")
        L.append("|---|---|" + "---|" * len(kernels))
        for what in order:
            gs = {k: next((g for g in runs[k]["goals"] if g["what"] == what), None) for k in kernels}
            any_g = next(g for g in gs.values() if g)
            want = "" if any_g.get("op") is None else f"{any_g['op']} {any_g['bound']:.1f}x"
            L.append(f"| {what} | {want} | " + " | ".join(goal_cell(gs[k]) for k in kernels) + " |")
        L.append("")
    notes = os.path.join(out, "results", "NOTES.md")
    if os.path.exists(notes):
        # NOTES.md links relative to results/; RESULTS.md sits one folder up
        L.append(re.sub(r"\]\((?![a-z]+:|/|#)([^)\s]+)\)", r"](results/\1)", open(notes).read().rstrip()) + "\n")
    micro = os.path.join(out, "results", "micro")
    if os.path.isdir(micro) and os.listdir(micro):
        L.append("## Micro-benchmarks (BenchmarkDotNet)\n")
        for f in sorted(os.listdir(micro), key=lambda n: (n != "SUMMARY.md", n)):
            if f.endswith(".md"):
                L.append(f"- [{f}](results/micro/{f})")
        L.append("")
    L.append("## Files\n")
    L.append("- `RESULTS-<kernel>.md`: each kernel's full report; `results/<kernel>/`: its `runs.json`, `goals.json`, "
             "`raw/` (fio JSON, CPU samples, settle times, logs) and chart.")
    open(os.path.join(out, "RESULTS.md"), "w").write("\n".join(L) + "\n")
    print(f"index: {len(kernels)} kernels, {len(order)} goals")
