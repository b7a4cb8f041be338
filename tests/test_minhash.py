"""Shingling, datasketch signatures and LSH parameters on real prose."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from curate.minhash import (
    LSHParams,
    estimated_jaccard,
    normalize_for_shingles,
    shingle_hashes,
    true_jaccard,
)
from tests.conftest import EVALDATA


@pytest.fixture(scope="module")
def prose() -> list[str]:
    path = EVALDATA / "prose" / "prose.jsonl"
    if not path.exists():
        pytest.skip("shared evaldata not present")
    return [json.loads(line)["text"] for line in path.open()][:300]


def test_normalization_is_unicode_aware():
    words = normalize_for_shingles
    assert words("Hello, World! It's 2019...") == ["hello", "world", "it", "s", "0000"]
    assert words("Ça coûte 12,50 € — vraiment?") == ["ça", "coûte", "00", "00", "vraiment"]
    assert normalize_for_shingles("市政府公布。") == ["市", "政", "府", "公", "布"]
    # case, punctuation and digit changes do not change the shingles
    assert shingle_set_eq("The year 1999, they said.", "the YEAR 2000 -- they said")


def shingle_set_eq(a: str, b: str) -> bool:
    return set(shingle_hashes(a).tolist()) == set(shingle_hashes(b).tolist())


def test_signature_equals_datasketch_update_batch(prose):
    p = LSHParams()
    for text in prose[:40]:
        assert np.array_equal(p.signature(text), p.minhash(text).hashvalues)
    assert p.signature("").tolist() == p.minhash("").hashvalues.tolist()


def test_lsh_parameters_are_datasketch_optimum():
    from datasketch import MinHashLSH

    for threshold, weights in ((0.5, (0.5, 0.5)), (0.7, (0.1, 0.9)), (0.8, (0.2, 0.8))):
        lsh = MinHashLSH(threshold=threshold, num_perm=128, weights=weights)
        params = LSHParams(
            candidate_threshold=threshold,
            false_positive_weight=weights[0],
            false_negative_weight=weights[1],
        )
        assert params.bands_rows == (lsh.b, lsh.r)
    assert LSHParams().bands_rows == (20, 6)


def test_estimated_jaccard_tracks_true_jaccard(prose):
    p = LSHParams()
    rng = random.Random(0)
    errors = []
    for text in prose[:60]:
        words = text.split(" ")
        for k in rng.sample(range(len(words)), max(1, len(words) // 40)):
            words[k] = "zzz"
        variant = " ".join(words)
        tj = true_jaccard(text, variant)
        ej = estimated_jaccard(p.signature(text), p.signature(variant))
        errors.append(abs(tj - ej))
    assert np.mean(errors) < 0.04  # standard error at 128 permutations is about 0.035


def test_band_keys_collide_for_near_duplicates_only(prose):
    p = LSHParams()
    a = prose[10]
    near = a.replace(" the ", " a ", 1)
    far = prose[11]
    ka, kn, kf = (set(p.band_keys(p.signature(t))) for t in (a, near, far))
    assert len(ka) == p.bands_rows[0]
    assert ka & kn and not ka & kf
