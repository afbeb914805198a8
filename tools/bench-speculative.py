#!/usr/bin/env python3
# bench-speculative.py -- speed of the speculative family against greedy, in one run, and llama.cpp's examples side by side.
"""Speculative decoding benchmark: for each task and method, the mean accepted
length tau, tokens per target forward, the wall-clock speed-up over `sample`
greedy measured in the same run, and whether every output equals greedy's.

Tasks
  a  held-out Austen/KJV paragraphs (models/heldout.txt), bundled target + draft, 64 tokens
  b  copy-heavy: the prompt holds a paragraph twice and the start of a third copy, 128 tokens
  c  the 110M synthetic Q8_0 target with a Q4_0 copy as draft (made by llama-synth), 32 tokens
ADED's store is written by aded-store from the held-out paragraphs not used as prompts.

Timing: every round runs all methods once on all prompts, in a rotating order,
so load from other processes falls on all of them alike; a method's speed-up
is the median over rounds of greedy's decode time divided by its own.  Decode
time is the completion's time after the prompt (decokit's per-completion
time_total_s; llama.cpp's "decoded ... in" or the eval time of llama-cli).

Usage: bench-speculative.py BUILDDIR SRCDIR [--tasks abc] [--rounds N]
       [--llama DIR_WITH_LLAMA_BINARIES] [--threads T]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile


def words(line, n):
    return " ".join(line.split()[:n])


def tasks(src, build, which):
    lines = [l.strip() for l in open(os.path.join(src, "models", "heldout.txt"), encoding="utf-8") if l.strip()]
    picks = list(range(0, len(lines), max(1, len(lines) // 4)))[:4]
    tiny = os.path.join(src, "models", "decokit-tiny.gguf")
    tiny_d = os.path.join(src, "models", "decokit-tiny-draft.gguf")
    out = []
    if "a" in which:
        out.append(("a", "held-out continuations, bundled pair", tiny, tiny_d, [words(lines[i], 24) for i in picks], 64))
    if "b" in which:
        copy = []
        for i in picks[:3]:
            para = words(lines[i], 25)  # the bundled model's context is 256 tokens
            copy.append(para + "\n" + para + "\n" + words(para, 6))
        out.append(("b", "copy-heavy, bundled pair", tiny, tiny_d, copy, 128))
    if "c" in which:
        q8 = os.path.join(build, "bench-models", "synth-110m-q8_0.gguf")
        q4 = os.path.join(build, "bench-models", "synth-110m-q4_0.gguf")
        vocab = os.path.join(os.environ.get("DECOKIT_TEST_MODELS", os.path.join(src, "..", "shared", "models")),
                             "vocab", "ggml-vocab-llama-spm.gguf")
        for f, t in ((q8, "q8_0"), (q4, "q4_0")):
            if not os.path.exists(f):
                os.makedirs(os.path.dirname(f), exist_ok=True)
                subprocess.run([os.path.join(build, "tools", "synth", "llama-synth"), f, "--preset", "110m",
                                "--type", t, "--vocab-from", vocab], check=True, stdout=subprocess.DEVNULL)
        out.append(("c", "110M synthetic Q8_0 target, Q4_0 draft", q8, q4,
                    [words(lines[i], 12) for i in picks[:2]], 32))
    return out, lines, picks


# name, decoder/drafter YAML (a format string over {draft}, {store}), llama.cpp counterpart
METHODS = [
    ("greedy", "", "greedy"),
    ("draft_model k=4", "draft: {{ plugin: llama, path: {draft} }}\ndecoder: {{ plugin: speculative }}\n"
     "drafter: {{ plugin: draft_model, k: 4 }}\n", "speculative"),
    ("draft_model k=4 width=2", "draft: {{ plugin: llama, path: {draft} }}\ndecoder: {{ plugin: speculative }}\n"
     "drafter: {{ plugin: draft_model, k: 4, width: 2 }}\n", None),
    ("draft_model k=3 p_min=0.3", "draft: {{ plugin: llama, path: {draft} }}\ndecoder: {{ plugin: speculative }}\n"
     "drafter: {{ plugin: draft_model, k: 3, p_min: 0.3 }}\n", None),
    ("prompt_lookup", "decoder: {{ plugin: speculative }}\ndrafter: {{ plugin: prompt_lookup }}\n", None),
    ("ngram_cache", "decoder: {{ plugin: speculative }}\ndrafter: {{ plugin: ngram_cache, max_n: 4, tokens: 10 }}\n",
     "lookup"),
    ("token_recycling", "decoder: {{ plugin: speculative, max_draft: 80 }}\ndrafter: {{ plugin: token_recycling }}\n", None),
    ("token_recycling nodes=16", "decoder: {{ plugin: speculative }}\ndrafter: {{ plugin: token_recycling, nodes: 16 }}\n",
     None),
    ("aded", "decoder: {{ plugin: speculative, max_draft: 64 }}\ndrafter: {{ plugin: aded, store: {store} }}\n", None),
    ("aded choices=16", "decoder: {{ plugin: speculative }}\ndrafter: {{ plugin: aded, store: {store}, choices: 16 }}\n",
     None),
    ("lookahead W5 N4 G5", "decoder: {{ plugin: lookahead }}\n", None),
    ("lookahead W15 N5 G15", "decoder: {{ plugin: lookahead, n: 5, window: 15, guesses: 15 }}\n", "lookahead"),
]


def run_decokit(dk, yaml_text, prompt, n, threads, tmp):
    path = os.path.join(tmp, "p.yaml")
    with open(path, "w") as f:
        f.write(yaml_text)
    p = subprocess.run([dk, "run", "--json", "-t", str(threads), "-n", str(n), "-p", prompt, path],
                       capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stderr.strip() + "\n" + yaml_text)
    c = json.loads(p.stdout)["completions"][0]
    return c["tokens"], c["stats"]


def llama_run(bindir, kind, target, draft, prompt, n, threads):
    """Decode seconds, generated tokens and target forwards of one llama.cpp run.  Every target
    call of llama.cpp's examples commits its accepted drafts and one token more, so the calls
    are the tokens less the accepted drafts."""
    common = ["-m", target, "-p", prompt, "-n", str(n), "--temp", "0", "-t", str(threads), "-c", "1024"]
    if kind == "greedy":
        cmd = [os.path.join(bindir, "llama-cli"), "-no-cnv", "--no-warmup"] + common
    elif kind == "speculative":
        cmd = [os.path.join(bindir, "llama-speculative"), "-md", draft, "-td", str(threads), "--draft-max", "4",
               "--draft-min", "0", "--draft-p-min", "0"] + common
    elif kind == "lookup":
        cmd = [os.path.join(bindir, "llama-lookup"), "--draft-max", "10"] + common
    else:
        cmd = [os.path.join(bindir, "llama-lookahead")] + common
    p = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    log = p.stdout + p.stderr
    if kind == "greedy":
        m = re.search(r"\beval time =\s*([\d.]+) ms /\s*(\d+) runs", log)
        if not m:
            raise RuntimeError("llama-cli: no eval time\n" + log[-2000:])
        return float(m.group(1)) / 1e3, int(m.group(2)), int(m.group(2))
    m = re.search(r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds", log)
    if not m:
        raise RuntimeError(kind + ": no decode time\n" + log[-2000:])
    acc = re.search(r"n_accept\s*=\s*(\d+)", log)
    if not acc:
        raise RuntimeError(kind + ": no n_accept\n" + log[-2000:])
    return float(m.group(2)), int(m.group(1)), int(m.group(1)) - int(acc.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("src")
    ap.add_argument("--tasks", default="abc")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of tasks a and b")
    ap.add_argument("--rounds-c", type=int, default=2, help="rounds of task c (the 110M model is slow)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--llama", default=os.environ.get("LLAMA_CPP_BIN"))
    a = ap.parse_args()
    a.build, a.src = os.path.abspath(a.build), os.path.abspath(a.src)
    dk = os.path.join(a.build, "core", "decokit")
    todo, lines, picks = tasks(a.src, a.build, a.tasks)
    with tempfile.TemporaryDirectory() as tmp:
        # ADED's store: held-out paragraphs that are not prompts, in the target's tokens.
        corpus = "\n".join(l for i, l in enumerate(lines) if i not in picks)
        ids = subprocess.run([dk, "tokenize", "--ids", "--no-bos", "-"], input=corpus, capture_output=True,
                             text=True, check=True).stdout
        store = os.path.join(tmp, "heldout.tri")
        with open(store, "w") as f:
            f.write(subprocess.run([os.path.join(a.build, "tools", "aded-store")], input=ids, capture_output=True,
                                   text=True, check=True).stdout)
        print("| task | method | tau | tokens/target call | speed-up vs greedy | identical | llama.cpp speed-up | llama.cpp tokens/call |")
        print("|---|---|---:|---:|---:|---|---:|---:|")
        for key, title, target, draft, prompts, n in todo:
            # Task c keeps the configurations llama.cpp shares and prompt lookup (a 110M
            # forward is slow); the ADED store is in the bundled model's tokens.
            methods = [m for m in METHODS if key != "c" or m[2] or m[0] in ("prompt_lookup", "draft_model k=3 p_min=0.3")]
            base = f"decokit: 1\nmodel: {{ plugin: llama, path: {target} }}\n"
            greedy_toks = {}
            times = {m[0]: [] for m in methods}
            stats = {m[0]: [] for m in methods}
            same = {m[0]: True for m in methods}
            ltimes = {m[2]: [] for m in methods if m[2]}
            lcalls = {m[2]: [0, 0] for m in methods if m[2]}
            for r in range(a.rounds_c if key == "c" else a.rounds):
                order = methods[r % len(methods):] + methods[:r % len(methods)]
                per = {m[0]: 0.0 for m in methods}
                lper = {k: 0.0 for k in ltimes}
                for name, y, lk in order:
                    for pi, prompt in enumerate(prompts):
                        toks, st = run_decokit(dk, base + y.format(draft=draft, store=store) +
                                               "samplers:\n  - { plugin: greedy }\n", prompt, n, a.threads, tmp)
                        per[name] += st["time_total_s"]
                        if r == 0:
                            stats[name].append(st)
                            if name == "greedy":
                                greedy_toks[pi] = toks
                            elif toks != greedy_toks[pi]:
                                same[name] = False
                        if a.llama and lk:
                            sec, got, calls = llama_run(a.llama, lk, target, draft, prompt, n, a.threads)
                            lper[lk] += sec
                            if r == 0:
                                lcalls[lk][0] += got
                                lcalls[lk][1] += calls
                for name in per:
                    times[name].append(per[name])
                for k in lper:
                    ltimes[k].append(lper[k])
            for name, _, lk in methods:
                sts = stats[name]
                tau = statistics.mean(s.get("tau", 0) for s in sts) if name != "greedy" else 0
                tpc = (sum(s["generated_tokens"] for s in sts) / sum(s.get("target_calls", s["generated_tokens"]) for s in sts))
                sp = statistics.median(g / t for g, t in zip(times["greedy"], times[name]))
                lsp = ltpc = ""
                if a.llama and lk:
                    lsp = "%.2f" % statistics.median(g / t for g, t in zip(ltimes["greedy"], ltimes[lk]))
                    ltpc = "%.2f" % (lcalls[lk][0] / lcalls[lk][1]) if lcalls[lk][1] else ""
                print(f"| {key} | {name} | {'%.2f' % tau if name != 'greedy' else ''} | {tpc:.2f} | {sp:.2f} | "
                      f"{'yes' if same[name] else 'NO'} | {lsp} | {ltpc} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
