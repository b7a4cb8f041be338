"""Filter speed beside DataTrove's, language-ID accuracy and the toxicity model's figures.
Writes its section of BENCHMARKS.md.

Speeds: every filter alone and the whole default chain, one process, on the first ~5 MB of
the build benchmark's corpus; the whole chain also on all of it with one process per core.
DataTrove's Gopher repetition, Gopher quality, C4 and FineWeb filters run on the same sample
in the benchmark environment (bench/.venv).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from multiprocessing import Pool
from pathlib import Path

from sections import replace_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "bench" / "work"
EVAL = ROOT.parent / "shared" / "evaldata"


def _doc(text: str):
    from curate.core.document import Document

    return Document(id="x", text=text, timestamp=0)


def sample(corpus: Path, mb: float) -> Path:
    out = WORK / f"filters-sample-{mb:g}mb.jsonl"
    if not out.exists():
        n = 0
        with out.open("w") as w:
            for p in sorted(corpus.glob("*.jsonl")):
                for line in p.open():
                    w.write(line)
                    n += len(line)
                    if n > mb * 1e6:
                        return out
    return out


def _screen(filters: list[dict] | None = None):
    from curate.driver.config_file import parse_config
    from curate.stages.screen import Screen

    raw = {"input": {"paths": ["x"]}, "tokenizer": {"train": {}}, "output": {"dir": "o"}}
    if filters is not None:
        raw["filters"] = filters
    return Screen(parse_config(raw))


def _batches(texts: list[str]):
    from curate.stages.screen import SCREEN_BATCH

    for i in range(0, len(texts), SCREEN_BATCH):
        yield [_doc(t) for t in texts[i : i + SCREEN_BATCH]]


HEURISTIC = ["gopher_repetition", "gopher_quality", "c4", "fineweb_quality"]


def ours(texts: list[str]) -> dict[str, float]:
    """Seconds per filter alone and for the chain (every filter runs, as in a build), with
    documents in the build's screening batches."""
    screen = _screen()
    out = {}
    for f in screen.filters:
        f.apply(_doc(texts[0]))  # models load outside the timing
        t0 = time.perf_counter()
        for batch in _batches(texts):
            f.apply_batch(batch)
        out[f.name] = time.perf_counter() - t0
    chains = (
        ("chain", screen),
        ("same filters", _screen([{n: {}} for n in ["langid", *HEURISTIC]])),
        ("heuristic chain", _screen([{n: {}} for n in HEURISTIC])),
    )
    for name, s in chains:
        t0 = time.perf_counter()
        for batch in _batches(texts):
            s.screen(batch)
        out[name] = time.perf_counter() - t0
    return out


def _chain_file(path: str) -> tuple[int, int]:
    screen = _screen()
    texts = [json.loads(line)["text"] for line in open(path)]
    for batch in _batches(texts):
        screen.screen(batch)
    return len(texts), sum(len(t.encode()) for t in texts)


def chain_all_cores(corpus: Path, procs: int) -> dict[str, float]:
    files = [str(p) for p in sorted(corpus.glob("*.jsonl"))]
    t0 = time.perf_counter()
    with Pool(procs) as pool:
        results = pool.map(_chain_file, files, chunksize=1)
    wall = time.perf_counter() - t0
    docs, nbytes = map(sum, zip(*results, strict=True))
    return {"docs": docs, "bytes": nbytes, "wall_s": wall}


def langid_accuracy() -> dict[str, dict[str, float]]:
    from filters.langid import LanguageID

    f = LanguageID()
    by_lang: dict[str, list[str]] = defaultdict(list)
    for line in (EVAL / "langid" / "langid.jsonl").open():
        r = json.loads(line)
        by_lang[r["lang"]].append(r["text"])
    out = {}
    for lang, sents in sorted(by_lang.items()):
        paras = [" ".join(sents[i : i + 5]) for i in range(0, len(sents) - 4, 5)]
        acc = {}
        for name, texts in (("sentences", sents), ("paragraphs", paras)):
            hits = sum(f.apply(_doc(t)).metadata["language"] == lang for t in texts)
            acc[name] = hits / len(texts)
        acc["n_sentences"] = len(sents)
        out[lang] = acc
    return out


