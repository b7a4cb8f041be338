"""A corpus is input too: its manifest may come from someone else, its files may be damaged,
its folder may be read-only. Every reader checks before it trusts, and fails with a message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from curate.format.manifest import CorpusError
from curate.format.verify import verify_corpus
from curate.loader import CorpusDataset


@pytest.fixture()
def copy(demo_build, tmp_path) -> Path:
    out, _, _ = demo_build
    dst = tmp_path / "corpus"
    shutil.copytree(out, dst)
    return dst


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def _rewrite(root: Path, manifest) -> None:
    (root / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("path", ["/abs/precious.txt", "../precious.txt", "tokens/../../x.arrow"])
def test_manifest_paths_cannot_leave_the_corpus_or_the_cache(copy, tmp_path, path):
    """Item 8: a shard named outside the corpus is refused before anything is read or
    written; the cache's file names are derived, never the manifest's."""
    precious = tmp_path / "precious.txt"
    precious.write_text("mine")
    manifest = _manifest(copy)
    entry = manifest["shards"][0]
    target = str(precious) if path.startswith("/") else path
    shutil.copy(copy / entry["path"], tmp_path / "shipped.arrow")
    entry["path"] = target
    _rewrite(copy, manifest)
    for root in (str(copy), f"file://{copy}"):
        with pytest.raises(CorpusError, match="not a plain relative path"):
            list(CorpusDataset(root, seq_len=64, cache_dir=str(tmp_path / "cache")))
    assert precious.read_text() == "mine"
    assert any("not a plain relative path" in p for p in verify_corpus(str(copy)))


def test_cache_names_are_derived_from_the_path(demo_build, tmp_path):
    from curate.loader.cache import ShardCache

    out, _, _ = demo_build
    cache = ShardCache(f"file://{out}", str(tmp_path / "c"))
    local = cache.path_of("tokens/split=train/period=2019-Q1/shard-00000.arrow")
    assert os.path.dirname(local) == cache.dir and "split=" not in local


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "curate.cli", *args], capture_output=True, text=True, timeout=600
    )


def test_drift_checks_shards_as_the_loader_does(copy, tmp_path):
    """Item 10: two flipped bytes in a shard: drift fails naming the shard, no report."""
    entry = next(e for e in _manifest(copy)["shards"] if e["period"] != "undated")
    shard = copy / entry["path"]
    data = bytearray(shard.read_bytes())
    for at in (len(data) // 3, len(data) // 2):
        data[at] ^= 0xFF
    shard.write_bytes(bytes(data))
    r = _cli("drift", str(copy), "--out", str(tmp_path / "report"))
    assert r.returncode == 2 and r.stderr.startswith("curate: error:"), r.stderr
    assert entry["path"].split("/")[-1] in r.stderr and "SHA-256" in r.stderr
    assert r.stderr.count("\n") == 1
    assert not (tmp_path / "report" / "drift.json").exists()


def test_verify_checks_the_tokenizer_and_the_manifest_shape(copy):
    """Item 14: a deleted or replaced tokenizer.json is a problem; a `null` or malformed
    manifest is a line, not a traceback."""
    (copy / "tokenizer.json").unlink()
    assert any(
        "tokenizer.json: named in the manifest but missing" in p for p in verify_corpus(str(copy))
    )
    (copy / "tokenizer.json").write_text("{}")
    assert any("tokenizer.json: SHA-256 differs" in p for p in verify_corpus(str(copy)))
    for bad in ("null", "[]", '{"format": "curate-corpus"}', '{"format": "curate-corpus", '
                '"tokenizer": {"path": "tokenizer.json", "vocab_size": 9, "eos_id": 3}, '
                '"shards": [{"path": "x", "bytes": -1}], "config": {}}'):  # fmt: skip
        (copy / "manifest.json").write_text(bad)
        r = _cli("verify", str(copy))
        assert r.returncode == 1 and "Traceback" not in r.stderr + r.stdout, r.stderr
        assert "manifest.json" in r.stdout


@contextmanager
def _read_only(path: Path):
    """A folder this process cannot write into, root included (``chattr +i``)."""
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("this file system has no immutable flag")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_drift_on_a_read_only_corpus_writes_only_its_report(copy, tmp_path):
    """Item 16: drift never needs to write into the corpus."""
    before = (copy / "DATACARD.md").read_bytes()
    with _read_only(copy):
        r = _cli("drift", str(copy), "--out", str(tmp_path / "report"))
    assert r.returncode == 0, r.stderr
    assert "read-only" in r.stdout
    assert (copy / "DATACARD.md").read_bytes() == before
    assert "## Drift" in (tmp_path / "report" / "DATACARD-drift.md").read_text()
