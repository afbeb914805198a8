#!/usr/bin/python3
"""train.py -- build corpus, tokenizer, train and export decokit's default models.

Subcommands (run in this order; `all` runs them in sequence):
  make-corpus  fetch the Debian packages, write train/heldout text
  tokenizer    train the 1,024-piece SentencePiece BPE (byte fallback)
  train        train one model for a fixed number of steps, log the loss curve
  export       write a trained checkpoint as GGUF v3
  evaluate     held-out loss, perplexity, bits/byte, draft agreement, sample,
               and the reference JSON for the C tests
Everything is deterministic given --seed and the step counts (torch runs
on one thread; OpenBLAS may use more, which can change float rounding).
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

VOCAB = 1024
PROMPT = "It is a truth universally acknowledged"

PRESETS = {
    # name: (dim, layers, heads, kv heads, ffn, ctx)
    "target": (128, 4, 4, 2, 352, 256),
    "draft": (64, 2, 4, 2, 176, 256),
}


def lr_at(a, step):
    """Linear warm-up over a.warmup steps, then cosine decay to 10% of a.lr at a.steps."""
    if step <= a.warmup:
        return a.lr * step / a.warmup
    p = (step - a.warmup) / max(1, a.steps - a.warmup)
    return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def log(fh, msg):
    print(msg, flush=True)
    if fh:
        fh.write(msg + "\n")
        fh.flush()


def cmd_make_corpus(a):
    import corpus
    os.makedirs(a.out, exist_ok=True)
    titles, train, held, sample = corpus.build(os.path.join(a.out, "pkgs"),
                                               a.holdout, a.sample_bytes)
    with open(os.path.join(a.out, "corpus.json"), "w") as f:
        json.dump({"titles": titles, "train": train, "heldout": held}, f)
    with open(os.path.join(a.out, "heldout.txt"), "w") as f:
        f.write(sample)
    for t, tr, he in zip(titles, train, held):
        print("%-24s train %8d chars, held out %7d chars" % (t, len(tr), len(he)))
    print("heldout sample: %d bytes" % len(sample.encode("utf-8")))


def load_corpus(out):
    with open(os.path.join(out, "corpus.json")) as f:
        return json.load(f)


def cmd_tokenizer(a):
    import sentencepiece as spm
    c = load_corpus(a.out)
    lines = os.path.join(a.out, "tok-train.txt")
    with open(lines, "w") as f:
        for doc in c["train"]:
            f.write(doc)
    spm.SentencePieceTrainer.train(
        input=lines, model_prefix=os.path.join(a.out, "tokenizer"),
        model_type="bpe", vocab_size=VOCAB, byte_fallback=True,
        character_coverage=1.0, add_dummy_prefix=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        split_digits=True, max_sentence_length=1 << 16,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1, input_sentence_size=0, shuffle_input_sentence=False,
        minloglevel=2)
    print("wrote", os.path.join(a.out, "tokenizer.model"))


def sp_load(out):
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_file=os.path.join(out, "tokenizer.model"))


def encode_doc(sp, text):
    """BOS + the whole text as one string, as llama.cpp tokenizes a prompt."""
    return [sp.bos_id()] + sp.encode(text)


def token_cache(a, sp, c):
    path = os.path.join(a.out, "tokens.npz")
    if os.path.exists(path):
        z = np.load(path)
        return z["train"], [z["held%d" % i] for i in range(len(c["heldout"]))]
    train = np.concatenate([np.array(encode_doc(sp, d), dtype=np.int32) for d in c["train"]])
    held = [np.array(encode_doc(sp, d), dtype=np.int32) for d in c["heldout"]]
    np.savez(path, train=train, **{"held%d" % i: h for i, h in enumerate(held)})
    return train, held


def make_config(preset, vocab):
    from model import Config
    dim, layers, heads, kv, ffn, ctx = PRESETS[preset]
    return Config(vocab, dim, layers, heads, kv, ffn, ctx)


def windows(tokens, ctx):
    """Non-overlapping windows of ctx tokens; each predicts all but its first."""
    return [tokens[i:i + ctx] for i in range(0, len(tokens) - 1, ctx) if len(tokens[i:i + ctx]) >= 2]


def nll_sum(model, tokens, ctx, batch=16):
    import torch
    import torch.nn.functional as F
    total, count = 0.0, 0
    ws = windows(tokens, ctx)
    with torch.no_grad():
        for i in range(0, len(ws), batch):
            chunk = ws[i:i + batch]
            full = [w for w in chunk if len(w) == ctx]
            rest = [w for w in chunk if len(w) != ctx]
            groups = ([np.stack(full)] if full else []) + [w[None, :] for w in rest]
            for g in groups:
                x = torch.from_numpy(np.asarray(g, dtype=np.int64))
                logits = model(x[:, :-1]).double()
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                       x[:, 1:].reshape(-1), reduction="sum")
                total += loss.item()
                count += x.shape[0] * (x.shape[1] - 1)
    return total, count


def cmd_train(a):
    import torch
    from model import Llama
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    sp = sp_load(a.out)
    c = load_corpus(a.out)
    train, held = token_cache(a, sp, c)
    cfg = make_config(a.preset, sp.get_piece_size())
    model = Llama(cfg)
    rng = np.random.RandomState(a.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    nodecay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    # A fixed small probe of the held-out set, for the curve only.
    probe = np.concatenate([h[: cfg.ctx * 4 + 1] for h in held])
    fh = open(os.path.join(a.out, "%s.log" % a.preset), "w")
    log(fh, "preset %s config %s params %d steps %d batch %d seed %d lr %g train tokens %d"
        % (a.preset, json.dumps(cfg.as_dict()), model.n_params(), a.steps, a.batch,
           a.seed, a.lr, len(train)))
    t0 = time.time()
    seq = cfg.ctx
    for step in range(1, a.steps + 1):
        lr = lr_at(a, step)
        for g in opt.param_groups:
            g["lr"] = lr
        starts = rng.randint(0, len(train) - seq - 1, size=a.batch)
        xb = torch.from_numpy(np.stack([train[s:s + seq + 1] for s in starts]).astype(np.int64))
        logits = model(xb[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab), xb[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % a.log_every == 0 or step == 1:
            el = time.time() - t0
            log(fh, "step %6d loss %.4f lr %.2e %.0f tok/s %.0fs"
                % (step, loss.item(), lr, step * a.batch * seq / el, el))
        if step % a.eval_every == 0 or step == a.steps:
            model.eval()
            s, n = nll_sum(model, probe, seq)
            model.train()
            log(fh, "step %6d heldout-probe %.4f" % (step, s / n))
            torch.save({"cfg": cfg.as_dict(), "state": model.state_dict(), "step": step,
                        "seconds": time.time() - t0},
                       os.path.join(a.out, "%s.pt" % a.preset))
    log(fh, "done %d steps in %.0f s" % (a.steps, time.time() - t0))
    fh.close()


def load_model(out, preset):
    import torch
    from model import Config, Llama
    ck = torch.load(os.path.join(out, "%s.pt" % preset))
    d = ck["cfg"]
    cfg = Config(d["vocab"], d["dim"], d["n_layers"], d["n_heads"], d["n_kv_heads"],
                 d["ffn"], d["ctx"], d["eps"], d["rope_base"])
    m = Llama(cfg)
    m.load_state_dict(ck["state"])
    m.eval()
    return m, ck


def gguf_for(model, sp, name):
    import gguf_write as gw
    cfg = model.cfg
    w = gw.GGUFWriter()
    w.add("general.architecture", gw.T_STRING, "llama")
    w.add("general.name", gw.T_STRING, name)
    w.add("general.file_type", gw.T_UINT32, 0)
    w.add("general.alignment", gw.T_UINT32, gw.ALIGNMENT)
    w.add("llama.context_length", gw.T_UINT32, cfg.ctx)
    w.add("llama.embedding_length", gw.T_UINT32, cfg.dim)
    w.add("llama.block_count", gw.T_UINT32, cfg.n_layers)
    w.add("llama.feed_forward_length", gw.T_UINT32, cfg.ffn)
    w.add("llama.attention.head_count", gw.T_UINT32, cfg.n_heads)
    w.add("llama.attention.head_count_kv", gw.T_UINT32, cfg.n_kv_heads)
    w.add("llama.rope.dimension_count", gw.T_UINT32, cfg.head_dim)
    w.add("llama.attention.layer_norm_rms_epsilon", gw.T_FLOAT32, cfg.eps)
    w.add("llama.rope.freq_base", gw.T_FLOAT32, cfg.rope_base)
    w.add("llama.vocab_size", gw.T_UINT32, cfg.vocab)
    add_tokenizer(w, sp)
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", sd["tok_emb.weight"])
    for i in range(cfg.n_layers):
        p = "blocks.%d." % i
        b = "blk.%d." % i
        for src, dst in (("attn_norm.weight", "attn_norm.weight"), ("wq.weight", "attn_q.weight"),
                         ("wk.weight", "attn_k.weight"), ("wv.weight", "attn_v.weight"),
                         ("wo.weight", "attn_output.weight"), ("ffn_norm.weight", "ffn_norm.weight"),
                         ("w_gate.weight", "ffn_gate.weight"), ("w_up.weight", "ffn_up.weight"),
                         ("w_down.weight", "ffn_down.weight")):
            w.add_tensor(b + dst, sd[p + src])
    w.add_tensor("output_norm.weight", sd["norm.weight"])
    # Written out although tied in training: every loader handles it.
    w.add_tensor("output.weight", sd["tok_emb.weight"])
    return w


def add_tokenizer(w, sp):
    import gguf_write as gw
    n = sp.get_piece_size()
    types = []
    for i in range(n):
        if sp.is_unknown(i):
            types.append(2)
        elif sp.is_control(i):
            types.append(3)
        elif sp.is_byte(i):
            types.append(6)
        else:
            types.append(1)
    w.add("tokenizer.ggml.model", gw.T_STRING, "llama")
    w.add_array("tokenizer.ggml.tokens", gw.T_STRING, [sp.id_to_piece(i) for i in range(n)])
    w.add_array("tokenizer.ggml.scores", gw.T_FLOAT32, [sp.get_score(i) for i in range(n)])
    w.add_array("tokenizer.ggml.token_type", gw.T_INT32, types)
    w.add("tokenizer.ggml.bos_token_id", gw.T_UINT32, sp.bos_id())
    w.add("tokenizer.ggml.eos_token_id", gw.T_UINT32, sp.eos_id())
    w.add("tokenizer.ggml.unknown_token_id", gw.T_UINT32, sp.unk_id())
    w.add("tokenizer.ggml.add_bos_token", gw.T_BOOL, True)
    w.add("tokenizer.ggml.add_eos_token", gw.T_BOOL, False)
    w.add("tokenizer.ggml.add_space_prefix", gw.T_BOOL, True)


def cmd_export(a):
    sp = sp_load(a.out)
    model, _ = load_model(a.out, a.preset)
    gguf_for(model, sp, a.name).write(a.gguf)
    print("wrote", a.gguf)


def greedy(model, ids, n):
    import torch
    ids = list(ids)
    with torch.no_grad():
        for _ in range(n):
            x = torch.tensor([ids[-model.cfg.ctx:]])
            ids.append(int(model(x)[0, -1].argmax()))
    return ids


def sample(model, ids, n, temp, seed):
    import torch
    g = torch.Generator().manual_seed(seed)
    ids = list(ids)
    with torch.no_grad():
        for _ in range(n):
            x = torch.tensor([ids[-model.cfg.ctx:]])
            p = torch.softmax(model(x)[0, -1].double() / temp, -1)
            ids.append(int(torch.multinomial(p, 1, generator=g)))
    return ids


def cmd_evaluate(a):
    import torch
    torch.set_num_threads(1)
    sp = sp_load(a.out)
    c = load_corpus(a.out)
    _, held = token_cache(a, sp, c)
    report = {}
    models = {}
    for preset in ("target", "draft"):
        m, ck = load_model(a.out, preset)
        models[preset] = m
        ctx = m.cfg.ctx
        s, n = 0.0, 0
        nbytes = 0
        for h, text in zip(held, c["heldout"]):
            ds, dn = nll_sum(m, h, ctx)
            s, n = s + ds, n + dn
            nbytes += len(text.encode("utf-8"))
        with open(a.heldout) as f:
            sample_text = f.read()
        toks = np.array(encode_doc(sp, sample_text), dtype=np.int64)
        hs, hn = nll_sum(m, toks, ctx)
        prompt = encode_doc(sp, PROMPT)
        with torch.no_grad():
            last = m(torch.tensor([prompt]))[0, -1]
        top = torch.topk(last, 5)
        gen = greedy(m, prompt, 32)[len(prompt):]
        smp = sample(m, encode_doc(sp, a.sample_prompt), 120, 0.8, a.seed)
        report[preset] = {
            "params": m.n_params(), "params_in_file": m.n_params() + m.cfg.vocab * m.cfg.dim,
            "config": m.cfg.as_dict(), "steps": ck["step"],
            "train_seconds": round(ck["seconds"]),
            "heldout_tokens": n, "heldout_nats_per_token": s / n,
            "heldout_perplexity": math.exp(s / n),
            "heldout_bits_per_byte": s / math.log(2) / nbytes,
            "heldout_txt_tokens": len(toks), "heldout_txt_predicted": hn,
            "heldout_txt_nats_per_token": hs / hn, "heldout_txt_perplexity": math.exp(hs / hn),
            "reference": {"prompt": PROMPT, "prompt_ids": prompt,
                          "top5_ids": [int(i) for i in top.indices],
                          "top5_logits": [float(v) for v in top.values],
                          "greedy_ids": gen, "greedy_text": sp.decode(gen)},
            "sample_t0.8": sp.decode(smp[1:]),
        }
    # Draft/target greedy agreement on the held-out windows.
    agree = total = 0
    with torch.no_grad():
        for h in held:
            for w in windows(h, models["target"].cfg.ctx):
                x = torch.from_numpy(np.asarray(w[None, :-1], dtype=np.int64))
                at = models["target"](x).argmax(-1)
                ad = models["draft"](x).argmax(-1)
                agree += int((at == ad).sum())
                total += at.numel()
    report["draft_target_greedy_agreement"] = agree / total
    report["heldout_procedure"] = (
        "tokens = [BOS] + spm.encode(whole text); non-overlapping windows of "
        "n_ctx tokens starting at token 0 (last window may be shorter, >= 2); "
        "each window evaluated from position 0 without cache; NLL of every "
        "token but the window's first; perplexity = exp(mean NLL)")
    for preset in ("target", "draft"):
        r = report[preset]
        print("%s: %d params, %d steps, %d s; held-out %.4f nats/token, ppl %.3f, %.4f bits/byte; "
              "heldout.txt ppl %.4f over %d predicted tokens"
              % (preset, r["params"], r["steps"], r["train_seconds"], r["heldout_nats_per_token"],
                 r["heldout_perplexity"], r["heldout_bits_per_byte"], r["heldout_txt_perplexity"],
                 r["heldout_txt_predicted"]))
        print("  greedy: %r" % r["reference"]["greedy_text"])
        print("  sample (T=0.8): %r" % r["sample_t0.8"])
    print("draft/target greedy agreement on held-out: %.4f" % report["draft_target_greedy_agreement"])
    with open(a.report, "w") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
        f.write("\n")
    if a.reference:
        write_reference(a.reference, report, a.heldout)


def write_reference(path, report, heldout):
    """The figures decokit's C tests compare against, one object per file."""
    ref = {"heldout_file": os.path.basename(heldout),
           "heldout_procedure": report["heldout_procedure"],
           "draft_target_greedy_agreement": round(report["draft_target_greedy_agreement"], 4),
           "models": {}}
    for preset, fname in (("target", "decokit-tiny.gguf"), ("draft", "decokit-tiny-draft.gguf")):
        r = report[preset]
        ref["models"][fname] = {
            "n_ctx": r["config"]["ctx"],
            "heldout_tokens": r["heldout_txt_tokens"],
            "heldout_predicted": r["heldout_txt_predicted"],
            "heldout_nll_per_token": round(r["heldout_txt_nats_per_token"], 6),
            "heldout_perplexity": round(r["heldout_txt_perplexity"], 5),
            "prompt": r["reference"]["prompt"],
            "prompt_ids": r["reference"]["prompt_ids"],
            "step0_top5_ids": r["reference"]["top5_ids"],
            "step0_top5_logits": [round(v, 6) for v in r["reference"]["top5_logits"]],
            "greedy_ids": r["reference"]["greedy_ids"],
            "greedy_text": r["reference"]["greedy_text"],
        }
    text = json.dumps(ref, indent=1, ensure_ascii=False)
    # One line per number list keeps the file readable and diffable.
    text = re.sub(r"\[\s*([-0-9.,\s]+?)\s*\]",
                  lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text)
    with open(path, "w") as f:
        f.write(text + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="work/output directory")
    ap.add_argument("--seed", type=int, default=1234)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make-corpus")
    p.add_argument("--holdout", type=float, default=0.02)
    p.add_argument("--sample-bytes", type=int, default=4500)
    sub.add_parser("tokenizer")
    p = sub.add_parser("train")
    p.add_argument("--preset", choices=sorted(PRESETS), required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--wd", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=500)
    p = sub.add_parser("export")
    p.add_argument("--preset", choices=sorted(PRESETS), required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--gguf", required=True)
    p = sub.add_parser("evaluate")
    p.add_argument("--heldout", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--reference", help="also write the C tests' reference JSON here")
    p.add_argument("--sample-prompt", default="It was a fine morning, and")
    a = ap.parse_args()
    {"make-corpus": cmd_make_corpus, "tokenizer": cmd_tokenizer, "train": cmd_train,
     "export": cmd_export, "evaluate": cmd_evaluate}[a.cmd](a)


if __name__ == "__main__":
    main()
