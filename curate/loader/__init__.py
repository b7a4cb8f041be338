"""The training loader: a built corpus as PyTorch batches.

``CorpusDataset`` selects (split, periods, time range, sources, views), orders (shuffled,
partitioned over ranks and DataLoader workers, resumable exactly and elastically) and packs
samples; ``CorpusLoader`` runs it in a DataLoader and counts what the training loop received;
``to_device`` copies batches to the GPU while the caller computes. Inside: ``corpus`` (the
manifest and the shards a selection picks), ``order`` (the sample order, no torch), ``packing``
(compiled batch filling), ``batches`` (a batch's buffers and what workers send), ``cache``
(local copies of a remote corpus) and ``image_decode``. Needs ``curate[loader]`` (torch, numba).
"""

from curate.loader.batches import IGNORE_INDEX, collate, cu_seqlens
from curate.loader.dataloader import CorpusLoader
from curate.loader.dataset import CorpusDataset
from curate.loader.device import decode_images, to_device

__all__ = [
    "IGNORE_INDEX",
    "CorpusDataset",
    "CorpusLoader",
    "collate",
    "cu_seqlens",
    "decode_images",
    "to_device",
]
