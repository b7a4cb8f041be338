"""Near-duplicates of any kind behind one protocol: text by MinHash-LSH (``LSHParams``, Jaccard
of word shingles) and images by perceptual hash (``PerceptualParams``, Hamming distance). The
build signs documents, bands the signatures, checks candidate pairs' similarity against the
threshold and clusters the rest the same way for both; a signature table records its kind, and
``similarity`` reads a pair with the method of that kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from curate.core.document import Document
from curate.dedup.minhash import LSHParams
from curate.dedup.perceptual import PerceptualParams

if TYPE_CHECKING:
    from curate.dedup.config import DedupConfig


class NearDuplicates(Protocol):
    kind: bytes  # what a signature table holds
    num_perm: int  # uint32 words per signature row

    @property
    def threshold(self) -> float: ...

    def sign_documents(self, docs: list[Document]) -> tuple[np.ndarray, Any]: ...

    def band_keys(self, sig: np.ndarray) -> list[bytes]: ...

    @staticmethod
    def similarity(a: tuple, b: tuple) -> float:
        """Of two (signature, shingles or None) rows."""
        ...


KINDS: dict[bytes, type] = {LSHParams.kind: LSHParams, PerceptualParams.kind: PerceptualParams}


def similarity(kind: bytes, a: tuple, b: tuple) -> float:
    return KINDS[kind].similarity(a, b)


@dataclass(frozen=True)
class NearStage:
    """What the build's similarity stages need, whichever kind of near-dedup is on."""

    params: NearDuplicates
    max_bucket: int
    cc_rounds: int
    verify: bool  # check candidates' similarity (else every LSH candidate is a duplicate)
    cross_split_threshold: float | None = None  # lower, between splits only

    @property
    def threshold(self) -> float:
        return self.params.threshold


LSH_FIELDS = (
    "threshold",
    "num_perm",
    "ngram",
    "seed",
    "candidate_threshold",
    "false_positive_weight",
    "false_negative_weight",
)


def near_stage(dedup: DedupConfig) -> NearStage | None:
    """The configured near-dedup (``dedup.near`` for text, ``dedup.perceptual`` for images),
    or None; the one place these settings are read."""
    if dedup.near is not None:
        n = dedup.near
        fields = n.model_dump(include=set(LSH_FIELDS))
        if n.cross_split_threshold is not None:  # candidates as far below it as below threshold
            margin = n.threshold - n.candidate_threshold
            low = max(0.05, n.cross_split_threshold - margin)
            fields["candidate_threshold"] = min(n.candidate_threshold, low)
        params = LSHParams(**fields)
        verify = n.verify != "none"
        return NearStage(params, n.max_bucket, n.cc_rounds, verify, n.cross_split_threshold)
    if dedup.perceptual is not None:
        p = dedup.perceptual
        return NearStage(PerceptualParams(p.max_distance), p.max_bucket, p.cc_rounds, True)
    return None
