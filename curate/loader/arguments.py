"""The loader's arguments, checked before a corpus is opened: a value that cannot mean anything
is a ValueError naming it, never an empty epoch or a setting silently ignored."""

from __future__ import annotations

import numbers
from typing import Any

from curate.loader.order import check_weights


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int: any integer type (a NumPy one, as computed batch sizes are), never a
    bool or a float (``seq_len=64.0`` made fractional sample counts)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_arguments(
    *,
    seq_len: int,
    shuffle_window: int,
    image_decode: str,
    mix: dict[str, float] | None,
    mix_by: str,
    named: list[str] | None,
    batch_size: int | None,
    samples_per_epoch: int | None,
    mix_block: int = 1000,
) -> tuple[int, int, int | None, int | None]:
    """``named``: the periods or sources given beside the mix (``mix_by``'s kind). Returns
    seq_len, shuffle_window, batch_size and samples_per_epoch as Python ints."""
    seq_len = positive_int("seq_len", seq_len)
    shuffle_window = positive_int("shuffle_window", shuffle_window)
    if image_decode not in ("cpu", "gpu"):
        raise ValueError("image_decode must be 'cpu' or 'gpu'")
    if mix_by not in ("period", "source"):
        raise ValueError("mix_by must be 'period' or 'source'")
    if mix is not None:
        check_weights(list(mix.values()))
        if named is not None:
            raise ValueError(f"give {mix_by}s or mix (whose keys are the {mix_by}s), not both")
    if batch_size is not None:
        batch_size = positive_int("batch_size", batch_size)
    if samples_per_epoch is not None:  # it sizes a mix's epoch; alone it would be ignored
        if mix is None:
            raise ValueError("samples_per_epoch sizes a mix's epoch: pass mix=... too")
        samples_per_epoch = positive_int("samples_per_epoch", samples_per_epoch)
        blocks, rest = divmod(samples_per_epoch, positive_int("mix_block", mix_block))
        if rest:  # an epoch is whole blocks (exact proportions): 2500 was silently 2000
            near = sorted({max(1, blocks) * mix_block, (blocks + 1) * mix_block})
            raise ValueError(
                f"samples_per_epoch {samples_per_epoch} is not a whole number of mix_block "
                f"({mix_block}) blocks: use {' or '.join(map(str, near))}, or another mix_block"
            )
    return seq_len, shuffle_window, batch_size, samples_per_epoch
