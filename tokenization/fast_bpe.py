"""An exact fast path for byte-level BPE: the same vocabulary and merges run by tiktoken.

HF ``tokenizers`` and tiktoken implement the same algorithm for GPT-2 style byte-level BPE when
(a) the pre-tokenizer is ByteLevel with the GPT-2 regex, (b) there is no normalizer, and (c) each
merge creates a token whose id is larger than every earlier merge's (so tiktoken's rank order is
HF's merge order). A trained curate tokenizer satisfies all three. ``fast_encoding`` checks them
and then verifies ids on a fixed multilingual sample; any doubt returns None and the caller keeps
HF. tests/test_fast_bpe.py proves identical ids on real text.
"""

from __future__ import annotations

import json
import logging

from tokenizers import Tokenizer

log = logging.getLogger(__name__)

GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
VERIFY_SAMPLE = [
    "The quick brown fox jumps over the lazy dog's back; it's 3.14159 o'clock!",
    "Der Bürgermeister sprach über die Zukunft des Verkehrs.  Ça va? ¿Qué pasa?",
    "市政府今天公布了新的预算。 東京は晴れです。 서울의 날씨는 맑습니다. ภาษาไทย",
    "Tabs\tand\n\nnewlines   and trailing spaces   \n  emoji \U0001f600\U0001f680 math ∑∫√ ",
    "def f(x):\n    return x**2 + 1  # comment\n\n{'json': [1, 2.5e-3, null]}",
    "Ελληνικά, русский текст, עברית, العربية, हिन्दी",
]


def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode, which HF's ByteLevel uses."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _compatible(spec: dict) -> str | None:
    """Why the tokenizer cannot use the fast path, or None."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        return "not a BPE model"
    if spec.get("normalizer") is not None:
        return "has a normalizer"
    pre = spec.get("pre_tokenizer") or {}
    if pre.get("type") != "ByteLevel" or not pre.get("use_regex", True):
        return "pre-tokenizer is not ByteLevel with the GPT-2 regex"
    if pre.get("add_prefix_space"):
        return "adds a prefix space"
    if (
        model.get("dropout")
        or model.get("continuing_subword_prefix")
        or model.get("end_of_word_suffix")
    ):
        return "uses dropout or subword affixes"
    vocab = model["vocab"]
    last = -1
    for merge in model.get("merges", []):
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        tid = vocab.get(left + right)
        if tid is None or tid <= last:
            return "merge ids are not in merge order"
        last = tid
    return None


def fast_encoding(tokenizer: Tokenizer, special_tokens: set[str]):
    """A tiktoken Encoding with ids identical to ``tokenizer``, or None."""
    try:
        import tiktoken
    except ImportError:
        return None
    spec = json.loads(tokenizer.to_str())
    why = _compatible(spec)
    if why:
        log.info("tiktoken fast path off: %s", why)
        return None
    decoder = _byte_decoder()
    added = {t["content"] for t in spec.get("added_tokens", [])} | special_tokens
    ranks = {
        bytes(decoder[ch] for ch in token): tid
        for token, tid in spec["model"]["vocab"].items()
        if token not in added
    }
    enc = tiktoken.Encoding(
        "curate-bpe", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={}
    )
    for text in VERIFY_SAMPLE:
        if enc.encode_ordinary(text) != tokenizer.encode(text, add_special_tokens=False).ids:
            log.warning("tiktoken fast path off: ids differ on the verification sample")
            return None
    return enc
