"""HuggingFace ``tokenizers``: byte-level BPE training and batch encoding with EOS appended.

Training runs locally (no hub access): the trainer is deterministic for the same texts in the
same order, which the build relies on for byte-identical shards.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from curate.core.document import IMAGE_PLACEHOLDER


class TokenizerError(ValueError):
    pass


def train_bpe(
    texts: Iterable[str],
    vocab_size: int,
    eos_token: str = "<|endoftext|>",
    min_frequency: int = 2,
    extra_special: tuple[str, ...] = (),
) -> Tokenizer:
    """Byte-level BPE (GPT-2 style pre-tokenization) with ``eos_token`` as id 0 and
    ``extra_special`` (the image token of a multimodal build) after it."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[eos_token, *extra_special],
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


def _check_ids(tokenizer: Tokenizer, size: int) -> None:
    """Every id, added tokens included, inside the vocabulary: a model's embedding table has
    ``vocab_size`` rows, and the loader and ``verify`` refuse ids outside it."""
    outside = {t: i for t, i in tokenizer.get_vocab(with_added_tokens=True).items() if i >= size}
    if outside:
        token, i = min(outside.items(), key=lambda kv: kv[1])
        raise TokenizerError(
            f"token {token!r} has id {i:,}, outside the vocabulary of {size:,} entries "
            f"({len(outside)} such tokens): a model's embedding table could not hold it"
        )
    if size >= 2**32:
        raise TokenizerError(f"vocabulary of {size:,} entries: ids must fit in 32 bits")


# a run of white space this long sends its batch to tokenizers (see Encoder._encode); it starts
# where the run starts, so the search is linear however long the runs
_SPACE_RUN_LIMIT = 100_000
_LONG_SPACE_RUN = re.compile(rf"(?<!\s)\s{{{_SPACE_RUN_LIMIT}}}")


class Encoder:
    """Encodes batches of documents to uint32 ids with EOS appended to each.

    ``fast=True`` uses tiktoken with the same vocabulary when ``fast_encoding`` proves it gives
    the same ids (byte-level BPE); otherwise, or with ``fast=False``, HF ``tokenizers``.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        eos_token: str,
        fast: bool = True,
        image_token: str | None = None,
    ):
        from tokenization.fast_bpe import fast_encoding

        eos = tokenizer.token_to_id(eos_token)
        if eos is None:
            raise TokenizerError(f"EOS token {eos_token!r} is not in the tokenizer's vocabulary")
        self.tokenizer = tokenizer
        self.eos_id = eos
        self.image_id = None
        if image_token is not None:
            self.image_id = tokenizer.token_to_id(image_token)
            if self.image_id is None:
                raise TokenizerError(f"image token {image_token!r} is not in the vocabulary")
        self.vocab_size = tokenizer.get_vocab_size()
        _check_ids(tokenizer, self.vocab_size)
        self.fast = fast_encoding(tokenizer, {eos_token}) if fast else None
        self.threads = min(4, os.cpu_count() or 1)

    @property
    def backend(self) -> str:
        return "tiktoken" if self.fast is not None else "tokenizers"

    def _encode(self, texts: list[str]) -> list[list[int]]:
        if self.fast is not None and not any(
            len(t) >= _SPACE_RUN_LIMIT and _LONG_SPACE_RUN.search(t) for t in texts
        ):
            try:
                return self.fast.encode_ordinary_batch(texts, num_threads=self.threads)
            except BaseException as e:  # a Rust panic is a BaseException
                if type(e).__name__ != "PanicException":
                    raise
                # tiktoken's pattern overflows its stack on a long run of spaces or newlines
                # (about a million here) and panics, printing a Rust backtrace; the runs found
                # above never reach it, and tokenizers gives the same ids (fast_encoding
                # proved it), so a batch goes through tokenizers instead of failing the build
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def count(self, text: str) -> int:
        """Tokens of ``text`` (no EOS): what a stage that removes text reports."""
        return len(self._encode([text])[0])

    def encode_multimodal(
        self, texts: list[str], n_images: list[int]
    ) -> tuple[list[np.ndarray], list[list[int]]]:
        """Ids with the image token where each image goes, EOS appended, and each image's token
        position. Interleaved text marks images with IMAGE_PLACEHOLDER (one per image); a text
        without placeholders (a caption) gets its images first."""
        pieces: list[list[str]] = []
        for text, n in zip(texts, n_images, strict=True):
            if IMAGE_PLACEHOLDER in text:
                parts = text.split(IMAGE_PLACEHOLDER)
                if len(parts) != n + 1:
                    raise TokenizerError(f"{len(parts) - 1} image placeholders for {n} images")
                last = len(parts) - 1
                parts = [
                    p.rstrip("\n") if i == 0 else p.lstrip("\n") if i == last else p.strip("\n")
                    for i, p in enumerate(parts)
                ]
            else:
                parts = [""] * n + [text]
            pieces.append(parts)
        flat = iter(self._encode([p for parts in pieces for p in parts]))
        out, positions = [], []
        for parts in pieces:
            ids: list[int] = []
            pos: list[int] = []
            for i in range(len(parts)):
                if i:
                    pos.append(len(ids))
                    ids.append(self.image_id)
                ids.extend(next(flat))
            ids.append(self.eos_id)
            out.append(np.asarray(ids, dtype=np.uint32))
            positions.append(pos)
        return out, positions

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        seqs = self._encode(texts)
        out = []
        for seq in seqs:
            ids = np.empty(len(seq) + 1, dtype=np.uint32)
            ids[:-1] = seq
            ids[-1] = self.eos_id
            out.append(ids)
        return out
