"""What the drift report reads, per period: the kept documents of a corpus's shards (words,
tokens, languages, sources, images, benchmark matches) and the removals in its rejected files,
with each period's start date."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa

from curate.core.document import UNDATED
from curate.core.timeparse import parse_timestamp_us, us_to_datetime
from curate.drift import stats as drift
from curate.drift.contamination import add_matches
from curate.temporal.rules import training_split


@dataclass
class PeriodDocs:
    ids: list[str] = field(default_factory=list)
    words: dict[str, list[str]] = field(default_factory=dict)
    tokens: list[int] = field(default_factory=list)
    languages: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    images: list[tuple[int, int, str, int]] = field(default_factory=list)  # w, h, format, phash
    split: set[str] = field(default_factory=set)
    # benchmark -> [documents kept with a matched item, the items matched]
    contamination: dict[str, list] = field(default_factory=dict)
    first: datetime | None = None  # the earliest document: a crawl period's start


def period_start(name: str, first: datetime | None = None) -> datetime:
    """2019 -> Jan 1; 2019-Q2 -> Apr 1; 2019-03 -> Mar 1 (UTC); a crawl (CC-MAIN-2020-34): its
    earliest document, ``first``."""
    try:
        if "-Q" in name:
            year, q = name.split("-Q")
            return datetime(int(year), 3 * int(q) - 2, 1, tzinfo=timezone.utc)
        parts = name.split("-")
        month = int(parts[1]) if len(parts) > 1 else 1
        return datetime(int(parts[0]), month, 1, tzinfo=timezone.utc)
    except ValueError:
        if first is None:
            raise ValueError(f"period {name!r}: no start date") from None
        return first


def load(root: str) -> tuple[dict, dict[str, PeriodDocs]]:
    """Per period, every kept document's words and what the report counts."""
    from curate.core.console import shard_progress
    from curate.format.shard import Shard
    from curate.loader.corpus import Corpus

    manifest = Corpus(root).manifest  # checked: plain paths inside the corpus
    decode = None
    periods: dict[str, PeriodDocs] = defaultdict(PeriodDocs)
    for entry in shard_progress(manifest["shards"], "reading periods"):
        if entry["period"] == UNDATED:
            continue
        # size, SHA-256, document and token counts checked as the loader checks them
        table = pa.Table.from_batches(
            Shard(os.path.join(root, entry["path"]), entry, "checksum").batches
        )
        pd = periods[entry["period"]]
        pd.split.add(entry["split"])
        if "text" in table.schema.names:
            texts = table.column("text").to_pylist()
        else:  # shards without text: decode the tokens
            if decode is None:
                from tokenizers import Tokenizer

                decode = Tokenizer.from_file(os.path.join(root, "tokenizer.json"))
            texts = decode.decode_batch(table.column("input_ids").to_pylist())
        metas = table.column("metadata").to_pylist()
        times = [t for t in table.column("timestamp").to_pylist() if t is not None]
        if times and (pd.first is None or min(times) < pd.first):
            pd.first = min(times)
        for doc_id, text, n, meta, source in zip(
            table.column("doc_id").to_pylist(),
            texts,
            table.column("n_tokens").to_pylist(),
            metas,
            table.column("source").to_pylist(),
            strict=True,
        ):
            pd.ids.append(doc_id)
            pd.words[doc_id] = drift.words(text)
            pd.tokens.append(n)
            meta = json.loads(meta) if meta else {}
            pd.languages[meta.get("language", "?")] += 1
            add_matches(pd.contamination, meta.get("decontamination"))
            pd.sources[source or "?"] += 1
        if "images" in table.schema.names:
            imgs = table.column("images").combine_chunks().values
            for w, h, fmt, ph in zip(
                imgs.field("width").to_pylist(),
                imgs.field("height").to_pylist(),
                imgs.field("format").to_pylist(),
                imgs.field("phash").to_pylist(),
                strict=True,
            ):
                pd.images.append((w, h, fmt, ph))
    from curate.temporal.rules import in_time_order

    order = in_time_order(periods, {p: d.first for p, d in periods.items()})
    return manifest, {p: periods[p] for p in order}


def training_cutoff(manifest: dict) -> datetime | None:
    """End of the training split (``train``, else the earliest split)."""
    splits = manifest["config"]["temporal"]["splits"]
    end = splits[training_split(splits)][1]
    return None if end is None else us_to_datetime(parse_timestamp_us(end))


def start_or_none(name: str, docs: PeriodDocs | None) -> datetime | None:
    try:
        return period_start(name, docs.first if docs else None)
    except ValueError:
        return None


def _row_period(row: dict, unit: str) -> str:
    """The period of a ``rejected/`` row without one (removed before periods are assigned)."""
    from curate.core.timeparse import period_of
    from curate.temporal.rules import crawl_period

    if unit == "crawl":
        return crawl_period(row.get("crawl"))
    return period_of(parse_timestamp_us(row["timestamp"]), unit)


def removals_by_period(
    root: str, unit: str, records: list[dict]
) -> tuple[dict[str, Counter], dict[str, dict]]:
    """Filter and dedup removals per period, from the manifest's ``rejected`` files (every
    increment's: the reason of each row), and the benchmark items of the documents
    decontamination removed (``add_matches``): one pass."""

    out: dict[str, Counter] = defaultdict(Counter)
    matches: dict[str, dict] = defaultdict(dict)
    for path in sorted(r["path"] for r in records if r.get("kind") == "rejected"):
        with open(os.path.join(root, path)) as f:
            for line in f:
                row = json.loads(line)
                period = row.get("period")
                if period is None and (row.get("timestamp") or unit == "crawl"):
                    period = _row_period(row, unit)
                out[period or UNDATED][row["reason"]] += 1
                if row.get("kept_split") not in (None, row.get("split")):
                    out[period or UNDATED]["leakage"] += 1  # a copy of an earlier split's text
                if period is not None and row["reason"].startswith("decontamination."):
                    add_matches(matches[period], row.get("decontamination"))
    return out, matches
