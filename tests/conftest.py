"""Shared fixtures: a small seeded demo corpus and helpers to build and read corpora."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import pyarrow as pa
import pytest

from curate.driver.config_file import parse_config

logging.getLogger().addFilter(lambda r: "apitools not found" not in r.getMessage())

ROOT = Path(__file__).resolve().parents[1]
# the shared real data beside the checkout; CURATE_EVALDATA=/nonexistent hides it (CI runs the
# data tests that way too, as on a user's clone)
EVALDATA = Path(os.environ.get("CURATE_EVALDATA", ROOT.parent / "shared" / "evaldata"))
FIXTURES = ROOT / "tests" / "fixtures"


def evaldata(name: str) -> Path:
    """``../shared/evaldata/<name>``, else the small licensed sample in ``tests/fixtures``
    (README there), else skip: the shared file alone (e.g. the dated commits) is extra
    coverage."""
    for base in (EVALDATA, FIXTURES):
        if (base / name).exists():
            return base / name
    pytest.skip(f"{name}: shared evaldata not present and no fixture ships")


def full_evaldata() -> bool:
    """Whether the tests read the whole shared sets (thresholds sized for them) or samples."""
    return EVALDATA.exists()


IN_MEMORY = ["--runner=FnApiRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
MULTI_PROCESS = [
    "--runner=FnApiRunner",
    "--direct_running_mode=multi_processing",
    "--direct_num_workers=2",
]


def zstd_members(gzipped: bytes) -> bytes:
    """The same gzip members as zstd frames, one per member (a .warc.zst: one frame per
    record, so that a cut archive keeps the records before the cut)."""
    import zlib

    import zstandard

    out = []
    while gzipped:
        d = zlib.decompressobj(31)
        out.append(zstandard.ZstdCompressor().compress(d.decompress(gzipped)))
        gzipped = d.unused_data
    return b"".join(out)


def demo_config(raw_dir: Path, out_dir: Path, **overrides) -> dict:
    cfg = {
        "input": {"paths": [str(raw_dir / "*")], "max_doc_bytes": 2_000_000, "batch_size": 64},
        "filters": [{"gopher_quality": {}}],
        "dedup": {"exact": True, "buckets": 8, "near": {"threshold": 0.8}},
        "tokenizer": {"train": {"vocab_size": 2000, "sample_docs": 300}},
        "temporal": {
            "period": "quarter",
            "splits": {
                "train": [None, "2022-01-01"],
                "val": ["2022-01-01", "2022-07-01"],
                "test": ["2022-07-01", None],
            },
        },
        # small runs and shards so that merging and shard cutting are exercised
        "output": {
            "dir": str(out_dir),
            "shard_tokens": 3_000,
            "rows_per_batch": 64,
            "run_bytes": 200_000,
        },
    }
    evals = raw_dir.parent / "benchmarks"
    if evals.is_dir():  # the evaluation items the demo generator planted
        marks = [{"path": str(evals / f"{b}_sample.jsonl"), "name": b} for b in ("gsm8k", "mmlu")]
        cfg["decontamination"] = {"benchmarks": marks}
    for key, value in overrides.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return cfg


def build(cfg_dict: dict, beam_args=IN_MEMORY, overwrite: bool = False) -> dict:
    from curate.driver.build import run_build

    return run_build(parse_config(cfg_dict), beam_args, overwrite=overwrite)


def tree_digest(out_dir: Path, subdirs=("tokens", "rejected", "quarantine")) -> dict[str, str]:
    return {
        str(p.relative_to(out_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in subdirs
        for p in sorted((out_dir / sub).rglob("*"))
        if p.is_file()
    }


def assert_same_corpus(ref: tuple[Path, dict], other: tuple[Path, dict]) -> None:
    """Same stats and byte-identical shards, rejected and quarantine files."""
    (ref_out, ref_stats), (out, stats) = ref, other
    assert stats == ref_stats
    assert tree_digest(out) == tree_digest(ref_out)


def read_shards(out_dir: Path) -> pa.Table:
    manifest = json.loads((out_dir / "manifest.json").read_text())
    tables = []
    for s in manifest["shards"]:
        with pa.memory_map(str(out_dir / s["path"])) as f:
            t = pa.ipc.open_file(f).read_all()
        tables.append(
            t.append_column("split", pa.array([s["split"]] * t.num_rows)).append_column(
                "period", pa.array([s["period"]] * t.num_rows)
            )
        )
    return pa.concat_tables(tables)


def read_jsonl_dir(d: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(d.glob("*.jsonl")) for line in p.open()]


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """Generate the demo corpus once (700 documents plus planted records)."""
    from curate.demo.text import generate

    root = tmp_path_factory.mktemp("demo")
    truth = generate(root, n_docs=700, seed=7, huge_doc_bytes=2_200_000)
    truth["raw_dir"] = str(root / "raw")
    return root, truth


@pytest.fixture(scope="session")
def demo_build(demo, tmp_path_factory):
    """The demo corpus built once in memory, shared by read-only tests."""
    root, truth = demo
    out = tmp_path_factory.mktemp("demo_out") / "corpus"
    stats = build(demo_config(root / "raw", out))
    return out, stats, truth
