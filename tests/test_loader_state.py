"""The state a checkpoint saves describes exactly the samples the loop received, under every
DataLoader option (persistent workers, re-iteration after ``break``, ``set_epoch``, a process
group made after the dataset), and bad arguments are refused instead of giving no batch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from curate.format.manifest import CorpusError
from curate.loader import CorpusDataset, CorpusLoader
from tests.conftest import ROOT
from tests.test_loader import batch_rows

SEQ = 32
B = 8


@pytest.fixture(scope="module")
def corpus(demo_build):
    return str(demo_build[0])


def _epochs(corpus: str, n: int, **loader) -> list[list[bytes]]:
    ds = CorpusDataset(corpus, seq_len=SEQ, seed=3)
    it = CorpusLoader(ds, batch_size=B, **loader)
    return [batch_rows(it) for _ in range(n)]


def test_persistent_workers_see_each_epoch_and_a_loaded_state(corpus):
    """Item 17: persistent workers delivered epoch 0 again as epoch 1, and ignored a state
    loaded between epochs."""
    ref = _epochs(corpus, 2, num_workers=0)
    assert ref[0] != ref[1]
    ds = CorpusDataset(corpus, seq_len=SEQ, seed=3)
    loader = CorpusLoader(ds, batch_size=B, num_workers=2, persistent_workers=True)
    assert batch_rows(loader) == ref[0]
    assert batch_rows(loader) == ref[1] and ds.epoch == 2
    ds.load_state_dict({**ds.state_dict(), "epoch": 1, "consumed": 5 * B})
    assert batch_rows(loader) == ref[1][5 * B :]


@pytest.mark.parametrize("workers,persistent", [(0, False), (2, False), (2, True)])
def test_iterating_again_after_break_continues_where_the_loop_stopped(corpus, workers, persistent):
    """Item 18: the data restarted at step 0 while the state counted on; now a new ``for``
    continues after the last batch received, and the state says exactly that."""
    (ref,) = _epochs(corpus, 1, num_workers=0)
    ds = CorpusDataset(corpus, seq_len=SEQ, seed=3)
    loader = CorpusLoader(ds, batch_size=B, num_workers=workers, persistent_workers=persistent)
    got = []
    for i, b in enumerate(loader):
        got += batch_rows([b])
        if i == 19:
            break
    assert ds.state_dict()["consumed"] == 20 * B
    for i, b in enumerate(loader):
        got += batch_rows([b])
        if i == 9:
            break
    state = ds.state_dict()
    assert state["consumed"] == 30 * B and got == ref[: 30 * B]
    resumed = CorpusDataset(corpus, seq_len=SEQ, seed=3)
    resumed.load_state_dict(state)
    assert got + batch_rows(CorpusLoader(resumed, batch_size=B)) == ref


def test_set_epoch_starts_that_epoch(corpus):
    """Item 20: ``set_epoch(n)`` as PyTorch samplers have it."""
    ref = _epochs(corpus, 3, num_workers=0)
    ds = CorpusDataset(corpus, seq_len=SEQ, seed=3)
    loader = CorpusLoader(ds, batch_size=B, num_workers=2)
    loader.set_epoch(2)
    assert batch_rows(loader) == ref[2] and ds.epoch == 3
    ds.set_epoch(0)
    assert batch_rows(CorpusLoader(ds, batch_size=B)) == ref[0]
    with pytest.raises(ValueError):
        ds.set_epoch(-1)


def test_bad_arguments_are_refused(corpus):
    """Item 15 and 16: these gave 0 batches, batches of 1, or a state past the epoch."""
    with pytest.raises(ValueError, match="split 'Train' is not in the corpus"):
        CorpusDataset(corpus, split="Train")
    with pytest.raises(TypeError, match="not the string '2019'"):
        CorpusDataset(corpus, periods="2019")
    with pytest.raises(ValueError, match=r"periods \['2019'\] are not in the corpus"):
        CorpusDataset(corpus, periods=["2019"])
    ds = CorpusDataset(corpus, seq_len=SEQ)
    for bad in (-1, 0, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            CorpusLoader(ds, batch_size=bad)
        with pytest.raises(ValueError, match="batch_size"):
            CorpusDataset(corpus, seq_len=SEQ, batch_size=bad)
    state = ds.state_dict()
    with pytest.raises(ValueError, match="the epoch holds"):
        ds.load_state_dict({**state, "consumed": 10**9})
    with pytest.raises(ValueError, match="non-negative"):
        ds.load_state_dict({**state, "consumed": -5})


def test_a_corrupt_cached_copy_is_fetched_again(demo_build, tmp_path):
    """Item 15: a cached copy damaged on the local disk failed every run until the cache was
    cleared by hand; the source is the truth, so the copy is fetched again."""
    src = tmp_path / "corpus"
    shutil.copytree(demo_build[0], src)
    cache = tmp_path / "cache"
    uri = f"file://{src}"
    ref = batch_rows(CorpusLoader(CorpusDataset(uri, seq_len=SEQ, cache_dir=str(cache)), B))
    copies = sorted(cache.rglob("*.arrow"))
    assert copies
    for c in copies:
        data = bytearray(c.read_bytes())
        data[len(data) // 2] ^= 0xFF
        c.write_bytes(bytes(data))
    ds = CorpusDataset(uri, seq_len=SEQ, cache_dir=str(cache))
    assert batch_rows(CorpusLoader(ds, B, num_workers=2)) == ref
    # the source itself corrupt: that is an error, naming the shard
    manifest = json.loads((src / "manifest.json").read_text())
    shard = src / next(e["path"] for e in manifest["shards"] if e["split"] == "train")
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(CorpusError, match="SHA-256"):
        batch_rows(CorpusLoader(CorpusDataset(uri, seq_len=SEQ, cache_dir=str(tmp_path / "c2")), B))


RANKS = """
import json, os, sys
import torch.distributed as dist
from curate.loader import CorpusDataset, CorpusLoader
from tests.test_loader import batch_rows
corpus, rank, world, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ds = CorpusDataset(corpus, seq_len=32, seed=3)  # before the process group exists
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
dist.init_process_group("gloo", rank=rank, world_size=world)
rows = batch_rows(CorpusLoader(ds, batch_size=8, num_workers=1))
dist.barrier()
print(json.dumps({"rank": ds.rank, "world": ds.world_size, "rows": [r.hex() for r in rows]}))
dist.destroy_process_group()
"""


def test_a_dataset_made_before_the_process_group_takes_its_rank(corpus):
    """Item 19: both ranks trained on identical data, each believing it was rank 0 of 1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RANKS, corpus, str(r), "2", port],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )  # fmt: skip
        for r in range(2)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert [(o["rank"], o["world"]) for o in outs] == [(0, 2), (1, 2)]
    assert outs[0]["rows"] and outs[0]["rows"] != outs[1]["rows"]
    for r in range(2):
        ds = CorpusDataset(corpus, seq_len=SEQ, seed=3, rank=r, world_size=2)
        assert [x.hex() for x in batch_rows(CorpusLoader(ds, B, num_workers=1))] == outs[r]["rows"]
