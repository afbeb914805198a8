"""corpus.py -- build the public-domain training corpus from Debian packages.

Jane Austen's six novels come from r-cran-janeaustenr (read straight from
its R lazy-load database, so R is not needed) and the King James Bible
from bible-kjv (its own `bible` program prints the text).  The packages
are downloaded with `apt-get download` and unpacked with `dpkg-deb -x`,
never installed.
"""
import glob
import os
import re
import subprocess

import rdata

# Publication order; the held-out slice is the tail of each document.
AUSTEN = [
    ("sensesensibility", "Sense and Sensibility"),
    ("prideprejudice", "Pride and Prejudice"),
    ("mansfieldpark", "Mansfield Park"),
    ("emma", "Emma"),
    ("northangerabbey", "Northanger Abbey"),
    ("persuasion", "Persuasion"),
]
VERSE_REF = re.compile(r"^[0-9]?[A-Za-z]+[0-9]+:[0-9]+ ")


def fetch_debs(workdir, packages):
    """Download and unpack PACKAGES into WORKDIR/root; return that root."""
    debdir = os.path.join(workdir, "debs")
    root = os.path.join(workdir, "root")
    os.makedirs(debdir, exist_ok=True)
    for pkg in packages:
        if not glob.glob(os.path.join(debdir, pkg + "_*.deb")):
            subprocess.run(["apt-get", "download", pkg], cwd=debdir, check=True)
    for deb in sorted(glob.glob(os.path.join(debdir, "*.deb"))):
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    return root


def paragraphs_from_lines(lines):
    """Reflow hard-wrapped lines into paragraphs split at blank lines."""
    paras, cur = [], []
    for line in lines:
        # Collapse the typewriter double spaces after full stops: they
        # would only cost tokens.
        line = " ".join(line.split())
        if line:
            cur.append(line)
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    if cur:
        paras.append(" ".join(cur))
    return paras


def austen_documents(root):
    prefix = os.path.join(root, "usr/lib/R/site-library/janeaustenr/data/Rdata")
    db = rdata.load_lazy_db(prefix)
    docs = []
    for key, title in AUSTEN:
        lines = [x if x is not None else "" for x in db[key].value]
        docs.append((title, paragraphs_from_lines(lines)))
    return docs


def kjv_document(root):
    exe = os.path.join(root, "usr/bin/bible")
    out = subprocess.run([exe, "-f", "-p", os.path.join(root, "usr/lib"),
                          "gen1:1-rev22:21"], check=True, capture_output=True)
    verses = []
    for line in out.stdout.decode("utf-8").splitlines():
        line = line.strip()
        if line:
            verses.append(" ".join(VERSE_REF.sub("", line, count=1).split()))
    if len(verses) != 31102:
        raise RuntimeError("expected 31102 KJV verses, got %d" % len(verses))
    return ("King James Bible", verses)


def build(workdir, holdout_frac, sample_per_doc):
    """Return (train_docs, heldout_docs, heldout_sample) as lists of text."""
    root = fetch_debs(workdir, ["r-cran-janeaustenr", "bible-kjv", "bible-kjv-text"])
    docs = austen_documents(root) + [kjv_document(root)]
    train, held, sample = [], [], []
    for title, paras in docs:
        cut = len(paras) - max(1, int(round(len(paras) * holdout_frac)))
        train.append("\n".join(paras[:cut]) + "\n")
        tail = paras[cut:]
        held.append("\n".join(tail) + "\n")
        # A few KB from the start of each held-out slice, on paragraph bounds.
        taken, size = [], 0
        for p in tail:
            if size + len(p) + 1 > sample_per_doc and taken:
                break
            taken.append(p)
            size += len(p.encode("utf-8")) + 1
        sample.append("\n".join(taken) + "\n")
    return [t for t, _ in docs], train, held, "".join(sample)
