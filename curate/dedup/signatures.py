"""Per-input-file document tables: what dedup reads instead of shuffling documents.

One Arrow IPC file per input file in the work directory holds where each document lives in
the runs (its rank, partition, run and row) and, for near-dedup, its MinHash signature and
shingle hashes (for exact verification). Verifying a pair reads two rows; locating a cluster's
members reads theirs. On a local disk the tables are memory-mapped, so only those rows' pages
are touched: a worker's memory does not grow with the number of pairs, and no signature,
shingle set or document id is ever copied into a shuffle.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from curate.core.document import origin_key, vertex_file
from curate.core.fileio import AtomicWriter, join, write_bytes
from curate.dedup.near import similarity

Node = tuple[int, str, str]  # (timestamp key, id, origin sort key)
DOCUMENT_COLUMNS = (
    "vertex",
    "ts_key",
    "doc_id",
    "origin",
    "split",
    "period",
    "run",
    "row",
    "key",
    "kept",  # False: removed by an earlier increment's dedup (curate.dedup.state)
    "survivor",  # the vertex that removal kept; -1 for none
)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a document lives, so that a removed one can be dropped from its run."""

    node: Node
    partition: tuple[str, str]
    run: str
    row: int
    key: bytes

    @property
    def vertex(self) -> int:
        return origin_key(self.node[2])


PAIR_RECORD = np.dtype((np.int64, 2))  # a candidate pair of refs: reads back as (n, 2)
BAND_RECORD = np.dtype([("band", "<u2"), ("hash", "<u8"), ("ref", "<i8")])
_KEY = np.dtype([("band", ">u2"), ("hash", ">u8")])  # the layout of an LSH band key


def ref_of(file_idx: int, row: int) -> int:
    """A document's compact handle: its input file and its row in that file's signature table."""
    return (file_idx << 32) | row


def ref_file(ref):
    """The input file of a ref (or of an array of them)."""
    return ref >> 32


def ref_row(ref: int) -> int:
    return ref & 0xFFFFFFFF


EXACT_RECORD = np.dtype([("key", "S16"), ("vertex", "<i8")])


def exact_records(keys: list[bytes], vertices: list[int]) -> np.ndarray:
    """Exact dedup's records: each document's text key and vertex (24 bytes)."""
    out = np.empty(len(keys), EXACT_RECORD)
    out["key"], out["vertex"] = keys, vertices
    return out


def band_records(keys: list[bytes], ref: int) -> np.ndarray:
    """One document's band keys as fixed-size records (18 bytes each)."""
    parsed = np.frombuffer(b"".join(keys), _KEY)
    out = np.empty(len(parsed), BAND_RECORD)
    out["band"], out["hash"], out["ref"] = parsed["band"], parsed["hash"], ref
    return out


def band_path(work_dir: str, name: str) -> str:
    """One unit's band records (``name``: its input file and unit)."""
    return join(work_dir, "bands", f"{name}.bin")


def exact_path(work_dir: str, name: str) -> str:
    return join(work_dir, "exact", f"{name}.bin")


def pair_path(work_dir: str, bucket: int) -> str:
    return join(work_dir, "pairs", f"{bucket:05d}.bin")


def band_buckets(records: np.ndarray, buckets: int) -> np.ndarray:
    return (records["hash"] % np.uint64(buckets)).astype(np.int64)


def exact_buckets(records: np.ndarray, buckets: int) -> np.ndarray:
    """Keys are hashes: their first four bytes spread them evenly."""
    head = np.ascontiguousarray(records["key"]).view(">u4").reshape(-1, 4)[:, 0]
    return (head % buckets).astype(np.int64)


def write_bucketed(
    path: str, records: np.ndarray, bucket: np.ndarray
) -> list[tuple[int, int, int]]:
    """Records grouped by ``bucket`` (an input file's exact or band records by hash bucket,
    one bucket's candidate pairs by input file) as one file in the work directory; returns
    each group's ``(bucket, first record, count)``. Only these triples travel through the
    shuffle: on the single-machine runner a shuffle lives in the driver's memory, and these
    records grow with the corpus (one exact and 20 band records per document)."""
    order = np.argsort(bucket, kind="stable")
    records, bucket = records[order], bucket[order]
    w = AtomicWriter(path)
    w.write(records.tobytes())
    w.commit()
    ids, starts, counts = np.unique(bucket, return_index=True, return_counts=True)
    return list(zip(ids.tolist(), starts.tolist(), counts.tolist(), strict=True))


def read_slice(dtype: np.dtype, path: str, start: int, count: int) -> np.ndarray:
    """``count`` records of ``dtype`` from ``start`` in a file ``write_bucketed`` wrote."""
    with FileSystems.open(path, compression_type="uncompressed") as f:
        f.seek(start * dtype.itemsize)
        return np.frombuffer(f.read(count * dtype.itemsize), dtype)


