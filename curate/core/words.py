"""Word splitting that is not English-only.

Whitespace separates words in most scripts; Han, Kana, Hangul syllables (when unspaced), Thai,
Lao, Khmer and Myanmar are written without spaces, so each of their characters counts as a word
(a standard approximation when no dictionary segmenter is at hand).
"""

from __future__ import annotations

import re
from functools import lru_cache

UNSPACED_RANGES = (
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK ideographs: extension A,
    (0x4E00, 0x9FFF),  # unified,
    (0xF900, 0xFAFF),  # compatibility
)
_UNSPACED = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in UNSPACED_RANGES)
_WORD = re.compile(rf"[{_UNSPACED}]|[^\s{_UNSPACED}]+")
_HAS_UNSPACED = re.compile(rf"[{_UNSPACED}]")


def has_unspaced(text: str) -> bool:
    return not text.isascii() and _HAS_UNSPACED.search(text) is not None


def unspaced_words(words: tuple[str, ...] | list[str]) -> int:
    """How many of ``split_words``' words are one character of an unspaced script."""
    return sum(1 for w in words if len(w) == 1 and _HAS_UNSPACED.match(w))


def split_words(text: str) -> list[str]:
    if not has_unspaced(text):
        return text.split()
    return _WORD.findall(text)


@lru_cache(maxsize=256)
def document_words(text: str) -> tuple[str, ...]:
    """``split_words`` for whole documents, remembered: the screen runs several filters that
    split the same texts, one filter at a time over a batch of documents."""
    return tuple(split_words(text))
