"""Benchmark decontamination: recall by change type, precision on clean text, speed and index
size. Writes its section of BENCHMARKS.md.

Recall: items of every shared evaluation set (../shared/evaldata/benchmarks) are pasted into real
prose documents (../shared/evaldata/prose) the way web copies show them; a plant *shares a full
n-gram* when its words, normalized, still contain one of the item's indexed n-grams (computed
here from word lists, independently of the index's hashing). Found: the stage lists the item.
Matched: the item reaches ``min_overlap`` (the share that triggers the action).
Precision: every document of the prose set, the extraction gold texts and the demo's clean
articles goes through the stage; each flagged document is listed with the item it matched.
Speed: the stage alone, as the filter chain runs it (batches of 64), on 1 KB prose documents.
"""

from __future__ import annotations

import gzip
import html
import json
import platform
import random
import re
import resource
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from sections import run_or_render

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from curate.demo.contamination import CHANGES  # noqa: E402 - the demo's change types, the same

SHARED = ROOT.parent / "shared" / "evaldata"
WORK = ROOT / "bench" / "work" / "decontam"
PER_BENCHMARK = 60  # items planted per evaluation set and change type


def question(rec: dict) -> str | None:
    for key in ("question", "ctx", "goal", "context", "prompt"):
        if isinstance(rec.get(key), str):
            return rec[key]
    return None


def answer(rec: dict) -> str | None:
    """The answer passage alone: a worked solution, code, the passage read, the gold ending."""
    if isinstance(rec.get("answer"), str) and len(rec["answer"].split()) > 3:
        return rec["answer"]
    for key in ("canonical_solution", "passage"):
        if isinstance(rec.get(key), str):
            return rec[key]
    if "endings" in rec:
        return rec["endings"][rec["label"]]
    if "sol1" in rec:
        return rec[f"sol{rec['label'] + 1}"]
    if "choices" in rec and isinstance(rec.get("answer"), int):
        return "The answer is " + rec["choices"][rec["answer"]]
    return rec["text"].split("\n")[-1]


def changed(rec: dict, change: str, rng: random.Random) -> str | None:
    text = rec["text"]
    if change == "case":
        return text.upper() if rng.random() < 0.5 else text.lower()
    if change == "line_breaks":
        words = text.split()
        step = rng.randint(5, 12)
        return "\n".join(" ".join(words[i : i + step]) for i in range(0, len(words), step))
    if change == "punctuation":
        return re.sub(r"[.,?!:;()\"'’]", "", text).replace("\n", " / ")
    if change == "html_entities":
        return html.escape(text).replace(" ", "&nbsp;", 5)
    if change == "choice_numbering":
        if not re.search(r"(?m)^[A-D]\. ", text):
            return None
        return re.sub(
            r"(?m)^([A-D])\. |(Answer: )([A-D])\. ",
            lambda m: f"{m.group(2) or ''}{'abcd'['ABCD'.index(m.group(1) or m.group(3))]}) ",
            text,
        )
    if change == "question_only":
        return question(rec)
    if change == "answer_only":
        return answer(rec)
    return text


def share(text: str, item: str, n: int, min_words: int) -> float:
    from curate.decontam.words import words

    a, b = words(text), words(item)
    if len(b) < min_words:
        return 0.0
    k = min(n, len(b))
    grams = {tuple(b[i : i + k]) for i in range(len(b) - k + 1)}
    have = {tuple(a[i : i + k]) for i in range(len(a) - k + 1)}
    return len(grams & have) / len(grams)


def load_benchmarks() -> dict[str, list[dict]]:
    out = {}
    for p in sorted((SHARED / "benchmarks").glob("*.jsonl.gz")):
        out[p.name.split(".")[0]] = [json.loads(line) for line in gzip.open(p, "rt")]
    return out


