"""A realistic, seeded demo corpus with planted problems and planted drift.

Everything planted is listed in ``ground_truth.json`` so that tests (and later stages: near-dup,
language ID, toxicity, PII, drift) can check the build against it. See docs/demo.md.
"""

from __future__ import annotations

import gzip
import io
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import zstandard

from curate.demo.writer import (
    ADJS,
    BOILERPLATE,
    END,
    EVENTS,
    FOREIGN,
    START,
    TOPICS,
    TOXIC_LINES,
    VERBS,
    _pick_topic,
    _Writer,
    _year_frac,
)

# topic -> (words, activity (start, peak, end) as fractional years; None = always active)
# words that first appear with their topic: (word, first allowed year fraction)


# abusive comment lines of the kind real toxicity data labels (profanity, no slurs)


def generate(
    out_dir: str | Path,
    n_docs: int = 6000,
    seed: int = 0,
    huge_doc_bytes: int = 2_500_000,
    by_year: bool = False,
) -> dict:
    """Write the demo corpus under ``out_dir/raw`` and ``out_dir/ground_truth.json``; with
    ``by_year``, its documents also as one JSONL file per year under ``out_dir/by_year`` (what
    a corpus that grows by appends receives: docs/append.md)."""
    rng = random.Random(seed)
    out = Path(out_dir)
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    w = _Writer(rng)
    span = (END - START).total_seconds()
    truth: dict[str, list] = {
        k: []
        for k in (
            "clean",
            "exact_duplicates",
            "near_duplicates",
            "low_quality_boilerplate",
            "low_quality_repetition",
            "low_quality_word_salad",
            "foreign",
            "toxic_lines",
            "pii",
            "benchmark_items",
        )
    }
    truth_pairs: dict[str, list] = {"exact_duplicates": [], "near_duplicates": []}
    docs = []
    for i in range(n_docs):
        when = START + timedelta(seconds=rng.random() * span)
        t = _year_frac(when)
        doc = {
            "id": f"doc-{i:06d}",
            "text": w.article(_pick_topic(rng, t), t),
            "timestamp": when.isoformat(),
            "source": rng.choice(["news", "blog", "forum"]),
            "url": f"https://example.{rng.choice(['com', 'org', 'net'])}/{i}",
        }
        kind = rng.random()
        if kind < 0.04:
            doc["text"] = "\n".join(rng.sample(BOILERPLATE, 5))
            truth["low_quality_boilerplate"].append(doc["id"])
        elif kind < 0.07:
            line = w.sentence(TOPICS["city"][0], t)
            doc["text"] = "\n".join([line] * rng.randint(20, 40))
            truth["low_quality_repetition"].append(doc["id"])
        elif kind < 0.10:
            vocab = [x for ws, _ in TOPICS.values() for x in ws] + ADJS + VERBS
            doc["text"] = " ".join(rng.choice(vocab) for _ in range(rng.randint(80, 200)))
            truth["low_quality_word_salad"].append(doc["id"])
        elif kind < 0.14:
            lang = rng.choice(sorted(FOREIGN))
            doc["text"] = "\n\n".join(" ".join(rng.choices(FOREIGN[lang], k=5)) for _ in range(4))
            doc["lang"] = lang
            truth["foreign"].append(doc["id"])
        elif kind < 0.17:
            paras = doc["text"].split("\n\n")
            paras.insert(rng.randint(0, len(paras)), rng.choice(TOXIC_LINES))
            doc["text"] = "\n\n".join(paras)
            truth["toxic_lines"].append(doc["id"])
        elif kind < 0.20:
            user = rng.choice(["jane.doe", "m.smith", "info", "press"])
            phone = rng.choice(
                ["+1 415 555 0132", "(212) 555-0187", "+44 20 7946 0958", "+49 30 901820"]
            )
            doc["text"] += f"\n\nFor questions, write to {user}@example.org or call {phone}."
            truth["pii"].append(doc["id"])
        else:
            truth["clean"].append(doc["id"])
        docs.append(doc)
    # Planted copies, always later than their original.
    originals = [d for d in docs if d["id"] in set(truth["clean"])]
    for j, orig in enumerate(rng.sample(originals, max(1, n_docs // 40))):
        later = datetime.fromisoformat(orig["timestamp"]) + timedelta(days=rng.randint(1, 400))
        later = min(later, END - timedelta(seconds=1))
        copy = dict(orig, id=f"dup-{j:05d}", timestamp=later.isoformat())
        copy["text"] = orig["text"].replace("\n\n", "  \r\n\r\n\r\n") + "  "  # normalizes equal
        docs.append(copy)
        truth["exact_duplicates"].append(copy["id"])
        truth_pairs["exact_duplicates"].append([orig["id"], copy["id"]])
    for j, orig in enumerate(rng.sample(originals, max(1, n_docs // 40))):
        words = orig["text"].split(" ")
        for k in rng.sample(range(len(words)), max(1, len(words) // 50)):
            words[k] = rng.choice(ADJS)
        later = datetime.fromisoformat(orig["timestamp"]) + timedelta(days=rng.randint(1, 400))
        near = dict(
            orig,
            id=f"near-{j:05d}",
            text=" ".join(words),
            timestamp=min(later, END - timedelta(seconds=1)).isoformat(),
        )
        if near["text"] != orig["text"]:
            docs.append(near)
            truth["near_duplicates"].append(near["id"])
            truth_pairs["near_duplicates"].append([orig["id"], near["id"]])
    plants = _plant_benchmarks(out, docs, w, n_docs, seed, truth["benchmark_items"])
    rng.shuffle(docs)
    filler = []  # readable part of a truncated file: not in any planted list
    for i in range(max(10, n_docs // 50)):
        when = START + timedelta(seconds=rng.random() * span)
        t = _year_frac(when)
        filler.append(
            {
                "id": f"trunc-{i:05d}",
                "text": w.article(_pick_topic(rng, t), t),
                "timestamp": when.isoformat(),
            }
        )
    broken = _write_files(raw, docs, filler, huge_doc_bytes)
    if by_year:
        _write_years(out / "by_year", docs)
    gt = {
        "seed": seed,
        "documents": len(docs),
        "span": [START.isoformat(), END.isoformat()],
        "planted": truth,
        "pairs": truth_pairs,
        "benchmark_plants": plants,
        "broken": broken,
        "broken_total": sum(broken.values()),
        "topics": {k: v[1] for k, v in TOPICS.items()},
        "events": EVENTS,
    }
    (out / "ground_truth.json").write_text(json.dumps(gt, indent=1) + "\n")
    return gt


def _plant_benchmarks(out: Path, docs: list[dict], w: _Writer, n_docs: int, seed: int, ids):
    """Articles with an evaluation item pasted in (``contamination.CHANGES``), with their own
    random stream so that the other planted documents stay as they were."""
    from curate.demo import contamination

    rng = random.Random(seed + 1)
    items = contamination.load_items()
    contamination.write_benchmarks(out / "benchmarks", items)
    span = (END - START).total_seconds()
    plants = []
    for j in range(max(2 * len(contamination.CHANGES), n_docs // 100)):
        item = items[j % len(items)]
        change = contamination.CHANGES[j % len(contamination.CHANGES)]
        when = START + timedelta(seconds=rng.random() * span)
        t = _year_frac(when)
        passage = contamination.changed(item, change, rng)
        doc_id = f"bench-{j:05d}"
        docs.append(
            {
                "id": doc_id,
                "text": contamination.plant(w.article(_pick_topic(rng, t), t), passage, rng),
                "timestamp": when.isoformat(),
                "source": "forum",
                "url": f"https://example.net/homework/{j}",
            }
        )
        ids.append(doc_id)
        plants.append(
            {"doc": doc_id, "benchmark": item["benchmark"], "item": item["id"], "change": change}
        )
    return plants


def _write_years(folder: Path, docs: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    years: dict[str, list[dict]] = {}
    for doc in docs:
        years.setdefault(doc["timestamp"][:4], []).append(doc)
    for year, part in sorted(years.items()):
        (folder / f"{year}.jsonl").write_bytes(b"".join(_dumps(d) for d in part))


def _dumps(doc: dict) -> bytes:
    return (json.dumps(doc, ensure_ascii=False) + "\n").encode()


def _write_files(
    raw: Path, docs: list[dict], filler: list[dict], huge_doc_bytes: int
) -> dict[str, int]:
    """Spread docs over plain, gzip, zstd and Parquet files and plant broken records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(docs)
    cuts = [0, n * 4 // 10, n * 6 // 10, n * 8 // 10, n]
    parts = [docs[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    broken_lines = [
        ("invalid_json", b'{"id": "bad-json", "text": "unterminated\n'),
        (
            "invalid_utf8",
            b'{"id": "bad-utf8", "text": "caf\xe9 \xff\xfe", "timestamp": "2019-01-01"}\n',
        ),
        ("not_an_object", b'["a", "json", "array"]\n'),
        ("bad_type", b'{"id": "bad-type", "text": 12345, "timestamp": "2019-01-01"}\n'),
        ("missing_text", b'{"id": "no-text", "body": "wrong field", "timestamp": "2019-01-01"}\n'),
        ("timestamp_missing", b'{"id": "no-time", "text": "A document without any time."}\n'),
        (
            "timestamp_unparseable",
            b'{"id": "bad-time", "text": "Bad time.", "timestamp": "last Tuesday"}\n',
        ),
        (
            "timestamp_out_of_range",
            b'{"id": "future", "text": "From the future.", "timestamp": "9999-12-31T00:00:00Z"}\n',
        ),
        (
            "timestamp_out_of_range",
            b'{"id": "ancient", "text": "Old.", "timestamp": -2208988800}\n',
        ),
        (
            "invalid_utf8",
            b'{"id": "surrogate", "text": "lone \\ud800 surrogate", "timestamp": "2019-01-01"}\n',
        ),
    ]
    counts: dict[str, int] = {}
    step = max(1, len(parts[0]) // len(broken_lines))
    with open(raw / "part-00000.jsonl", "wb") as f:
        for i, doc in enumerate(parts[0]):
            f.write(_dumps(doc))
            if i % step == 0 and broken_lines:
                kind, line = broken_lines.pop(0)
                f.write(line)
                counts[kind] = counts.get(kind, 0) + 1
        f.write(b"\n   \n")  # blank lines are not records
        huge = {"id": "huge", "text": "word " * (huge_doc_bytes // 5), "timestamp": "2019-06-01"}
        f.write(_dumps(huge))
        counts["too_large"] = 1
    with gzip.GzipFile(raw / "part-00001.jsonl.gz", "wb", mtime=0) as f:
        f.writelines(_dumps(d) for d in parts[1])
    with open(raw / "part-00002.jsonl.zst", "wb") as f:
        f.write(zstandard.ZstdCompressor().compress(b"".join(_dumps(d) for d in parts[2])))
    table = pa.Table.from_pylist(
        [{k: d.get(k) for k in ("id", "text", "timestamp", "source", "url")} for d in parts[3]]
    )
    pq.write_table(table, raw / "part-00003.parquet")
    # A truncated gzip: the records before the cut are read, the cut is one quarantine entry.
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.writelines(_dumps(d) for d in filler)
    data = buf.getvalue()
    (raw / "part-00004.jsonl.gz").write_bytes(data[: len(data) * 3 // 4])
    counts["read_error"] = 1
    return dict(sorted(counts.items()))
