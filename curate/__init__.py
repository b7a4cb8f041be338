"""curate: raw documents to training-ready, temporally split, tokenized corpora."""

__version__ = "0.1.0"
