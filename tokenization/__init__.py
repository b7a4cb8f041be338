"""Tokenizers: load a HuggingFace ``tokenizer.json`` or train a byte-level BPE locally."""

from tokenization.bpe import TokenizerError, load_tokenizer, train_bpe

__all__ = ["TokenizerError", "load_tokenizer", "train_bpe"]
