"""Word splitting that is not English-only.

Whitespace separates words in most scripts; Han, Kana, Hangul syllables (when unspaced), Thai,
Lao, Khmer and Myanmar are written without spaces, so each of their characters counts as a word
(a standard approximation when no dictionary segmenter is at hand).
"""

from __future__ import annotations

import re

_UNSPACED = (
    "\u0e00-\u0e7f"  # Thai
    "\u0e80-\u0eff"  # Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
)
_WORD = re.compile(rf"[{_UNSPACED}]|[^\s{_UNSPACED}]+")
_HAS_UNSPACED = re.compile(rf"[{_UNSPACED}]")


def split_words(text: str) -> list[str]:
    if text.isascii() or not _HAS_UNSPACED.search(text):
        return text.split()
    return _WORD.findall(text)
