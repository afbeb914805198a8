#!/usr/bin/env python3
"""search-quality.py -- the search decoders' quality table of decokit-plugins(7), regenerated.

Usage: tools/search-quality.py DECOKIT [SRCDIR]

Prompts: the first 20 of every third line of models/heldout.txt longer than 80
characters, cut to 60 characters at a word.  For each pipeline every prompt is
run with `decokit run PIPELINE --json -q -n 32 -p PROMPT`; the table gives the
mean over prompts of the completion's summed raw log-probabilities, on how
many prompts that is at least greedy's, and for
the n-best pipelines distinct-2: distinct word pairs over all word pairs of
the four results, averaged over prompts.
"""
import json
import os
import subprocess
import sys


def prompts(src):
    with open(os.path.join(src, "models", "heldout.txt"), encoding="utf-8") as f:
        lines = [l.strip() for l in f if len(l.strip()) > 80]
    out = []
    for line in lines[::3][:20]:
        cut = line[:60]
        out.append(cut[: cut.rfind(" ")] if " " in cut else cut)
    return out


def run(dk, pipeline, sets, prompt):
    cmd = [dk, "run"] + ([pipeline] if pipeline else []) + sets
    cmd += ["--json", "-q", "-n", "32", "-p", prompt]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def distinct2(texts):
    pairs = [p for t in texts for p in zip(t.split(), t.split()[1:])]
    return len(set(pairs)) / len(pairs) if pairs else 0.0


def main():
    dk = sys.argv[1]
    src = sys.argv[2] if len(sys.argv) > 2 else "."
    rows = [
        ("sample (greedy)", None, []),
        ("beam, width 4", "config/beam.yaml", []),
        ("diverse_beam, 4 groups, 0.5", "config/diverse-beam.yaml", []),
        ("diverse_beam, 4 groups, 2.0", "config/diverse-beam.yaml", ["--set", "decoder.diversity=2.0"]),
    ]
    ps = prompts(src)
    greedy = None
    for name, pipe, sets in rows:
        per, d2 = [], []
        for p in ps:
            c = run(dk, pipe and os.path.join(src, pipe), sets, p)["completions"][0]
            per.append(sum(t["logprob"] for t in c["logprobs"]))
            if "results" in c:
                d2.append(distinct2([r["text"] for r in c["results"]]))
        greedy = greedy or per
        dist = "%.3f" % (sum(d2) / len(d2)) if d2 else "-"
        atleast = sum(a >= g for a, g in zip(per, greedy))
        print("%-30s total log p %8.2f   >= greedy on %d of %d   distinct-2 %s"
              % (name, sum(per) / len(ps), atleast, len(ps), dist))


if __name__ == "__main__":
    main()
