"""Shingling, datasketch signatures and LSH parameters on real prose."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from curate.dedup.minhash import (
    LSHParams,
    estimated_jaccard,
    normalize_for_shingles,
    shingle_hashes,
    true_jaccard,
    word_hashes,
)
from tests.conftest import evaldata


@pytest.fixture(scope="module")
def prose() -> list[str]:
    path = evaldata("prose/prose.jsonl")
    return [json.loads(line)["text"] for line in path.open()][:300]


def test_normalization_is_unicode_aware():
    words = normalize_for_shingles
    assert words("Hello, World! It's 2019...") == ["hello", "world", "it", "s", "0000"]
    assert words("Ça coûte 12,50 € — vraiment?") == ["ça", "coûte", "00", "00", "vraiment"]
    assert normalize_for_shingles("市政府公布。") == ["市", "政", "府", "公", "布"]
    assert words("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # combining vowel signs stay in the word
    assert words("snake_case x²") == ["snake", "case", "x²"]  # only decimal digits become 0
    # case, punctuation and digit changes do not change the shingles
    assert shingle_set_eq("The year 1999, they said.", "the YEAR 2000 -- they said")


def _reference_word_hash(word: str) -> int:
    """The per-word hash written out with Python integers, one word at a time."""
    mask = 2**64 - 1
    h = sum(ord(c) * pow(0x100000001B3, i, 2**64) for i, c in enumerate(word)) & mask
    h ^= (len(word) * 0x9E3779B97F4A7C15) & mask
    for mult in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, None):
        h ^= h >> 33
        if mult:
            h = (h * mult) & mask
    return h


def test_vectorized_words_match_the_reference_rule(prose):
    """word_hashes segments and hashes whole code-point arrays; it must give exactly the words
    of the per-character rule, in 25 languages and on awkward input."""
    langid = evaldata("langid/langid.jsonl")
    texts = [json.loads(line)["text"] for line in langid.open()][::20] + prose[:50]
    texts += [
        "",
        "   ",
        "a",
        "...!!!",
        "tab\tnew\nline",
        "emoji 🙂 test 🙂🙂 x",
        "e\u0301te\u0301",  # decomposed accents
        "MIXED 中文 text ภาษา ok 123",
        "x" * 5000,
        "lone \ud800 surrogate",
    ]
    for text in texts:
        expected = [_reference_word_hash(w) for w in normalize_for_shingles(text)]
        assert word_hashes(text.lower())[1].tolist() == expected, text[:80]


def shingle_set_eq(a: str, b: str) -> bool:
    return set(shingle_hashes(a).tolist()) == set(shingle_hashes(b).tolist())


def test_signature_equals_datasketch_update_batch(prose):
    p = LSHParams()
    for text in prose[:40]:
        assert np.array_equal(p.signature(text), p.minhash(text).hashvalues)
    assert p.signature("").tolist() == p.minhash("").hashvalues.tolist()


def test_batched_signing_equals_one_text_at_a_time(prose):
    """Many texts in one numpy pass: same shingles and signatures as datasketch per text, at
    document boundaries, for empty and short texts, and for a text over one 32k-shingle chunk."""
    p = LSHParams()
    long_text = " ".join(" ".join(prose[:200]).split()[:40_000])
    texts = ["", "two words", *prose[:30], "...", "one two three four five", long_text, "x"]
    sigs, shingles = p.sign(texts, chunk_chars=20_000)
    assert len(shingles[texts.index(long_text)]) > 1 << 15
    for text, sig, sh in zip(texts, sigs, shingles, strict=True):
        assert np.array_equal(sh, shingle_hashes(text))
        assert np.array_equal(sig, p.minhash(text).hashvalues), text[:40]
    assert len(shingles[0]) == 0 and len(shingles[1]) == 1  # fewer than 5 words: one shingle


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
