"""Toxicity on documents, not tweets (issue 22): toxic passages planted into clean pages, and
the clean sets a pretraining filter must keep, scored line by line by the shipped model and
decided by each candidate per-document rule. Writes its section of BENCHMARKS.md.

Toxic passages come from the four labeled sets the shipped model never trains on (`make
models` uses only permissively licensed sets): the Gab Hate Corpus, OLID, DynaHate and ETHOS.
Clean pages: the extraction gold texts of ../shared/evaldata/web/extraction (news, web pages,
multilingual pages) and the WikiText articles of the prose set (never trained on), with the
articles about religion, ethnicity, sexuality or crime counted apart. A passage is a run of
toxic posts, one per line, inserted at a random line of a page until it holds the given share
of the page's characters. ParaDetox's detoxified rewrites are scored by a model trained on the
same recipe without ParaDetox (the shipped model trains on ParaDetox).
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import numpy as np
from sections import run_or_render
from toxicity_lodo import PROSE, TOX, WORK, load, old_model, prose_negatives, save, train

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WEB = ROOT.parent / "shared" / "evaldata" / "web" / "extraction"
HELD_OUT = ("gab_hate_corpus", "olid", "dynahate_devtest", "ethos_binary")
SHARES = (0.01, 0.02, 0.05, 0.1, 0.25, 0.5)
PAGES = {
    "news (scrapinghub)": ["scrapinghub_aeb"],
    "web pages (Dragnet)": ["dragnet_train"],
    "multilingual pages (Readability, Trafilatura)": ["mozilla_readability", "trafilatura_eval"],
}
SENSITIVE = re.compile(
    r"\b(relig\w*|church\w*|muslim\w*|islam\w*|jew\w*|christian\w*|hindu\w*|catholic\w*|"
    r"ethnic\w*|racial\w*|racis\w*|slave\w*|black people|negro\w*|immigra\w*|"
    r"gay|lesbian\w*|homosexual\w*|sexual\w*|transgender|"
    r"crime\w*|criminal\w*|murder\w*|rape\w*|prison\w*|kill\w*|terror\w*)\b",
    re.I,
)  # fmt: skip


def web_pages(names: list[str]) -> list[str]:
    texts = []
    for name in names:
        with open(WEB / name / "gold.jsonl", encoding="utf-8") as f:
            texts += [t for r in map(json.loads, f) if len(t := r.get("gold_text") or "") > 200]
    return texts


def wikitext() -> tuple[list[str], list[str]]:
    """WikiText articles (left out of the model's training), split into those about a
    sensitive topic (a keyword at least three times) and the others."""
    with open(PROSE, encoding="utf-8") as f:
        arts = [r["text"] for r in map(json.loads, f) if r["id"].startswith("wikitext2")]
    sensitive = [a for a in arts if len(SENSITIVE.findall(a)) >= 3]
    return sensitive, [a for a in arts if len(SENSITIVE.findall(a)) < 3]


def plant(page: str, toxic: list[str], share: float, rng: random.Random) -> tuple[str, float]:
    """``page`` with a passage of toxic posts (one per line) at a random line, grown until it
    holds ``share`` of the characters; returns the page and the share reached."""
    passage, n = [], 0
    while n < share * (len(page) + n) or not passage:
        post = " ".join(rng.choice(toxic).split())
        passage.append(post)
        n += len(post) + 1
    lines = page.split("\n")
    at = rng.randrange(len(lines) + 1)
    out = "\n".join(lines[:at] + passage + lines[at:])
    return out, n / len(out)


class LineScores:
    """Each page's line scores and line lengths, as the toxicity filter computes them."""

    def __init__(self, model):
        self.model = model

    def __call__(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        from curate.core.classifier import positive_scores, prepared_lines, uses_lexicon

        out = []
        lexicon = uses_lexicon(self.model)
        for text in texts:
            prepared = prepared_lines(text, lexicon)
            lines = [p for p in prepared if p]
            scores = np.asarray(positive_scores(self.model, lines) if lines else [], float)
            lengths = np.asarray([len(p) for p in lines], float)
            out.append((scores, lengths))
        return out


THRESHOLDS = (0.01, 0.1, 0.5, 0.9)  # a line's score


def rules() -> dict:
    """Per-document rules over a page's line scores (``s``) and line lengths (``n``), at each
    line threshold."""
    out = {}
    for t in THRESHOLDS:
        out[f"any line >= {t}"] = lambda s, n, t=t: bool((s >= t).any())
        out[f"2+ lines >= {t}"] = lambda s, n, t=t: int((s >= t).sum()) >= 2
        for share in (0.01, 0.05):
            out[f"lines >= {t} hold {share:.0%} of chars"] = lambda s, n, t=t, share=share: (
                bool((s >= t).any()) and n[s >= t].sum() >= share * n.sum()
            )
    out["filter default: 2+ lines >= 0.5, or 25% of chars"] = filter_rule()
    out["filter rule at 0.9: 2+ lines >= 0.9, or 25% of chars"] = filter_rule(0.9)
    return out


def filter_rule(threshold: float | None = None):
    """The toxicity filter's own page decision, at its defaults (or at another line
    ``threshold``), on these line scores."""
    from filters.toxicity import Toxicity

    f = Toxicity()
    at = f.threshold if threshold is None else threshold

    def removes(s: np.ndarray, n: np.ndarray) -> bool:
        toxic = s >= at
        return f.removes(int(toxic.sum()), n[toxic].sum() / n.sum() if n.sum() else 0.0)

    return removes


def clean_page_sets() -> dict[str, list[str]]:
    """The clean pages, by set: news, web pages, multilingual pages, and WikiText articles
    split by topic."""
    sets = {name: web_pages(names) for name, names in PAGES.items()}
    sensitive, other = wikitext()
    sets["Wikipedia articles (WikiText)"] = other
    sets["Wikipedia articles on religion, ethnicity, sexuality, crime"] = sensitive
    return sets


# the filter itself on each page: the default rule, and only pages its language gate passes
FILTER_ROW = "the filter as shipped: the default rule on English pages only"


def run() -> dict:
    from curate.core.classifier import load_classifier
    from curate.core.document import Document
    from filters.toxicity import Toxicity

    model, _ = load_classifier(str(ROOT / "filters" / "models" / "toxicity.ftz"))
    score, old = LineScores(model), LineScores(old_model())
    decide = rules()
    old_rule = "old model (Davidson): any line >= 0.5 (its default)"
    shipped = Toxicity()
    rng = random.Random(0)
    toxic = [t for name in HELD_OUT for t, label in load(name) if label]
    clean_sets = clean_page_sets()
    r: dict = {"rules": [*decide, FILTER_ROW, old_rule], "clean": {}, "planted": {}}

    def rates(texts: list[str]) -> dict:
        scored = score(texts)
        out = {k: sum(f(s, n) for s, n in scored) / len(texts) for k, f in decide.items()}
        docs = [Document(id=str(i), text=t, timestamp=None) for i, t in enumerate(texts)]
        out[FILTER_ROW] = sum(not d.keep for d in shipped.apply_batch(docs)) / len(texts)
        out[old_rule] = sum(bool((s >= 0.5).any()) for s, _ in old(texts)) / len(texts)
        return out

    for name, pages in clean_sets.items():
        r["clean"][name] = {"pages": len(pages), "removed": rates(pages)}
        print(name, json.dumps(r["clean"][name]), flush=True)
    pages = [p for texts in clean_sets.values() for p in texts]
    for share in SHARES:
        planted = [plant(p, toxic, share, rng) for p in pages]
        r["planted"][str(share)] = {
            "pages": len(planted),
            "share": float(np.mean([x for _, x in planted])),
            "detected": rates([p for p, _ in planted]),
        }
        print(share, json.dumps(r["planted"][str(share)]), flush=True)
    # ParaDetox's rewrites, by the same recipe trained without ParaDetox
    from toxicity_lodo import TRAINED

    mix = [x for name in TRAINED if name != "paradetox" for x in load(name)] + prose_negatives()
    no_para, para_threshold = train(mix)
    rewrites = [t for t, label in load("paradetox") if not label]
    sources = [t for t, label in load("paradetox") if label]
    r["paradetox"] = {"rewrites": len(rewrites), "thresholds": {}}
    for t in (para_threshold, Toxicity().threshold):
        r["paradetox"]["thresholds"][f"{t:.3f}"] = {
            "rewrites_removed": _rate(no_para, rewrites, t),
            "toxic_caught": _rate(no_para, sources, t),
        }
    return save(r, "documents.json")


def _rate(model, texts: list[str], threshold: float) -> float:
    from toxicity_lodo import score

    return float(np.mean([s >= threshold for s in score(model, texts)]))


def render(r: dict) -> list[str]:
    clean, planted = r["clean"], r["planted"]
    short = {name: name.split(" (")[0] for name in clean}
    lines = [
        "## Toxicity on documents (issue 22)",
        "",
        f"{r['machine']}; {r['date']}; `python bench/toxicity_documents.py` (`make bench`). The "
        "shipped model scores every line; a rule decides the page. Each row is a rule at a line "
        "threshold: the share of clean pages it removes (lower is better), then the share of "
        "pages it catches once a toxic passage from the four sets the model never trains on "
        "(Gab Hate Corpus, OLID, DynaHate, ETHOS) is planted at a random line and holds the "
        "given share of the page's characters (a passage is one post or more, so on long pages "
        "the share reached, in the header, is above the one aimed at). Every rule but one "
        "scores every page; the filter as shipped scores only pages in its model's language "
        "(English, detected from the first 500 characters as the filter does without langid "
        "metadata) and keeps the others unscored. Clean pages: "
        + "; ".join(f"{name}: {row['pages']:,}" for name, row in clean.items())
        + ".",
        "",
        "| rule | "
        + " | ".join(short.values())
        + " | "
        + " | ".join(f"planted {100 * row['share']:.0f}%" for row in planted.values())
        + " |",
        "|---|" + "---:|" * (len(clean) + len(planted)),
    ]
    for rule in r["rules"]:
        cells = [f"{100 * row['removed'][rule]:.1f}%" for row in clean.values()]
        cells += [f"{100 * row['detected'][rule]:.1f}%" for row in planted.values()]
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    p = r["paradetox"]
    lines += [
        "",
        "ParaDetox, scored by the same recipe trained without ParaDetox (the shipped model "
        f"trains on it): {p['rewrites']:,} detoxified rewrites.",
        "",
        "| line threshold | rewrites removed | their toxic sources caught |",
        "|---|---:|---:|",
    ]
    for t, row in p["thresholds"].items():
        lines.append(
            f"| {t} | {100 * row['rewrites_removed']:.1f}% | {100 * row['toxic_caught']:.1f}% |"
        )
    return lines


if __name__ == "__main__":
    run_or_render("toxicity-documents", TOX, WORK / "documents.json", run, render)
