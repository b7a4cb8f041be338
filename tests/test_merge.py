"""The partition merge in several passes (bounded fan-in) writes the same bytes as one pass."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pyarrow as pa
import pytest

from curate.driver.config_file import parse_config
from curate.format.schema import shard_schema
from curate.stages.process import FileProcessor
from curate.stages.shards import merge_partition
from filters.registry import build_filters, signal_names
from tokenization.bpe import train_bpe

WORDS = "the river city council budget school road night winter market harbor".split()


@pytest.fixture(scope="module")
def partition(tmp_path_factory):
    """Runs of one (split, period) from 25 input files."""
    tmp = tmp_path_factory.mktemp("merge")
    rng = random.Random(7)
    paths = []
    for f in range(25):
        rows = [
            {
                "id": f"d{f}-{i}",
                "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 120))),
                # ties on the timestamp, so the order falls to id and origin
                "timestamp": f"2020-0{rng.randint(1, 3)}-1{rng.randint(0, 2)}",
            }
            for i in range(30)
        ]
        p = tmp / f"in-{f}.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths.append(str(p))
    cfg = parse_config(
        {
            "input": {"paths": paths},
            "filters": [],
            "tokenizer": {"path": "unused.json"},
            "temporal": {"period": "year"},
            "output": {"dir": str(tmp / "out"), "shard_tokens": 3_000},
        }
    )
    tok = train_bpe([" ".join(WORDS)] * 20, 300)
    proc = FileProcessor(cfg, tok.to_str(), str(tmp / "work"), cfg.output.dir)
    runs = [path for i, p in enumerate(paths) for part, path in proc.process(i, p).runs]
    schema = shard_schema(signal_names(build_filters(cfg.filters)), False)
    return tmp, cfg, sorted(runs), schema


def _merge(tmp, cfg, runs, schema, name, **kw):
    rng = random.Random(3)  # the same drops and flags for every merge
    drops = {r: set(rng.sample(range(10), 3)) for r in runs[::2]}
    flags = {runs[1]: {0: "d0-0"}, runs[-1]: {1: "d1-1"}}
    out = tmp / name
    infos = merge_partition("train", "2020", runs, drops, str(out), schema, cfg.output, flags, **kw)
    digests = {i["path"]: hashlib.sha256((out / i["path"]).read_bytes()).hexdigest() for i in infos}
    return infos, digests


@pytest.mark.parametrize("fan_in", [2, 3, 7])
def test_multi_pass_merge_writes_the_same_shards(partition, fan_in):
    tmp, cfg, runs, schema = partition
    assert len(runs) > 3 * 7  # fan-in 2 and 3 take several passes, 7 takes two
    one_pass, digests = _merge(tmp, cfg, runs, schema, "one")
    work = tmp / f"work-{fan_in}"
    many, many_digests = _merge(
        tmp, cfg, runs, schema, f"fan{fan_in}", work_dir=str(work), fan_in=fan_in
    )
    assert len(one_pass) > 2  # several shards: boundaries are compared too
    assert many == one_pass and many_digests == digests
    kept = sum(i["documents"] for i in many)
    assert kept == 25 * 30 - 3 * len(runs[::2])  # every drop applied once, nothing else lost
    assert not [p for p in work.rglob("*") if p.is_file()]  # intermediate runs deleted
    assert all((tmp / "work" / "runs").glob("**/*.arrow"))  # the originals stay for retries


def test_many_runs_without_a_work_dir_are_refused(partition):
    tmp, cfg, runs, schema = partition
    with pytest.raises(ValueError, match="need a work_dir"):
        merge_partition("train", "2020", runs, {}, str(tmp / "x"), schema, cfg.output, fan_in=2)


def test_shard_batches_hold_only_their_own_rows(partition, tmp_path):
    """A batch cut from a longer table is written in fresh buffers: the IPC writer would copy
    the rest of the table's strings and token ids into it, so bytes would depend on how rows
    arrived (here: whole 16-row run batches into 10-row shard batches)."""
    tmp, cfg, runs, schema = partition
    output = cfg.output.model_copy(update={"rows_per_batch": 10})
    infos = merge_partition("train", "2020", runs[:3], {}, str(tmp_path), schema, output)
    checked = 0
    for info in infos:
        reader = pa.ipc.open_file(str(tmp_path / info["path"]))
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            ids, tokens = batch.column("doc_id"), batch.column("input_ids")
            id_ends = np.frombuffer(ids.buffers()[1], np.int32)
            assert len(ids.buffers()[2]) == id_ends[len(ids)]
            token_ends = np.frombuffer(tokens.buffers()[1], np.int32)
            assert len(tokens.buffers()[3]) == token_ends[len(tokens)] * 4
            checked += 1
    assert checked >= 9
