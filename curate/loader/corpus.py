"""A built corpus as the loader sees it: the manifest, the shards a selection picks, and each
shard's tokens memory-mapped.

Selection never scans the data: splits and periods come from the manifest's shard entries, a
time range first from each shard's ``min_time``/``max_time`` there, and only shards that
straddle a bound have their timestamp column read. A shard's SHA-256 from the manifest is
checked when this process first opens it (``verify``), so a truncated, bit-flipped or missing
shard fails with its name and the problem instead of feeding garbage to a GPU.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np

from curate.core.timeparse import parse_timestamp_us
from curate.format.manifest import CorpusError, parse_manifest, to_us
from curate.format.shard import VERIFY_MODES, Shard
from curate.loader.cache import DEFAULT_LIMIT, ShardCache

MIN_CACHED_SHARDS = 3
__all__ = ["Corpus", "CorpusError", "Selection"]


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
    # the corpus as it was after its first ``increments`` builds and appends (1: the first
    # build alone; docs/append.md). Not in the repr, which the loader state's fingerprint
    # holds: the shards it selects are, so a run saved before an append resumes with it.
    increments: int | None = field(default=None, repr=False)

    def bounds(self) -> tuple[int | None, int | None]:
        if self.time_range is None:
            return None, None
        start, end = self.time_range
        return _bound_us(start), _bound_us(end)


def _bound_us(value: str | datetime | None) -> int | None:
    """A user's time bound, read as the build reads timestamps (``"2021"`` is a year)."""
    return None if value is None else parse_timestamp_us(value)


def _typical(corpus: Corpus) -> int:
    sizes = sorted(e["bytes"] for e in corpus.manifest["shards"]) or [1]
    return max(1, sizes[len(sizes) // 2] * 2)  # twice the median: room for the larger ones


@dataclass
class Corpus:
    """The manifest of a built corpus and the shards of a selection, in manifest order."""

    root: str | os.PathLike
    selection: Selection = field(default_factory=Selection)
    verify: str = "checksum"
    cache_dir: str | os.PathLike | None = None  # remote corpora (URIs) only
    cache_limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        if self.verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}")
        self.root = os.fspath(self.root)  # a pathlib.Path, as trainers' configs hold, too
        if self.cache_dir is not None:
            self.cache_dir = os.fspath(self.cache_dir)
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
        out: list[dict] = []
        seen: set[str] = set()  # the sources of the shards read for a source selection
        for entry in self.manifest["shards"]:
            if sel.split is not None and entry["split"] != sel.split:
                continue
            if role == "train" and entry["split"] == held:
                continue  # a window's training periods never include the held-out documents
            if control is not None and entry["split"] not in control["splits"]:
                continue
            if sel.periods is not None and entry["period"] not in sel.periods:
                continue
            if sel.increments is not None and entry.get("increment", 0) >= sel.increments:
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
                    seen |= shard.sources()
                if control is not None:
                    ok &= shard.id_fractions(control["seed"]) < control["fraction"]
                keep = np.flatnonzero(ok)
                e.update(keep=keep, documents=len(keep), tokens=int(shard.lengths[keep].sum()))
                if len(keep):
                    self._keep_open(len(out), shard)
            if e["documents"]:
                out.append(e)
        missing = sorted(set(sel.sources or ()) - seen)
        if missing:  # a typo would select nothing, or less than asked, silently
            raise ValueError(
                f"sources {missing} are not in the selection; its documents' sources are "
                f"{sorted(seen)[:20]}"
            )
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


def names(value: Iterable[str] | None, what: str) -> list[str] | None:
    """A list of names; a lone string (``periods="2019"``) would be read letter by letter."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        raise TypeError(f"{what} must be a list of names, not the string {value!r}")
    names = list(value)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what} must be names (strings): {names!r}")
    return names


def check_selection(manifest: dict, sel: Selection) -> None:
    """Splits and periods must be ones the corpus has, and a time range must hold some time:
    a typo selects nothing, silently."""
    lo, hi = sel.bounds()
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"time_range {sel.time_range!r} is empty: its start is not before its end")
    shards = manifest["shards"]
    if sel.increments is not None:
        built = len(manifest.get("increments") or [None])
        if not 1 <= sel.increments <= built:
            raise ValueError(
                f"increments={sel.increments}: the corpus has {built} (its build and "
                f"{built - 1} appends); use 1 to {built}"
            )
    splits = sorted({e["split"] for e in shards})
    if sel.split is not None and sel.split not in splits:
        raise ValueError(f"split {sel.split!r} is not in the corpus; it has {splits}")
    if sel.periods is not None:
        known = {e["period"] for e in shards}
        unknown = [p for p in sel.periods if p not in known]
        if unknown:
            raise ValueError(f"periods {unknown} are not in the corpus; it has {sorted(known)}")
