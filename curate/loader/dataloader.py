"""``CorpusLoader``: a DataLoader that tells its dataset the batch size and counts what the
training loop received, so the state it saves is exact with any number of workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader

from curate.loader.arguments import positive_int
from curate.loader.batches import Plan, Wire, pinned
from curate.loader.dataset import CorpusDataset
from curate.loader.packing import warm
from curate.loader.torch_required import torch


class CorpusLoader(DataLoader):
    """A DataLoader that tells its CorpusDataset the batch size and counts the samples the
    training loop has received, so ``state_dict()`` is exact with any number of workers (the
    workers' copies of the dataset cannot see what the loop consumed). It talks to the dataset
    through its public iteration protocol: ``attach``, ``begin``, ``batches``, ``receive``,
    ``advance``, ``end_epoch``."""

    def __init__(self, dataset: CorpusDataset, batch_size: int = 1, **kwargs: Any):
        batch_size = positive_int("batch_size", batch_size)
        dataset.attach(batch_size)
        kwargs.setdefault("pin_memory", torch.cuda.is_available())
        # the dataset yields whole batches (vectorized); the DataLoader only moves them
        super().__init__(dataset, batch_size=None, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        ds: CorpusDataset = self.dataset  # type: ignore[assignment]
        ds.begin()
        if self.num_workers:
            warm()
        for batch in super().__iter__() if self.num_workers else self._in_process():
            for one in batch if isinstance(batch, list) else [batch]:  # a worker's message
                one = ds.receive(one) if isinstance(one, Plan) else one
                one = one.unpack() if isinstance(one, Wire) else one
                ds.advance(len(one["input_ids"]))
                yield one
        ds.end_epoch()

    def _in_process(self) -> Iterator[dict[str, torch.Tensor]]:
        """Without workers the dataset's batches are final: the DataLoader's per-batch
        machinery (a profiler scope, a recursive conversion) cost a fifth of a batch."""
        ds: CorpusDataset = self.dataset  # type: ignore[assignment]
        for batch in ds.batches(self.pin_memory):
            yield pinned(batch) if self.pin_memory else batch

    def state_dict(self) -> dict[str, Any]:
        return self.dataset.state_dict()  # type: ignore[attr-defined]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.dataset.load_state_dict(state)  # type: ignore[attr-defined]