def recall(stage, benchmarks, prose: list[str]) -> dict:
    from curate.core.document import Document

    rng = random.Random(0)
    index = stage.index
    template_free = set()  # items whose every n-gram is template text are not indexed
    for i, w in enumerate(index.item_windows.tolist()):
        if w:
            template_free.add(index.item_ids[i])
    rows: dict[str, dict] = {c: dict(planted=0, shares=0, found=0, matched=0) for c in CHANGES}
    per_bench: dict[str, dict] = {}
    misses = []
    for name, recs in benchmarks.items():
        b = per_bench.setdefault(name, dict(shares=0, found=0, matched=0))
        for rec in rng.sample(recs, min(PER_BENCHMARK, len(recs))):
            for change in CHANGES:
                passage = changed(rec, change, rng)
                if not passage:
                    continue
                base = rng.choice(prose)
                paras = base.split("\n\n")
                paras.insert(rng.randint(0, len(paras)), passage)
                doc = Document("x", "\n\n".join(paras), 0)
                s = share(passage, rec["text"], index.ngram, index.min_item_words)
                s = s if rec["id"] in template_free else 0.0
                (decision,) = stage.apply_batch([doc])
                listed = {m["item"]: m for m in decision.metadata.get("decontamination", [])}
                r = rows[change]
                r["planted"] += 1
                if s > 0:
                    r["shares"] += 1
                    b["shares"] += 1
                    hit = rec["id"] in listed
                    r["found"] += hit
                    b["found"] += hit
                    m = hit and listed[rec["id"]]["matched"]
                    r["matched"] += m
                    b["matched"] += m
                    if not hit:
                        misses.append((name, rec["id"], change))
    return {"by_change": rows, "by_benchmark": per_bench, "misses": misses[:20]}


def clean_sets() -> dict[str, list[tuple[str, str]]]:
    sets = {
        "prose": [
            (d["id"], d["text"]) for d in map(json.loads, open(SHARED / "prose" / "prose.jsonl"))
        ]
    }
    for gold in sorted((SHARED / "web" / "extraction").glob("*/gold.jsonl")):
        docs = []
        for line in open(gold):
            d = json.loads(line)
            text = d.get("gold_text") or "\n".join(d.get("with", []) or [])
            if text:
                docs.append((d["id"], text))
        sets[f"extraction/{gold.parent.name}"] = docs
    from curate.demo.text import generate

    demo = WORK / "demo"
    truth = generate(demo, n_docs=6000, seed=0, huge_doc_bytes=1000)
    clean = set(truth["planted"]["clean"])
    from curate.readers.files import read_file

    docs = []
    for p in sorted((demo / "raw").iterdir()):
        for rec in read_file(str(p)):
            v = getattr(rec, "value", None)
            if isinstance(v, dict) and v.get("id") in clean:
                docs.append((v["id"], v["text"]))
    sets["demo (clean articles)"] = docs
    return sets


def precision(stage, sets) -> dict:
    from curate.core.document import Document

    out = {}
    for name, docs in sets.items():
        flagged, found = [], 0
        for i in range(0, len(docs), 64):
            batch = [Document(d, t, 0) for d, t in docs[i : i + 64]]
            for doc, dec in zip(batch, stage.apply_batch(batch), strict=True):
                listed = dec.metadata.get("decontamination", [])
                found += bool(listed)
                for m in listed:
                    if m["matched"]:
                        flagged.append(
                            (doc.id, m["benchmark"], m["item"], m["overlap"], m["ngram"])
                        )
        out[name] = {
            "documents": len(docs),
            "found": found,
            "flagged_documents": len({f[0] for f in flagged}),
            "flagged": flagged[:10],
        }
    return out


def speed(stage, texts: list[str]) -> dict:
    from curate.core.document import Document

    chunks = [t[i : i + 1000] for t in texts for i in range(0, len(t) - 999, 1000)][:20000]
    nbytes = sum(len(c.encode()) for c in chunks)
    best = None
    for _ in range(3):
        t = time.perf_counter()
        for i in range(0, len(chunks), 64):
            stage.apply_batch([Document("x", c, 0) for c in chunks[i : i + 64]])
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return {
        "documents": len(chunks),
        "non_ascii": sum(not c.isascii() for c in chunks) / len(chunks),
        "bytes_per_doc": nbytes / len(chunks),
        "us_per_doc": best / len(chunks) * 1e6,
        "mb_per_s": nbytes / best / 1e6,
    }


