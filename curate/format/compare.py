"""``curate compare A B``: whether two corpora hold the same documents, whatever their shard
boundaries: the same document ids, each in the same split and period with the same tokens.
What an append is checked against (the full build of the same inputs: docs/append.md)."""

from __future__ import annotations

import hashlib
import os

import pyarrow as pa

from curate.format.manifest import parse_manifest

Documents = dict[str, tuple[str, str, str]]  # doc_id -> (split, period, SHA-256 of its tokens)


def documents(root: str) -> Documents:
    """Every kept document of the corpus at ``root``, read shard by shard."""
    with open(os.path.join(root, "manifest.json"), "rb") as f:
        manifest = parse_manifest(f.read(), os.path.join(root, "manifest.json"))
    out: Documents = {}
    for entry in manifest["shards"]:
        with pa.memory_map(os.path.join(root, entry["path"])) as source:
            table = pa.ipc.open_file(source).read_all().select(["doc_id", "input_ids"])
        ids = table.column("input_ids").combine_chunks()
        offsets, values = ids.offsets.to_numpy(), ids.values.to_numpy()
        for i, doc_id in enumerate(table.column("doc_id").to_pylist()):
            tokens = values[offsets[i] : offsets[i + 1]].astype("<u4").tobytes()
            digest = hashlib.sha256(tokens).hexdigest()
            out[doc_id] = (entry["split"], entry["period"], digest)
    return out


def compare(a: str, b: str) -> list[str]:
    """The differences between the corpora at ``a`` and ``b``, one line each (empty: equal)."""
    da, db = documents(a), documents(b)
    lines = [f"{d}: only in {a}" for d in sorted(da.keys() - db.keys())]
    lines += [f"{d}: only in {b}" for d in sorted(db.keys() - da.keys())]
    for d in sorted(da.keys() & db.keys()):
        (sa, pa_, ta), (sb, pb, tb) = da[d], db[d]
        if (sa, pa_) != (sb, pb):
            lines.append(f"{d}: {sa}/{pa_} in {a}, {sb}/{pb} in {b}")
        elif ta != tb:
            lines.append(f"{d}: other tokens")
    return lines
