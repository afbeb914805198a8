#!/usr/bin/env python3
"""search-quality.py -- the search decoders' fidelity table of decokit-plugins(7), regenerated.

Usage: tools/search-quality.py DECOKIT [SRCDIR]

Prompts: 100 held-out prompts from models/heldout.txt (never trained on):
its paragraphs are split into clauses after . ! ? ; or :, clauses of at
least 8 words are kept (233), 100 of them are taken at even spacing and
each is cut to 60 characters at a word.  Every pipeline runs every prompt
with `decokit run PIPELINE --json -q -n 32 -p PROMPT` on the bundled model.

Columns, each a mean over the prompts:
  log p       the completion's summed raw log-probabilities (and on how many
              prompts that is at least greedy's)
  ppl         exp(-mean raw log-probability per token): fluency under the model
  rep-2/rep-4 1 - distinct/all word n-grams of the completion (SimCTG's rep-n)
  dist-2/3    distinct/all word n-grams over the four n-best results
  keyword     share of completions containing the word "king"
  attribute   share of completions mentioning "Lord" or "God" (the ACBS head's
              attribute)
"""
import json
import math
import os
import re
import subprocess
import sys
import tempfile

N_PROMPTS = 100

DEAL_KEYWORD = """# search-quality's DeAL: the keyword reward alone.
decokit: 1
decoder: { plugin: deal, width: 2, k: 5, lookahead: 6, lambda: 2.0 }
scorers:
  - { plugin: keyword, keywords: [king] }
"""


def prompts(src):
    with open(os.path.join(src, "models", "heldout.txt"), encoding="utf-8") as f:
        lines = [l.strip() for l in f if l.strip()]
    clauses = [c for l in lines for c in re.split(r"(?<=[.!?;:])\s+", l) if len(c.split()) >= 8]
    out = []
    for i in range(N_PROMPTS):
        cut = clauses[i * len(clauses) // N_PROMPTS][:60]
        out.append(cut[: cut.rfind(" ")] if " " in cut else cut)
    return out


def run(dk, pipeline, sets, prompt):
    cmd = [dk, "run"] + ([pipeline] if pipeline else []) + sets
    cmd += ["--json", "-q", "-n", "32", "-p", prompt]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def ngrams(words, n):
    return list(zip(*[words[i:] for i in range(n)]))


def rep(text, n):
    g = ngrams(text.split(), n)
    return 1 - len(set(g)) / len(g) if g else 0.0


def distinct(texts, n):
    g = [x for t in texts for x in ngrams(t.split(), n)]
    return len(set(g)) / len(g) if g else 0.0


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def measure(dk, pipe, sets, ps):
    rows = []
    for p in ps:
        c = run(dk, pipe, sets, p)["completions"][0]
        lps = [t["logprob"] for t in c["logprobs"]]
        text = c["text"]
        r = {"logp": sum(lps), "ppl": math.exp(-mean(lps)) if lps else float("nan"),
             "rep2": rep(text, 2), "rep4": rep(text, 4),
             "keyword": re.search(r"\bking\b", text, re.I) is not None,
             "attr": re.search(r"\b(Lord|God)\b", text) is not None}
        if "results" in c:
            texts = [x["text"] for x in c["results"]]
            r["dist2"], r["dist3"] = distinct(texts, 2), distinct(texts, 3)
        rows.append(r)
    return rows


def main():
    dk = sys.argv[1]
    src = sys.argv[2] if len(sys.argv) > 2 else "."
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(DEAL_KEYWORD)
        deal_kw = f.name
    cfg = lambda name: os.path.join(src, "config", name)  # noqa: E731
    pipelines = [
        ("greedy", None, []),
        ("beam", cfg("beam.yaml"), []),
        ("dbs 0.5", cfg("diverse-beam.yaml"), []),
        ("dbs 2.0", cfg("diverse-beam.yaml"), ["--set", "decoder.diversity=2.0"]),
        ("momentum", cfg("momentum.yaml"), []),
        ("contrastive", cfg("contrastive.yaml"), []),
        ("deal", deal_kw, []),
        ("acbs", cfg("acbs.yaml"), []),
    ]
    ps = prompts(src)
    try:
        greedy = None
        print("%-12s %8s %5s %6s %6s %6s %6s %6s %7s %9s"
              % ("decoder", "log p", ">=g", "ppl", "rep-2", "rep-4", "dist-2", "dist-3", "keyword", "attribute"))
        for name, pipe, sets in pipelines:
            rows = measure(dk, pipe, sets, ps)
            greedy = greedy or rows
            atleast = sum(a["logp"] >= g["logp"] - 1e-9 for a, g in zip(rows, greedy))
            d2 = mean([r["dist2"] for r in rows if "dist2" in r])
            d3 = mean([r["dist3"] for r in rows if "dist3" in r])
            fmt = lambda x: "-" if math.isnan(x) else "%.3f" % x  # noqa: E731
            print("%-12s %8.2f %5d %6.2f %6.3f %6.3f %6s %6s %7.2f %9.2f"
                  % (name, mean([r["logp"] for r in rows]), atleast, mean([r["ppl"] for r in rows]),
                     mean([r["rep2"] for r in rows]), mean([r["rep4"] for r in rows]), fmt(d2), fmt(d3),
                     mean([r["keyword"] for r in rows]), mean([r["attr"] for r in rows])))
            sys.stdout.flush()
    finally:
        os.unlink(deal_kw)


if __name__ == "__main__":
    main()
