"""`curate verify`: a built corpus passes; each kind of damage is reported, naming the file."""

from __future__ import annotations

import json
import shutil

import pytest

from curate.cli import main


@pytest.fixture
def copy(demo_build, tmp_path):
    dst = tmp_path / "corpus"
    shutil.copytree(demo_build[0], dst)
    return dst


def _shard(root):
    manifest = json.loads((root / "manifest.json").read_text())
    return root / manifest["shards"][0]["path"], manifest


def test_a_built_corpus_verifies(copy, capsys):
    assert main(["verify", str(copy)]) == 0
    assert "OK" in capsys.readouterr().out


def _flip(root):
    path, _ = _shard(root)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    return path.name, "SHA-256"


def _truncate(root):
    path, _ = _shard(root)
    path.write_bytes(path.read_bytes()[:100])
    return path.name, "truncated"


def _missing(root):
    path, _ = _shard(root)
    path.unlink()
    return path.name, "missing"


def _stray(root):
    path, _ = _shard(root)
    shutil.copy(path, path.with_name("shard-99999.arrow"))
    return "shard-99999.arrow", "not in the manifest"


def _stats(root):
    stats = json.loads((root / "stats.json").read_text())
    stats["kept"]["documents"] += 1
    (root / "stats.json").write_text(json.dumps(stats))
    return "stats.json", "kept"


def _rejected(root):
    manifest = json.loads((root / "manifest.json").read_text())
    rec = manifest["records"][0]["path"]
    assert not rec.startswith("/")  # relative: the copy is checked, not the original
    with open(root / rec, "a") as f:
        f.write("{}\n")
    return rec.rsplit("/", 1)[-1], "differs"


def _no_tokens(root):
    """A readable Arrow file without the token column, its manifest entry updated to match."""
    import hashlib

    import pyarrow as pa

    path, manifest = _shard(root)
    table = pa.table({"doc_id": ["a"]})
    with pa.ipc.new_file(str(path), table.schema) as w:
        w.write_table(table)
    data = path.read_bytes()
    entry = manifest["shards"][0]
    entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (root / "manifest.json").write_text(json.dumps(manifest))
    return path.name, "no column input_ids"


@pytest.mark.parametrize(
    "damage", [_flip, _truncate, _missing, _stray, _stats, _rejected, _no_tokens]
)
def test_damage_is_reported(copy, capsys, damage):
    name, message = damage(copy)
    assert main(["verify", str(copy)]) == 1
    out = capsys.readouterr().out
    assert any(name in line and message in line for line in out.splitlines()), out
