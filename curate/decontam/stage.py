"""The decontamination stage of the screen: the last step of the filter chain, on the text that
would be kept.

Every confirmed hit is recorded in the document's signals and metadata (``decontamination``:
benchmark, item id, overlap, one matched n-gram; every matched item and up to 16 weaker ones),
whatever the action, so a corpus can be re-cut at
another overlap without recomputing. An item *matches* when the document holds at least
``min_overlap`` of its indexed n-grams (a short item: all of it); the action applies to matches:
``flag`` keeps the document, ``remove_document`` removes it under the reason
``decontamination.<benchmark>``, ``remove_span`` cuts the lines the matched n-grams run through
and keeps the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np

from curate.core.document import Document
from curate.core.errors import ConfigError
from curate.decontam.config import DecontaminationConfig
from curate.decontam.index import BenchmarkIndex, Hit, load_index
from curate.decontam.items import BenchmarkFile, build_index, resolved_names
from curate.decontam.words import words_per_line
from filters.base import Decision, Filter

MAX_LISTED = 16  # items found below min_overlap named in the metadata (all matches are)


def sources(cfg: DecontaminationConfig) -> list[BenchmarkFile]:
    return [
        BenchmarkFile(
            b.path, b.name or "", b.text, b.id_field, b.released.isoformat() if b.released else None
        )
        for b in cfg.benchmarks
    ]


def check_sources(cfg: DecontaminationConfig) -> None:
    """Fail at config time, naming the file: a missing file or two benchmarks of one name."""
    from apache_beam.io.filesystems import FileSystems

    srcs = sources(cfg)
    resolved_names(srcs)
    for src in srcs:
        if not FileSystems.exists(src.path):
            raise ConfigError(f"decontamination: benchmark file not found: {src.path}")
    if cfg.index and not FileSystems.exists(cfg.index):
        raise ConfigError(f"decontamination: index not found: {cfg.index}")
    # the index is readable and built with the config's settings, and every benchmark has
    # items to screen for (built once per process: the build reuses it)
    index_for(cfg)


@lru_cache(maxsize=2)
def _cached_index(cfg_json: str) -> BenchmarkIndex:
    cfg = DecontaminationConfig.model_validate_json(cfg_json)
    if cfg.index is None:
        return build_index(sources(cfg), cfg.ngram, cfg.min_item_words, cfg.max_items_per_ngram)
    index = load_index(cfg.index)
    for key in ("ngram", "min_item_words", "max_items_per_ngram"):
        if key in cfg.model_fields_set and getattr(cfg, key) != getattr(index, key):
            raise ConfigError(
                f"decontamination.{key} is {getattr(cfg, key)} but the index {cfg.index} was "
                f"built with {getattr(index, key)}"
            )
    return index


def index_for(cfg: DecontaminationConfig) -> BenchmarkIndex:
    """Built (or loaded) once per process: a worker's screens share it."""
    return _cached_index(cfg.model_dump_json())


@dataclass
class Decontaminate(Filter, register=False):
    index: BenchmarkIndex
    action: str = "remove_document"
    min_overlap: float = 0.2
    # set by the file processor: tokens of removed text, with the build's tokenizer
    count_tokens: Callable[[str], int] | None = None

    name: ClassVar[str] = "decontamination"
    signals = ("items_found", "items_matched", "max_overlap", "words_removed", "tokens_removed")
    totals = ("items_matched", "words_removed", "tokens_removed")

    @classmethod
    def from_config(cls, cfg: DecontaminationConfig) -> Decontaminate:
        return cls(index_for(cfg), cfg.action, cfg.min_overlap)

    def apply(self, doc: Document) -> Decision:
        return self.apply_batch([doc])[0]

    def apply_batch(self, docs: list[Document]) -> list[Decision]:
        ids = self.index.batch_ids([d.text for d in docs])
        hits = self.index.find(ids)
        return [
            self._decide(d, len(i), self.index.confirm(d.text, h) if h else h)
            for d, i, h in zip(docs, ids, hits, strict=True)
        ]

    def _decide(self, doc: Document, n_words: int, hits: list[Hit]) -> Decision:
        signals = dict.fromkeys(self.signals, 0.0)
        if not hits:
            return Decision(True, None, signals)
        by_item: dict[int, list[Hit]] = {}
        for h in hits:
            by_item.setdefault(h.item, []).append(h)
        found = []
        for item, item_hits in by_item.items():
            windows = max(1, int(self.index.item_windows[item]))
            overlap = min(1.0, len({h.pos for h in item_hits}) / windows)
            matched = overlap >= self.min_overlap
            found.append((not matched, -overlap, self.index.benchmark_of(item), item, item_hits))
        found.sort(key=lambda f: f[:4])
        matches = [f for f in found if not f[0]]
        signals["items_found"] = float(len(found))
        signals["items_matched"] = float(len(matches))
        signals["max_overlap"] = -found[0][1] if found else 0.0
        listed = [
            {
                "benchmark": bench,
                "item": self.index.item_ids[item],
                "overlap": round(-neg, 4),
                "matched": not below,
                "ngram": self.index.ngram_text(item_hits[0]),
            }
            for below, neg, bench, item, item_hits in matches + found[len(matches) :][:MAX_LISTED]
        ]
        metadata = {"decontamination": listed}
        if not matches or self.action == "flag":
            return Decision(True, None, signals, metadata=metadata)
        reason = matches[0][2]
        if self.action == "remove_document":
            signals["words_removed"] = float(n_words)
            signals["tokens_removed"] = self._tokens(doc.text)
            return Decision(False, reason, signals, metadata=metadata)
        return self._cut(doc.text, [h for m in matches for h in m[4]], reason, signals, metadata)

    def _cut(self, text: str, hits: list[Hit], reason: str, signals, metadata) -> Decision:
        """Remove every line a matched n-gram runs through; lines without words (blank lines, an
        interleaved document's image placeholders) stay."""
        per_line = np.array(words_per_line(text))
        ends = np.cumsum(per_line)
        cut = np.zeros(len(per_line), bool)
        for h in hits:
            first, last = np.searchsorted(ends, [h.start, h.start + h.length - 1], "right")
            cut[first : last + 1] = True
        cut &= per_line > 0
        lines = text.split("\n")
        removed = "\n".join(ln for ln, c in zip(lines, cut, strict=True) if c)
        signals["words_removed"] = float(per_line[cut].sum())
        signals["tokens_removed"] = self._tokens(removed)
        if signals["words_removed"] == per_line.sum():
            return Decision(False, reason, signals, metadata=metadata)
        kept = "\n".join(ln for ln, c in zip(lines, cut, strict=True) if not c)
        return Decision(True, None, signals, kept.strip("\n"), metadata)

    def _tokens(self, text: str) -> float:
        return float(self.count_tokens(text)) if self.count_tokens else 0.0


def decontamination_signals(cfg: DecontaminationConfig | None) -> list[str]:
    """The stage's signal columns (as ``filters.registry.signal_names``), without its index."""
    if cfg is None:
        return []
    return [f"{Decontaminate.name}.{s}" for s in (*Decontaminate.signals, "keep")]
