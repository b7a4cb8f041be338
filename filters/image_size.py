"""Image size and shape, DataComp's "basic filtering" (Gadre et al. 2023, sec. 3.4): the
smaller side over 200 pixels and an aspect ratio under 3; and LAION-400M's rule against tiny
files (Schuhmann et al. 2021: under 5 KB of image data). Every image of the document must pass;
the signals are the worst image's values."""

from __future__ import annotations

from dataclasses import dataclass

from curate.core.document import Document
from filters.base import Decision, Filter


@dataclass
class ImageSize(Filter):
    min_side: int = 200
    max_aspect_ratio: float = 3.0
    min_bytes: int = 5_000
    max_bytes: int | None = None

    name = "image_size"
    signals = ("min_side", "max_aspect_ratio", "min_bytes")

    def apply(self, doc: Document) -> Decision:
        if not doc.images:
            return Decision(True, None, {s: 0.0 for s in self.signals})
        side = min(min(im.width, im.height) for im in doc.images)
        aspect = max(max(im.width, im.height) / min(im.width, im.height) for im in doc.images)
        size = min(im.orig_bytes for im in doc.images)
        biggest = max(im.orig_bytes for im in doc.images)
        reason = None
        if side < self.min_side:
            reason = "too_small"
        elif aspect > self.max_aspect_ratio:
            reason = "aspect_ratio"
        elif size < self.min_bytes:
            reason = "file_too_small"
        elif self.max_bytes is not None and biggest > self.max_bytes:
            reason = "file_too_large"
        signals = {"min_side": float(side), "max_aspect_ratio": aspect, "min_bytes": float(size)}
        return Decision(reason is None, reason, signals)
