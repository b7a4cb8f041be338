"""Beam wiring only: the logic lives in ``curate``, ``filters`` and ``tokenization``."""
