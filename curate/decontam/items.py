"""Evaluation files to a ``BenchmarkIndex``: every item's words, its n-grams, template text
left out.

Items shorter than ``ngram`` words are indexed whole (at least ``min_item_words`` words; shorter
items are counted, not indexed: a 5-word question is not evidence of anything), keyed by their
first ``min_item_words`` words and confirmed on all of them. An n-gram that occurs in more than
``max_items_per_ngram`` items is template text (answer-option scaffolding, a licence line, a
shared instruction) and is left out; the index reports how many.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.core.errors import ConfigError
from curate.decontam.hashing import WindowHasher
from curate.decontam.index import BenchmarkIndex
from curate.decontam.words import words
from curate.readers.files import read_file
from curate.readers.records import BadRecord

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_FIELD = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class BenchmarkFile:
    """One evaluation file: JSONL (optionally compressed) or Parquet. ``text`` is a field name
    or a template of fields (``"{question}\\n{answer}"``)."""

    path: str
    name: str = ""
    text: str = "text"
    id_field: str = "id"
    released: str | None = None  # ISO date: drift reports contamination before and after it

    def resolved_name(self) -> str:
        name = self.name or re.sub(r"(\.[A-Za-z0-9]+)+$", "", os.path.basename(self.path))
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"benchmark name {name!r} (from {self.path}): use 1-64 letters, digits, '_' or "
                "'-' (it names a reason in stats.json); set `name:`"
            )
        return name


def resolved_names(sources: Iterable[BenchmarkFile]) -> list[str]:
    """Each file's benchmark name; two files of one name are refused (it names a reason)."""
    names: list[str] = []
    for source in sources:
        name = source.resolved_name()
        if name in names:
            raise ConfigError(f"decontamination: two benchmarks are named {name!r}; set `name:`")
        names.append(name)
    return names


def item_texts(source: BenchmarkFile) -> Iterator[tuple[str, str]]:
    """(item id, text) of every record; a record that cannot be read stops the build with its
    file and line: a silently skipped item is contamination nobody would see."""
    fields = _FIELD.findall(source.text)
    for rec in read_file(source.path, "auto", 100_000_000):
        where = f"{source.path}, record {rec.position}"
        if isinstance(rec, BadRecord):
            raise ConfigError(f"decontamination: cannot read {where}: {rec.kind}: {rec.error}")
        value = rec.value
        if not isinstance(value, dict):
            raise ConfigError(f"decontamination: {where} is not an object")
        try:
            text = (
                source.text.format_map({f: _field(value[f]) for f in fields})
                if fields
                else _field(value[source.text])
            )
        except KeyError as e:
            raise ConfigError(f"decontamination: {where} has no field {e}") from None
        item_id = value.get(source.id_field)
        yield (str(item_id) if item_id is not None else str(rec.position)), text


def _field(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(_field(v) for v in value)
    return "" if value is None else str(value)


def build_index(
    sources: Iterable[BenchmarkFile],
    ngram: int = 13,
    min_item_words: int = 8,
    max_items_per_ngram: int = 10,
) -> BenchmarkIndex:
    provisional: dict[str, int] = {}
    item_words: list[np.ndarray] = []
    item_ids: list[str] = []
    item_bench: list[int] = []
    benchmarks: list[dict[str, Any]] = []
    sources = list(sources)
    for b, (source, name) in enumerate(zip(sources, resolved_names(sources), strict=True)):
        info = {"name": name, "path": source.path, "released": source.released}
        info.update(items=0, indexed=0, too_short=0)
        for item_id, text in item_texts(source):
            ws = words(text)
            ids = [provisional.setdefault(w, len(provisional)) for w in ws]
            item_words.append(np.array(ids, np.int64))
            item_ids.append(item_id)
            item_bench.append(b)
            info["items"] += 1
            info["indexed" if len(ws) >= min_item_words else "too_short"] += 1
        if not info["indexed"]:  # a wrong field or template would screen for nothing, silently
            what = (
                f"none of its {info['items']} items has {min_item_words} words or more "
                "(min_item_words)"
                if info["items"]
                else "no items"
            )
            raise ConfigError(f"decontamination: {name} ({source.path}): {what}")
        benchmarks.append(info)
    # ids in word order, so that the same files give the same index bytes
    vocab = sorted(provisional)
    rank = np.empty(len(provisional), np.uint32)
    order = np.array([provisional[w] for w in vocab], np.int64)
    rank[order] = np.arange(1, len(vocab) + 1, dtype=np.uint32)
    lengths = np.array([len(w) for w in item_words], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = rank[np.concatenate(item_words)] if item_words else np.zeros(0, np.uint32)
    keys, key_item, key_pos = _item_ngrams(tokens, offsets, ngram, min_item_words)
    keys, key_item, key_pos, boilerplate = _drop_templates(
        keys, key_item, key_pos, max_items_per_ngram
    )
    item_windows = np.bincount(key_item, minlength=len(item_ids)).astype(np.int32)
    return BenchmarkIndex(
        ngram=ngram,
        min_item_words=min_item_words,
        max_items_per_ngram=max_items_per_ngram,
        vocab=vocab,
        benchmarks=benchmarks,
        item_ids=item_ids,
        item_bench=np.array(item_bench, np.uint16),
        item_offsets=offsets,
        tokens=tokens,
        item_windows=item_windows,
        keys=keys,
        key_item=key_item,
        key_pos=key_pos,
        boilerplate_ngrams=boilerplate,
    )


def _item_ngrams(tokens, offsets, ngram: int, min_item_words: int):
    """(hash, item, position) of every n-gram of every item, and the whole of each short item."""
    hasher = WindowHasher()
    g = hasher.prefix(tokens)
    lengths = offsets[1:] - offsets[:-1]
    keys, items, poss = [], [], []
    long_items = np.flatnonzero(lengths >= ngram)
    counts = lengths[long_items] - ngram + 1
    item = np.repeat(long_items, counts)
    pos = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    keys.append(hasher.windows(g, offsets[item] + pos, ngram))
    items.append(item)
    poss.append(pos)
    short = np.flatnonzero((lengths < ngram) & (lengths >= min_item_words))
    keys.append(hasher.windows(g, offsets[short], min_item_words))
    items.append(short)
    poss.append(np.zeros(len(short), np.int64))
    return (
        np.concatenate(keys),
        np.concatenate(items).astype(np.uint32),
        np.concatenate(poss).astype(np.uint32),
    )


def _drop_templates(keys, items, pos, max_items: int):
    """One row per (n-gram, item), the first position; n-grams in over ``max_items`` items out."""
    order = np.lexsort((pos, items, keys))
    keys, items, pos = keys[order], items[order], pos[order]
    first = np.ones(len(keys), bool)
    first[1:] = (keys[1:] != keys[:-1]) | (items[1:] != items[:-1])
    keys, items, pos = keys[first], items[first], pos[first]
    uniq, start, count = np.unique(keys, return_index=True, return_counts=True)
    common = count > max_items
    keep = ~np.repeat(common, count)
    return keys[keep], items[keep], pos[keep], int(common.sum())
