"""A loader's settings and position, kept the way torchdata's stateful loaders keep them: a
frozen ``LoaderSettings`` (everything the sample order depends on, whose hash is the
fingerprint a saved state carries) and a ``Position`` (epoch and samples consumed, the same on
every rank) behind ``state_dict`` / ``load_state_dict``."""

from __future__ import annotations

import hashlib
import json
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from curate.loader.order import OrderSettings

STATE_VERSION = 1


@dataclass(frozen=True)
class LoaderSettings:
    """What the order depends on: resuming with anything else would not be exact."""

    shards: tuple[tuple[str, str, int], ...]  # (path, sha256, documents) of the selection
    selection: str
    mix: tuple  # (mix, block, samples per epoch[, mix_by])
    order: OrderSettings
    document_mask: bool
    images: tuple[int, str] | None  # (size, decode) of a multimodal corpus

    @property
    def fingerprint(self) -> str:
        key = {
            "shards": [list(s) for s in self.shards],
            "selection": self.selection,
            "mix": list(self.mix),
            "settings": self.order.__dict__,
            "document_mask": self.document_mask,
            "images": list(self.images) if self.images is not None else None,
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _count(value: Any) -> bool:
    """A non-negative integer of any integer type (``for epoch in np.arange(n)``), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


class Position:
    """Where iteration stands: ``consumed`` global steps (all ranks together) of ``epoch``.
    An iteration starts where the consumed samples end (``begin``), so a loop that broke off
    and iterates again continues, and the state always describes what the loop received."""

    def __init__(self) -> None:
        self.epoch = 0
        self.consumed = 0
        self.start = 0  # where the current iteration started
        self.local = 0  # steps this rank received since then

    def begin(self) -> None:
        self.start, self.local = self.consumed, 0

    def advance(self, samples: int, world_size: int) -> None:
        self.local += samples
        self.consumed = self.start + self.local * world_size

    def end_epoch(self) -> None:
        self.epoch += 1
        self.consumed = self.start = self.local = 0

    def set_epoch(self, epoch: int) -> None:
        if not _count(epoch):
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = int(epoch)
        self.consumed = self.start = self.local = 0

    def state_dict(self, fingerprint: str) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "consumed": self.consumed,
            "fingerprint": fingerprint,
        }

    def load_state_dict(
        self, state: Any, fingerprint: str, samples_of: Callable[[int], int]
    ) -> None:
        """Take ``state`` if it was saved with these settings and lies inside its epoch
        (``samples_of(epoch)``: the samples that epoch holds)."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            got = state.get("version") if isinstance(state, dict) else state
            raise ValueError(f"unknown loader state version {got!r}")
        if state.get("fingerprint") != fingerprint:
            raise ValueError(
                "the state was saved for another corpus, selection or loader settings "
                "(seq_len, pack, shuffle, seed, shuffle_window, document_mask); if the corpus "
                "grew by an append since, pass increments= its count then to resume"
            )
        epoch, consumed = state.get("epoch"), state.get("consumed")
        if not (_count(epoch) and _count(consumed)):
            raise ValueError(f"state epoch and consumed must be non-negative integers: {state!r}")
        epoch, consumed = int(epoch), int(consumed)
        samples = samples_of(epoch)
        if consumed > samples:
            raise ValueError(
                f"state says {consumed:,} samples of epoch {epoch} were consumed, but the epoch "
                f"holds {samples:,}"
            )
        self.epoch, self.consumed, self.start, self.local = epoch, consumed, consumed, 0
