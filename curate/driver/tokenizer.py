"""The corpus's tokenizer, decided by the driver before the pipeline runs: a ``tokenizer.json``
loaded, or a byte-level BPE trained on the first documents that pass the screen."""

from __future__ import annotations

import hashlib
from typing import Any

from curate.core.errors import BuildError
from curate.stages.config import BuildConfig
from curate.stages.screen import sample_texts
from tokenization.bpe import Encoder, TokenizerError, load_tokenizer, train_bpe


def prepare_tokenizer(cfg: BuildConfig, files: list[str]) -> tuple[str, dict[str, Any]]:
    """Load or train the tokenizer; return its JSON and its manifest entry."""
    tcfg = cfg.tokenizer
    image_token = tcfg.image_token if cfg.multimodal else None
    if tcfg.path:
        tok = load_tokenizer(tcfg.path)
        if image_token is not None and tok.token_to_id(image_token) is None:
            tok.add_special_tokens([image_token])  # a new id after the vocabulary
    else:
        texts = sample_texts(cfg, files, tcfg.train.sample_docs)
        extra = (image_token,) if image_token else ()
        tok = train_bpe(
            texts, tcfg.train.vocab_size, tcfg.eos_token, tcfg.train.min_frequency, extra
        )
    try:
        encoder = Encoder(tok, tcfg.eos_token, fast=tcfg.fast, image_token=image_token)
    except TokenizerError as e:
        raise BuildError(str(e)) from None
    tok_json = tok.to_str()
    info = {
        "path": "tokenizer.json",
        "sha256": hashlib.sha256(tok_json.encode()).hexdigest(),
        "vocab_size": encoder.vocab_size,
        "eos_token": tcfg.eos_token,
        "eos_id": encoder.eos_id,
        "image_token": image_token,
        "image_id": encoder.image_id,
        "trained": tcfg.train is not None,
        "encoder": encoder.backend,
    }
    return tok_json, info
