"""The benchmark index: every n-gram of every evaluation item, found by hash, confirmed on words.

Built once from the evaluation files (``build_index``) or loaded from a file that
``curate decontam-index`` saved (``save`` / ``load_index``). In memory it holds the items' word
ids, the sorted n-gram hashes with the (item, position) each comes from, and a bitmap of the
hashes that turns away almost every clean window with one memory read.

Items shorter than ``ngram`` words are indexed whole (at least ``min_item_words`` words; shorter
items are counted, not indexed: a 5-word question is not evidence of anything), keyed by their
first ``min_item_words`` words and confirmed on all of them. An n-gram that
occurs in more than ``max_items_per_ngram`` items is template text (answer-option scaffolding,
a licence line, a shared instruction) and is left out; the index reports how many.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np

from curate.core.errors import ConfigError
from curate.decontam.hashing import IdTable, WindowHasher
from curate.decontam.words import WORD_BYTES, byte_words, word_bytes, words

INDEX_FORMAT = "curate-decontam-index"
INDEX_VERSION = 1
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


@dataclass(frozen=True)
class Hit:
    """A confirmed match: document words ``[start, start + length)`` equal the item's words
    from ``pos``."""

    start: int
    length: int
    item: int
    pos: int


@dataclass
class BenchmarkIndex:
    ngram: int
    min_item_words: int
    max_items_per_ngram: int
    vocab: list[str]  # word id - 1 -> word
    benchmarks: list[dict[str, Any]]  # name, path, released, items, indexed, too_short
    item_ids: list[str]
    item_bench: np.ndarray  # uint16 per item
    item_offsets: np.ndarray  # int64, len(items) + 1: each item's words in ``tokens``
    tokens: np.ndarray  # uint32 word ids of every item, concatenated
    item_windows: np.ndarray  # int32 per item: its indexed n-grams (the overlap denominator)
    keys: np.ndarray  # uint64 sorted n-gram hashes
    key_item: np.ndarray  # uint32
    key_pos: np.ndarray  # uint32
    boilerplate_ngrams: int = 0
    word_id: dict[bytes, int] = field(init=False, repr=False)
    _bitmap: np.ndarray = field(init=False, repr=False)
    _shift: np.uint64 = field(init=False, repr=False)
    _lengths: tuple[int, ...] = field(init=False, repr=False)
    _hasher: WindowHasher = field(init=False, repr=False)
    _word_table: IdTable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.word_id = {w.encode(): i + 1 for i, w in enumerate(self.vocab)}
        self._hasher = WindowHasher()
        encoded = [w.encode() for w in self.vocab]
        lengths = np.array([len(w) for w in encoded], np.int64)
        ends = np.cumsum(lengths)
        vocab_bytes = np.frombuffer(b"".join(encoded), np.uint8)
        hashes = _word_hashes(self._hasher, vocab_bytes, ends - lengths, ends)
        self._word_table = IdTable(hashes, np.arange(1, len(hashes) + 1, dtype=np.uint32))
        # a blocked Bloom filter: each key sets two bits (the hash's low 12 bits) of one 64-bit
        # word (its top bits), 32 bits per key: one memory read per window, and about 0.5% of
        # clean windows go on to the binary search in the sorted keys, whose cache misses cost
        # more than anything else per window
        log2 = max(10, int(np.ceil(np.log2(max(len(self.keys), 1) / 2))))
        self._shift = np.uint64(64 - log2)
        self._bitmap = np.zeros(1 << log2, np.uint64)
        np.bitwise_or.at(self._bitmap, self.keys >> self._shift, _two_bits(self.keys))
        self._lengths = tuple(sorted({self.ngram, self.min_item_words}))

    # -- matching ---------------------------------------------------------------------------

    def ids(self, text: str) -> np.ndarray:
        """Word ids of a text (0 for a word no item has: no n-gram through it can match)."""
        ws = byte_words(text)
        return np.fromiter(map(self.word_id.get, ws, repeat(0)), np.uint32, len(ws))

    def batch_ids(self, texts: list[str]) -> list[np.ndarray]:
        """``ids`` of each text. Texts go through numpy together (``word_bytes``: all but those
        in unspaced scripts): bytes classified by a table, words found by their edges, each
        word's bytes hashed and looked up among the vocabulary's hashes (a word is known by its
        64-bit hash here; ``confirm`` then checks every hit on the words themselves)."""
        out: list[np.ndarray | None] = [None] * len(texts)
        prepared = [word_bytes(t) for t in texts] if self.vocab else [None] * len(texts)
        fast = [i for i, b in enumerate(prepared) if b is not None]
        for i in set(range(len(texts))) - set(fast):
            out[i] = self.ids(texts[i])
        if fast:
            data = [prepared[i] for i in fast]
            raw = np.frombuffer(b"\0".join(data), np.uint8)
            folded = WORD_BYTES[raw]
            edges = np.diff(np.concatenate(([0], folded != 0, [0])).astype(np.int8))
            starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            h = _word_hashes(self._hasher, folded, starts, ends)
            found = self._word_table.lookup(h)
            doc_starts = np.cumsum([0] + [len(d) + 1 for d in data[:-1]])
            counts = np.bincount(
                np.searchsorted(doc_starts, starts, "right") - 1, minlength=len(fast)
            )
            for i, ids in zip(fast, np.split(found, np.cumsum(counts)[:-1]), strict=True):
                out[i] = ids
        return out  # type: ignore[return-value]

    def confirm(self, text: str, hits: list[Hit]) -> list[Hit]:
        """The hits whose words, re-read from the text, are the item's words."""
        ws = byte_words(text)
        out = []
        for h in hits:
            at = int(self.item_offsets[h.item]) + h.pos
            item = [self.vocab[i - 1].encode() for i in self.tokens[at : at + h.length].tolist()]
            if ws[h.start : h.start + h.length] == item:
                out.append(h)
        return out

    def find(self, docs: list[np.ndarray]) -> list[list[Hit]]:
        """Confirmed hits per document (word ids from ``ids``), for a batch at once: the batch is
        laid end to end with a 0 between documents, so no window crosses from one to the next."""
        out: list[list[Hit]] = [[] for _ in docs]
        if not len(self.keys) or not docs:
            return out
        sizes = np.fromiter((len(d) + 1 for d in docs), np.int64, len(docs))
        begins = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        ids = np.zeros(int(sizes.sum()), np.uint32)
        for b, d in zip(begins.tolist(), docs, strict=True):
            ids[b : b + len(d)] = d
        unknown = np.concatenate([[0], np.cumsum(ids == 0)])
        g = self._hasher.prefix(ids)
        for length in self._lengths:
            starts = np.arange(max(0, len(ids) - length + 1))
            starts = starts[unknown[starts + length] == unknown[starts]]
            if not len(starts):
                continue
            h = self._hasher.windows(g, starts, length)
            bits = _two_bits(h)
            seen = (self._bitmap[h >> self._shift] & bits) == bits
            starts, h = starts[seen], h[seen]
            lo = np.minimum(np.searchsorted(self.keys, h), len(self.keys) - 1)
            present = self.keys[lo] == h
            for s, a, key in zip(*(x[present].tolist() for x in (starts, lo, h)), strict=True):
                for r in range(a, len(self.keys)):
                    if int(self.keys[r]) != key:
                        break
                    item, pos = int(self.key_item[r]), int(self.key_pos[r])
                    at, end = (int(x) for x in self.item_offsets[item : item + 2])
                    n = length if length == self.ngram else end - at  # a short item: all of it
                    if np.array_equal(ids[s : s + n], self.tokens[at + pos : at + pos + n]):
                        doc = int(np.searchsorted(begins, s, "right")) - 1
                        out[doc].append(Hit(s - int(begins[doc]), n, item, pos))
        return out

    def ngram_text(self, hit: Hit) -> str:
        at = int(self.item_offsets[hit.item]) + hit.pos
        return " ".join(self.vocab[i - 1] for i in self.tokens[at : at + hit.length].tolist())

    def benchmark_of(self, item: int) -> str:
        return self.benchmarks[int(self.item_bench[item])]["name"]

    # -- reporting and storage --------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {
            "ngram": self.ngram,
            "min_item_words": self.min_item_words,
            "max_items_per_ngram": self.max_items_per_ngram,
            "benchmarks": self.benchmarks,
            "items": len(self.item_ids),
            "ngrams": int(len(self.keys)),
            "boilerplate_ngrams": self.boilerplate_ngrams,
            "vocabulary": len(self.vocab),
            "memory_bytes": self.memory_bytes(),
        }

    def memory_bytes(self) -> int:
        arrays = (self.item_bench, self.item_offsets, self.tokens, self.item_windows)
        arrays += (self.keys, self.key_item, self.key_pos, self._bitmap)
        words_bytes = sum(len(w) + 100 for w in self.vocab)  # str objects and dict slots
        tables = sum(a.nbytes for a in arrays) + self._word_table.nbytes
        return tables + words_bytes + 80 * len(self.item_ids)

    def save(self, path: str) -> dict[str, Any]:
        """One uncompressed ``.npz`` (loads in a fraction of a second), written atomically."""
        from curate.core.fileio import write_bytes

        meta = {
            "format": INDEX_FORMAT,
            "version": INDEX_VERSION,
            "ngram": self.ngram,
            "min_item_words": self.min_item_words,
            "max_items_per_ngram": self.max_items_per_ngram,
            "benchmarks": self.benchmarks,
            "boilerplate_ngrams": self.boilerplate_ngrams,
        }
        buf = io.BytesIO()
        np.savez(
            buf,
            meta=_blob(json.dumps(meta)),
            vocab=_blob("\n".join(self.vocab)),
            item_ids=_blob(json.dumps(self.item_ids)),
            item_bench=self.item_bench,
            item_offsets=self.item_offsets,
            tokens=self.tokens,
            item_windows=self.item_windows,
            keys=self.keys,
            key_item=self.key_item,
            key_pos=self.key_pos,
        )
        return write_bytes(path, buf.getvalue())


