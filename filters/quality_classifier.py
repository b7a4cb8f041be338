"""Model-based quality: the probability that a document is like the positives a fastText model
was trained on (``curate train-classifier``, e.g. clean prose against low-quality pages), as in
the classifiers behind GPT-3's and FineWeb-Edu's filtering. The score is always kept; documents
below ``threshold`` are removed (``threshold: 0`` only scores). Without a ``threshold`` the one
saved with the model, chosen on held-out data, is used. ``label`` names the model's positive
label (``pos`` for curate's models; ``hq`` for DCLM's fastText classifier).
"""

from __future__ import annotations

from dataclasses import dataclass

from curate.core.classifier import (
    check_label,
    fasttext_text,
    load_classifier,
    positive_scores,
)
from curate.core.document import Document
from filters.base import Decision, Filter, Fraction


@dataclass
class QualityClassifier(Filter):
    model: str
    threshold: Fraction | None = None
    label: str = "pos"

    name = "quality_classifier"
    signals = ("score",)

    def __post_init__(self) -> None:
        model, meta = load_classifier(self.model)  # fails now, naming the path, if it is missing
        check_label(model, self.model, self.label)
        if self.threshold is None:
            self.threshold = float(meta.get("threshold", 0.5))

    def apply(self, doc: Document) -> Decision:
        model, _ = load_classifier(self.model)
        (score,) = positive_scores(model, [fasttext_text(doc.text)], self.label)
        keep = score >= self.threshold
        return Decision(keep, None if keep else "low_score", {"score": score})
