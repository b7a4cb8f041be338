"""Line- or paragraph-level deduplication across documents: the boilerplate that survives
document dedup (navigation, cookie banners, licence footers), as in C4's repeated spans and
Dolma's paragraph dedup.

Deterministic, unlike a Bloom filter fed in arrival order: a unit (line or paragraph) found in
at least ``min_docs`` documents is kept in the earliest of them (the same survivor rule as
document dedup) and removed from every other. Units are compared after collapsing whitespace
and case; units shorter than ``min_chars`` are never touched (a lone "Thanks!" is not
boilerplate).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import groupby

import xxhash

from curate.build.config import LineDedupConfig
from curate.dedup.signatures import Node, file_of

_PARAGRAPH_BREAK = re.compile(r"(\n[ \t]*\n\s*)")


def _split(text: str, unit: str) -> list[str]:
    """Units and the separators between them, alternating: joining gives the text back."""
    if unit == "line":
        parts = text.split("\n")
        return [x for p in parts for x in (p, "\n")][:-1]
    return _PARAGRAPH_BREAK.split(text)


def _key(unit_text: str, min_chars: int) -> int | None:
    norm = " ".join(unit_text.split()).lower()
    return xxhash.xxh3_64_intdigest(norm.encode()) if len(norm) >= min_chars else None


def unit_keys(text: str, cfg: LineDedupConfig) -> set[int]:
    """Keys of the document's units that are long enough to deduplicate."""
    keys = (_key(u, cfg.min_chars) for u in _split(text, cfg.unit)[::2])
    return {k for k in keys if k is not None}


def remove_units(text: str, drop: set[int], cfg: LineDedupConfig) -> tuple[str, int]:
    """The text without the dropped units, each kept unit after its own separator; the number
    of units removed."""
    parts = _split(text, cfg.unit)
    kept: list[str] = []
    removed = 0
    for i in range(0, len(parts), 2):
        if _key(parts[i], cfg.min_chars) in drop:
            removed += 1
            continue
        if kept and i > 0:
            kept.append(parts[i - 1])
        kept.append(parts[i])
    return "".join(kept), removed


def repeated_units(
    items: Iterable[tuple[int, Node]], min_docs: int
) -> Iterator[tuple[int, list[tuple[str, int]]]]:
    """(key, document) records of one bucket to (input file, [(origin, key)]) removals: every
    document but the earliest, for keys found in at least ``min_docs`` documents."""
    by_file: dict[int, list[tuple[str, int]]] = {}
    for key, group in groupby(sorted(items), key=lambda it: it[0]):
        nodes = sorted({n for _, n in group})
        if len(nodes) >= min_docs:
            for node in nodes[1:]:
                by_file.setdefault(file_of(node), []).append((node[2], key))
    yield from sorted(by_file.items())