def _two_bits(h: np.ndarray) -> np.ndarray:
    one = np.uint64(1)
    return (one << (h & np.uint64(63))) | (one << ((h >> np.uint64(6)) & np.uint64(63)))


def _word_hashes(hasher: WindowHasher, data: np.ndarray, starts: np.ndarray, ends: np.ndarray):
    """A 64-bit hash of each word ``data[start:end]`` (its bytes, and its length)."""
    g = hasher.prefix(data)
    p, _ = hasher.powers(len(g) + 1)
    h = p[ends - 1] * (g[ends] - g[starts])
    return h ^ (ends - starts).astype(np.uint64) * np.uint64(_WORD_SALT)


_WORD_SALT = 0x9E3779B97F4A7C15


def _blob(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), np.uint8)


def _text(blob: np.ndarray) -> str:
    return blob.tobytes().decode("utf-8")


def load_index(path: str) -> BenchmarkIndex:
    from curate.build.readers import open_raw

    try:
        with open_raw(path) as f:
            data = np.load(io.BytesIO(f.read()), allow_pickle=False)
        meta = json.loads(_text(data["meta"]))
    except Exception as e:  # noqa: BLE001 - any failure to read is the same message
        raise ConfigError(f"cannot read decontamination index {path}: {e}") from None
    if meta.get("format") != INDEX_FORMAT or meta.get("version") != INDEX_VERSION:
        raise ConfigError(
            f"{path} is not a curate decontamination index of version {INDEX_VERSION} "
            "(build one with `curate decontam-index`)"
        )
    vocab = _text(data["vocab"])
    return BenchmarkIndex(
        ngram=meta["ngram"],
        min_item_words=meta["min_item_words"],
        max_items_per_ngram=meta["max_items_per_ngram"],
        vocab=vocab.split("\n") if vocab else [],
        benchmarks=meta["benchmarks"],
        item_ids=json.loads(_text(data["item_ids"])),
        item_bench=data["item_bench"],
        item_offsets=data["item_offsets"],
        tokens=data["tokens"],
        item_windows=data["item_windows"],
        keys=data["keys"],
        key_item=data["key_item"],
        key_pos=data["key_pos"],
        boilerplate_ngrams=meta["boilerplate_ngrams"],
    )


# -- building ---------------------------------------------------------------------------------


def item_texts(source: BenchmarkFile) -> Iterator[tuple[str, str]]:
    """(item id, text) of every record; a record that cannot be read stops the build with its
    file and line: a silently skipped item is contamination nobody would see."""
    from curate.build.readers import BadRecord, read_file

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
    names: set[str] = set()
    for b, source in enumerate(sources):
        name = source.resolved_name()
        if name in names:
            raise ConfigError(f"decontamination: two benchmarks are named {name!r}; set `name:`")
        names.add(name)
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
