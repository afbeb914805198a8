#!/usr/bin/python3
"""check_export.py -- verify the GGUF writer, the tokenizer export and RoPE layout.

1. Writes a small random model with gguf_write, parses it back with the
   independent gguf_read, and compares every key and tensor bit for bit.
2. Re-implements llama.cpp's SPM tokenizer over the GGUF vocabulary
   (pieces, scores, token types only) and checks that it produces exactly
   sentencepiece's ids on held-out text and awkward strings.
3. Checks that a forward pass computed in numpy straight from the GGUF
   tensors (llama.cpp's conventions: ne[0] innermost, adjacent-pair RoPE,
   query head h reading KV head h // group) matches torch's logits.
Exit status is the number of failed checks.
"""
import argparse
import heapq
import math
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gguf_read  # noqa: E402


def spm_tokenize(text, tokens, scores, types, add_bos=True, bos=1):
    """llama.cpp-style SentencePiece tokenisation from GGUF vocab arrays."""
    index = {t: i for i, t in enumerate(tokens)}
    if not text:  # llama.cpp does not tokenise an empty fragment
        return [bos] if add_bos else []
    text = (" " + text).replace(" ", "\u2581")
    syms = list(text)  # one symbol per code point
    prev = list(range(-1, len(syms) - 1))
    nxt = list(range(1, len(syms) + 1))
    nxt[-1] = -1
    heap, rev = [], {}

    def try_add(left, right):
        if left == -1 or right == -1:
            return
        s = syms[left] + syms[right]
        tid = index.get(s)
        if tid is None:
            return
        heapq.heappush(heap, (-scores[tid], left, right, len(syms[left]), len(syms[right])))
        rev[s] = (syms[left], syms[right])

    for i in range(1, len(syms)):
        try_add(i - 1, i)
    while heap:
        _, left, right, ln, rn = heapq.heappop(heap)
        if syms[left] is None or syms[right] is None:
            continue
        if len(syms[left]) != ln or len(syms[right]) != rn or nxt[left] != right:
            continue
        syms[left] = syms[left] + syms[right]
        syms[right] = None
        nxt[left] = nxt[right]
        if nxt[right] != -1:
            prev[nxt[right]] = left
        try_add(prev[left], left)
        try_add(left, nxt[left])

    out = [bos] if add_bos else []

    def resegment(s):
        tid = index.get(s)
        if tid is not None:
            out.append(tid)
            return
        pair = rev.get(s)
        if pair is None:
            for b in s.encode("utf-8"):
                out.append(index["<0x%02X>" % b])
            return
        resegment(pair[0])
        resegment(pair[1])

    i = 0
    while i != -1:
        if syms[i] is not None:
            resegment(syms[i])
        i = nxt[i]
    return out


def check_tokenizer(spm_model, gguf_path, texts):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=spm_model)
    g = gguf_read.GGUFFile(gguf_path)
    toks, scores, types = (g.kv["tokenizer.ggml.tokens"], g.kv["tokenizer.ggml.scores"],
                           g.kv["tokenizer.ggml.token_type"])
    fails = 0
    if g.kv["tokenizer.ggml.model"] != "llama":
        print("FAIL tokenizer.ggml.model")
        fails += 1
    for i in range(sp.get_piece_size()):
        if toks[i] != sp.id_to_piece(i) or scores[i] != np.float32(sp.get_score(i)):
            print("FAIL vocab entry", i)
            fails += 1
            break
    expect_types = {0: 2, 1: 3, 2: 3, 3: 6, 258: 6, 259: 1}
    for i, t in expect_types.items():
        if types[i] != t:
            print("FAIL token_type[%d] = %d, want %d" % (i, types[i], t))
            fails += 1
    for t in texts:
        want = [sp.bos_id()] + sp.encode(t)
        got = spm_tokenize(t, toks, scores, types)
        if want != got:
            print("FAIL tokenisation differs for %r:\n  spm   %s\n  ours  %s" % (t[:60], want[:40], got[:40]))
            fails += 1
    print("tokenizer: %d strings compared, %d failures" % (len(texts), fails))
    return fails


