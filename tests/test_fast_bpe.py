"""The tiktoken fast path must give exactly the ids HF tokenizers gives, or not be used."""

from __future__ import annotations

import json
import re

import pytest
from tokenizers import Tokenizer, models, normalizers

from tests.conftest import evaldata
from tokenization.bpe import Encoder, train_bpe


def _real_texts() -> list[str]:
    texts = []
    for name, limit in (
        ("prose/prose.jsonl", 600),
        ("langid/langid.jsonl", 6000),
        ("temporal/temporal.jsonl", 3000),
        ("toxicity/davidson.jsonl", 3000),
    ):
        try:
            path = evaldata(name)
        except pytest.skip.Exception:
            continue  # the dated commits ship no sample: the other texts still cover it
        with path.open() as f:
            texts += [json.loads(line)["text"] for _, line in zip(range(limit), f, strict=False)]
    return texts


@pytest.fixture(scope="module")
def trained():
    texts = _real_texts()
    return train_bpe(texts[::3], 4000), texts


def test_fast_path_ids_identical_on_real_multilingual_text(trained):
    tok, texts = trained
    fast, slow = Encoder(tok, "<|endoftext|>"), Encoder(tok, "<|endoftext|>", fast=False)
    assert (fast.backend, slow.backend) == ("tiktoken", "tokenizers")
    for i in range(0, len(texts), 1000):
        a, b = fast.encode_batch(texts[i : i + 1000]), slow.encode_batch(texts[i : i + 1000])
        for text, x, y in zip(texts[i : i + 1000], a, b, strict=True):
            assert x.tolist() == y.tolist(), text[:80]


def test_incompatible_tokenizers_fall_back(trained):
    tok, _ = trained
    with_norm = Tokenizer.from_str(tok.to_str())
    with_norm.normalizer = normalizers.Lowercase()
    assert Encoder(with_norm, "<|endoftext|>").backend == "tokenizers"
    wordlevel = Tokenizer(models.WordLevel({"<|endoftext|>": 0, "[UNK]": 1}, unk_token="[UNK]"))
    assert Encoder(wordlevel, "<|endoftext|>").backend == "tokenizers"


@pytest.mark.parametrize("screened", [True, False])
def test_a_million_spaces_do_not_fail_the_fast_path(trained, monkeypatch, screened):
    """Found by probing: tiktoken panics (a Rust stack overflow, a BaseException) on a run of
    about a million spaces or newlines, which failed the whole build. Such a batch goes through
    tokenizers, with the same ids: sent there by the run check, or, with the check off, after
    tiktoken's panic."""
    import tokenization.bpe

    if not screened:
        monkeypatch.setattr(tokenization.bpe, "_LONG_SPACE_RUN", re.compile("(?!)"))
    tok, texts = trained
    fast, slow = Encoder(tok, "<|endoftext|>"), Encoder(tok, "<|endoftext|>", fast=False)
    batch = [texts[0], "Words before." + " " * 1_200_000 + "and after.", "\n" * 1_200_000]
    got, expected = fast.encode_batch(batch), slow.encode_batch(batch)
    assert [x.tolist() for x in got] == [y.tolist() for y in expected]
    assert fast.backend == "tiktoken"  # the next batches take the fast path again