def full_build(prose: list[str], benchmarks: dict[str, list[dict]]) -> dict:
    """A build of the prose set with one item pasted into every 40th document, with
    ``decontamination:`` naming all shared evaluation files (``remove_span``, two worker
    processes): stats.json's table, and each planted item matched in its document's metadata."""
    import shutil

    import pyarrow as pa

    from curate.driver.build import run_build
    from curate.driver.config_file import parse_config

    rng = random.Random(5)
    work = WORK / "full"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    planted, rows = [], []
    names = sorted(benchmarks)
    for i, text in enumerate(prose):
        doc_id = f"prose-{i}"
        if i % 40 == 0:
            name = names[(i // 40) % len(names)]
            item = rng.choice(benchmarks[name])
            paras = text.split("\n\n")
            paras.insert(rng.randint(0, len(paras)), item["text"])
            text = "\n\n".join(paras)
            planted.append((doc_id, name, item["id"]))
        rows.append({"id": doc_id, "text": text, "timestamp": f"{2015 + i % 10}-06-01"})
    (work / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    files = sorted((SHARED / "benchmarks").glob("*.jsonl.gz"))
    cfg = parse_config(
        {
            "input": {"paths": [str(work / "in.jsonl")], "max_doc_bytes": 20_000_000},
            "filters": [],
            "tokenizer": {"train": {"vocab_size": 4000, "sample_docs": 500}},
            "temporal": {
                "period": "year",
                "splits": {"train": [None, "2022-01-01"], "test": ["2022-01-01", None]},
            },
            "decontamination": {
                "benchmarks": [{"path": str(p)} for p in files],
                "action": "remove_span",
            },
            "output": {"dir": str(work / "out")},
        }
    )
    t = time.perf_counter()
    stats = run_build(cfg, [])
    seconds = time.perf_counter() - t
    manifest = json.loads((work / "out" / "manifest.json").read_text())
    matched: dict[str, set] = {}
    for shard in manifest["shards"]:
        table = pa.ipc.open_file(pa.memory_map(str(work / "out" / shard["path"]))).read_all()
        for r in table.select(["doc_id", "metadata"]).to_pylist():
            listed = json.loads(r["metadata"] or "{}").get("decontamination", [])
            matched[r["doc_id"]] = {(m["benchmark"], m["item"]) for m in listed if m["matched"]}
    found = sum((name, item) in matched.get(doc, set()) for doc, name, item in planted)
    return {
        "documents": len(rows),
        "planted": len(planted),
        "planted_matched": found,
        "seconds": seconds,
        "balanced": stats["balance"]["balanced"],
        "benchmarks": stats["decontamination"]["benchmarks"],
    }


def cross_split(prose: list[str]) -> dict:
    """Training documents (prose, dated 2019) and test-period copies (2023) edited to a spread of
    true Jaccard: the full pipeline with ``cross_split_threshold: 0.5``; removed share by bin."""
    from curate.dedup.minhash import true_jaccard
    from curate.driver.build import run_build
    from curate.driver.config_file import parse_config

    rng = random.Random(1)
    work = WORK / "cross"
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows, truth = [], {}
    bases = [t for t in prose if len(t.split()) > 200][:600]
    vocab = sorted({w for t in bases[:50] for w in t.split()})
    for i, text in enumerate(bases):
        rows.append({"id": f"base-{i}", "text": text, "timestamp": "2019-06-01"})
        words = text.split(" ")
        share = rng.choice([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.13, 0.17])
        for k in rng.sample(range(len(words)), int(len(words) * share)):
            words[k] = rng.choice(vocab)
        copy = " ".join(words)
        rows.append({"id": f"copy-{i}", "text": copy, "timestamp": "2023-06-01"})
        truth[f"copy-{i}"] = true_jaccard(text, copy)
    (work / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = parse_config(
        {
            "input": {"paths": [str(work / "in.jsonl")]},
            "filters": [],
            "dedup": {"near": {"threshold": 0.8, "cross_split_threshold": 0.5}},
            "tokenizer": {"train": {"vocab_size": 1000, "sample_docs": 200}},
            "temporal": {"splits": {"train": [None, "2022-01-01"], "test": ["2022-01-01", None]}},
            "output": {"dir": str(work / "out")},
        }
    )
    t = time.perf_counter()
    stats = run_build(cfg, ["--runner=FnApiRunner", "--direct_running_mode=in_memory"])
    seconds = time.perf_counter() - t
    removed = {}
    for p in (work / "out" / "rejected").glob("*.jsonl"):
        for line in open(p):
            r = json.loads(line)
            removed[r["id"]] = r["reason"]
    bins = [(0.0, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 1.01)]
    out = []
    for lo, hi in bins:
        ids = [d for d, j in truth.items() if lo <= j < hi]
        reasons = Counter(removed.get(d, "kept") for d in ids)
        out.append({"bin": [lo, min(hi, 1.0)], "copies": len(ids), "outcome": dict(reasons)})
    return {
        "bins": out,
        "seconds": seconds,
        "cross_split": stats["duplicates"]["cross_split"],
        "pairs": stats["near_dedup"],
    }


def run() -> dict:
    from curate.decontam.index import load_index
    from curate.decontam.items import BenchmarkFile, build_index
    from curate.decontam.stage import Decontaminate

    WORK.mkdir(parents=True, exist_ok=True)
    files = sorted((SHARED / "benchmarks").glob("*.jsonl.gz"))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    index = build_index([BenchmarkFile(str(p)) for p in files])
    build_s = time.perf_counter() - t
    path = WORK / "all-benchmarks.npz"
    saved = index.save(str(path))
    t = time.perf_counter()
    index = load_index(str(path))
    load_s = time.perf_counter() - t
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stage = Decontaminate(index, "remove_document", 0.2)
    prose = [json.loads(line)["text"] for line in open(SHARED / "prose" / "prose.jsonl")]
    sets = clean_sets()
    benchmarks = load_benchmarks()
    result = {
        "index": {
            **index.summary(),
            "build_s": build_s,
            "load_s": load_s,
            "file_bytes": saved["bytes"],
            "build_peak_rss_mb": (rss1 - rss0) / 1024,
        },
        "speed": speed(stage, prose),
        "speed_web": speed(
            stage, [t for name, ts in sets.items() if "extraction" in name for _, t in ts]
        ),
        "recall": recall(stage, benchmarks, prose),
        "full_build": full_build(prose, benchmarks),
        "precision": precision(stage, sets),
        "cross_split": cross_split(prose),
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    (WORK / "decontam_bench.json").write_text(json.dumps(result, indent=1))
    return result


def render(r: dict) -> list[str]:
    ix, sp = r["index"], r["speed"]
    lines = [
        "## Benchmark decontamination (issue 24)",
        "",
        f"{r['date']}, {r['machine']}, one core; `make bench` (`bench/decontam_bench.py`).",
        "",
        f"Index of all {len(ix['benchmarks'])} shared evaluation sets ({ix['items']:,} items, "
        f"{ix['ngram']}-word n-grams): {ix['ngrams']:,} n-grams, {ix['boilerplate_ngrams']:,} left "
        f"out as template text (in over {ix['max_items_per_ngram']} items); built in "
        f"{ix['build_s']:.1f} s, {ix['file_bytes'] / 1e6:.0f} MB on disk, loaded in "
        f"{ix['load_s']:.2f} s, {ix['memory_bytes'] / 1e6:.0f} MB in memory (target: under 500).",
        "",
        f"Speed, the stage as the filter chain runs it: {sp['us_per_doc']:.1f} µs per "
        f"{sp['bytes_per_doc']:.0f}-byte document, {sp['mb_per_s']:.1f} MB/s per core "
        f"({sp['documents']:,} prose documents, {sp['non_ascii']:.0%} with characters outside "
        "ASCII; target: at most 34 µs per 1 KB document). On the extraction gold sets' web text "
        f"cut the same way ({r['speed_web']['documents']:,} documents of "
        f"{r['speed_web']['bytes_per_doc']:.0f} bytes, {r['speed_web']['non_ascii']:.0%} outside "
        f"ASCII, many not English): {1e3 / r['speed_web']['mb_per_s']:.1f} µs per 1,000 bytes, "
        f"{r['speed_web']['mb_per_s']:.1f} MB/s.",
        "",
        "Recall: items pasted into real prose documents; *shares* = the plant still holds one of",
        "the item's indexed n-grams; *found* = listed in the document's `decontamination`",
        "metadata; *matched* = reaches `min_overlap` 0.2, so the action applies.",
        "",
        "| change | planted | shares a full n-gram | found | matched |",
        "|---|---:|---:|---:|---:|",
    ]
    for change, c in r["recall"]["by_change"].items():
        found = f"{c['found']:,} ({c['found'] / c['shares']:.1%})" if c["shares"] else "-"
        matched = f"{c['matched']:,} ({c['matched'] / c['shares']:.1%})" if c["shares"] else "-"
        lines.append(f"| {change} | {c['planted']:,} | {c['shares']:,} | {found} | {matched} |")
    lines += [
        "",
        "| benchmark | plants sharing an n-gram | found | matched |",
        "|---|---:|---:|---:|",
    ]
    for name, b in r["recall"]["by_benchmark"].items():
        rate = f"{b['found'] / b['shares']:.1%}" if b["shares"] else "-"
        lines.append(f"| {name} | {b['shares']:,} | {b['found']:,} ({rate}) | {b['matched']:,} |")
    lines += [
        "",
        "Precision: clean documents through the stage; *found* = any confirmed n-gram listed,",
        "*flagged* = an item matched (the action would apply).",
        "",
        "| clean set | documents | found | flagged |",
        "|---|---:|---:|---:|",
    ]
    for name, p in r["precision"].items():
        lines.append(
            f"| {name} | {p['documents']:,} | {p['found']:,} | {p['flagged_documents']:,} |"
        )
    flagged = [f for p in r["precision"].values() for f in p["flagged"]]
    if flagged:
        lines += ["", "Flagged clean documents, with the item and overlap:", ""]
        for doc, bench, item, overlap, ngram in flagged:
            lines.append(f'- `{doc}`: {bench} `{item}`, overlap {overlap:.2f} ("{ngram}")')
    fb = r.get("full_build")
    if fb:
        lines += [
            "",
            f"A build with `decontamination:` naming all {len(fb['benchmarks'])} shared files: the "
            f"prose set ({fb['documents']:,} documents) with one item pasted into every 40th, "
            f"`action: remove_span`, two worker processes: {fb['seconds']:.0f} s; "
            f"{fb['planted_matched']} of {fb['planted']} planted items matched in their documents'"
            f" metadata, balanced: {fb['balanced']}. stats.json:",
            "",
            "| benchmark | documents | items | tokens removed | below overlap |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, b in fb["benchmarks"].items():
            lines.append(
                f"| {name} | {b['documents']} | {b['items']} | {b['tokens_removed']:,} | "
                f"{b['documents_below_overlap']} |"
            )
    cs = r.get("cross_split")
    if cs:
        lines += [
            "",
            "Cross-split threshold: 600 prose documents in the training split (2019) and one",
            "edited copy each in the test split (2023), true Jaccard of the 5-word shingles as",
            "measured; full pipeline, `dedup.near: {threshold: 0.8, cross_split_threshold: 0.5}`",
            f"({cs['pairs'].get('cross_split_pairs', 0):,} cross-split pairs between 0.5 and 0.8;"
            f" build {cs['seconds']:.0f} s).",
            "",
            "| true Jaccard | copies | removed as near-duplicate | removed by cross-split | kept |",
            "|---|---:|---:|---:|---:|",
        ]
        for b in cs["bins"]:
            o = b["outcome"]
            lines.append(
                f"| {b['bin'][0]:.1f}-{b['bin'][1]:.1f} | {b['copies']} | "
                f"{o.get('dedup.near_duplicate', 0)} | {o.get('dedup.cross_split_near', 0)} | "
                f"{o.get('kept', 0)} |"
            )
    return lines


def main() -> None:
    run_or_render(
        "decontam-bench", SHARED / "benchmarks", WORK / "decontam_bench.json", run, render
    )


if __name__ == "__main__":
    main()
