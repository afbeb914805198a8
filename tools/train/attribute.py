#!/usr/bin/python3
"""attribute.py -- train the ACBS attribute classifier of decokit-tiny: a logistic head on its last hidden state.

The attribute: "the word W is the current token or comes within the next M
tokens".  Training data are the model's own samples (temperature 1 from BOS,
so no prompt of the quality table is seen); the features are the model's
last-layer hidden states after the final RMSNorm, the rows decokit's llama
plugin hands out through hidden().  The head is written as a small binary
file (format below) that the `classifier` scorer reads.

Usage: attribute.py MODEL.gguf OUT.bin [--word heart] [--seed 1] ...

File format (little-endian):
  8 bytes   magic "DKCLS\\0\\0\\1"
  u32       n_embd
  u32       n_probe (tokens of the check sequence)
  f32[n]    weights
  f32       bias
  i32[n_probe]  the check sequence (BOS first)
  f32       the head's logit on the check sequence's last hidden row
The scorer's score is log sigmoid(w . h + b) of a hypothesis' last hidden row.
"""
import argparse
import math
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_read  # noqa: E402

MAGIC = b"DKCLS\0\0\1"


class Llama:
    """Batched incremental forward from GGUF tensors (llama.cpp's layout), float32."""

    def __init__(self, path):
        g = gguf_read.GGUFFile(path)
        kv = g.kv
        self.T = {k: np.asarray(v, dtype=np.float32) for k, v in g.tensors.items()}
        self.nh, self.nkv = kv["llama.attention.head_count"], kv["llama.attention.head_count_kv"]
        self.eps, self.base = kv["llama.attention.layer_norm_rms_epsilon"], kv["llama.rope.freq_base"]
        self.n_layer = kv["llama.block_count"]
        self.dim = self.T["token_embd.weight"].shape[1]
        self.hd = self.dim // self.nh
        self.pieces = kv["tokenizer.ggml.tokens"]
        self.bos = kv["tokenizer.ggml.bos_token_id"]

    def rms(self, v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + self.eps) * w

    def rope(self, v, pos):  # v: (B, heads, hd), one position for the whole batch
        i = np.arange(self.hd // 2)
        th = pos * self.base ** (-2.0 * i / self.hd)
        c, s = np.cos(th).astype(np.float32), np.sin(th).astype(np.float32)
        a, b = v[..., 0::2], v[..., 1::2]
        out = np.empty_like(v)
        out[..., 0::2], out[..., 1::2] = a * c - b * s, a * s + b * c
        return out

    def step(self, cur, pos, K, V):
        """One position for every row of the batch (tokens cur); K, V are the
        per-layer caches, appended to.  Returns the hidden rows after the
        final norm."""
        T, nh, nkv, hd, B = self.T, self.nh, self.nkv, self.hd, cur.shape[0]
        x = T["token_embd.weight"][cur]
        for L in range(self.n_layer):
            b = "blk.%d." % L
            h = self.rms(x, T[b + "attn_norm.weight"])
            q = self.rope((h @ T[b + "attn_q.weight"].T).reshape(B, nh, hd), pos)
            K[L].append(self.rope((h @ T[b + "attn_k.weight"].T).reshape(B, nkv, hd), pos))
            V[L].append((h @ T[b + "attn_v.weight"].T).reshape(B, nkv, hd))
            k, v = np.stack(K[L], 1), np.stack(V[L], 1)  # (B, n, nkv, hd)
            k, v = np.repeat(k, nh // nkv, 2), np.repeat(v, nh // nkv, 2)
            att = np.einsum("bhd,bnhd->bhn", q, k) / math.sqrt(hd)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            o = np.einsum("bhn,bnhd->bhd", att, v).reshape(B, self.dim)
            x = x + o @ T[b + "attn_output.weight"].T
            h = self.rms(x, T[b + "ffn_norm.weight"])
            gt, up = h @ T[b + "ffn_gate.weight"].T, h @ T[b + "ffn_up.weight"].T
            x = x + (gt / (1 + np.exp(-gt)) * up) @ T[b + "ffn_down.weight"].T
        return self.rms(x, T["output_norm.weight"])

    def caches(self):
        return [[] for _ in range(self.n_layer)], [[] for _ in range(self.n_layer)]

    def run(self, first, steps, rng, temp=1.0):
        """Sample `steps` tokens after the column `first` for every row; return
        tokens (B, steps+1) and hidden rows (B, steps+1, dim): row t is the
        hidden state after token t."""
        K, V = self.caches()
        toks, hids, cur = [first], [], first
        for pos in range(steps + 1):
            hid = self.step(cur, pos, K, V)
            hids.append(hid)
            if pos == steps:
                break
            logits = (hid @ self.T["output.weight"].T).astype(np.float64) / temp
            p = np.exp(logits - logits.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            u = rng.random((len(cur), 1))
            cur = np.minimum((p.cumsum(-1) < u).sum(-1), p.shape[1] - 1)
            toks.append(cur)
        return np.stack(toks, 1), np.stack(hids, 1)

    def hidden(self, seq):
        """Hidden rows of one fixed sequence, fed token by token."""
        K, V = self.caches()
        return np.stack([self.step(np.array([t]), p, K, V)[0] for p, t in enumerate(seq)])


def word_tokens(pieces, words):
    """Ids whose piece is one of the comma-separated words with a leading space."""
    want = {"\u2581" + w for w in words.split(",")}
    return [i for i, p in enumerate(pieces) if p in want]


def labels(toks, ids, ahead):
    hit = np.isin(toks, ids)
    y = np.zeros(toks.shape, np.float64)
    for d in range(ahead + 1):  # the current token or one of the next `ahead`
        y[:, : toks.shape[1] - d] = np.maximum(y[:, : toks.shape[1] - d], hit[:, d:])
    return y


def fit(X, y, l2, iters):
    """Logistic regression by Newton's method (the problem is small and convex)."""
    Xb = np.hstack([X, np.ones((len(X), 1))])
    w = np.zeros(Xb.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(Xb @ w)))
        g = Xb.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0]
        H = (Xb * (p * (1 - p))[:, None]).T @ Xb / len(y) + l2 * np.diag(np.r_[np.ones(len(w) - 1), 0])
        w -= np.linalg.solve(H, g)
    return w[:-1], w[-1]


def evaluate(X, y, w, b):
    z = X @ w + b
    p = 1 / (1 + np.exp(-z))
    ll = -np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))
    base = y.mean()
    ll0 = -(base * math.log(base) + (1 - base) * math.log(1 - base))
    order = np.argsort(z)
    ranks = np.empty(len(z))
    ranks[order] = np.arange(1, len(z) + 1)
    npos = y.sum()
    auc = (ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * (len(y) - npos))
    acc = np.mean((p > 0.5) == (y == 1))
    return ll, ll0, auc, acc, base


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--word", default="Lord,God")
    ap.add_argument("--ahead", type=int, default=16, help="M: tokens looked ahead")
    ap.add_argument("--samples", type=int, default=2048)
    ap.add_argument("--length", type=int, default=96)
    ap.add_argument("--skip", type=int, default=8, help="first positions left out (just after BOS)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    m = Llama(a.model)
    ids = word_tokens(m.pieces, a.word)
    if not ids:
        sys.exit("no single token for ' %s'" % a.word)
    rng = np.random.default_rng(a.seed)
    toks, hids = [], []
    for start in range(0, a.samples, a.batch):
        B = min(a.batch, a.samples - start)
        t, h = m.run(np.full(B, m.bos), a.length, rng)
        toks.append(t)
        hids.append(h)
    toks, hids = np.concatenate(toks), np.concatenate(hids)
    # Labels need `ahead` tokens after the position, so the last ones go.
    y = labels(toks, ids, a.ahead)[:, a.skip : a.length + 1 - a.ahead]
    X = hids[:, a.skip : a.length + 1 - a.ahead].astype(np.float64)
    n_train = a.samples * 4 // 5  # whole samples held out, not positions
    Xtr, ytr = X[:n_train].reshape(-1, m.dim), y[:n_train].reshape(-1)
    Xte, yte = X[n_train:].reshape(-1, m.dim), y[n_train:].reshape(-1)
    w, b = fit(Xtr, ytr, a.l2, 12)
    for name, XX, yy in (("train", Xtr, ytr), ("held-out", Xte, yte)):
        ll, ll0, auc, acc, base = evaluate(XX, yy, w, b)
        print("%-9s rows %6d  positive %.3f  log-loss %.4f (constant %.4f)  AUC %.3f  accuracy %.3f"
              % (name, len(yy), base, ll, ll0, auc, acc))
    # The check sequence: the first held-out sample's first 24 tokens; its
    # logit comes from this script's forward, so the C test compares the
    # features decokit computes with these.
    probe = toks[n_train, :24].astype(np.int32)
    ph = m.hidden(probe)
    w32, b32 = w.astype(np.float32), np.float32(b)
    logit = float(ph[-1].astype(np.float64) @ w32.astype(np.float64) + float(b32))
    with open(a.out, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<II", m.dim, len(probe)))
        f.write(w32.astype("<f4").tobytes())
        f.write(struct.pack("<f", b32))
        f.write(probe.astype("<i4").tobytes())
        f.write(struct.pack("<f", logit))
    print("word ' %s' ids %s, ahead %d, wrote %s (probe logit %.6f)" % (a.word, ids, a.ahead, a.out, logit))


if __name__ == "__main__":
    main()
