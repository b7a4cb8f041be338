"""Caption length, DataComp's "basic filtering" (Gadre et al. 2023, sec. 3.4): captions with
more than two words and more than five characters; LAION-400M's "at least 5 characters" is the
same character rule. Words are counted by ``curate.core.words`` (CJK characters count one each)."""

from __future__ import annotations

from dataclasses import dataclass

from curate.core.document import Document
from curate.core.words import split_words
from filters.base import Decision, Filter


@dataclass
class CaptionLength(Filter):
    min_words: int = 3
    min_chars: int = 6
    max_chars: int | None = None

    name = "caption_length"
    signals = ("words", "chars")

    def apply(self, doc: Document) -> Decision:
        chars = len(doc.text.strip())
        words = len(split_words(doc.text))
        reason = None
        if words < self.min_words:
            reason = "too_few_words"
        elif chars < self.min_chars:
            reason = "too_short"
        elif self.max_chars is not None and chars > self.max_chars:
            reason = "too_long"
        return Decision(reason is None, reason, {"words": float(words), "chars": float(chars)})
