"""HuggingFace ``tokenizers``: byte-level BPE training and batch encoding with EOS appended.

Training runs locally (no hub access): the trainer is deterministic for the same texts in the
same order, which the build relies on for byte-identical shards.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers


class TokenizerError(ValueError):
    pass


def train_bpe(
    texts: Iterable[str], vocab_size: int, eos_token: str = "<|endoftext|>", min_frequency: int = 2
) -> Tokenizer:
    """Byte-level BPE (GPT-2 style pre-tokenization) with ``eos_token`` as id 0."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[eos_token],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def load_tokenizer(path_or_json: str, from_string: bool = False) -> Tokenizer:
    try:
        if from_string:
            return Tokenizer.from_str(path_or_json)
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(path_or_json) as f:
            return Tokenizer.from_str(f.read().decode("utf-8"))
    except Exception as e:  # noqa: BLE001 - tokenizers raises bare Exception
        raise TokenizerError(f"cannot load tokenizer {path_or_json:.200}: {e}") from None


class Encoder:
    """Encodes batches of documents to uint32 ids with EOS appended to each.

    ``fast=True`` uses tiktoken with the same vocabulary when ``fast_encoding`` proves it gives
    the same ids (byte-level BPE); otherwise, or with ``fast=False``, HF ``tokenizers``.
    """

    def __init__(self, tokenizer: Tokenizer, eos_token: str, fast: bool = True):
        from tokenization.fast_bpe import fast_encoding

        eos = tokenizer.token_to_id(eos_token)
        if eos is None:
            raise TokenizerError(f"EOS token {eos_token!r} is not in the tokenizer's vocabulary")
        self.tokenizer = tokenizer
        self.eos_id = eos
        self.vocab_size = tokenizer.get_vocab_size()
        self.fast = fast_encoding(tokenizer, {eos_token}) if fast else None
        self.threads = min(4, os.cpu_count() or 1)

    @property
    def backend(self) -> str:
        return "tiktoken" if self.fast is not None else "tokenizers"

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        if self.fast is not None:
            seqs = self.fast.encode_ordinary_batch(texts, num_threads=self.threads)
        else:
            seqs = [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
        out = []
        for seq in seqs:
            ids = np.empty(len(seq) + 1, dtype=np.uint32)
            ids[:-1] = seq
            ids[-1] = self.eos_id
            out.append(ids)
        return out
