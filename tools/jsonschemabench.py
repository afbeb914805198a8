#!/usr/bin/env python3
"""jsonschemabench.py -- JSONSchemaBench per category: compile coverage, generation validity, mask times.

Usage: tools/jsonschemabench.py DECOKIT DATA_DIR [--limit N] [--gen N] [--model GGUF ...] [--refusals]

DATA_DIR is the benchmark's data/ folder (one sub-folder per category, one schema
per .json file); the data is not part of decokit (it has no licence file), read it
from where it was checked out.

Compile coverage: every schema of a category (the first --limit in name order, if
given) through `decokit grammar check -q --schema` with an empty text: exit 0 or 1
means the schema compiled to a grammar the engine accepts, 3 that it was refused.
Compile time is that command's wall time minus the same command's on the schema {}
(process start and plugin loading), averaged over the compiled schemas.
--refusals ends with the refusal messages counted over all categories, with
quoted names, schema paths and numbers left out. The llguidance column is that
engine's published coverage (LLGUIDANCE below), which counts schemas with a valid
output, not compiled ones.

Generation: the first --gen compiled schemas of each category are run once per
model at temperature 1 (no other sampler) with `decokit run --json`, max 256
tokens, seed 1.  A completion that stopped on its own is valid when Python's
jsonschema validates it (Draft 2020-12 unless the schema names another draft),
invalid otherwise; one cut short (token limit or context full) is truncated; a run that failed
is an error.  Mask times are each run's own per-token figures (mask_us): avg is
over all masks of all runs, p50 and p99 are the medians of the runs' p50 and p99.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import jsonschema

# llguidance's (Guidance's) empirical coverage per category as the benchmark's paper
# publishes it (arXiv 2501.10868, the coverage table: schemas with a valid output,
# Llama-3.1-8B); the paper leaves Github_trivial and Github_ultra out.
LLGUIDANCE = {"Glaiveai2K": 0.96, "Github_easy": 0.86, "Snowplow": 0.82, "Github_medium": 0.69,
              "Kubernetes": 0.91, "Github_hard": 0.41, "WashingtonPost": 0.86,
              "JsonSchemaStore": 0.30}


def check(dk, path, refusals=None):
    t0 = time.perf_counter()
    r = subprocess.run([dk, "grammar", "check", "-q", "--schema", "-g", path, ""],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode == 3 and refusals is not None:
        m = r.stderr.strip().split(": ", 3)[-1]
        m = re.sub(r"\d+", "N", re.sub(r"#/\S*", "#/P", re.sub(r"'[^']*'", "'X'", m)))
        refusals[m[:110]] += 1
    return r.returncode, time.perf_counter() - t0


def pipeline(tmp, schema_path):
    p = os.path.join(tmp, "bench.yaml")
    with open(p, "w", encoding="utf-8") as f:
        f.write("decokit: 1\ndecoder: { plugin: sample }\n"
                "constraint: { plugin: json_schema, file: %s, whitespace: none }\n"
                "samplers:\n  - { plugin: temperature, t: 1.0 }\n  - { plugin: dist }\n"
                "generate: { max_tokens: 256, prompt: \"JSON:\", seed: 1 }\n"
                % json.dumps(os.path.abspath(schema_path)))
    return p


def validator(schema):
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def generate(dk, tmp, model, schema_path, schema):
    cmd = [dk, "run", pipeline(tmp, schema_path), "--json", "-q"]
    if model:
        cmd += ["--set", "model.path=" + model]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return "error", []
    c = json.loads(r.stdout)["completions"][0]
    masks = c["stats"].get("mask_us", {})
    if c["stop_reason"] not in ("eos", "done", "stop"):   # length, context: cut short
        return "truncated", masks
    try:
        validator(schema).validate(json.loads(c["text"]))
        return "valid", masks
    except (ValueError, jsonschema.ValidationError) as e:
        print("invalid: %s: %s: %s" % (schema_path, json.dumps(c["text"]), str(e).split("\n")[0]),
              file=sys.stderr)
        return "invalid", masks
    except jsonschema.SchemaError:
        return "schema-error", masks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("decokit")
    ap.add_argument("data")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--gen", type=int, default=0)
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--refusals", action="store_true")
    a = ap.parse_args()
    refusals = collections.Counter()
    models = a.model or [""]
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.json")
        with open(empty, "w") as f:
            f.write("{}")
        base = min(check(a.decokit, empty)[1] for _ in range(5))
        print("| category | schemas | compiled | coverage | llguidance | compile ms | model | valid"
              " | truncated | invalid | errors | mask avg µs | p50 | p99 |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for cat in sorted(os.listdir(a.data)):
            d = os.path.join(a.data, cat)
            if not os.path.isdir(d):
                continue
            files = sorted(f for f in os.listdir(d) if f.endswith(".json"))
            if a.limit:
                files = files[: a.limit]
            ok, times = [], []
            for f in files:
                rc, t = check(a.decokit, os.path.join(d, f), refusals)
                if rc in (0, 1):
                    ok.append(f)
                    times.append(max(t - base, 0.0))
            llg = "%.0f%%" % (100 * LLGUIDANCE[cat]) if cat in LLGUIDANCE else "-"
            cov = "%d | %d | %.1f%% | %s | %.1f" % (len(files), len(ok),
                                                    100.0 * len(ok) / max(len(files), 1), llg,
                                                    1e3 * sum(times) / max(len(times), 1))
            for model in models:
                counts = {"valid": 0, "truncated": 0, "invalid": 0, "error": 0, "schema-error": 0}
                avg, p50, p99, n = 0.0, [], [], 0
                for f in ok[: a.gen]:
                    path = os.path.join(d, f)
                    with open(path, encoding="utf-8") as fh:
                        schema = json.load(fh)
                    what, m = generate(a.decokit, tmp, model, path, schema)
                    counts[what] += 1
                    if m.get("count"):
                        avg += m["avg"] * m["count"]
                        n += m["count"]
                        p50.append(m["p50"])
                        p99.append(m["p99"])
                name = os.path.basename(model) if model else "bundled"
                p50.sort()
                p99.sort()
                print("| %s | %s | %s | %d | %d | %d | %d | %.1f | %.1f | %.1f |" % (
                    cat, cov, name, counts["valid"], counts["truncated"], counts["invalid"],
                    counts["error"] + counts["schema-error"], avg / max(n, 1),
                    p50[len(p50) // 2] if p50 else 0, p99[len(p99) // 2] if p99 else 0))
                sys.stdout.flush()
    if a.refusals:
        print("\n%d refused:" % sum(refusals.values()))
        for msg, n in refusals.most_common():
            print("%5d  %s" % (n, msg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
