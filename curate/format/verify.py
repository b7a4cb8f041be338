"""``curate verify OUT_DIR``: check a built corpus against its own manifest and stats.

Checks every shard named by the manifest (present, size and SHA-256, readable Arrow with the
shard schema, document and token counts, token ids within the vocabulary, ``n_tokens`` equal to
the token lists, timestamps within the shard's recorded range and sorted), the rejected and
quarantine files (size and SHA-256), files under ``tokens/`` that the manifest does not name,
and ``stats.json`` (balanced, and its kept counts equal to the manifest's). Reports every
problem found rather than stopping at the first.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from curate.format.manifest import CorpusError, parse_manifest, to_us
from curate.format.shard import Shard, sha256_file


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


REQUIRED = {
    "doc_id": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "input_ids": pa.list_(pa.uint32()),
    "n_tokens": pa.uint32(),
}


def verify_corpus(root: str) -> list[str]:
    """Every problem found, as a line naming the file; an empty list means the corpus is
    what its manifest says."""
    path = os.path.join(root, "manifest.json")
    try:
        with open(path, "rb") as f:
            manifest = parse_manifest(f.read(), path)
    except FileNotFoundError:
        return [f"{path}: missing (an unfinished or failed build)"]
    except CorpusError as e:
        return [str(e)]
    problems = list(_tokenizer(root, manifest))
    problems += _shards(root, manifest)
    problems += _records(root, manifest)
    problems += _strays(root, manifest)
    problems += _stats(root, manifest)
    problems += _increments(root, manifest)
    return problems


def _tokenizer(root: str, manifest: dict) -> Iterator[str]:
    """The tokenizer file the corpus was encoded with: present, as the manifest hashed it."""
    entry = manifest["tokenizer"]
    path = os.path.join(root, entry["path"])
    if not os.path.exists(path):
        yield f"{path}: named in the manifest but missing"
    elif sha256_file(path) != entry.get("sha256"):
        yield f"{path}: SHA-256 differs from the manifest (not the tokenizer the corpus used)"


def _shards(root: str, manifest: dict) -> Iterator[str]:
    from curate.core.console import shard_progress

    vocab = int(manifest["tokenizer"]["vocab_size"])
    for entry in shard_progress(manifest["shards"], "verifying"):
        path = os.path.join(root, entry["path"])
        try:
            shard = Shard(path, entry, "checksum")  # presence, size, checksum, counts
        except CorpusError as e:
            yield str(e)
            continue
        table = pa.Table.from_batches(shard.batches)
        wrong = [
            f"{name} ({typ})"
            for name, typ in REQUIRED.items()
            if name not in table.schema.names or table.schema.field(name).type != typ
        ]
        if wrong:
            yield f"{path}: columns missing or of another type: {', '.join(wrong)}"
        else:
            yield from _shard_contents(path, entry, table, vocab)
            if "images" in table.schema.names:
                yield from _image_tokens(path, table, manifest["tokenizer"].get("image_id"))


def _image_tokens(path: str, table: pa.Table, image_id: int | None) -> Iterator[str]:
    """Each image's ``token_pos`` must be exactly where its document has an image token
    (reads positions and offsets only, never the image bytes)."""
    if image_id is None:
        yield f"{path}: an images column but no image token in the manifest"
        return
    ids = table.column("input_ids").combine_chunks()
    images = table.column("images").combine_chunks()
    doc_of_token = np.repeat(np.arange(len(ids)), np.diff(ids.offsets.to_numpy()))
    where = np.flatnonzero(ids.values.to_numpy() == image_id)
    found = (doc_of_token[where], where - ids.offsets.to_numpy()[doc_of_token[where]])
    counts = np.diff(images.offsets.to_numpy())
    stored = (
        np.repeat(np.arange(len(images)), counts),
        images.values.field("token_pos").to_numpy(),
    )
    if len(found[0]) != len(stored[0]) or not all(map(np.array_equal, found, stored)):
        yield f"{path}: image tokens in input_ids do not match the images' token_pos"


def _shard_contents(path: str, entry: dict, table: pa.Table, vocab: int) -> Iterator[str]:
    ids = table.column("input_ids").combine_chunks()
    lengths = np.diff(ids.offsets.to_numpy())
    if not np.array_equal(lengths, table.column("n_tokens").to_numpy()):
        yield f"{path}: n_tokens differs from the token lists"
    values = ids.values.to_numpy()
    if len(values) and int(values.max()) >= vocab:
        yield f"{path}: token id {int(values.max())} outside the vocabulary ({vocab})"
    dated = table.column("timestamp").drop_null().cast(pa.int64()).to_numpy()
    lo, hi = to_us(entry.get("min_time")), to_us(entry.get("max_time"))
    if len(dated) and lo is not None and (dated.min() < lo or dated.max() > hi):
        yield f"{path}: timestamps outside the manifest's [min_time, max_time]"
    if len(dated) > 1 and (np.diff(dated) < 0).any():
        yield f"{path}: documents not in timestamp order"


def _records(root: str, manifest: dict) -> Iterator[str]:
    for rec in manifest.get("records", []):
        path = os.path.join(root, rec["path"])
        if not os.path.exists(path):
            yield f"{path}: named in the manifest but missing"
        elif os.path.getsize(path) != rec["bytes"] or sha256_file(path) != rec["sha256"]:
            yield f"{path}: size or SHA-256 differs from the manifest"


def _strays(root: str, manifest: dict) -> Iterator[str]:
    named = {os.path.normpath(e["path"]) for e in manifest["shards"]}
    folders = [inc.get("path", ".") for inc in manifest.get("increments") or [{}]]
    for folder in folders:
        yield from _strays_in(root, os.path.join(root, folder, "tokens"), named)


def _strays_in(root: str, tokens: str, named: set[str]) -> Iterator[str]:
    for dirpath, _, files in os.walk(tokens):
        for name in files:
            rel = os.path.normpath(os.path.relpath(os.path.join(dirpath, name), root))
            if rel not in named:
                yield f"{os.path.join(root, rel)}: under tokens/ but not in the manifest"


def _stats(root: str, manifest: dict) -> Iterator[str]:
    path = os.path.join(root, "stats.json")
    try:
        with open(path) as f:
            stats = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError) as e:
        yield f"{path}: unreadable: {e}"
        return
    if not stats.get("balance", {}).get("balanced"):
        yield f"{path}: does not balance ({stats.get('balance', {}).get('equation')})"
    docs = sum(e["documents"] for e in manifest["shards"])
    toks = sum(e["tokens"] for e in manifest["shards"])
    if stats.get("kept") != {"documents": docs, "tokens": toks}:
        yield f"{path}: kept {stats.get('kept')} but the manifest's shards hold {docs} / {toks}"


def _increments(root: str, manifest: dict) -> Iterator[str]:
    """The chain of appends (docs/append.md): each increment's copy of the manifest it
    extended is there, unchanged, and every shard and file it listed is still listed with the
    same checksum (nothing written is rewritten); each increment's stats balance, and the
    increments' documents add up to the corpus's."""
    increments = manifest.get("increments")
    if increments is None:
        return  # built before appends: nothing to chain
    if sum(inc.get("documents", 0) for inc in increments) != sum(
        e["documents"] for e in manifest["shards"]
    ):
        yield "manifest.json: the increments' documents do not add up to the shards'"
    totals = (increments[-1].get("corpus_stats") or {}).get("sha256")
    root_stats = os.path.join(root, "stats.json")
    if totals and os.path.exists(root_stats):
        with open(root_stats, "rb") as f:
            if sha256_bytes(f.read()) != totals:
                yield (
                    f"{root_stats}: not the last increment's totals (an append stopped right "
                    "after its commit: run `curate build --append` again to copy them)"
                )
    for index, inc in enumerate(increments[1:], 1):
        where = f"manifest.json increments[{index}]"
        prev = inc.get("previous_manifest") or {}
        path = os.path.join(root, str(prev.get("path")))
        try:
            with open(path, "rb") as f:
                data = f.read()
            earlier = parse_manifest(data, path)
        except (OSError, CorpusError) as e:
            yield f"{where}: the manifest it extended is unreadable: {e}"
            continue
        if sha256_bytes(data) != prev.get("sha256"):
            yield f"{path}: SHA-256 differs from the one increment {index} recorded"
        if earlier.get("increments") != increments[:index]:
            yield f"{path}: its increments are not the first {index} of the corpus's"
        now = {e["path"]: e["sha256"] for e in [*manifest["shards"], *manifest["records"]]}
        for e in [*earlier["shards"], *earlier["records"]]:
            if now.get(e["path"]) != e["sha256"]:
                yield f"{where}: {e['path']} of an earlier increment is gone or rewritten"
        stats_path = os.path.join(root, str((inc.get("stats") or {}).get("path")))
        try:
            with open(stats_path, "rb") as f:
                data = f.read()
        except OSError:
            yield f"{stats_path}: missing"
            continue
        if sha256_bytes(data) != inc["stats"].get("sha256"):
            yield f"{stats_path}: SHA-256 differs from the manifest"
        elif not (own := json.loads(data)).get("balance", {}).get("balanced"):
            yield f"{stats_path}: increment {index} does not balance"
        else:
            yield from _totals(root, inc, own, increments[index - 1])


def _totals(root: str, inc: dict, own: dict, earlier: dict) -> Iterator[str]:
    """The corpus's totals after an increment are its totals before it plus its own; the
    totals before it are the SHA-256 its entry recorded and the earlier increment's totals."""
    from curate.format.stats import add_stats

    folder = os.path.join(root, inc["path"])
    try:
        with open(os.path.join(folder, "previous-stats.json"), "rb") as f:
            before_bytes = f.read()
        before = json.loads(before_bytes)
        with open(os.path.join(root, inc["corpus_stats"]["path"]), "rb") as f:
            data = f.read()
    except (OSError, KeyError, ValueError) as e:
        yield f"{folder}: the totals before or after it are unreadable: {e}"
        return
    digest = sha256_bytes(before_bytes)
    if digest != (inc.get("previous_stats") or {}).get("sha256", digest):
        yield f"{folder}/previous-stats.json: SHA-256 differs from the manifest"
    elif digest != (earlier.get("corpus_stats") or {}).get("sha256", digest):
        yield f"{folder}/previous-stats.json: not the totals the increment before it recorded"
    if sha256_bytes(data) != inc["corpus_stats"].get("sha256"):
        yield f"{inc['corpus_stats']['path']}: SHA-256 differs from the manifest"
    elif add_stats(before, own) != json.loads(data):
        yield f"{folder}: previous-stats.json plus stats.json is not corpus-stats.json"
