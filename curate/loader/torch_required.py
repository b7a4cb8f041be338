"""torch, or the message that says how to install the loader's dependencies."""

try:
    import torch
except ImportError as e:  # pragma: no cover - the loader extra installs it
    raise ImportError("curate.loader needs torch and numba: pip install 'curate[loader]'") from e

__all__ = ["torch"]