def signature_path(work_dir: str, file_idx: int) -> str:
    """An input file's document table: the list of its units' tables (``write_table_index``)."""
    return join(work_dir, "sigs", f"{file_idx:05d}.json")


def unit_table_path(work_dir: str, file_idx: int, unit: int) -> str:
    return join(work_dir, "sigs", f"{file_idx:05d}-{unit:05d}.arrow")


def write_table_index(work_dir: str, file_idx: int, tables: list[str]) -> None:
    """The file's document table as its units' tables, in order: their rows follow on."""
    write_bytes(signature_path(work_dir, file_idx), json.dumps({"tables": tables}).encode())


def file_of(node: Node) -> int:
    return int(node[2].partition(":")[0])


def write_signature_table(
    path: str,
    locations: list[Location],
    sigs: list[np.ndarray] | None = None,
    shingles: list[np.ndarray] | None = None,
    num_perm: int = 0,
    kind: bytes = b"minhash",
) -> None:
    """``kind``: ``minhash`` signatures (Jaccard) or ``phash`` words (Hamming distance);
    without ``sigs`` (exact dedup alone) the table only locates documents."""
    cols = {
        "origin": pa.array([loc.node[2] for loc in locations], pa.string()),
        "vertex": pa.array([loc.vertex for loc in locations], pa.int64()),
    }
    if sigs is not None:
        flat = np.concatenate(sigs) if sigs else np.empty(0, np.uint32)
        cols["sig"] = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.uint32()), num_perm)
    if shingles is not None:
        cols["shingles"] = pa.array(shingles, pa.list_(pa.uint32()))
    cols["ts_key"] = pa.array([loc.node[0] for loc in locations], pa.int64())
    cols["doc_id"] = pa.array([loc.node[1] for loc in locations], pa.string())
    cols["split"] = pa.array([loc.partition[0] for loc in locations], pa.string())
    cols["period"] = pa.array([loc.partition[1] for loc in locations], pa.string())
    cols["run"] = pa.array([loc.run for loc in locations], pa.string())
    cols["row"] = pa.array([loc.row for loc in locations], pa.int64())
    cols["key"] = pa.array([loc.key for loc in locations], pa.binary(16))
    cols["kept"] = pa.array(np.ones(len(locations), bool))
    cols["survivor"] = pa.array(np.full(len(locations), -1, np.int64))
    table = pa.table(cols).replace_schema_metadata({b"kind": kind})
    w = AtomicWriter(path)
    with pa.ipc.new_file(w, table.schema) as writer:
        writer.write_table(table, max_chunksize=max(len(table), 1))
    w.commit()


def _read_table(path: str) -> pa.Table:
    if FileSystems.get_scheme(path) is None:  # local: zero-copy, paged in on demand
        source = pa.memory_map(path)
    else:
        with FileSystems.open(path, compression_type="uncompressed") as f:
            source = pa.BufferReader(f.read())
    return pa.ipc.open_file(source).read_all()


