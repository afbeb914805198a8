#!/usr/bin/env python3
# dllm-bench.py -- fidelity and speed of every masked-diffusion decoder against one-position-per-step decoding.
"""For each dLLM decoder: model calls (NFE), tokens per call, wall time, and
agreement with the L-ref reference (the `diffusion` decoder unmasking the
single most confident position per step: steps = gen_length), token by token
and as exact matches over N prompts; on a GGUF dLLM also the perplexity of
the outputs under the AR target (the bundled decokit-tiny, whose tokenizer
the bundled dLLM shares).

Models
  toymask:VARIANT   the test fixture (tests/fixtures/toymask.c): `stable`
                    predictions never change (every draft verifies), `hash`
                    predictions hash all they see (no draft verifies after a
                    change); prompts are seeded random letters.
  FILE.gguf         a dLLM; prompts are 48-character pieces of
                    models/heldout.txt, 200 characters apart.

Wall time is decokit's per-completion time_total_s, summed; every method runs
every prompt once, methods interleaved per prompt so load falls on all alike.
AdaBlock and CCD pick their own number of calls; for each, one more row runs
the reference's decoder with the steps nearest to that mean NFE, so their
quality can be read at equal NFE (no row when that is the reference itself).

Usage: dllm-bench.py BUILDDIR SRCDIR [--model M]... [--prompts N] [--gen G]
       [--block B] [--filter FILE] [--tau T]... [--threshold T]...
       [--model-plugin NAME|FILE.so]
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile


def methods(gen, block, filt, taus, thresholds):
    """(name, decoder flow mapping) pairs; the first is the reference."""
    m = [
        ("reference (top-1 per step)", f"plugin: diffusion, gen_length: {gen}, block_length: {block}, steps: {gen}"),
        ("diffusion, 2 per step", f"plugin: diffusion, gen_length: {gen}, block_length: {block}, steps: {gen // 2}"),
        ("diffusion, dual cache", f"plugin: diffusion, gen_length: {gen}, block_length: {block}, steps: {gen}, cache: dual"),
        ("diffusion, no cache", f"plugin: diffusion, gen_length: {gen}, block_length: {block}, steps: {gen}, cache: none"),
    ]
    m += [(f"fast-dllm threshold {t:g}", f"plugin: diffusion, gen_length: {gen}, block_length: {block}, threshold: {t:g}")
          for t in thresholds]
    m += [
        ("prophet", f"plugin: prophet, gen_length: {gen}, block_length: {block}, steps: {gen}"),
        ("adablock", f"plugin: adablock, gen_length: {gen}, block_length: {block}"),
        ("ccd", f"plugin: ccd, gen_length: {gen}, block_length: {block}, steps: {gen}"),
        ("freedave K=4", f"plugin: freedave, gen_length: {gen}, block_length: {block}, draft_steps: 4"),
        ("freedave K=8", f"plugin: freedave, gen_length: {gen}, block_length: {block}, draft_steps: 8"),
        ("learn2pd, no filter", f"plugin: learn2pd, gen_length: {gen}, block_length: {block}"),
    ]
    for tau in taus if filt else []:
        m.append((f"learn2pd, filter, tau {tau:g}", f"plugin: learn2pd, gen_length: {gen}, block_length: {block}, "
                  f"filter: {os.path.abspath(filt)}, tau: {tau:g}"))
    return m


def prompts(model, n, srcdir):
    if model.startswith("toymask:"):
        rng = random.Random(1234)
        return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randint(4, 24))) for _ in range(n)]
    with open(os.path.join(srcdir, "models", "heldout.txt"), encoding="utf-8") as f:
        text = " ".join(p.strip() for p in f if p.strip())
    # 48-character pieces of the held-out text, each started at a word.
    out, at = [], 0
    while len(out) < n and at < len(text):
        start = text.find(" ", at) + 1 if at else 0
        out.append(text[start:start + 48])
        at = start + 200
    if len(out) < n:
        sys.exit(f"dllm-bench: the held-out text gives only {len(out)} prompts")
    return out


def model_line(model, plugin):
    if model.startswith("toymask:"):
        return f"model: {{ plugin: toymask, variant: {model.split(':', 1)[1]}, n_ctx: 1024 }}"
    return f"model: {{ plugin: {plugin}, path: {os.path.abspath(model)} }}"


def run(decokit, plugin_path, yaml_path, prompt):
    out = subprocess.run([decokit, "run", yaml_path, "--plugin-path", plugin_path, "-p", prompt, "--json", "-q"],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"dllm-bench: decokit failed on {yaml_path}: {out.stderr.strip()}")
    return json.loads(out.stdout)["completions"][0]


def perplexity(decokit, texts, tmp):
    """Perplexity of the outputs, joined one per line, under the bundled AR target."""
    path = os.path.join(tmp, "outputs.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
    out = subprocess.run([decokit, "perplexity", path], capture_output=True, text=True, check=False)
    for line in (out.stdout + out.stderr).splitlines():
        if "perplexity" in line.lower():
            for word in line.replace(":", " ").split():
                try:
                    return float(word)
                except ValueError:
                    continue
    return math.nan


def bench(args, model, tmp):
    decokit = os.path.join(args.builddir, "core", "decokit")
    plugin_path = os.path.join(args.builddir, "tests", "fixtures", ".libs")
    ms = methods(args.gen, args.block, args.filter, args.tau, args.threshold)
    ps = prompts(model, args.prompts, args.srcdir)
    files = []
    for i, (_, dec) in enumerate(ms):
        path = os.path.join(tmp, f"m{i}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"decokit: 1\n{model_line(model, args.model_plugin)}\ndecoder: {{ {dec} }}\n"
                    f"generate: {{ max_tokens: {args.gen}, ignore_eos: true }}\n")
        files.append(path)
    res = [[] for _ in ms]
    for p in ps:
        for i, path in enumerate(files):
            res[i].append(run(decokit, plugin_path, path, p))
    # The adaptive decoders' quality at equal NFE: the reference's decoder with
    # the whole number of steps per block nearest to each one's mean NFE.
    blocks = -(-args.gen // args.block)
    for name in ("adablock", "ccd"):
        i = next(j for j, (n, _) in enumerate(ms) if n == name)
        mean = sum(r["stats"]["forward_passes"] for r in res[i]) / len(ps)
        steps = max(1, round(mean / blocks)) * blocks
        if steps == args.gen:
            continue  # the reference itself
        ms.append((f"diffusion, {steps} steps (at {name}'s NFE)", ""))
        path = os.path.join(tmp, f"m{len(files)}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"decokit: 1\n{model_line(model, args.model_plugin)}\ndecoder: {{ plugin: diffusion, "
                    f"gen_length: {args.gen}, block_length: {args.block}, steps: {steps} }}\n"
                    f"generate: {{ max_tokens: {args.gen}, ignore_eos: true }}\n")
        files.append(path)
        res.append([run(decokit, plugin_path, path, p) for p in ps])
    ref = res[0]
    rows = []
    for (name, _), rs in zip(ms, res):
        nfe = sum(r["stats"]["forward_passes"] for r in rs)
        toks = sum(len(r["tokens"]) for r in rs)
        wall = sum(r["stats"]["time_total_s"] for r in rs)
        same = sum(sum(a == b for a, b in zip(r["tokens"], q["tokens"])) for r, q in zip(rs, ref))
        exact = sum(r["tokens"] == q["tokens"] for r, q in zip(rs, ref))
        ppl = math.nan if model.startswith("toymask:") else perplexity(decokit, [r["text"] for r in rs], tmp)
        rows.append((name, nfe / len(rs), toks / nfe if nfe else math.nan, wall,
                     ref_nfe_ratio(ref, rs), same / max(1, sum(len(q["tokens"]) for q in ref)),
                     exact / len(rs), ppl))
    return rows


def ref_nfe_ratio(ref, rs):
    a = sum(r["stats"]["forward_passes"] for r in ref)
    b = sum(r["stats"]["forward_passes"] for r in rs)
    return a / b if b else math.nan


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builddir")
    ap.add_argument("srcdir")
    ap.add_argument("--model", action="append", help="toymask:VARIANT or a dLLM GGUF (repeatable)")
    ap.add_argument("--prompts", type=int, default=100)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--block", type=int, default=32)
    ap.add_argument("--filter", help="a learn2pd filter file for the learn2pd row")
    ap.add_argument("--tau", type=float, action="append", help="learn2pd thresholds with the filter (default 0.5)")
    ap.add_argument("--threshold", type=float, action="append",
                    help="Fast-dLLM confidence thresholds of the diffusion decoder (default 0.9)")
    ap.add_argument("--model-plugin", default="llama", help="the model plugin for a GGUF: a name or a .so path")
    args = ap.parse_args()
    models = args.model or ["toymask:stable", "toymask:hash"]
    args.tau = args.tau or [0.5]
    args.threshold = args.threshold or [0.9]
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            rows = bench(args, model, tmp)
            print(f"\n{model}: {args.prompts} prompts, gen_length {args.gen}, block_length {args.block}, "
                  f"cache prefix unless named\n")
            print("| decoder | NFE per prompt | tokens per call | wall s (sum) | calls saved vs reference "
                  "| token agreement | exact match | perplexity (AR target) |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            for name, nfe, tpc, wall, ratio, agree, exact, ppl in rows:
                p = "n/a" if math.isnan(ppl) else f"{ppl:.2f}"
                print(f"| {name} | {nfe:.1f} | {tpc:.2f} | {wall:.3f} | {ratio:.2f}x | {agree * 100:.1f}% "
                      f"| {exact * 100:.0f}% | {p} |")


if __name__ == "__main__":
    main()
