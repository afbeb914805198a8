#!/usr/bin/python3
"""lud_bench.py -- fidelity and speed of the lud decoder on held-out prompts: the table in the README.

For every prompt (the first words of held-out paragraphs) it runs greedy and
lud at several beta values (plus verify: true) on the fine-tuned model with
`decokit run --json`, and reports per configuration:
  tokens/forward   generated tokens / forward passes (both from decokit's stats)
  rows/token       positions the model evaluated (model_tokens) / generated tokens
  speed-up         greedy's summed time_total_s / this configuration's (best of --repeats)
  exact match      share of prompts whose output is token for token greedy's
  ppl(base)        perplexity of the generated tokens under the base model,
                   each given the prompt and the tokens before it (torch)

Usage: lud_bench.py --decokit BUILD/core/decokit --plugin-path BUILD/plugins/.libs \
           --model models/decokit-tiny-lud.gguf --base models/decokit-tiny.gguf \
           --heldout models/heldout.txt [--prompts 24] [--max-tokens 96]
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def prompts_from(path, n, words):
    with open(path) as f:
        paras = [p.split() for p in f.read().split("\n") if len(p.split()) >= 3 * words]
    idx = np.linspace(0, len(paras) - 1, n).round().astype(int)
    return [" ".join(paras[i][:words]) for i in idx]


def pipeline_file(a, decoder):
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write("decokit: 1\nmodel: { plugin: llama, path: %s }\ndecoder: %s\n"
                "samplers: [ { plugin: greedy } ]\ngenerate: { max_tokens: %d, threads: 1 }\n"
                % (os.path.abspath(a.model), decoder, a.max_tokens))
    return f.name


def run_all(a, configs, prompts):
    """{name: [(prompt ids, completion)]}, each the fastest of --repeats runs.
    Configurations alternate within each repeat so that a change of machine
    load hits them all alike."""
    files = {name: pipeline_file(a, dec) for name, dec in configs}
    best = {name: [None] * len(prompts) for name, _ in configs}
    try:
        for i, p in enumerate(prompts):
            for _ in range(a.repeats):
                for name, _ in configs:
                    cmd = [a.decokit, "run", files[name], "--plugin-path", a.plugin_path, "--json", "-q", "-p", p]
                    d = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
                    c = d["completions"][0]
                    b = best[name][i]
                    if b is None or c["stats"]["time_total_s"] < b[1]["stats"]["time_total_s"]:
                        best[name][i] = (d["prompt_tokens"], c)
    finally:
        for f in files.values():
            os.unlink(f)
    return best


def base_nll(model, prompt_ids, toks):
    import torch
    ids = torch.tensor([list(prompt_ids) + list(toks)])
    with torch.no_grad():
        lp = model(ids[:, :-1]).double().log_softmax(-1)[0]
    n0 = len(prompt_ids)
    return -sum(float(lp[n0 - 1 + i, t]) for i, t in enumerate(toks)), len(toks)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decokit", required=True)
    ap.add_argument("--plugin-path", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--words", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ms", default="4,1", help="slot counts m to try")
    ap.add_argument("--betas", default="1,0.8,0.7,0.6,0.5,0.4")
    ap.add_argument("--verify-beta", type=float, default=0.5)
    a = ap.parse_args()
    import torch
    import lud_train
    torch.set_num_threads(1)
    base = lud_train.base_model(a.base)
    prompts = prompts_from(a.heldout, a.prompts, a.words)
    configs = [("greedy", "{plugin: sample}")]
    for m in a.ms.split(","):
        for b in a.betas.split(","):
            configs.append(("lud m %s, beta %s" % (m, b), "{plugin: lud, m: %s, beta: %s}" % (m, b)))
        configs.append(("lud m %s, verify, beta %g" % (m, a.verify_beta),
                        "{plugin: lud, m: %s, beta: %g, verify: true}" % (m, a.verify_beta)))
    res = run_all(a, configs, prompts)
    g = res["greedy"]
    gtime = sum(c["stats"]["time_total_s"] for _, c in g)
    print("| decoding | tokens/forward | rows evaluated/token | speed-up over greedy | exact match with greedy | ppl under base |")
    print("|---|---|---|---|---|---|")
    for name, _ in configs:
        rows = res[name]
        toks = sum(c["stats"]["generated_tokens"] for _, c in rows)
        fw = sum(c["stats"]["forward_passes"] for _, c in rows)
        mt = sum(c["stats"]["model_tokens"] for _, c in rows)
        t = sum(c["stats"]["time_total_s"] for _, c in rows)
        same = sum(c["tokens"] == gc["tokens"] for (_, c), (_, gc) in zip(rows, g))
        s = n = 0.0
        for pid, c in rows:
            ds, dn = base_nll(base, pid, c["tokens"])
            s, n = s + ds, n + dn
        print("| %s | %.3f | %.2f | %.2f× | %d/%d | %.3f |"
              % (name, toks / fw, mt / toks, gtime / t, same, len(rows), math.exp(s / n)))


if __name__ == "__main__":
    main()
