"""Toxicity across platforms (issue 22): leave-one-dataset-out evaluation of a fastText model
trained on a mixture of the labeled sets in ../shared/evaldata/toxicity, beside the shipped
model (Davidson tweets) and a word-list baseline (better-profanity, in bench/.venv), on every
set. Writes its section of BENCHMARKS.md.

For each natural source, a model is trained on all the other natural sources plus clean
long-form prose (cut into 30-word chunks) as negatives, with ``make models``' fastText settings;
its threshold is the best-F1 point on a validation split (10%, by text hash) of the training
sources only; it is scored on the whole held-out source: ROC AUC, and precision, recall and F1
at that threshold. The functional test suites (HateCheck, Hatemoji Check) are never trained on:
every model is scored on them. Scores are per text (one line each), as the filter scores a line.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sections import run_or_render

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOX = ROOT.parent / "shared" / "evaldata" / "toxicity"
PROSE = ROOT.parent / "shared" / "evaldata" / "prose" / "prose.jsonl"
WORK = ROOT / "bench" / "work" / "toxicity"
NATURAL = (
    "davidson",
    "jigsaw_wikitalk_subset",
    "wikitalk_toxicity_testsample",
    "hatexplain",
    "gab_hate_corpus",
    "edos_sexism",
    "sbic_devtest",
    "olid",
    "ethos_binary",
    "dynahate_devtest",
    "hatemoji_build",
    "toxigen_prompts",
    "paradetox",
)
SUITES = ("hatecheck", "hatemoji_check")  # templated functional tests: never trained on
WORDLIST_SAMPLE = 1000  # rows per set for better-profanity (about 150 texts a second)


def load(name: str) -> list[tuple[str, int]]:
    path = TOX / (f"{name}.jsonl" if name == "davidson" else f"{name}.jsonl.gz")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [(r["text"], int(r["label"])) for r in rows]


def prose_negatives() -> list[tuple[str, int]]:
    from curate.core.classifier import labeled_examples

    return [(t, 0) for t, _ in labeled_examples([], [], [str(PROSE)], chunk_words=30,
                                                exclude_id_prefix=["wikitext2"])]  # fmt: skip


def _validation(text: str) -> bool:
    return hashlib.blake2b(text.encode(), digest_size=8).digest()[0] < 26  # about 10%


def train(examples: list[tuple[str, int]], seed: int = 0):
    """A fastText model with ``make models``' settings; its best-F1 threshold on the
    validation split of ``examples``."""
    import fasttext

    from curate.core.classifier import NEGATIVE, POSITIVE, best_threshold, fasttext_text

    fit, val = [], []
    for text, label in examples:
        line = fasttext_text(text)
        if line:
            (val if _validation(line) else fit).append((line, label))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for line, label in fit:
            f.write(f"{POSITIVE if label else NEGATIVE} {line}\n")
        path = f.name
    try:
        model = fasttext.train_supervised(input=path, epoch=10, lr=0.2, wordNgrams=2, dim=50,
                                          thread=1, seed=seed, minCount=2, verbose=0)  # fmt: skip
    finally:
        os.unlink(path)
    threshold, *_ = best_threshold(score(model, [t for t, _ in val]), [bool(lb) for _, lb in val])
    return model, threshold


def score(model, texts: list[str]) -> list[float]:
    from curate.core.classifier import fasttext_text, positive_scores

    return positive_scores(model, [fasttext_text(t) for t in texts])


def roc_auc(scores: list[float], labels: list[int]) -> float:
    """Mann-Whitney: the probability that a toxic text outscores a clean one (ties half)."""
    s, y = np.asarray(scores), np.asarray(labels, bool)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks of ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos, neg = y.sum(), (~y).sum()
    if not pos or not neg:
        return float("nan")
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def prf(pred: list[bool], labels: list[int]) -> tuple[float, float, float]:
    tp = sum(p and lb for p, lb in zip(pred, labels, strict=True))
    fp = sum(p and not lb for p, lb in zip(pred, labels, strict=True))
    fn = sum(labels) - tp
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def evaluate(model, threshold: float, data: list[tuple[str, int]]) -> dict:
    texts, labels = [t for t, _ in data], [lb for _, lb in data]
    s = score(model, texts)
    p, r, f = prf([x >= threshold for x in s], labels)
    return {"auc": roc_auc(s, labels), "precision": p, "recall": r, "f1": f}


def wordlist(texts: list[str]) -> list[bool] | None:
    exe = ROOT / "bench" / ".venv" / "bin" / "python"
    if not exe.exists():
        return None
    data = "".join(json.dumps(t) + "\n" for t in texts)
    out = subprocess.run([str(exe), str(ROOT / "bench" / "wordlist_toxicity.py")], input=data,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [x == "1" for x in out.split()]


def run() -> dict:
    from curate.core.classifier import load_classifier

    sets = {name: load(name) for name in (*NATURAL, *SUITES)}
    prose = prose_negatives()
    shipped, _ = load_classifier(str(ROOT / "filters" / "models" / "toxicity.ftz"))
    r: dict = {"sets": {}, "rows": {n: len(d) for n, d in sets.items()}}
    t0 = time.perf_counter()
    for held in NATURAL:
        mix = [x for n in NATURAL if n != held for x in sets[n]] + prose
        model, threshold = train(mix)
        row = {"lodo": evaluate(model, threshold, sets[held]), "threshold": threshold}
        row["suites"] = {s: evaluate(model, threshold, sets[s]) for s in SUITES}
        r["sets"][held] = row
        print(held, json.dumps(row["lodo"]), flush=True)
    r["lodo_seconds"] = time.perf_counter() - t0
    for name, data in sets.items():
        row = r["sets"].setdefault(name, {})
        row["shipped"] = evaluate(shipped, 0.5, data)  # the filter's default threshold
        sample = data[:: max(1, len(data) // WORDLIST_SAMPLE)]  # the word list is slow
        pred = wordlist([t for t, _ in sample])
        if pred is not None:
            p, rec, f = prf(pred, [lb for _, lb in sample])
            row["wordlist"] = {"precision": p, "recall": rec, "f1": f, "rows": len(sample)}
    r["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    r["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "lodo.json").write_text(json.dumps(r, indent=1))
    return r


def render(r: dict) -> list[str]:
    def cell(m: dict | None, key: str) -> str:
        return f"{m[key]:.3f}" if m and key in m else "n/a"

    lines = [
        "## Toxicity across platforms: leave one dataset out (issue 22)",
        "",
        f"{r['machine']}; {r['date']}; `python bench/toxicity_lodo.py` (`make bench`). For each "
        "source, a fastText model (`make models`' settings) trained on every other natural "
        "source plus clean prose chunks, its threshold chosen on a validation split of those "
        "sources only, scored on the whole held-out source. Beside it: the shipped model "
        "(Davidson tweets) at the filter's default threshold 0.5, and the better-profanity word "
        f"list (on every n-th row, about {WORDLIST_SAMPLE:,} per set: it reads about 150 texts "
        f"a second here). {r['lodo_seconds']:.0f} s for the {len(NATURAL)} models.",
        "",
        "| held-out source | rows | LODO AUC | LODO P | LODO R | LODO F1 | shipped AUC |"
        " shipped F1 | word list F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    f1s = []
    for name in NATURAL:
        row = r["sets"][name]
        lodo = row["lodo"]
        f1s.append(lodo["f1"])
        lines.append(
            f"| {name} | {r['rows'][name]:,} | {cell(lodo, 'auc')} | {cell(lodo, 'precision')} "
            f"| {cell(lodo, 'recall')} | {cell(lodo, 'f1')} | {cell(row.get('shipped'), 'auc')} "
            f"| {cell(row.get('shipped'), 'f1')} | {cell(row.get('wordlist'), 'f1')} |"
        )
    aucs = [r["sets"][n]["lodo"]["auc"] for n in NATURAL]
    lines += [
        "",
        f"Macro LODO F1 {np.mean(f1s):.3f}; LODO AUC at least 0.85 on {sum(a >= 0.85 for a in aucs)}"
        f" of {len(NATURAL)} sources (lowest {min(aucs):.3f}). Functional suites, scored by every "
        "LODO model (never trained on), mean over the models, and by the shipped model:",
        "",
        "| suite | rows | LODO models AUC | LODO models F1 | shipped AUC | shipped F1 |"
        " word list F1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in SUITES:
        per = [r["sets"][n]["suites"][s] for n in NATURAL]
        row = r["sets"][s]
        lines.append(
            f"| {s} | {r['rows'][s]:,} | {np.mean([m['auc'] for m in per]):.3f} | "
            f"{np.mean([m['f1'] for m in per]):.3f} | {cell(row['shipped'], 'auc')} | "
            f"{cell(row['shipped'], 'f1')} | {cell(row.get('wordlist'), 'f1')} |"
        )
    return lines


if __name__ == "__main__":
    run_or_render("toxicity-lodo", TOX, WORK / "lodo.json", run, render)
