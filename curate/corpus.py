"""A built corpus as the loader sees it: the manifest, the shards a selection picks, and each
shard's tokens memory-mapped.

Selection never scans the data: splits and periods come from the manifest's shard entries, a
time range first from each shard's ``min_time``/``max_time`` there, and only shards that
straddle a bound have their timestamp column read. A shard's SHA-256 from the manifest is
checked when this process first opens it (``verify``), so a truncated, bit-flipped or missing
shard fails with its name and the problem instead of feeding garbage to a GPU.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import os
import sys
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.manifest import CorpusError, parse_manifest
from curate.shard_cache import DEFAULT_LIMIT, ShardCache

VERIFY_MODES = ("checksum", "size", "none")
MIN_CACHED_SHARDS = 3
__all__ = ["Corpus", "CorpusError", "Selection", "Shard", "sha256_file", "to_us"]


def to_us(t: str | datetime | None) -> int | None:
    if t is None:
        return None
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1_000_000)


@dataclass(frozen=True)
class Selection:
    """What to read: a split (None: every split), periods (None: every period), a time range
    ``[start, end)`` as ISO strings or datetimes (None: unbounded) and the documents' sources
    (None: every source)."""

    split: str | None = None
    periods: tuple[str, ...] | None = None
    time_range: tuple[str | datetime | None, str | datetime | None] | None = None
    sources: tuple[str, ...] | None = None
    # a split design recorded in the manifest's "views": "control" (the training split's
    # size-matched control), or "<window>:train" / "<window>:eval" (e.g. "w003:eval")
    view: str | None = None

    def bounds(self) -> tuple[int | None, int | None]:
        if self.time_range is None:
            return None, None
        start, end = self.time_range
        return to_us(start), to_us(end)


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

    def id_fractions(self, seed: int) -> np.ndarray:
        """Per document, ``curate.temporal.stable_fraction`` of its id."""
        from curate.temporal import stable_fraction

        ids = [i for b in self.batches for i in b.column("doc_id").to_pylist()]
        return np.array([stable_fraction(i, seed) for i in ids], np.float64)


def _typical(corpus: Corpus) -> int:
    sizes = sorted(e["bytes"] for e in corpus.manifest["shards"]) or [1]
    return max(1, sizes[len(sizes) // 2] * 2)  # twice the median: room for the larger ones


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Corpus:
    """The manifest of a built corpus and the shards of a selection, in manifest order."""

    root: str
    selection: Selection = field(default_factory=Selection)
    verify: str = "checksum"
    cache_dir: str | None = None  # remote corpora (URIs) only
    cache_limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        if self.verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}")
        self.cache = (
            ShardCache(self.root, self.cache_dir, self.cache_limit) if "://" in self.root else None
        )
        path = os.path.join(self.root, "manifest.json")
        try:
            if self.cache is not None:
                data = self.cache.read("manifest.json")
            else:
                with open(path, "rb") as f:
                    data = f.read()
        except (FileNotFoundError, OSError) as e:
            raise CorpusError(f"{path} not found: not a finished curate corpus ({e})") from e
        self.manifest = parse_manifest(data, path)
        self.eos_id = int(self.manifest["tokenizer"]["eos_id"])
        self.image_id = self.manifest["tokenizer"].get("image_id")  # None: text only
        self.vocab_size = int(self.manifest["tokenizer"]["vocab_size"])
        self._open: OrderedDict[int, Shard] = OrderedDict()
        # a remote corpus keeps only as many copies mapped as the cache holds: a deleted copy
        # frees its disk space only once unmapped (``generation`` counts the unmappings)
        if self.cache is not None:
            self._size_cache()
        self.max_open = None if self.cache is None else max(2, self.cache_limit // _typical(self))
        self.generation = 0

    @cached_property
    def entries(self) -> list[dict]:
        """Manifest entries of the selected shards, each with ``documents``/``tokens`` of the
        selected documents only, and ``keep`` (their rows) where a time bound cuts the shard or
        sources are selected (which reads the shard's source column: the manifest has none)."""
        sel, role = self._resolved()
        lo, hi = sel.bounds()
        control = self.manifest.get("views", {}).get("control") if sel.view == "control" else None
        held = None
        if role == "train":
            held = (self.manifest["config"]["temporal"].get("held_out") or {}).get("split")
        out = []
        for entry in self.manifest["shards"]:
            if sel.split is not None and entry["split"] != sel.split:
                continue
            if role == "train" and entry["split"] == held:
                continue  # a window's training periods never include the held-out documents
            if control is not None and entry["split"] not in control["splits"]:
                continue
            if sel.periods is not None and entry["period"] not in sel.periods:
                continue
            e = dict(entry)
            cut = False  # a bound falls inside the shard
            if lo is not None or hi is not None:
                tmin, tmax = to_us(entry["min_time"]), to_us(entry["max_time"])
                if tmin is None:  # undated documents only
                    continue
                if (hi is not None and tmin >= hi) or (lo is not None and tmax < lo):
                    continue
                cut = not ((lo is None or tmin >= lo) and (hi is None or tmax < hi))
            if cut or sel.sources is not None or control is not None:
                shard = self._mapped(entry, self.verify)
                ok = np.ones(len(shard.lengths), bool)
                if cut:
                    ts = shard.timestamps_us()
                    ok &= ts != np.iinfo(np.int64).min  # dated
                    if lo is not None:
                        ok &= ts >= lo
                    if hi is not None:
                        ok &= ts < hi
                if sel.sources is not None:
                    ok &= shard.has_source(sel.sources)
                if control is not None:
                    ok &= shard.id_fractions(control["seed"]) < control["fraction"]
                keep = np.flatnonzero(ok)
                e.update(keep=keep, documents=len(keep), tokens=int(shard.lengths[keep].sum()))
                if len(keep):
                    self._keep_open(len(out), shard)
            if e["documents"]:
                out.append(e)
        return out

    def _size_cache(self) -> None:
        """A cache must hold a few shards at once: processes sharing it (DataLoader workers,
        ranks on one host) each map one or two, and one that is evicted between fetching and
        mapping has to be fetched again. A smaller limit is raised, with a warning."""
        need = MIN_CACHED_SHARDS * max((e["bytes"] for e in self.manifest["shards"]), default=0)
        if self.cache_limit < need:
            warnings.warn(
                f"cache_limit {self.cache_limit:,} bytes cannot hold {MIN_CACHED_SHARDS} of this "
                f"corpus's largest shards; using {need:,}",
                stacklevel=4,
            )
            self.cache_limit = self.cache.limit = need

    def _resolved(self) -> tuple[Selection, str | None]:
        """The selection with a window view turned into its periods, and the window's role
        (``train`` or ``eval``; None for no window)."""
        sel = self.selection
        if sel.view in (None, "control"):
            if sel.view == "control" and "control" not in self.manifest.get("views", {}):
                raise CorpusError("the corpus has no control view (temporal.control: true)")
            return sel, None
        name, _, role = sel.view.partition(":")
        found = [w for w in self.manifest.get("views", {}).get("windows", []) if w["name"] == name]
        if not found or role not in ("train", "eval"):
            raise CorpusError(f"no window view {sel.view!r} (use '<window>:train' or ':eval')")
        return dataclasses.replace(sel, periods=tuple(found[0][role])), role

    def _path(self, entry: dict) -> str:
        if self.cache is None:
            return os.path.join(self.root, entry["path"])
        try:
            return self.cache.local(entry["path"], entry["bytes"])
        except (FileNotFoundError, OSError) as e:
            raise CorpusError(f"{self.root}/{entry['path']}: cannot be fetched: {e}") from e

    def _mapped(self, entry: dict, verify: str, tries: int = 5) -> Shard:
        """The shard, mapped. A cached copy that another process evicted between fetching and
        mapping (a small cache shared by DataLoader workers) is fetched again, and so is one
        that fails its check (a copy corrupted on the local disk): only the source decides."""
        for attempt in range(tries):
            path = self._path(entry)
            try:
                return Shard(path, entry, verify if attempt == 0 else "checksum")
            except CorpusError:
                if self.cache is None or attempt == tries - 1:
                    raise
                if os.path.exists(path):
                    self.cache.discard(entry["path"])
        raise AssertionError("unreachable")

    def _shard(self, entry: dict, idx: int, verified: bool = False) -> Shard:
        shard = self._open.get(idx)
        if shard is None:
            verify = "size" if verified and self.verify == "checksum" else self.verify
            return self._keep_open(idx, self._mapped(entry, verify))
        if self.max_open is not None:
            self._open.move_to_end(idx)
        return shard

    def _keep_open(self, idx: int, shard: Shard) -> Shard:
        self._open[idx] = shard
        if self.max_open is not None and len(self._open) > self.max_open:
            self._open.popitem(last=False)
            self.generation += 1
        return shard

    def is_open(self, idx: int) -> bool:
        return idx in self._open

    def shard(self, idx: int, verified: bool = False) -> Shard:
        """Selected shard ``idx``, opened (and verified) on first use in this process;
        ``verified``: a DataLoader worker of this process verified it, check its size only."""
        return self._shard(self.entries[idx], idx, verified)

    def doc_lengths(self, idx: int) -> np.ndarray:
        """Token counts of the selected documents of shard ``idx``, in stored order."""
        entry = self.entries[idx]
        lengths = self.shard(idx).lengths
        return lengths[entry["keep"]] if "keep" in entry else lengths

    def locate(self, idx: int, rows: np.ndarray) -> np.ndarray:
        """Where stored rows ``rows`` of shard ``idx`` start in its flat token view."""
        return self.shard(idx).doc_start[rows]

    def doc_index(self, idx: int) -> np.ndarray | None:
        """Stored row of each selected document of shard ``idx`` (None: all, in order)."""
        return self.entries[idx].get("keep")
