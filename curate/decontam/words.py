"""The words n-grams are made of: case, Unicode forms, HTML entities, punctuation and whitespace
folded, so that a web copy of an item (``&amp;``, full-width digits, other line breaks, other
choice numbering) has the same words as the item itself.

``byte_words`` is the fast path the filter chain uses (UTF-8 words from ``bytes.translate`` and
``bytes.split``: about four times faster than a regular expression on English text); it returns
the same words as ``words``, encoded, and the tests hold it to that.
"""

from __future__ import annotations

import html
import re
import string
import unicodedata

import numpy as np

from curate.core.words import UNSPACED_RANGES

_UNSPACED = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in UNSPACED_RANGES)
# a character of an unspaced script is a word by itself; elsewhere letters and digits in a row
# (``_`` counts as punctuation, so ``has_close_elements`` and "has close elements" agree)
_WORD = re.compile(rf"[{_UNSPACED}]|[^\W_{_UNSPACED}]+")
# ASCII letters lowered, ASCII digits kept, every other ASCII byte a space; UTF-8 bytes of other
# characters left for the regular expression
_ASCII_WORD = string.ascii_letters + string.digits
_TABLE = bytes(
    (ord(chr(b).lower()) if chr(b) in _ASCII_WORD else 32) if b < 128 else b for b in range(256)
)


# the same for numpy over the bytes of ``word_bytes``: ASCII word bytes lowered, other ASCII
# bytes 0 (between words), bytes of other characters kept (``word_bytes`` left only letters)
WORD_BYTES = np.frombuffer(_TABLE, np.uint8).copy()
WORD_BYTES[WORD_BYTES == 32] = 0
_HAS_UNSPACED = re.compile(rf"[{_UNSPACED}]")
_NON_ASCII_SEPARATOR = re.compile(r"[^\x00-\x7f\w]")  # outside ASCII and not a letter or digit


def word_bytes(text: str) -> bytes | None:
    """UTF-8 text in which every word is a maximal run of ``WORD_BYTES``-nonzero bytes, for the
    numpy path; None for text in an unspaced script (a character per word: ``words`` does it).
    English text has few characters outside ASCII, so replacing each that is not a letter or
    digit (curly quotes, dashes) costs little."""
    if text.isascii() and "&" not in text:
        return text.encode()
    text = fold(text)
    if text.isascii():
        return text.encode()
    if _HAS_UNSPACED.search(text):
        return None
    return _NON_ASCII_SEPARATOR.sub(" ", text).encode()


def fold(text: str) -> str:
    if "&" in text:
        text = html.unescape(text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text.casefold()


def words(text: str) -> list[str]:
    """The normalized words of ``text``, in order."""
    return _WORD.findall(fold(text))


def byte_words(text: str) -> list[bytes]:
    """``words(text)``, UTF-8 encoded."""
    folded = fold(text) if ("&" in text or not text.isascii()) else text
    parts = folded.encode().translate(_TABLE).split()
    if folded.isascii():
        return parts
    out: list[bytes] = []
    for p in parts:
        if p.isascii():
            out.append(p)
        else:
            out.extend(w.encode() for w in _WORD.findall(p.decode()))
    return out


def words_per_line(text: str) -> list[int]:
    """How many of ``words(text)`` each ``\\n``-separated line holds (a word never spans a line
    break, and folding never makes or removes one), to map matched words back to lines."""
    return [len(_WORD.findall(fold(line))) for line in text.split("\n")]
