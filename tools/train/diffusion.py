#!/usr/bin/python3
"""diffusion.py -- fine-tune decokit-tiny into a masked-diffusion LM (Dream layout).

Subcommands (after train.py's make-corpus and tokenizer in the same --out):
  train     start from the AR target's GGUF, fine-tune with the masked-diffusion
            objective and shifted logits for a fixed number of steps
  export    write the checkpoint as a `dream` GGUF (NeoX RoPE order, Q/K/V biases)
  evaluate  masked loss on the held-out text, a torch-vs-GGUF numpy forward check,
            a greedy iterative-unmasking sample, and (--reference) that sample as the
            figure decokit's C test must reproduce
The run is fixed by --seed and --steps; torch runs on one thread.

The mask token is <unk> (id 0): with byte fallback the tokenizer never emits it, so
the dLLM keeps the target's 1,024 ids and vocabulary size and can draft for it.
Logits are shifted as in Dream: row i predicts position i + 1, so the AR head's
meaning is kept and fine-tuning starts from a useful model.
"""
import argparse
import json
import math
import os
import re
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from train import log, lr_at  # noqa: E402 (after the path it lives on)

MASK_ID = 0
SAMPLE_PROMPT = "It was a fine morning, and"


def from_gguf(path):
    """The AR target as a torch Llama with zero Q/K/V biases and no attention mask."""
    import torch
    import torch.nn as nn
    import gguf_read
    from model import Config, Llama
    g = gguf_read.GGUFFile(path)
    kv, T = g.kv, g.tensors
    cfg = Config(T["token_embd.weight"].shape[0], kv["llama.embedding_length"], kv["llama.block_count"],
                 kv["llama.attention.head_count"], kv["llama.attention.head_count_kv"],
                 kv["llama.feed_forward_length"], kv["llama.context_length"],
                 kv["llama.attention.layer_norm_rms_epsilon"], kv["llama.rope.freq_base"])
    m = Llama(cfg)
    t = lambda name: torch.from_numpy(np.array(T[name], dtype=np.float32))
    with torch.no_grad():
        m.tok_emb.weight.copy_(t("token_embd.weight"))
        m.norm.weight.copy_(t("output_norm.weight"))
        for i, b in enumerate(m.blocks):
            p = "blk.%d." % i
            for name in ("wq", "wk", "wv"):
                old = getattr(b, name)
                setattr(b, name, nn.Linear(old.in_features, old.out_features, bias=True))
                nn.init.zeros_(getattr(b, name).bias)
            for attr, src in (("attn_norm", "attn_norm"), ("ffn_norm", "ffn_norm")):
                getattr(b, attr).weight.copy_(t(p + src + ".weight"))
            for attr, src in (("wq", "attn_q"), ("wk", "attn_k"), ("wv", "attn_v"), ("wo", "attn_output"),
                              ("w_gate", "ffn_gate"), ("w_up", "ffn_up"), ("w_down", "ffn_down")):
                getattr(b, attr).weight.copy_(t(p + src + ".weight"))
    m.mask.zero_()  # bidirectional
    return m


def load_ckpt(out, init):
    import torch
    m = from_gguf(init)
    ck = torch.load(os.path.join(out, "diffusion.pt"))
    m.load_state_dict(ck["state"])
    m.eval()
    return m, ck


def make_batch(rng, train, bos, batch, seq, eps):
    """BOS + a random window; mask rate t ~ U(eps, 1) per row. Half the rows keep a clean
    prefix of random length and mask only after it, as when decoding after a prompt."""
    starts = rng.randint(0, len(train) - seq, size=batch)
    x0 = np.stack([np.concatenate(([bos], train[s:s + seq - 1])) for s in starts]).astype(np.int64)
    t = rng.uniform(eps, 1.0, size=batch)
    m = rng.rand(batch, seq) < t[:, None]
    prefix = np.where(rng.rand(batch) < 0.5, rng.randint(1, seq, size=batch), 1)
    m &= np.arange(seq)[None, :] >= prefix[:, None]
    for r in range(batch):
        if not m[r].any():
            m[r, rng.randint(prefix[r], seq)] = True
    return x0, m


