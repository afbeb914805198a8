#!/usr/bin/env python3
# bench-serve.py -- aggregate tokens/s and p50/p99 latency of decokit serve at 1, 4, 16 and 64 concurrent clients, beside llama-server.
"""Usage: bench-serve.py BUILDDIR GGUF... [--llama DIR] [--clients 1,4,16,64] [--tokens 64] [--threads 1]

Every client sends greedy completions of exactly --tokens tokens (end of
sequence ignored) one after another; the figures are generated tokens over
wall time for all clients together, and the latency of single requests.
With --llama DIR, llama.cpp's llama-server (-np N slots, continuous batching)
serves the same GGUF with the same threads and requests.  Speed figures are
printed, never asserted."""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def request(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.monotonic()
    c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    dt = time.monotonic() - t0
    c.close()
    if r.status != 200:
        raise RuntimeError(f"status {r.status}: {data[:300]!r}")
    return dt, json.loads(data)["usage"]["completion_tokens"]


def wait_health(port, proc, secs=120):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become healthy")


def run_level(port, body, clients, per_client):
    lat, toks, errs = [], [], []
    lock = threading.Lock()

    def client():
        for _ in range(per_client):
            try:
                dt, n = request(port, body)
                with lock:
                    lat.append(dt)
                    toks.append(n)
            except Exception as e:  # reported, never hidden
                with lock:
                    errs.append(str(e))

    ts = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.monotonic() - t0
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
    return sum(toks) / wall, pct(0.50), pct(0.99), errs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builddir")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--llama")
    ap.add_argument("--clients", default="1,4,16,64")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--requests", type=int, default=64, help="requests per level (at least 2 per client)")
    a = ap.parse_args()
    levels = [int(x) for x in a.clients.split(",")]
    prompt = "Once upon a time"
    print(f"# {a.tokens} tokens per request, greedy, {a.threads} threads; load: {os.getloadavg()}")
    print(f"{'model':24} {'server':13} {'clients':>7} {'tok/s':>9} {'p50 s':>8} {'p99 s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for gguf in a.models:
            name = os.path.basename(gguf)
            pipe = os.path.join(tmp, "greedy.yaml")
            with open(pipe, "w") as f:
                f.write(f"decokit: 1\nmodel: {{ plugin: llama, path: {json.dumps(os.path.abspath(gguf))} }}\n"
                        f"samplers: [ {{ plugin: greedy }} ]\ngenerate: {{ threads: {a.threads}, ignore_eos: true }}\n")
            results = {}
            servers = [("decokit", None)] + ([("llama-server", None)] if a.llama else [])
            for server, _ in servers:
                for n in levels:
                    per = max(2, a.requests // n)
                    port = free_port()
                    if server == "decokit":
                        cmd = [os.path.join(a.builddir, "core", "decokit"), "serve", "--port", str(port),
                               "--max-sessions", str(max(levels)), "--threads", str(a.threads), pipe]
                        body = {"prompt": prompt, "max_tokens": a.tokens}
                    else:
                        # -c is shared by the slots: 512 positions each.
                        cmd = [os.path.join(a.llama, "llama-server"), "-m", gguf, "--port", str(port),
                               "-np", str(n), "-c", str(512 * n), "-t", str(a.threads), "-cb"]
                        body = {"prompt": prompt, "max_tokens": a.tokens, "temperature": 0,
                                "ignore_eos": True}
                    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    try:
                        wait_health(port, proc)
                        request(port, body)  # warm up
                        tps, p50, p99, errs = run_level(port, body, n, per)
                    finally:
                        proc.terminate()
                        proc.wait()
                    results[(server, n)] = tps
                    note = f"  ({len(errs)} errors: {errs[0]})" if errs else ""
                    print(f"{name:24} {server:13} {n:7d} {tps:9.1f} {p50:8.3f} {p99:8.3f}{note}", flush=True)
            if a.llama and 16 in levels:
                r = results[("decokit", 16)] / results[("llama-server", 16)]
                print(f"{name:24} decokit / llama-server at 16 clients: {r:.2f}x")
    print(f"# load after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