def toxicity_figures() -> dict:
    from curate.demo.writer import TOXIC_LINES
    from filters.toxicity import DEFAULT_MODEL, Toxicity

    meta = json.loads(Path(DEFAULT_MODEL).with_suffix(".json").read_text())
    # the model's own test split, for it and for a word-list baseline
    from curate.core.classifier import (
        _split,
        fasttext_text,
        load_classifier,
        positive_scores,
        prepared_text,
        uses_lexicon,
    )

    test = [
        (r["text"], r["label"] == 1)
        for r in map(json.loads, (EVAL / "toxicity" / "davidson.jsonl").open())
        if _split(fasttext_text(r["text"]), 0.2) == 2
    ]
    model, _ = load_classifier(DEFAULT_MODEL)
    lexicon = uses_lexicon(model)
    ours_at = positive_scores(model, [prepared_text(t, lexicon) for t, _ in test])
    words = subprocess.run(
        [
            str(ROOT / "bench" / ".venv" / "bin" / "python"),
            str(ROOT / "bench" / "wordlist_toxicity.py"),
        ],
        input="".join(json.dumps(t) + "\n" for t, _ in test),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    labels = [lb for _, lb in test]
    compare = {
        "curate fastText, threshold 0.5 (filter default)": [s >= 0.5 for s in ours_at],
        f"curate fastText, threshold {meta['threshold']:.4f} (best F1 on validation)": [
            s >= meta["threshold"] for s in ours_at
        ],
        "better-profanity 0.7 word list": [w == "1" for w in words],
    }
    tweets = {}
    for name, pred in compare.items():
        tp = sum(p and lb for p, lb in zip(pred, labels, strict=True))
        fp = sum(p and not lb for p, lb in zip(pred, labels, strict=True))
        tweets[name] = (tp / max(tp + fp, 1), tp / max(sum(labels), 1))
    f = Toxicity()
    prose = [
        json.loads(line)["text"]
        for line in (EVAL / "prose" / "prose.jsonl").open()
        if "wikitext" in line[:40]  # WikiText was not used in training: held out entirely
    ]
    flagged = sum(not f.apply(_doc(t)).keep for t in prose)
    web = [  # UD English-EWT: reviews, e-mails, blogs, answers; never seen in training
        r["text"]
        for r in map(json.loads, (EVAL / "langid" / "langid.jsonl").open())
        if r["lang"] == "en"
    ]
    web_flagged = sum(not f.apply(_doc(t)).keep for t in web)
    caught = sum(not f.apply(_doc(f"Some news.\n{t}")).keep for t in TOXIC_LINES)
    return {
        "held_out": meta,
        "wikitext_docs": len(prose),
        "wikitext_flagged": flagged,
        "web_sentences": len(web),
        "web_flagged": web_flagged,
        "demo_lines_caught": f"{caught}/{len(TOXIC_LINES)}",
        "tweets": tweets,
        "n_test_tweets": len(test),
        "toxic_test_tweets": sum(labels),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--sample-mb", type=float, default=5)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from build_bench import make_corpus

    from filters.langid import lid_model_path

    corpus = WORK / f"corpus-{args.mb}mb"
    make_corpus(corpus, args.mb * 1_000_000)
    path = sample(corpus, args.sample_mb)
    texts = [json.loads(line)["text"] for line in path.open()]
    nbytes = sum(len(t.encode()) for t in texts)
    mine = ours(texts)
    dt = subprocess.run(
        [
            str(ROOT / "bench" / ".venv" / "bin" / "python"),
            str(ROOT / "bench" / "datatrove_filters.py"),
            str(path),
            lid_model_path(),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = json.loads(dt.stdout.strip().splitlines()[-1])["seconds"]
    full = chain_all_cores(corpus, args.workers)
    write_section(
        Path(args.out),
        args,
        len(texts),
        nbytes,
        mine,
        theirs,
        full,
        langid_accuracy(),
        toxicity_figures(),
    )


def write_section(path, args, ndocs, nbytes, mine, theirs, full, lid, tox) -> None:
    mbs = lambda s: nbytes / s / 1e6  # noqa: E731
    lines = [
        "## Filters (issue 4)",
        "",
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; machine: {os.cpu_count()} cores, Python {platform.python_version()}",
        "- Command: `make bench` (`python bench/filters_bench.py`)",
        f"- Sample: the first {nbytes / 1e6:.1f} MB ({ndocs:,} documents) of the build benchmark's corpus; one process, default parameters",
        "",
        "| filter | curate MB/s | curate docs/s | DataTrove 0.10 MB/s | speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in mine.items():
        label = {
            "chain": "whole default chain (curate: all 7 filters, every one runs on every document; DataTrove: language ID, Gopher repetition, Gopher quality, C4, FineWeb, stopping at the first rejection)",
            "same filters": "the five filters of DataTrove's chain (language ID, Gopher repetition, Gopher quality, C4, FineWeb; curate runs every one on every document; DataTrove as above)",
            "heuristic chain": "the four heuristic filters (Gopher repetition, Gopher quality, C4, FineWeb; same rules as above)",
        }.get(name, name)
        t = theirs.get("chain" if name == "same filters" else name)
        lines.append(
            f"| {label} | {mbs(s):.2f} | {ndocs / s:,.0f} | {f'{mbs(t):.3f}' if t else 'n/a'} | {f'{t / s:.0f}x' if t else ''} |"
        )
    lines += [
        "",
        f"- Whole default chain on all {full['bytes'] / 1e6:.0f} MB ({full['docs']:,} documents), {args.workers} processes: {full['wall_s']:.1f} s, **{full['bytes'] / full['wall_s'] / 1e6:.2f} MB/s**.",
        "- DataTrove's language filter downloads lid.176.bin at run time; here it is given the lid.176.ftz file curate uses (so both tools identify languages with the same model). DataTrove scores all 176 languages on the whole text; curate the top language on the first 2,000 characters, and each line of those for `top_language_fraction`.",
        "- Documents go through curate's filters in batches of 64, one filter at a time (as in a build); DataTrove's filters take one document at a time.",
        "",
        "Language ID (fastText lid.176, shipped in filters/models, first 2,000 characters) on `../shared/evaldata/langid` (UD treebank sentences; paragraphs are 5 consecutive sentences):",
        "",
        "| language | sentences | accuracy, sentences | accuracy, paragraphs |",
        "|---|---:|---:|---:|",
    ]
    for lang, a in lid.items():
        lines.append(
            f"| {lang} | {a['n_sentences']:,} | {a['sentences']:.3f} | {a['paragraphs']:.3f} |"
        )
    macro_s = sum(a["sentences"] for a in lid.values()) / len(lid)
    macro_p = sum(a["paragraphs"] for a in lid.values()) / len(lid)
    h = tox["held_out"]
    lines += [
        f"| **macro average** | | **{macro_s:.3f}** | **{macro_p:.3f}** |",
        "",
        "Toxicity model (`make models`: fastText trained on nine permissively licensed labeled sets plus public-domain prose chunks as negatives; shipped as `filters/models/toxicity.ftz`; across platforms and on pages: the toxicity sections below):",
        "",
        f"- Held-out rows of its sets and prose chunks ({h['test']:,}, {h['positives_test']:,} toxic), threshold {h['threshold']:.4f} chosen on a separate validation split: precision **{h['precision']:.4f}**, recall **{h['recall']:.4f}**, F1 {h['f1']:.4f}.",
        f"- WikiText articles (never seen in training), filter defaults (a page is removed when two lines, or lines holding a quarter of its text, score >= 0.5): {tox['wikitext_flagged']} of {tox['wikitext_docs']} flagged.",
        f"- English web sentences of UD English-EWT (reviews, e-mails, blogs; never seen in training): {tox['web_flagged']} of {tox['web_sentences']:,} flagged.",
        f"- The demo generator's planted abusive lines: {tox['demo_lines_caught']} caught.",
        "",
        f"Held-out test tweets only ({tox['n_test_tweets']:,}, {tox['toxic_test_tweets']:,} toxic), against a word-list baseline (bench/.venv):",
        "",
        "| classifier | precision | recall |",
        "|---|---:|---:|",
        *(f"| {name} | {p:.4f} | {r:.4f} |" for name, (p, r) in tox["tweets"].items()),
    ]
    replace_section(path, "filters-bench", lines)


if __name__ == "__main__":
    main()
