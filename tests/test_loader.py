"""The streaming loader on a real built corpus: coverage, partitioning over simulated ranks and
DataLoader workers, exact and elastic resumption, selection by time, and corrupt shards."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone

import numpy as np
import pytest
import torch
from torch.utils.data import get_worker_info

from curate.format.manifest import CorpusError
from curate.loader import IGNORE_INDEX, CorpusDataset, CorpusLoader, collate, to_device
from tests.conftest import ROOT, read_shards

SEQ = 64


def rows(samples) -> list[bytes]:
    """Each sample as bytes of its inputs and labels: comparable, hashable."""
    return [s["input_ids"].numpy().tobytes() + s["labels"].numpy().tobytes() for s in samples]


def batch_rows(batches) -> list[bytes]:
    out = []
    for b in batches:
        for i in range(len(b["input_ids"])):
            out.append(b["input_ids"][i].numpy().tobytes() + b["labels"][i].numpy().tobytes())
    return out


@pytest.fixture(scope="module")
def corpus(demo_build):
    return str(demo_build[0])


@pytest.fixture(scope="module")
def train_docs(demo_build) -> list[np.ndarray]:
    t = read_shards(demo_build[0])
    t = t.filter(np.array(t.column("split").to_pylist()) == "train")
    return [np.asarray(x, np.int64) for x in t.column("input_ids").to_pylist()]


def test_unshuffled_packing_is_the_document_stream_cut_into_blocks(corpus, train_docs):
    ds = CorpusDataset(corpus, split="train", seq_len=SEQ, shuffle=False)
    samples = list(ds)
    stream = np.concatenate(train_docs)  # manifest order, stored order
    info = ds.epoch_info()
    assert info["samples"] == len(samples) == (len(stream) - 1) // SEQ
    assert info["dropped_tail_tokens"] == len(stream) - len(samples) * SEQ < SEQ + 1
    eos = json.loads(open(f"{corpus}/manifest.json").read())["tokenizer"]["eos_id"]
    for k, s in enumerate(samples):
        block = stream[k * SEQ : k * SEQ + SEQ + 1]
        assert s["input_ids"].tolist() == block[:-1].tolist()
        # a label is the next token unless that token starts another document
        pos = s["position_ids"].numpy()
        starts_next = np.append(pos[1:] == 0, False)
        starts_next[-1] = block[-2] == eos  # the last input ends a document
        labels = s["labels"].numpy()
        assert (labels[starts_next] == IGNORE_INDEX).all()
        assert labels[~starts_next].tolist() == block[1:][~starts_next].tolist()
        # positions restart after each EOS
        for t in range(1, SEQ):
            assert pos[t] == (0 if block[t - 1] == eos else pos[t - 1] + 1)


def test_shuffled_epochs_differ_and_are_reproducible(corpus):
    plain = rows(CorpusDataset(corpus, seq_len=SEQ, shuffle=False))
    ds = CorpusDataset(corpus, seq_len=SEQ, shuffle=True, seed=3, shuffle_window=50)
    epoch0 = rows(ds)
    assert ds.epoch == 1  # iterating to the end starts the next epoch
    epoch1 = rows(ds)
    assert len(epoch0) == len(plain) == len(epoch1)
    assert len(set(epoch0) & set(plain)) < len(plain) // 10  # documents were permuted
    assert len(set(epoch0) & set(epoch1)) < len(plain) // 10  # a new permutation each epoch
    again = rows(CorpusDataset(corpus, seq_len=SEQ, shuffle=True, seed=3, shuffle_window=50))
    assert again == epoch0  # a pure function of the seed and epoch


def test_shuffled_blocks_are_document_streams_of_a_permuted_order(corpus, train_docs):
    """Shuffling permutes documents before cutting: the multiset of tokens is that of the
    documents (less the dropped tail), and different from the unshuffled blocks."""
    ds = CorpusDataset(corpus, seq_len=SEQ, shuffle=True, seed=1)
    samples = list(ds)
    got = Counter(np.concatenate([s["input_ids"].numpy() for s in samples]).tolist())
    want = Counter(np.concatenate(train_docs).tolist())
    assert not got - want  # nothing that is not in the corpus
    assert sum((want - got).values()) == ds.order(0).dropped_tokens


@pytest.mark.parametrize(("world", "workers", "batch"), [(2, 0, 4), (3, 2, 4), (4, 2, 5)])
def test_ranks_and_workers_partition_the_epoch(corpus, world, workers, batch):
    """Rank r's stream is steps r, r+world, ... of the single-process stream, whatever the
    number of workers; every rank gets the same number; the remainder is counted."""
    single = rows(CorpusDataset(corpus, seq_len=SEQ, seed=5, shuffle_window=40))
    per_rank = len(single) // world
    seen = []
    for rank in range(world):
        ds = CorpusDataset(corpus, seq_len=SEQ, seed=5, shuffle_window=40, rank=rank,
                           world_size=world)  # fmt: skip
        got = batch_rows(CorpusLoader(ds, batch_size=batch, num_workers=workers))
        assert got == single[rank::world][:per_rank]
        assert ds.epoch_info()["dropped_samples_for_equal_ranks"] == len(single) % world
        seen += got
    assert len(seen) == len(single) - len(single) % world
    assert Counter(seen) <= Counter(single)


def _resume_run(corpus: str, state: dict | None, world: int, workers: int, batch: int):
    streams = []
    for rank in range(world):
        ds = CorpusDataset(corpus, seq_len=SEQ, seed=9, shuffle_window=30, rank=rank,
                           world_size=world)  # fmt: skip
        if state:
            ds.load_state_dict(state)
        streams.append(batch_rows(CorpusLoader(ds, batch_size=batch, num_workers=workers)))
    return streams


def test_exact_resumption_in_a_new_process(corpus):
    full = batch_rows(CorpusLoader(CorpusDataset(corpus, seq_len=SEQ, seed=9), batch_size=4))
    ds = CorpusDataset(corpus, seq_len=SEQ, seed=9)
    loader = CorpusLoader(ds, batch_size=4, num_workers=2)
    taken = []
    for i, b in enumerate(loader):
        taken += batch_rows([b])
        if i == 6:
            state = loader.state_dict()
            break
    assert taken == full[:28] and state["consumed"] == 28
    code = (
        "import json, sys; from curate.loader import CorpusDataset, CorpusLoader; "
        f"ds = CorpusDataset({corpus!r}, seq_len={SEQ}, seed=9); "
        "ds.load_state_dict(json.loads(sys.argv[1])); "
        "print(json.dumps([b['input_ids'].tolist() for b in CorpusLoader(ds, batch_size=4)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(state)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    rest = [row for b in json.loads(out.stdout) for row in b]
    expected = [s for b in CorpusLoader(CorpusDataset(corpus, seq_len=SEQ, seed=9), batch_size=4)
                for s in b["input_ids"].tolist()]  # fmt: skip
    assert rest == expected[28:]


def test_elastic_resumption_with_other_ranks_and_workers(corpus):
    """Two ranks consume 3 batches each; three ranks with two workers each finish the epoch:
    together, every sample once."""
    single = rows(CorpusDataset(corpus, seq_len=SEQ, seed=9, shuffle_window=30))
    first = []
    states = []
    for rank in range(2):
        ds = CorpusDataset(corpus, seq_len=SEQ, seed=9, shuffle_window=30, rank=rank,
                           world_size=2)  # fmt: skip
        loader = CorpusLoader(ds, batch_size=4, num_workers=1)
        for i, b in enumerate(loader):
            first += batch_rows([b])
            if i == 2:
                break
        states.append(loader.state_dict())
    assert states[0] == states[1] and states[0]["consumed"] == 24
    rest = _resume_run(corpus, states[0], world=3, workers=2, batch=3)
    assert Counter(first) == Counter(single[:24])
    n_rest = (len(single) - 24) // 3
    for rank in range(3):
        assert rest[rank] == single[24 + rank :: 3][:n_rest]
    together = first + [r for stream in rest for r in stream]
    assert Counter(together) <= Counter(single)
    assert len(together) == len(single) - (len(single) - 24) % 3


def _utc(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc)


def test_time_range_and_periods_select_documents(demo_build, corpus):
    t = read_shards(demo_build[0])
    ts = t.column("timestamp").to_pylist()
    lo, hi = _utc("2020-02-15"), _utc("2021-05-20")  # cuts periods in the middle
    want = sorted(
        bytes(np.asarray(ids, np.int32)[: SEQ + 1].tobytes())
        for ids, when in zip(t.column("input_ids").to_pylist(), ts, strict=True)
        if when is not None and lo <= when < hi
    )
    ds = CorpusDataset(corpus, split=None, time_range=(lo, hi), seq_len=SEQ, pack=False)
    got = []
    for s in ds:
        n = int(s["attention_mask"].sum()) + 1
        ids = torch.cat([s["input_ids"], s["labels"][-1:]])
        n = min(n, SEQ + 1)
        got.append(ids[:n].numpy().astype(np.int32).tobytes())
    assert sorted(got) == want
    periods = CorpusDataset(corpus, split="train", periods=["2020-Q1"], seq_len=SEQ, pack=False)
    n_docs = sum(1 for p in t.column("period").to_pylist() if p == "2020-Q1")
    assert len(list(periods)) == n_docs > 0
    # sources come from the documents' source column (the manifest has none)
    split, source = t.column("split").to_pylist(), t.column("source").to_pylist()
    want = sum(1 for a, b in zip(split, source, strict=True) if a == "train" and b == "news")
    news = CorpusDataset(corpus, sources=["news"], seq_len=SEQ, pack=False)
    assert len(list(news)) == want > 0
    both = CorpusDataset(corpus, sources=["news", "blog"], seq_len=SEQ, pack=False)
    assert news.fingerprint() != both.fingerprint()


def test_unpacked_samples_are_padded_with_a_mask(corpus):
    ds = CorpusDataset(corpus, seq_len=512, pack=False, shuffle=False)
    samples = list(ds)
    assert len(samples) == sum(e["documents"] for e in ds.corpus.entries)
    short = [s for s in samples if s["attention_mask"].sum() < 512]
    assert short
    for s in short[:20]:
        n = int(s["attention_mask"].sum())
        assert (s["labels"][n - 1 :] == IGNORE_INDEX).all()
        assert (s["labels"][: n - 1] == s["input_ids"][1:n]).all()
    batch = collate(samples[:8])
    assert batch["input_ids"].shape == (8, 512) and "cu_seqlens" not in batch


def test_collate_gives_flash_attention_offsets(corpus):
    batch = next(iter(CorpusLoader(CorpusDataset(corpus, seq_len=SEQ), batch_size=4)))
    cu = batch["cu_seqlens"]
    assert cu[0] == 0 and cu[-1] == 4 * SEQ and (cu[1:] > cu[:-1]).all()
    flat = batch["position_ids"].reshape(-1)
    for a, b in zip(cu[:-1].tolist(), cu[1:].tolist(), strict=True):
        assert flat[a:b].tolist() == list(range(b - a))
    assert batch["max_seqlen"].item() == int((cu[1:] - cu[:-1]).max())
    moved = next(to_device([batch], "cpu"))
    assert all(torch.equal(moved[k], batch[k]) for k in batch)


def _corrupt_copy(corpus: str, tmp_path, how: str) -> str:
    dst = tmp_path / "c"
    shutil.copytree(corpus, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    shard = dst / manifest["shards"][0]["path"]
    data = bytearray(shard.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x10
        shard.write_bytes(bytes(data))
    elif how == "truncate":
        shard.write_bytes(bytes(data[: len(data) // 2]))
    else:
        shard.unlink()
    return str(dst), manifest["shards"][0]["path"]


@pytest.mark.parametrize(
    ("how", "message"),
    [("flip", "does not match"), ("truncate", "truncated"), ("missing", "missing")],
)
def test_corrupt_shards_fail_with_the_file_named(corpus, tmp_path, how, message):
    root, rel = _corrupt_copy(corpus, tmp_path, how)
    ds = CorpusDataset(root, split=None, seq_len=SEQ, shuffle=False)
    with pytest.raises(CorpusError, match=message) as e:
        list(ds)
    assert rel in str(e.value)
    # in a DataLoader worker the error reaches the training loop: no hang
    ds = CorpusDataset(root, split=None, seq_len=SEQ, shuffle=False)
    with pytest.raises(Exception, match=rel.replace("=", ".")):
        list(CorpusLoader(ds, batch_size=2, num_workers=2, timeout=60))


def test_state_from_other_settings_is_refused(corpus):
    state = CorpusDataset(corpus, seq_len=SEQ, seed=1).state_dict()
    with pytest.raises(ValueError, match="another corpus"):
        CorpusDataset(corpus, seq_len=SEQ, seed=2).load_state_dict(state)


@pytest.mark.parametrize("setting", [{"seq_len": 10**8}, {"world_size": 10**6, "rank": 3}])
def test_an_epoch_with_no_sample_for_a_rank_is_refused(corpus, setting):
    """A seq_len longer than the selection, or more ranks than samples: the loop would run
    zero steps without a word."""
    ds = CorpusDataset(corpus, **{"seq_len": SEQ, **setting})
    assert ds.epoch_info()["samples_per_rank"] == 0
    with pytest.raises(ValueError, match="ranks no sample: it holds"):
        next(iter(ds))
    with pytest.raises(ValueError, match="ranks no sample"):
        next(iter(CorpusLoader(ds, batch_size=2)))


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"mix": {"2016-Q1": float("nan")}}, "mix weights must be finite"),
        ({"samples_per_epoch": 10}, "sizes a mix's epoch"),  # it was ignored without a mix
        ({"mix": {"2016-Q1": 1.0}, "samples_per_epoch": 0}, "must be a positive integer"),
        ({"time_range": ("2020-01-01", "2010-01-01")}, "is empty"),
        ({"time_range": (2021, "2020")}, "is empty"),  # years, read as the build reads them
        ({"time_range": ("last year", None)}, "unparseable timestamp"),
        ({"sources": ["news", "nwes"]}, r"sources \['nwes'\] are not in the selection"),
        ({"increments": 2}, r"the corpus has 1 \(its build and 0 appends\)"),
        ({"seq_len": 64.0}, "seq_len must be a positive integer"),  # made fractional counts
        # an epoch is whole mix blocks: 2500 samples silently became 2000
        ({"mix": {"2016-Q1": 1.0}, "samples_per_epoch": 2500}, "use 2000 or 3000"),
    ],
)
def test_arguments_that_cannot_mean_anything_are_refused(corpus, setting, message):
    """Found by probing: a NaN mix weight failed later with "negative dimensions are not
    allowed", samples_per_epoch without a mix was ignored, a reversed time range read nothing,
    a misspelt source narrowed the selection silently, and increments past the corpus's own
    read all of it. (Sources are checked when the selection is first read.)"""
    with pytest.raises(ValueError, match=message):
        CorpusDataset(corpus, **{"seq_len": SEQ, **setting}).epoch_info()


def test_a_pathlib_path_and_numpy_integers_are_taken(corpus):
    """Found by probing: CorpusDataset(Path(...)), as trainers' configs hold paths, raised
    "argument of type 'PosixPath' is not iterable"."""
    from pathlib import Path

    by_path = CorpusDataset(Path(corpus), seq_len=SEQ)
    assert by_path.state_dict() == CorpusDataset(corpus, seq_len=SEQ).state_dict()
    assert by_path.epoch_info()["samples"] > 0
    # and NumPy integers, as computed sizes are (batch_size=np.int64(4) was refused, and so
    # was set_epoch in `for epoch in np.arange(n)`), with the same batches as Python's
    ds = CorpusDataset(corpus, seq_len=np.int64(SEQ), shuffle_window=np.int32(8))
    ds.set_epoch(np.int64(1))
    batch = next(iter(CorpusLoader(ds, batch_size=np.int64(4))))
    same = CorpusDataset(corpus, seq_len=SEQ, shuffle_window=8)
    same.set_epoch(1)
    assert torch.equal(
        batch["input_ids"], next(iter(CorpusLoader(same, batch_size=4)))["input_ids"]
    )
    state = {k: np.int64(v) if isinstance(v, int) else v for k, v in ds.state_dict().items()}
    same.load_state_dict(state)
    assert same.state_dict() == ds.state_dict()


def test_workers_need_the_batch_size(corpus):
    ds = CorpusDataset(corpus, seq_len=SEQ)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    with pytest.raises(ValueError, match="batch_size"):
        next(iter(loader))


def test_readme_training_loop_runs_and_resumes(corpus, tmp_path):
    """The README's example, verbatim but for the corpus path, then a check that the resumed
    loader continues where the saved one stopped."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Training loader") :]
    code = section[section.index("```python\n") + 10 : section.index("```\n", 10)]
    code = code.replace('"out/demo"', repr(corpus))
    code += (
        f"full = CorpusDataset({corpus!r}, split='train', seq_len=256, seed=0)\n"
        "full = CorpusLoader(full, batch_size=8)\n"
        "expected = [b for _, b in zip(range(22), full)][21]\n"
        "assert torch.equal(next(iter(loader))['input_ids'], expected['input_ids'])\n"
        "print('resumed exactly')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "resumed exactly" in out.stdout


def test_compiled_and_numpy_batch_filling_agree():
    """The numba loops and the numpy fallbacks agree: cutting samples into pieces, gathering
    their tokens (a worker's half) and filling inputs, labels, positions and offsets, on
    random pieces that tile a batch (documents cut anywhere, several shards)."""
    from curate.loader import packing as packing
    from tests import packing_reference as reference

    rng = np.random.default_rng(0)
    flats_np = [rng.integers(0, 50_000, 5_000).astype(np.uint32) for _ in range(4)]
    flats = packing.shard_list(4)
    for i, f in enumerate(flats_np):
        f.setflags(write=False)
        flats[i] = f
    for B, L, mask in [(3, 16, True), (4, 7, False), (2, 64, True)]:
        n = L + 1
        lengths = []  # pieces never cross a row (a sample)
        for _ in range(B):
            row = 0
            while row < n:
                lengths.append(int(min(rng.integers(1, 40), n - row)))
                row += lengths[-1]
        length = np.array(lengths, np.int64)
        dest = np.cumsum(length) - length
        shard = rng.integers(0, 4, len(length))
        src = rng.integers(0, 4_000, len(length))
        outs = []
        for fn, fl in ((packing.fill, flats), (reference.fill_numpy, flats_np)):
            arrays = [np.full((B, L), -7, np.int32) for _ in range(3)]
            cu = np.full(len(length) + 1, -7, np.int32)
            k, longest = fn(fl, shard, src, length, dest, n, L, mask, IGNORE_INDEX, *arrays, cu)
            assert longest == np.diff(cu[:k]).max()
            outs.append([*arrays, cu[:k]])
        for a, b in zip(*outs, strict=True):
            assert np.array_equal(a, b)
        assert (outs[0][0] != -7).all() and (outs[0][1] != -7).all()
        got = [np.full(B * n, 7, np.uint32) for _ in range(2)]
        packing.gather(flats, shard, src, length, dest, got[0])
        reference.gather_numpy(flats_np, shard, src, length, dest, got[1])
        assert np.array_equal(*got)
        with pytest.raises(IndexError, match="outside"):  # a corrupt shard never reads past
            packing.gather(flats, shard, src + 5_000, length, dest, got[0])
        assert np.array_equal(
            got[0][dest[1] : dest[1] + length[1]], flats_np[shard[1]][src[1] :][: length[1]]
        )
    # cutting: documents of random lengths in stream order, samples anywhere in the stream
    doc_len = rng.integers(1, 60, 500)
    starts = np.concatenate(([0], np.cumsum(doc_len))).astype(np.int64)
    shard = rng.integers(0, 4, 500).astype(np.int64)
    src = rng.integers(0, 4_000, 500).astype(np.int64)
    for n in (2, 17, 129):
        lo = np.sort(rng.integers(0, int(starts[-1]) - n, 9)).astype(np.int64)
        rows = np.arange(9, dtype=np.int64)
        a, b = (
            packing.cut(starts, shard, src, rows, lo, n),
            reference.cut_numpy(starts, shard, src, rows, lo, n),
        )
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        assert np.array_equal(np.bincount(a[3] // n, weights=a[2]), np.full(9, n))  # rows tile
        # cutting and filling in one pass gives what cutting, then filling gives
        L = n - 1
        want = [np.empty((9, L), np.int32) for _ in range(3)]
        cu = np.empty(len(a[0]) + 1, np.int32)
        k, longest = packing.fill(flats, *a, n, L, True, IGNORE_INDEX, *want, cu)
        for fn, fl in ((packing.pack, flats), (reference.pack_numpy, flats_np)):
            got = [np.full((9, L), -7, np.int32) for _ in range(3)]
            too_short = np.empty(3, np.int32)
            args = (starts, shard, src, lo, n, L, True, IGNORE_INDEX)
            assert fn(*args, fl, *got, too_short) == (2, len(a[0]) + 1, 0)
            closed = packing.shard_list(4) if fl is flats else list(flats_np)
            closed[int(a[0][0])] = packing.EMPTY  # that shard is not open yet
            cu_got = np.empty(len(a[0]) + 1, np.int32)  # room for every piece
            assert fn(*args, closed, *got, cu_got) == (1, a[0][0], 0)
            assert fn(*args, fl, *got, cu_got) == (0, k, longest)
            assert all(np.array_equal(x, y) for x, y in zip(want, got, strict=True))
            assert np.array_equal(cu_got[:k], cu[:k])


def test_remote_corpus_through_a_size_limited_cache(demo_build, corpus, tmp_path):
    """A corpus given as a URI (here file://, the same pyarrow.fs path as s3:// or gs://) gives
    the same samples as the local one; the cache stays under its limit by evicting copies and
    never touches the source."""
    import hashlib

    manifest = json.loads(open(f"{corpus}/manifest.json").read())
    before = {
        s["path"]: hashlib.sha256(open(f"{corpus}/{s['path']}", "rb").read()).hexdigest()
        for s in manifest["shards"]
    }
    biggest = max(s["bytes"] for s in manifest["shards"])
    limit = 3 * biggest
    local = rows(CorpusDataset(corpus, seq_len=SEQ, seed=4))
    ds = CorpusDataset(
        f"file://{corpus}", seq_len=SEQ, seed=4, cache_dir=str(tmp_path / "cache"),
        cache_limit=limit,
    )  # fmt: skip
    assert rows(ds) == local
    assert 0 < ds.corpus.cache.used_bytes() <= limit
    # copies were evicted and unmapped (a deleted copy frees its space only when unmapped)
    assert ds.corpus.generation > 0 and len(ds.corpus._open) <= ds.corpus.max_open
    # batches of 32 samples touch more shards than the cache may keep mapped (2 here): a
    # batch still gets all of its shards, with workers (plans) and without (one pass)
    local = batch_rows(CorpusLoader(CorpusDataset(corpus, seq_len=SEQ, seed=4), batch_size=32))
    for workers in (0, 2):
        ds = CorpusDataset(
            f"file://{corpus}", seq_len=SEQ, seed=4, cache_dir=str(tmp_path / f"w{workers}"),
            cache_limit=limit,
        )  # fmt: skip
        assert ds.corpus.max_open == 2
        assert batch_rows(CorpusLoader(ds, batch_size=32, num_workers=workers)) == local
    after = {
        s["path"]: hashlib.sha256(open(f"{corpus}/{s['path']}", "rb").read()).hexdigest()
        for s in manifest["shards"]
    }
    assert after == before
    # a limit below three shards (here: 100 bytes) is raised, with a warning; two workers and
    # the training process sharing such a cache once failed now and then ("not a readable
    # Arrow file": a copy evicted between fetching and mapping)
    with pytest.warns(UserWarning, match="cannot hold 3 of this corpus's largest shards"):
        tiny = CorpusDataset(
            f"file://{corpus}", seq_len=SEQ, seed=4, cache_dir=str(tmp_path / "c2"),
            cache_limit=100,
        )  # fmt: skip
    assert tiny.corpus.cache_limit == 3 * biggest
    assert batch_rows(CorpusLoader(tiny, batch_size=32, num_workers=2)) == local
    for _ in range(2):
        with pytest.warns(UserWarning):
            again = CorpusDataset(
                f"file://{corpus}", seq_len=SEQ, seed=4, cache_dir=str(tmp_path / "c2"),
                cache_limit=100,
            )  # fmt: skip
        assert batch_rows(CorpusLoader(again, batch_size=32, num_workers=2)) == local


@pytest.mark.parametrize(
    "mix_by,a,b", [("period", "2019-Q1", "2020-Q2"), ("source", "news", "blog")]
)
def test_mixing_is_exact_in_every_block_and_across_resumption(demo_build, corpus, mix_by, a, b):
    """mix={A: 3, B: 1} with blocks of 8: every block holds 6 documents of A and 2 of B (the
    smaller group repeats with a new permutation when it runs out); a run resumed with other
    ranks and workers continues the same stream. Sources share shards with each other, so
    their groups are rows, not shards."""
    t = read_shards(demo_build[0])
    group_of = {
        np.asarray(ids, np.int32)[: SEQ + 1].tobytes(): g
        for ids, g, sp in zip(
            t.column("input_ids").to_pylist(), t.column(mix_by).to_pylist(),
            t.column("split").to_pylist(), strict=True,
        )
        if sp == "train"
    }  # fmt: skip
    n_b = sum(1 for g in group_of.values() if g == b)
    total = 8 * (n_b // 2 + 1)  # B's 2 per block outrun its documents: it starts a second pass
    settings = dict(
        mix={a: 3, b: 1}, mix_by=mix_by, mix_block=8, samples_per_epoch=total, seq_len=SEQ, seed=2
    )

    def doc_key(s):
        n = min(int(s["attention_mask"].sum()) + 1, SEQ + 1)
        return torch.cat([s["input_ids"], s["labels"][-1:]])[:n].numpy().astype(np.int32).tobytes()

    ds = CorpusDataset(corpus, pack=False, **settings)
    samples = list(ds)
    assert len(samples) == total
    groups = [group_of[doc_key(s)] for s in samples]
    for blk in range(0, total, 8):
        assert Counter(groups[blk : blk + 8]) == {a: 6, b: 2}
    assert len({doc_key(s) for s, g in zip(samples, groups, strict=True) if g == b}) == n_b
    # packed, resumed: 2 ranks for 2 batches, then 3 ranks x 2 workers
    single = rows(CorpusDataset(corpus, **settings))
    states, first = [], []
    for rank in range(2):
        ds = CorpusDataset(corpus, rank=rank, world_size=2, **settings)
        loader = CorpusLoader(ds, batch_size=4)
        for i, batch in enumerate(loader):
            first += batch_rows([batch])
            if i == 1:
                break
        states.append(loader.state_dict())
    assert states[0]["consumed"] == 16 and Counter(first) == Counter(single[:16])
    for rank in range(3):
        ds = CorpusDataset(corpus, rank=rank, world_size=3, **settings)
        ds.load_state_dict(states[0])
        got = batch_rows(CorpusLoader(ds, batch_size=3, num_workers=2))
        assert got == single[16 + rank :: 3][: (len(single) - 16) // 3]
    with pytest.raises(ValueError, match="not both"):
        CorpusDataset(corpus, **{**settings, f"{mix_by}s": [a]})
    with pytest.raises(ValueError, match="nothing selected|not in the corpus|not in the selection"):
        CorpusDataset(corpus, **{**settings, "mix": {a: 1, "no-such": 1}}).order()


class _DyingDataset(CorpusDataset):
    """A worker that dies mid-epoch (as if killed by the OOM killer)."""

    def _sendable(self, *args):
        import os

        if get_worker_info().id == 1:
            os._exit(9)
        return super()._sendable(*args)


def test_a_worker_that_dies_surfaces_in_the_training_loop(corpus):
    ds = _DyingDataset(corpus, seq_len=SEQ)
    with pytest.raises(RuntimeError, match="worker"):
        list(CorpusLoader(ds, batch_size=4, num_workers=2, timeout=120))
