"""Text normalization applied before filtering and deduplication.

NFC so that composed and decomposed accents compare equal; control characters (other than
newline and tab) removed because they break tokenizers and viewers; exotic spaces folded to ASCII
space; trailing spaces stripped per line and runs of blank lines folded to one, so that
re-flowed copies of a page hash alike.
"""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# a match starts only where a run of spaces starts: from every position inside a long run, the
# search scanned to the run's end, quadratic (a run of 40,000 spaces took 0.7 s, 1.2 M ten minutes)
_TRAILING = re.compile(r"(?<![ \t])[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        text = _SPACES.sub(" ", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _TRAILING.sub("\n", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()