class SignatureTable:
    """One input file's document table, read by row without materializing its columns: one
    Arrow file (a corpus's saved state), or the index of its units' files, whose record
    batches follow on as the chunks of one table (zero-copy)."""

    def __init__(self, path: str):
        if path.endswith(".json"):
            with FileSystems.open(path, compression_type="uncompressed") as f:
                parts = [_read_table(p) for p in json.loads(f.read())["tables"]]
            self._table = pa.concat_tables(parts)
        else:
            self._table = _read_table(path)
        self.kind = (self._table.schema.metadata or {}).get(b"kind", b"minhash")
        lengths = [len(c) for c in self._table.column(0).chunks]
        self._starts = np.cumsum([0, *lengths])[:-1] if lengths else np.zeros(1, np.int64)

    @property
    def table(self) -> pa.Table:
        return self._table

    def _chunk(self, row: int) -> tuple[int, int]:
        """The chunk that holds ``row``, and the row within it."""
        i = int(np.searchsorted(self._starts, row, "right")) - 1
        return i, row - int(self._starts[i])

    @cached_property
    def _sigs(self) -> list[np.ndarray]:
        out = []
        for col in self._table.column("sig").chunks:
            out.append(col.flatten().to_numpy().reshape(-1, col.type.list_size))
        return out

    @cached_property
    def _shingles(self) -> list[tuple[np.ndarray, np.ndarray]] | None:
        if "shingles" not in self._table.column_names:
            return None
        return [(c.offsets.to_numpy(), c.values.to_numpy()) for c in self._table["shingles"].chunks]

    @cached_property
    def _vertices(self) -> np.ndarray:
        col = self._table.column("vertex")
        return col.chunk(0).to_numpy() if col.num_chunks == 1 else col.to_numpy()  # zero-copy

    @cached_property
    def _by_vertex(self) -> tuple[np.ndarray, np.ndarray]:
        """The vertices sorted, and their rows: 16 bytes a row, where a dict of Python ints
        (and the rows' nodes as tuples, as before) cost a worker ~20x that for every table it
        kept open."""
        order = np.argsort(self._vertices, kind="stable")
        return self._vertices[order], order

    def rows(self, vertices: np.ndarray) -> np.ndarray:
        """The rows of ``vertices`` (an int64 array), found by binary search."""
        ordered, rows = self._by_vertex
        i = np.minimum(np.searchsorted(ordered, vertices), max(len(ordered) - 1, 0))
        if len(vertices) and (not len(ordered) or (ordered[i] != vertices).any()):
            raise KeyError(f"vertices {vertices} are not all in this signature table")
        return rows[i]

    def vertex(self, row: int) -> int:
        return int(self._vertices[row])

    def signature_at(self, row: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The MinHash signature and, when kept, the sorted distinct shingle hashes."""
        chunk, at = self._chunk(row)
        sig = self._sigs[chunk][at]
        if self._shingles is None:
            return sig, None
        offsets, values = self._shingles[chunk]
        return sig, values[offsets[at] : offsets[at + 1]]

    def split_at(self, row: int) -> str:
        return self._table.column("split")[row].as_py()

    def survivor_at(self, row: int) -> int:
        return self._table.column("survivor")[row].as_py()

    def documents(self, vertices: np.ndarray) -> pa.Table:
        """Where the documents ``vertices`` live and how they rank (``DOCUMENT_COLUMNS``):
        only their rows are read."""
        return self._table.select(DOCUMENT_COLUMNS).take(self.rows(vertices))


class SignatureTables:
    """The work directory's tables, a bounded number open at a time (least recently used).
    Local ones are memory-mapped, and a closed one drops the pages it touched from the
    process: with 256 open, the 4x benchmark's peak RSS grew with the tables (3.9 GB, 2.2 GB
    at 16). Remote ones are read whole."""

    def __init__(self, work_dir: str, max_open: int | None = None, prior=None):
        self.work_dir = work_dir
        self.prior = prior  # curate.dedup.state.PriorState: earlier increments' tables
        local = FileSystems.get_scheme(work_dir) is None
        self.max_open = max_open or (16 if local else 8)
        self._open: OrderedDict[int, SignatureTable] = OrderedDict()

    def __getitem__(self, file_idx: int) -> SignatureTable:
        table = self._open.pop(file_idx, None)
        if table is None:
            old = self.prior is not None and self.prior.is_old(file_idx)
            path = self.prior.docs_path(file_idx) if old else None
            table = SignatureTable(path or signature_path(self.work_dir, file_idx))
            if len(self._open) >= self.max_open:
                self._open.popitem(last=False)
        self._open[file_idx] = table
        return table

    def vertex(self, ref: int) -> int:
        return self[ref_file(ref)].vertex(ref_row(ref))

    def ref_similarity(self, a: int, b: int) -> float:
        table_a, table_b = self[ref_file(a)], self[ref_file(b)]
        sig_a = table_a.signature_at(ref_row(a))
        return similarity(table_a.kind, sig_a, table_b.signature_at(ref_row(b)))

    def split(self, ref: int) -> str:
        return self[ref_file(ref)].split_at(ref_row(ref))

    def links(self, vertices) -> list[tuple[int, int]]:
        """Earlier increments' removed documents among ``vertices``, each with the survivor
        of its cluster: the edges that put a new copy of a removed document in the cluster a
        full build would have put it in."""
        if self.prior is None:
            return []
        out = []
        for v in sorted({int(v) for v in vertices if self.prior.is_old(int(vertex_file(v)))}):
            table = self[int(vertex_file(v))]
            s = table.survivor_at(int(table.rows(np.array([v]))[0]))
            if s >= 0 and s != v:
                out.append((v, s))
        return out

    def ref(self, vertex: int) -> int:
        """The compact handle (``ref_of``) of a document known by its vertex."""
        file_idx = int(vertex_file(vertex))
        return ref_of(file_idx, int(self[file_idx].rows(np.array([vertex]))[0]))

    def similarities(self, pairs: list[tuple[int, int]]) -> Iterator[tuple[tuple[int, int], float]]:
        """Each pair of vertices with its similarity, visiting the second sides' files one
        after another."""
        for a, b in sorted(set(pairs), key=lambda p: (vertex_file(p[1]), p)):
            yield (a, b), self.ref_similarity(self.ref(a), self.ref(b))
