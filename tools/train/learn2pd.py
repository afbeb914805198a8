#!/usr/bin/env python3
# learn2pd.py -- train the Learn2PD filter of a dLLM: record one-position-per-step decodes, label them the EGP way, fit the MLP.
"""Learn2PD's filter (METHODS 10) from a dLLM's own decodes.

collect  runs the `learn2pd` decoder without a filter (one position per
         step, the reference) with `record: FILE` over the prompts; each
         forward appends its block's confidences and predicted tokens, each
         completion its final canvas.
train    labels every masked position of every recorded forward the way
         the Extremely Greedy Parallel oracle would decide it: 1 when the
         forward's prediction there already equals the final token; then
         fits z = W2 relu(W1 c + b1) + b2 (block B: 2 B^2 + 2 B parameters)
         with binary cross-entropy over the masked positions, Adam, a fixed
         seed and step count, on one torch thread; writes the filter file
         the decoder reads and prints precision and recall at tau.

Usage:
  learn2pd.py collect --decokit BUILDDIR/core/decokit --model FILE.gguf
                      [--plugin-path DIR] [--model-plugin NAME|FILE.so]
                      [--prompts FILE] [--n 200]
                      [--gen 64] [--block 32] --record OUT.rec
  learn2pd.py train --record OUT.rec --block 32 --out FILTER.txt
                    [--steps 3000] [--lr 3e-3] [--seed 1234] [--tau 0.5]
--model toymask:VARIANT uses the test fixture (with --plugin-path
BUILDDIR/tests/fixtures/.libs), for checking the tool without a dLLM.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile


def collect(a):
    if a.prompts:
        with open(a.prompts, encoding="utf-8") as f:
            ps = [p.strip()[:a.prompt_chars] for p in f if len(p.strip()) > 20]
    else:
        rng = random.Random(a.seed)
        ps = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randint(4, 24)))
              for _ in range(a.n)]
    ps = ps[:a.n]
    if a.model.startswith("toymask:"):
        model = f"{{ plugin: toymask, variant: {a.model.split(':', 1)[1]}, n_ctx: 1024 }}"
    else:
        model = f"{{ plugin: {a.model_plugin}, path: {os.path.abspath(a.model)} }}"
    rec = os.path.abspath(a.record)
    if os.path.exists(rec):
        os.remove(rec)
    with tempfile.TemporaryDirectory() as tmp:
        y = os.path.join(tmp, "collect.yaml")
        with open(y, "w", encoding="utf-8") as f:
            f.write(f"decokit: 1\nmodel: {model}\n"
                    f"decoder: {{ plugin: learn2pd, gen_length: {a.gen}, block_length: {a.block}, "
                    f"eotp: false, record: {rec} }}\n"
                    f"generate: {{ max_tokens: {a.gen}, ignore_eos: true }}\n")
        cmd = [a.decokit, "run", y, "-q", "--no-prompt"]
        if a.plugin_path:
            cmd += ["--plugin-path", a.plugin_path]
        for i, p in enumerate(ps):
            out = subprocess.run(cmd + ["-p", p], capture_output=True, text=True, check=False)
            if out.returncode:
                sys.exit(f"learn2pd.py: decokit failed on prompt {i}: {out.stderr.strip()}")
    print(f"collected {len(ps)} decodes into {a.record}")


def read_record(path, block):
    """(confidences, labels, masked) rows, one per recorded forward."""
    rows, pending = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "S":
                if len(w) != 2 + 2 * block:
                    sys.exit(f"learn2pd.py: a forward of {(len(w) - 2) // 2} positions, not --block {block}")
                off = int(w[1])
                conf = [float(x) for x in w[2:2 + block]]
                tok = [int(x) for x in w[2 + block:]]
                pending.append((off, conf, tok))
            elif w[0] == "F":
                final = [int(x) for x in w[1:]]
                for off, conf, tok in pending:
                    masked = [c >= 0 for c in conf]
                    lab = [float(masked[i] and tok[i] == final[off + i]) for i in range(block)]
                    rows.append(([c if c >= 0 else 1.0 for c in conf], lab, [float(m) for m in masked]))
                pending = []
    return rows


def train(a):
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    rows = read_record(a.record, a.block)
    if not rows:
        sys.exit("learn2pd.py: no recorded forwards")
    x = torch.tensor([r[0] for r in rows])
    y = torch.tensor([r[1] for r in rows])
    m = torch.tensor([r[2] for r in rows])
    net = torch.nn.Sequential(torch.nn.Linear(a.block, a.block), torch.nn.ReLU(), torch.nn.Linear(a.block, a.block))
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    lossf = torch.nn.BCEWithLogitsLoss(reduction="none")
    n = x.shape[0]
    for step in range(a.steps):
        idx = torch.randint(0, n, (min(a.batch, n),))
        z = net(x[idx])
        loss = (lossf(z, y[idx]) * m[idx]).sum() / m[idx].sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(1, a.steps // 5) == 0 or step == a.steps - 1:
            print(f"step {step} loss {loss.item():.4f}")
    with torch.no_grad():
        p = torch.sigmoid(net(x))
        keep = (p >= a.tau) & (m > 0)
        pos = (y > 0) & (m > 0)
        tp = (keep & pos).sum().item()
        print(f"forwards {n}, masked positions {int(m.sum().item())}, EGP-final {int(pos.sum().item())}")
        print(f"at tau {a.tau}: finalized {int(keep.sum().item())}, precision "
              f"{tp / max(1, keep.sum().item()):.4f}, recall {tp / max(1, pos.sum().item()):.4f}")
        l1, l2 = net[0], net[2]
        vals = (l1.weight.flatten().tolist() + l1.bias.tolist() + l2.weight.flatten().tolist() + l2.bias.tolist())
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(f"decokit-learn2pd 1 {a.block}\n")
        for i in range(0, len(vals), 8):
            f.write(" ".join(f"{v:.7g}" for v in vals[i:i + 8]) + "\n")
    print(f"wrote {a.out}: {len(vals)} parameters")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--decokit", required=True)
    c.add_argument("--model", required=True)
    c.add_argument("--plugin-path")
    c.add_argument("--model-plugin", default="llama", help="the model plugin: a name or a .so path")
    c.add_argument("--prompts")
    c.add_argument("--prompt-chars", type=int, default=48)
    c.add_argument("--n", type=int, default=200)
    c.add_argument("--gen", type=int, default=64)
    c.add_argument("--block", type=int, default=32)
    c.add_argument("--seed", type=int, default=1234)
    c.add_argument("--record", required=True)
    t = sub.add_parser("train")
    t.add_argument("--record", required=True)
    t.add_argument("--block", type=int, default=32)
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--batch", type=int, default=256)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--seed", type=int, default=1234)
    t.add_argument("--tau", type=float, default=0.5)
    a = ap.parse_args()
    collect(a) if a.cmd == "collect" else train(a)


if __name__ == "__main__":
    main()
