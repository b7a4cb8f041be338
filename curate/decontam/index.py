"""The benchmark index: every n-gram of every evaluation item, found by hash, confirmed on words.

Built once from the evaluation files (``curate.decontam.items.build_index``) or loaded from a
file that ``curate decontam-index`` saved (``save`` / ``load_index``). In memory it holds the
items' word ids, the sorted n-gram hashes with the (item, position) each comes from, and a
bitmap of the hashes that turns away almost every clean window with one memory read.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate.core.errors import ConfigError
from curate.decontam.hashing import IdTable, WindowHasher
from curate.decontam.words import WORD_BYTES, byte_words, word_bytes
from curate.readers.streams import open_raw

INDEX_FORMAT = "curate-decontam-index"
INDEX_VERSION = 1


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
    _bitmap: np.ndarray = field(init=False, repr=False)
    _shift: np.uint64 = field(init=False, repr=False)
    _lengths: tuple[int, ...] = field(init=False, repr=False)
    _hasher: WindowHasher = field(init=False, repr=False)
    _word_table: IdTable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._hasher = WindowHasher()
        hashes = self._hash_words([w.encode() for w in self.vocab])
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
        """Word ids of a text (0 for a word no item has: no n-gram through it can match), word
        by word; ``batch_ids`` finds the same words in bytes, for many texts at once."""
        return self._word_table.lookup(self._hash_words(byte_words(text)))

    def _hash_words(self, words: list[bytes]) -> np.ndarray:
        lengths = np.array([len(w) for w in words], np.int64)
        ends = np.cumsum(lengths)
        data = np.frombuffer(b"".join(words), np.uint8)
        return _word_hashes(self._hasher, data, ends - lengths, ends)

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
        words_bytes = sum(len(w) + 57 for w in self.vocab)  # str objects and list slots
        tables = sum(a.nbytes for a in arrays) + self._word_table.nbytes
        return tables + words_bytes + 80 * len(self.item_ids)

    def save(self, path: str) -> dict[str, Any]:
        """One uncompressed ``.npz`` (loads in a fraction of a second), written atomically."""
        from curate.core.fileio import write_bytes

        meta = {"format": INDEX_FORMAT, "version": INDEX_VERSION}
        meta.update({k: getattr(self, k) for k in _META_FIELDS})
        buf = io.BytesIO()
        np.savez(
            buf,
            meta=_blob(json.dumps(meta)),
            vocab=_blob("\n".join(self.vocab)),
            item_ids=_blob(json.dumps(self.item_ids)),
            **{k: getattr(self, k) for k in _ARRAY_FIELDS},
        )
        return write_bytes(path, buf.getvalue())


# what ``save`` writes and ``load_index`` reads back, besides the vocabulary and item ids
_META_FIELDS = ("ngram", "min_item_words", "max_items_per_ngram", "benchmarks")
_META_FIELDS += ("boilerplate_ngrams",)
_ARRAY_FIELDS = ("item_bench", "item_offsets", "tokens", "item_windows")
_ARRAY_FIELDS += ("keys", "key_item", "key_pos")


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
        vocab=vocab.split("\n") if vocab else [],
        item_ids=json.loads(_text(data["item_ids"])),
        **{k: meta[k] for k in _META_FIELDS},
        **{k: data[k] for k in _ARRAY_FIELDS},
    )
