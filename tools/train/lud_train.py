#!/usr/bin/python3
"""lud_train.py -- make decokit-tiny-lud: Lexical Unit Decoding fine-tuning of decokit-tiny.

Subcommands (run.sh-style pipeline in lud_run.sh):
  mine      teacher-force the base GGUF over training windows; a lexical unit is
            a maximal run of positions with p(y_i | y_<i) >= alpha that follows
            a position below alpha; writes units.npz and prints the statistics
  train     fine-tune a copy of the base on the windows reconfigured with
            placeholder slots (fixed steps, seeded, one torch thread)
  export    write the fine-tuned model as GGUF with the decokit.lud.* keys
  evaluate  held-out perplexity of base and fine-tuned as ordinary AR models

Slot layout.  At inference the decoder appends m placeholders P after the
committed text c: the row of c's last token predicts t1 (ordinary AR) and
slot k predicts t(k+1) without seeing t1..tk.  Training mirrors that: for a
unit y[i..j] the prefix is y[<i], slot k stands at position i+k-1 and its
target is y[i+k].  Slots are appended after the window's real tokens with
their own positions and a mask (a slot sees the prefix y[<i] and the earlier
slots of its unit), so one window carries its ordinary LM loss and several
units at once, exactly as if each unit had its own truncated sequence.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

KEY_PLACEHOLDER = "decokit.lud.placeholder_token_id"
KEY_SLOTS = "decokit.lud.slots"
KEY_ALPHA = "decokit.lud.alpha"


def base_model(gguf_path):
    """The base GGUF as a torch Llama (inverse of train.gguf_for)."""
    import torch
    import gguf_read
    from model import Config, Llama
    g = gguf_read.GGUFFile(gguf_path)
    kv, T = g.kv, g.tensors
    cfg = Config(kv["llama.vocab_size"], kv["llama.embedding_length"], kv["llama.block_count"],
                 kv["llama.attention.head_count"], kv["llama.attention.head_count_kv"],
                 kv["llama.feed_forward_length"], kv["llama.context_length"],
                 kv["llama.attention.layer_norm_rms_epsilon"], kv["llama.rope.freq_base"])
    m = Llama(cfg)
    sd = {"tok_emb.weight": T["token_embd.weight"], "norm.weight": T["output_norm.weight"]}
    for i in range(cfg.n_layers):
        for src, dst in (("attn_norm.weight", "attn_norm.weight"), ("wq.weight", "attn_q.weight"),
                         ("wk.weight", "attn_k.weight"), ("wv.weight", "attn_v.weight"),
                         ("wo.weight", "attn_output.weight"), ("ffn_norm.weight", "ffn_norm.weight"),
                         ("w_gate.weight", "ffn_gate.weight"), ("w_up.weight", "ffn_up.weight"),
                         ("w_down.weight", "ffn_down.weight")):
            sd["blocks.%d.%s" % (i, src)] = T["blk.%d.%s" % (i, dst)]
    m.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()})
    m.eval()
    return m


def forward_pos(model, idx, pos, mask):
    """Llama forward with explicit positions (B, T) and a boolean mask (B, T, T), True = blocked."""
    import torch.nn.functional as F
    cfg = model.cfg
    x = model.tok_emb(idx)
    cos, sin = model.cos[pos], model.sin[pos]  # (B, T, hd/2)
    B, T = idx.shape
    for b in model.blocks:
        h = b.attn_norm(x)
        q = b.wq(h).view(B, T, cfg.n_heads, cfg.head_dim)
        k = b.wk(h).view(B, T, cfg.n_kv_heads, cfg.head_dim)
        v = b.wv(h).view(B, T, cfg.n_kv_heads, cfg.head_dim)
        q, k = rope_b(q, cos, sin), rope_b(k, cos, sin)
        group = cfg.n_heads // cfg.n_kv_heads
        k = k.repeat_interleave(group, dim=2).transpose(1, 2)
        v = v.repeat_interleave(group, dim=2).transpose(1, 2)
        q = q.transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(cfg.head_dim))
        att = att.masked_fill(mask[:, None], float("-inf")).softmax(-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + b.wo(o)
        h = b.ffn_norm(x)
        x = x + b.w_down(F.silu(b.w_gate(h)) * b.w_up(h))
    return model.norm(x) @ model.tok_emb.weight.t()


def rope_b(x, cos, sin):
    import torch
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, :, None, :], sin[:, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


def corpus_tokens(out):
    import train as tr
    sp = tr.sp_load(out)
    c = tr.load_corpus(out)
    ns = argparse.Namespace(out=out)
    tokens, held = tr.token_cache(ns, sp, c)
    return sp, tokens, held


def units_of(p, alpha, first):
    """Units in one teacher-forced window: p[t] is the probability of token t
    given tokens < t (p[0] undefined).  Returns (start, end) pairs, end
    inclusive, of maximal runs of p >= alpha that follow a position < alpha;
    positions before `first` are never unit starts (too little context)."""
    out = []
    t, n = max(first, 1), len(p)
    while t < n:
        if p[t] >= alpha and p[t - 1] < alpha and t - 1 >= first:
            e = t
            while e + 1 < n and p[e + 1] >= alpha:
                e += 1
            out.append((t, e))
            t = e + 1
        else:
            t += 1
    return out


def cmd_mine(a):
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    model = base_model(a.base)
    _, tokens, _ = corpus_tokens(a.out)
    rng = np.random.RandomState(a.seed)
    W = a.window
    starts = np.sort(rng.choice((len(tokens) - W - 1) // W, size=a.windows, replace=False) * W)
    probs = np.zeros((a.windows, W), dtype=np.float32)
    t0 = time.time()
    with torch.no_grad():
        for i in range(0, a.windows, 16):
            xb = torch.from_numpy(np.stack([tokens[s:s + W] for s in starts[i:i + 16]]).astype(np.int64))
            lp = model(xb[:, :-1]).log_softmax(-1)
            probs[i:i + len(xb), 1:] = lp.gather(-1, xb[:, 1:, None])[..., 0].exp().numpy()
    lens = []
    spans = []
    for w in range(a.windows):
        for s, e in units_of(probs[w], a.alpha, a.first):
            spans.append((w, s, e))
            lens.append(e - s + 1)
    lens = np.array(lens)
    stats = {"alpha": a.alpha, "windows": a.windows, "window": W, "tokens": int(a.windows * (W - 1)),
             "confident_fraction": float((probs[:, 1:] >= a.alpha).mean()),
             "units": len(lens), "unit_mean_len": float(lens.mean()),
             "units_len_ge2": int((lens >= 2).sum()),
             "unit_mean_len_ge2": float(lens[lens >= 2].mean()),
             "len_histogram": {str(k): int((lens == k).sum()) for k in range(1, 9)},
             "len_gt8": int((lens > 8).sum()), "seconds": round(time.time() - t0)}
    np.savez(os.path.join(a.out, "lud-units.npz"), starts=starts, spans=np.array(spans, dtype=np.int32))
    with open(os.path.join(a.out, "lud-mine.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps(stats))


def build_example(tokens, start, spans, W, S, m, ph):
    """One reconfigured window: W real tokens then up to S slots.  Returns
    (ids, pos, mask, targets) with targets -1 where no loss is taken."""
    ids = np.full(W + S, ph, dtype=np.int64)
    ids[:W] = tokens[start:start + W]
    pos = np.zeros(W + S, dtype=np.int64)
    pos[:W] = np.arange(W)
    tgt = np.full(W + S, -1, dtype=np.int64)
    tgt[:W - 1] = ids[1:W]
    mask = np.ones((W + S, W + S), dtype=bool)
    mask[:W, :W] = np.triu(np.ones((W, W), dtype=bool), 1)
    k = W
    for s, e in spans:
        # Slots for unit tokens s+1..e, plus one for the token after the
        # unit (low confidence there teaches where spans end), at most m.
        last = min(e + 1, s + m, W - 1)
        n = last - s
        if n < 1 or k + n > W + S:
            continue
        for j in range(n):
            r = k + j
            pos[r] = s + j
            tgt[r] = ids[s + j + 1]
            mask[r, :s] = False           # the prefix y[<s]
            mask[r, k:r + 1] = False      # earlier slots of this unit and itself
        k += n
    # Unused slots attend to BOS only (no loss, keeps softmax finite).
    for r in range(k, W + S):
        mask[r, 0] = False
    return ids, pos, mask, tgt


def cmd_train(a):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    model = base_model(a.base)
    model.train()
    _, tokens, held = corpus_tokens(a.out)
    z = np.load(os.path.join(a.out, "lud-units.npz"))
    starts, spans = z["starts"], z["spans"]
    by_w = [[] for _ in starts]
    for w, s, e in spans:
        by_w[w].append((int(s), int(e)))
    rng = np.random.RandomState(a.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    nodecay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    W, S = a.window, a.slots_per_window
    fh = open(os.path.join(a.out, "lud-train.log"), "w")
    log = lambda msg: (print(msg, flush=True), fh.write(msg + "\n"), fh.flush())
    log("lud fine-tune steps %d batch %d lr %g m %d window %d+%d seed %d placeholder %d"
        % (a.steps, a.batch, a.lr, a.m, W, S, a.seed, a.placeholder))
    t0 = time.time()
    for step in range(1, a.steps + 1):
        p = (step - 1) / max(1, a.steps - 1)
        lr = a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))
        for g in opt.param_groups:
            g["lr"] = lr
        ws = rng.randint(0, len(starts), size=a.batch)
        ex = [build_example(tokens, int(starts[w]), by_w[w], W, S, a.m, a.placeholder) for w in ws]
        ids, pos, mask, tgt = (torch.from_numpy(np.stack([e[i] for e in ex])) for i in range(4))
        logits = forward_pos(model, ids, pos, mask)
        lm = F.cross_entropy(logits[:, :W].reshape(-1, logits.shape[-1]), tgt[:, :W].reshape(-1),
                             ignore_index=-1)
        sl = F.cross_entropy(logits[:, W:].reshape(-1, logits.shape[-1]), tgt[:, W:].reshape(-1),
                             ignore_index=-1)
        loss = lm + a.slot_weight * sl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % a.log_every == 0 or step == 1 or step == a.steps:
            log("step %5d loss %.4f lm %.4f slot %.4f lr %.2e %.0fs"
                % (step, loss.item(), lm.item(), sl.item(), lr, time.time() - t0))
    torch.save({"state": model.state_dict(), "steps": a.steps, "seconds": time.time() - t0,
                "final": {"loss": loss.item(), "lm": lm.item(), "slot": sl.item()}},
               os.path.join(a.out, "lud.pt"))
    log("done %d steps in %.0f s" % (a.steps, time.time() - t0))
    fh.close()


def finetuned(a):
    import torch
    model = base_model(a.base)
    ck = torch.load(os.path.join(a.out, "lud.pt"))
    model.load_state_dict(ck["state"])
    model.eval()
    return model, ck


def cmd_export(a):
    import train as tr
    import gguf_write as gw
    model, _ = finetuned(a)
    sp = tr.sp_load(a.out)
    w = tr.gguf_for(model, sp, a.name)
    w.add(KEY_PLACEHOLDER, gw.T_UINT32, a.placeholder)
    w.add(KEY_SLOTS, gw.T_UINT32, a.m)
    w.add(KEY_ALPHA, gw.T_FLOAT32, a.alpha)
    w.write(a.gguf)
    print("wrote", a.gguf)


def cmd_evaluate(a):
    import torch
    import train as tr
    torch.set_num_threads(1)
    sp, _, held = corpus_tokens(a.out)
    with open(a.heldout) as f:
        sample = np.array(tr.encode_doc(sp, f.read()), dtype=np.int64)
    rep = {}
    ft, ck = finetuned(a)
    for name, m in (("base", base_model(a.base)), ("lud", ft)):
        s = n = 0.0
        for h in held:
            ds, dn = tr.nll_sum(m, h, m.cfg.ctx)
            s, n = s + ds, n + dn
        hs, hn = tr.nll_sum(m, sample, m.cfg.ctx)
        rep[name] = {"heldout_nats_per_token": s / n, "heldout_perplexity": math.exp(s / n),
                     "heldout_tokens": int(n), "heldout_txt_perplexity": math.exp(hs / hn)}
    rep["lud"]["train_seconds"] = round(ck["seconds"])
    rep["lud"]["final_train_loss"] = ck["final"]
    print(json.dumps(rep, indent=1))
    with open(os.path.join(a.out, "lud-report.json"), "w") as f:
        json.dump(rep, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="work directory of train.py (corpus, tokenizer)")
    ap.add_argument("--base", required=True, help="the base GGUF (decokit-tiny.gguf)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--alpha", type=float, default=0.7)
    ap.add_argument("--m", type=int, default=4, help="slots per unit in training")
    ap.add_argument("--placeholder", type=int, default=0, help="placeholder token id")
    ap.add_argument("--window", type=int, default=224)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("mine")
    p.add_argument("--windows", type=int, default=3000)
    p.add_argument("--first", type=int, default=8)
    p = sub.add_parser("train")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--wd", type=float, default=0.1)
    p.add_argument("--slots-per-window", type=int, default=48)
    p.add_argument("--slot-weight", type=float, default=1.0)
    p.add_argument("--log-every", type=int, default=25)
    p = sub.add_parser("export")
    p.add_argument("--name", required=True)
    p.add_argument("--gguf", required=True)
    p = sub.add_parser("evaluate")
    p.add_argument("--heldout", required=True)
    a = ap.parse_args()
    {"mine": cmd_mine, "train": cmd_train, "export": cmd_export, "evaluate": cmd_evaluate}[a.cmd](a)


if __name__ == "__main__":
    main()