def numpy_forward(g, ids):
    """Forward pass from GGUF tensors alone, following llama.cpp's layout."""
    kv = g.kv
    nh, nkv = kv["llama.attention.head_count"], kv["llama.attention.head_count_kv"]
    eps, base = kv["llama.attention.layer_norm_rms_epsilon"], kv["llama.rope.freq_base"]
    T = g.tensors
    x = T["token_embd.weight"][ids].astype(np.float64)
    dim = x.shape[1]
    hd = dim // nh
    n = len(ids)

    def rms(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * w

    def rope(v):  # v: (n, heads, hd); rotate pairs (2i, 2i+1)
        out = v.copy()
        for p in range(n):
            for i in range(hd // 2):
                th = p * base ** (-2.0 * i / hd)
                c, s = math.cos(th), math.sin(th)
                a, b = v[p, :, 2 * i], v[p, :, 2 * i + 1]
                out[p, :, 2 * i], out[p, :, 2 * i + 1] = a * c - b * s, a * s + b * c
        return out

    for L in range(kv["llama.block_count"]):
        b = "blk.%d." % L
        h = rms(x, T[b + "attn_norm.weight"])
        q = rope((h @ T[b + "attn_q.weight"].T).reshape(n, nh, hd))
        k = rope((h @ T[b + "attn_k.weight"].T).reshape(n, nkv, hd))
        v = (h @ T[b + "attn_v.weight"].T).reshape(n, nkv, hd)
        o = np.zeros((n, nh, hd))
        for hh in range(nh):
            kh = hh // (nh // nkv)
            att = q[:, hh] @ k[:, kh].T / math.sqrt(hd)
            att[np.triu(np.ones((n, n), bool), 1)] = -np.inf
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            o[:, hh] = att @ v[:, kh]
        x = x + o.reshape(n, dim) @ T[b + "attn_output.weight"].T
        h = rms(x, T[b + "ffn_norm.weight"])
        gt = h @ T[b + "ffn_gate.weight"].T
        up = h @ T[b + "ffn_up.weight"].T
        x = x + (gt / (1 + np.exp(-gt)) * up) @ T[b + "ffn_down.weight"].T
    return rms(x, T["output_norm.weight"]) @ T["output.weight"].T


def check_model(model, gguf_path, ids):
    import torch
    g = gguf_read.GGUFFile(gguf_path)
    with torch.no_grad():
        want = model(torch.tensor([ids]))[0].double().numpy()
    got = numpy_forward(g, ids)
    err = float(np.abs(want - got).max())
    ok = err < 1e-3
    print("forward: max |torch - gguf numpy| = %.3g over %d positions %s" % (err, len(ids), "ok" if ok else "FAIL"))
    return 0 if ok else 1


def check_roundtrip(w, path):
    w.write(path)
    g = gguf_read.GGUFFile(path)
    fails = 0
    for key, vtype, etype, value in w.kv:
        got = g.kv.get(key)
        if vtype == 6:
            same = got == np.float32(value)
        elif etype == 6:
            same = list(np.float32(value)) == got
        else:
            same = got == value
        if not same:
            print("FAIL key", key)
            fails += 1
    for name, a in w.tensors:
        if not np.array_equal(g.tensors[name], a):
            print("FAIL tensor", name)
            fails += 1
    print("roundtrip: %d keys, %d tensors, %d failures, file %d bytes"
          % (len(w.kv), len(w.tensors), fails, os.path.getsize(path)))
    return fails


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--gguf", help="check this exported file instead of a random model")
    ap.add_argument("--heldout", help="text file whose lines are tokenizer test strings")
    a = ap.parse_args()
    import torch
    import sentencepiece as spm
    import train
    from model import Config, Llama
    spm_model = os.path.join(a.out, "tokenizer.model")
    sp = spm.SentencePieceProcessor(model_file=spm_model)
    torch.manual_seed(7)
    fails = 0
    if a.gguf:
        path = a.gguf
        model = None
    else:
        model = Llama(Config(sp.get_piece_size(), 32, 2, 4, 2, 48, 64))
        # Random norms so that a layout mistake cannot hide behind ones.
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.normal_(0, 0.5 if p.dim() == 1 else 0.2)
                if p.dim() == 1:
                    p.add_(1.0)
        w = train.gguf_for(model, sp, "random-check")
        path = os.path.join(tempfile.mkdtemp(), "random.gguf")
        fails += check_roundtrip(w, path)
    texts = ["It is a truth universally acknowledged", "Hello\nWorld  two  spaces",
             " leading space", "trailing space ", "digits 1234567 and 3.14",
             "caf\u00e9 na\u00efve \u2014 \u201cquoted\u201d \U0001F600", "", "\n\n", "a",
             "In the beginning God created the heaven and the earth."]
    if a.heldout:
        with open(a.heldout) as f:
            body = f.read()
        texts += body.splitlines() + [body]
    fails += check_tokenizer(spm_model, path, texts)
    if model is not None:
        ids = [1] + sp.encode("It is a truth universally acknowledged, that a single man")
        fails += check_model(model, path, ids)
    print("FAILURES: %d" % fails)
    sys.exit(fails)


if __name__ == "__main__":
    main()
