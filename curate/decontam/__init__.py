"""Benchmark decontamination: evaluation items found in training documents by shared word
n-grams, every hit confirmed on the normalized words themselves (docs/decontamination.md)."""
