"""The seeded demo corpora with their ground truth: dated text with planted duplicates,
low-quality pages, toxic lines, PII and broken records (``text``), and image-text pairs and
interleaved documents (``images``)."""