def masked_loss(model, x0, m):
    """Mean cross-entropy over masked positions; row i - 1 predicts token i (shifted)."""
    import torch
    import torch.nn.functional as F
    xt = torch.from_numpy(np.where(m, MASK_ID, x0))
    logits = model(xt)[:, :-1]
    sel = torch.from_numpy(m[:, 1:])
    tgt = torch.from_numpy(x0[:, 1:])
    return F.cross_entropy(logits[sel].float(), tgt[sel])


def cmd_train(a):
    import torch
    import train as tr
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    sp = tr.sp_load(a.out)
    c = tr.load_corpus(a.out)
    train, held = tr.token_cache(a, sp, c)
    model = from_gguf(a.init)
    model.train()
    rng = np.random.RandomState(a.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    nodecay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    probe_rng = np.random.RandomState(a.seed + 1)
    probe = [make_batch(probe_rng, np.concatenate(held), sp.bos_id(), a.batch, a.seq, a.eps) for _ in range(4)]
    fh = open(os.path.join(a.out, "diffusion.log"), "w")
    log(fh, "init %s steps %d batch %d seq %d seed %d lr %g eps %g mask id %d"
        % (os.path.basename(a.init), a.steps, a.batch, a.seq, a.seed, a.lr, a.eps, MASK_ID))
    t0 = time.time()
    for step in range(1, a.steps + 1):
        lr = lr_at(a, step)
        for g in opt.param_groups:
            g["lr"] = lr
        x0, m = make_batch(rng, train, sp.bos_id(), a.batch, a.seq, a.eps)
        loss = masked_loss(model, x0, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % a.log_every == 0 or step == 1:
            log(fh, "step %5d masked loss %.4f lr %.2e %.0fs" % (step, loss.item(), lr, time.time() - t0))
        if step % a.eval_every == 0 or step == a.steps:
            model.eval()
            with torch.no_grad():
                pl = sum(masked_loss(model, x, mm).item() for x, mm in probe) / len(probe)
            model.train()
            log(fh, "step %5d heldout-probe masked loss %.4f" % (step, pl))
    torch.save({"state": model.state_dict(), "step": a.steps, "seconds": time.time() - t0,
                "args": {k: v for k, v in vars(a).items() if k != "func"}},
               os.path.join(a.out, "diffusion.pt"))
    log(fh, "done %d steps in %.0f s" % (a.steps, time.time() - t0))
    fh.close()


def neox_order(hd):
    """Row order turning adjacent-pair RoPE weights into NeoX (i, i + hd/2) ones."""
    return np.concatenate([np.arange(0, hd, 2), np.arange(1, hd, 2)])


def cmd_export(a):
    import gguf_write as gw
    import train as tr
    sp = tr.sp_load(a.out)
    model, _ = load_ckpt(a.out, a.init)
    cfg = model.cfg
    w = gw.GGUFWriter()
    A = "dream"
    w.add("general.architecture", gw.T_STRING, A)
    w.add("general.name", gw.T_STRING, a.name)
    w.add("general.file_type", gw.T_UINT32, 0)
    w.add("general.alignment", gw.T_UINT32, gw.ALIGNMENT)
    w.add(A + ".context_length", gw.T_UINT32, cfg.ctx)
    w.add(A + ".embedding_length", gw.T_UINT32, cfg.dim)
    w.add(A + ".block_count", gw.T_UINT32, cfg.n_layers)
    w.add(A + ".feed_forward_length", gw.T_UINT32, cfg.ffn)
    w.add(A + ".attention.head_count", gw.T_UINT32, cfg.n_heads)
    w.add(A + ".attention.head_count_kv", gw.T_UINT32, cfg.n_kv_heads)
    w.add(A + ".rope.dimension_count", gw.T_UINT32, cfg.head_dim)
    w.add(A + ".attention.layer_norm_rms_epsilon", gw.T_FLOAT32, cfg.eps)
    w.add(A + ".rope.freq_base", gw.T_FLOAT32, cfg.rope_base)
    w.add(A + ".vocab_size", gw.T_UINT32, cfg.vocab)
    w.add(A + ".attention.causal", gw.T_BOOL, False)
    w.add("diffusion.shift_logits", gw.T_BOOL, True)
    tr.add_tokenizer(w, sp)
    w.add("tokenizer.ggml.mask_token_id", gw.T_UINT32, MASK_ID)
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    perm = neox_order(cfg.head_dim)

    def heads(arr, n):  # permute each head's rows (or bias entries) to the NeoX order
        return arr.reshape(n, cfg.head_dim, *arr.shape[1:])[:, perm].reshape(arr.shape)

    w.add_tensor("token_embd.weight", sd["tok_emb.weight"])
    for i in range(cfg.n_layers):
        p, b = "blocks.%d." % i, "blk.%d." % i
        w.add_tensor(b + "attn_norm.weight", sd[p + "attn_norm.weight"])
        w.add_tensor(b + "attn_q.weight", heads(sd[p + "wq.weight"], cfg.n_heads))
        w.add_tensor(b + "attn_q.bias", heads(sd[p + "wq.bias"], cfg.n_heads))
        w.add_tensor(b + "attn_k.weight", heads(sd[p + "wk.weight"], cfg.n_kv_heads))
        w.add_tensor(b + "attn_k.bias", heads(sd[p + "wk.bias"], cfg.n_kv_heads))
        w.add_tensor(b + "attn_v.weight", sd[p + "wv.weight"])
        w.add_tensor(b + "attn_v.bias", sd[p + "wv.bias"])
        for src, dst in (("wo", "attn_output"), ("ffn_norm", "ffn_norm"), ("w_gate", "ffn_gate"),
                         ("w_up", "ffn_up"), ("w_down", "ffn_down")):
            w.add_tensor(b + dst + ".weight", sd[p + src + ".weight"])
    w.add_tensor("output_norm.weight", sd["norm.weight"])
    # No output.weight: tied to token_embd, which llama.cpp's dream loader and decokit accept.
    w.write(a.gguf)
    print("wrote", a.gguf)


def numpy_forward(g, ids):
    """Bidirectional forward from the dream GGUF alone: NeoX RoPE, Q/K/V biases, tied output."""
    kv, T = g.kv, g.tensors
    nh, nkv = kv["dream.attention.head_count"], kv["dream.attention.head_count_kv"]
    eps, base = kv["dream.attention.layer_norm_rms_epsilon"], kv["dream.rope.freq_base"]
    x = T["token_embd.weight"][ids].astype(np.float64)
    n, dim = x.shape
    hd = dim // nh
    ang = np.arange(n)[:, None] * base ** (-2.0 * np.arange(hd // 2) / hd)[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

    def rms(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * w

    def rope(v):  # pairs (i, i + hd/2)
        a, b = v[..., :hd // 2], v[..., hd // 2:]
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], -1)

    for L in range(kv["dream.block_count"]):
        b = "blk.%d." % L
        h = rms(x, T[b + "attn_norm.weight"])
        q = rope((h @ T[b + "attn_q.weight"].T + T[b + "attn_q.bias"]).reshape(n, nh, hd))
        k = rope((h @ T[b + "attn_k.weight"].T + T[b + "attn_k.bias"]).reshape(n, nkv, hd))
        v = (h @ T[b + "attn_v.weight"].T + T[b + "attn_v.bias"]).reshape(n, nkv, hd)
        o = np.zeros((n, nh, hd))
        for hh in range(nh):
            kh = hh // (nh // nkv)
            att = q[:, hh] @ k[:, kh].T / math.sqrt(hd)
            att = np.exp(att - att.max(-1, keepdims=True))
            o[:, hh] = (att / att.sum(-1, keepdims=True)) @ v[:, kh]
        x = x + o.reshape(n, dim) @ T[b + "attn_output.weight"].T
        h = rms(x, T[b + "ffn_norm.weight"])
        gt = h @ T[b + "ffn_gate.weight"].T
        x = x + (gt / (1 + np.exp(-gt)) * (h @ T[b + "ffn_up.weight"].T)) @ T[b + "ffn_down.weight"].T
    return rms(x, T["output_norm.weight"]) @ T["token_embd.weight"].T


def unmask_greedy(logits_fn, ids, n_gen, steps):
    """LLaDA/Dream top-1 confidence order, one block, n_gen / steps tokens a step."""
    x = list(ids) + [MASK_ID] * n_gen
    per = n_gen // steps
    for _ in range(steps):
        lg = logits_fn(x)
        cand = []
        for pos in range(len(ids), len(x)):
            if x[pos] != MASK_ID:
                continue
            row = lg[pos - 1].astype(np.float64).copy()
            row[MASK_ID] = -np.inf
            p = np.exp(row - row.max())
            p /= p.sum()
            cand.append((-p.max(), pos, int(row.argmax())))
        for _, pos, tok in sorted(cand)[:per]:
            x[pos] = tok
    return x


def cmd_evaluate(a):
    import torch
    import gguf_read
    import train as tr
    torch.set_num_threads(1)
    sp = tr.sp_load(a.out)
    c = tr.load_corpus(a.out)
    _, held = tr.token_cache(a, sp, c)
    model, ck = load_ckpt(a.out, a.init)
    g = gguf_read.GGUFFile(a.gguf)
    heldcat = np.concatenate(held)
    rep = {"steps": ck["step"], "train_seconds": round(ck["seconds"]), "args": ck["args"]}
    # Masked loss: 64 batches of 16 held-out windows at t ~ U(eps, 1), and at fixed rates.
    rng = np.random.RandomState(a.seed + 2)
    with torch.no_grad():
        ls = [masked_loss(model, *make_batch(rng, heldcat, sp.bos_id(), 16, a.seq, 1e-3)).item()
              for _ in range(64)]
        rep["heldout_masked_loss"] = float(np.mean(ls))
        for rate in (0.15, 0.5, 0.9):
            r2 = np.random.RandomState(a.seed + 3)
            vals = []
            for _ in range(16):
                x0, _ = make_batch(r2, heldcat, sp.bos_id(), 16, a.seq, 1e-3)
                m = r2.rand(*x0.shape) < rate
                m[:, 0] = False
                vals.append(masked_loss(model, x0, m).item())
            rep["heldout_masked_loss_rate_%g" % rate] = float(np.mean(vals))
    # The exported file computes what torch computes.
    prompt = tr.encode_doc(sp, SAMPLE_PROMPT)
    canvas = prompt + [MASK_ID] * 24
    with torch.no_grad():
        want = model(torch.tensor([canvas]))[0].double().numpy()
    got = numpy_forward(g, canvas)
    rep["gguf_numpy_vs_torch_max_abs"] = float(np.abs(want - got).max())
    fn = lambda x: model(torch.tensor([x]))[0].detach().numpy()
    with torch.no_grad():
        out = unmask_greedy(fn, prompt, 32, 32)
    rep["sample_prompt"] = SAMPLE_PROMPT
    rep["sample_ids"] = out[len(prompt):]
    rep["sample_text"] = sp.decode(out[len(prompt):])
    for k in ("heldout_masked_loss", "heldout_masked_loss_rate_0.15", "heldout_masked_loss_rate_0.5",
              "heldout_masked_loss_rate_0.9", "gguf_numpy_vs_torch_max_abs", "sample_text"):
        print("%s: %s" % (k, rep[k]))
    with open(a.report, "w") as f:
        json.dump(rep, f, indent=1, ensure_ascii=False)
        f.write("\n")
    if a.reference:
        ref = {"model": os.path.basename(a.gguf), "mask_id": MASK_ID,
               "heldout_masked_loss": round(rep["heldout_masked_loss"], 4),
               "decoding": "one block of 32, 32 steps, top-1 confidence order, greedy, shifted logits",
               "prompt": SAMPLE_PROMPT, "prompt_ids": prompt, "ids": rep["sample_ids"],
               "text": rep["sample_text"]}
        text = json.dumps(ref, indent=1, ensure_ascii=False)
        text = re.sub(r"\[\s*([-0-9,\s]+?)\s*\]", lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text)
        with open(a.reference, "w") as f:
            f.write(text + "\n")
    return 0 if rep["gguf_numpy_vs_torch_max_abs"] < 1e-3 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="work/output directory")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--init", required=True, help="the AR target GGUF (models/decokit-tiny.gguf)")
    ap.add_argument("--seq", type=int, default=128)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("train")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--wd", type=float, default=0.1)
    p.add_argument("--eps", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--eval-every", type=int, default=200)
    p = sub.add_parser("export")
    p.add_argument("--name", required=True)
    p.add_argument("--gguf", required=True)
    p = sub.add_parser("evaluate")
    p.add_argument("--gguf", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--reference", help="also write the C test's reference JSON here")
    a = ap.parse_args()
    rc = {"train": cmd_train, "export": cmd_export, "evaluate": cmd_evaluate}[a.cmd](a)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
