"""One shard file of a corpus, checked against its manifest entry before its tokens are used:
size and SHA-256 (``verify``), readable Arrow with the columns every reader needs, and document
and token counts; its token pages memory-mapped. The loader, ``verify`` and ``drift`` all read
shards through this class, so a damaged shard is an error naming the file wherever it is read.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.format.manifest import CorpusError

VERIFY_MODES = ("checksum", "size", "none")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

try:
    _libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
except OSError:  # pragma: no cover
    _libc = None


def _prefault(address: int, size: int) -> None:
    """Map a shard's token pages into this process at once (Linux 5.14+ MADV_POPULATE_READ):
    a loader reads every token of a shard it opens, and one call costs far less than a page
    fault per 64 KB of random reads (measured: a fifth of a first pass). Elsewhere a no-op."""
    if _libc is None or size <= 0:
        return
    start = address - address % _PAGE
    _libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(address + size - start), 22)


class Shard:
    """One shard file, memory-mapped: per document its token count, and its tokens on demand."""

    def __init__(self, path: str, entry: dict, verify: str):
        self.path = path
        self.entry = entry
        try:
            size = os.path.getsize(path)
            if verify != "none" and size != entry["bytes"]:
                raise CorpusError(
                    f"{path}: {size:,} bytes on disk, the manifest says {entry['bytes']:,} "
                    "(truncated or replaced)"
                )
            if verify == "checksum":
                digest = sha256_file(path)
                if digest != entry["sha256"]:
                    raise CorpusError(
                        f"{path}: SHA-256 {digest[:16]}... does not match the manifest's "
                        f"{entry['sha256'][:16]}... (corrupt)"
                    )
        except FileNotFoundError as e:
            raise CorpusError(f"{path}: shard named in the manifest is missing") from e
        try:
            mm = pa.memory_map(path, "r")
            base = mm.read_buffer(mm.size())  # the whole mapping, zero-copy
            mm.seek(0)
            reader = pa.ipc.open_file(mm)
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        except (pa.ArrowInvalid, OSError) as e:
            raise CorpusError(f"{path}: not a readable Arrow file: {e}") from e
        for name, typ in (("input_ids", pa.list_(pa.uint32())), ("timestamp", None)):
            if name not in reader.schema.names or typ and reader.schema.field(name).type != typ:
                raise CorpusError(f"{path}: no column {name}{f' of type {typ}' if typ else ''}")
        # every batch's token buffer lies inside the mapping, 4-byte aligned (Arrow aligns
        # buffers to 8 bytes): one uint32 view of the file reaches all of them, so a document
        # is a slice and many documents are one numpy gather
        self.flat = np.frombuffer(base, np.uint32, len(base) // 4)
        starts, lengths = [], []
        self.batches = batches  # zero-copy views into the mapping
        for b in batches:
            ids = b.column("input_ids")
            values = ids.values
            addr = values.buffers()[1].address + values.offset * 4 - base.address
            if addr % 4:
                raise CorpusError(f"{path}: token buffer not 4-byte aligned")
            offsets = ids.offsets.to_numpy().astype(np.int64)
            _prefault(values.buffers()[1].address, values.buffers()[1].size)
            starts.append(addr // 4 + offsets[:-1])
            lengths.append(np.diff(offsets))
        self.doc_start = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        self.lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
        if len(self.lengths) != entry["documents"] or int(self.lengths.sum()) != entry["tokens"]:
            raise CorpusError(
                f"{path}: {len(self.lengths)} documents / {int(self.lengths.sum())} tokens, the "
                f"manifest says {entry['documents']} / {entry['tokens']}"
            )

    def images(self, row: int) -> list[tuple[memoryview, int]]:
        """Stored row ``row``'s images: (encoded bytes, zero-copy from the mapping; position
        of its image token), in document order. Empty for a text-only shard."""
        if self._image_rows is None:
            return []
        b = int(np.searchsorted(self._image_rows, row, side="right")) - 1
        col = self.batches[b].column("images")
        i = row - int(self._image_rows[b])
        lo, hi = col.offsets[i].as_py(), col.offsets[i + 1].as_py()
        data, pos = col.values.field("bytes"), col.values.field("token_pos")
        return [(memoryview(data[j].as_buffer()), pos[j].as_py()) for j in range(lo, hi)]

    @cached_property
    def _image_rows(self) -> np.ndarray | None:
        """First stored row of every record batch, when the shard has images."""
        if not self.batches or "images" not in self.batches[0].schema.names:
            return None
        return np.cumsum([0] + [b.num_rows for b in self.batches[:-1]])

    def timestamps_us(self) -> np.ndarray:
        """Per document, microseconds since the epoch; undated documents give INT64 min."""
        parts = [
            b.column("timestamp").cast(pa.int64()).fill_null(np.iinfo(np.int64).min).to_numpy()
            for b in self.batches
        ]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def has_source(self, sources: tuple[str, ...]) -> np.ndarray:
        """Per document, whether its source is one of ``sources``."""
        wanted = pa.array(list(sources), pa.string())
        parts = [
            pc.is_in(b.column("source"), value_set=wanted)
            .fill_null(False)
            .to_numpy(zero_copy_only=False)
            for b in self.batches
        ]
        return np.concatenate(parts) if parts else np.zeros(0, bool)

    def sources(self) -> set[str]:
        """The distinct sources of the shard's documents."""
        return {v for b in self.batches for v in pc.unique(b.column("source")).to_pylist() if v}

    def id_fractions(self, seed: int) -> np.ndarray:
        """Per document, ``curate.temporal.rules.stable_fraction`` of its id."""
        from curate.temporal.rules import stable_fraction

        ids = [i for b in self.batches for i in b.column("doc_id").to_pylist()]
        return np.array([stable_fraction(i, seed) for i in ids], np.float64)
