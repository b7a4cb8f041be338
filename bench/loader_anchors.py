"""MosaicML Streaming and LitData reading the loader benchmark's tokens (bench/.venv-loader).

Usage: bench/.venv-loader/bin/python bench/loader_anchors.py TOKENS.npy WORK_DIR LIMIT
Converts the flat token array into each tool's format (2,049-token samples), once, then reads
it shuffled in batches of 16 with 0 and 2 DataLoader workers, each in a fresh process.
Prints JSON: {"<tool>, <w> workers": {"tokens", "seconds", "first_batch_s", "main_cpu_us_per_batch"}}.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

SEQ, BATCH = 2048, 16
STEP = SEQ + 1


def convert_mds(tokens: np.ndarray, out: Path) -> None:
    from streaming import MDSWriter

    if (out / "index.json").exists():
        return
    shutil.rmtree(out, ignore_errors=True)
    with MDSWriter(out=str(out), columns={"tokens": "ndarray:uint32:2049"}, size_limit="64mb") as w:
        for s in range(0, len(tokens) - STEP + 1, STEP):
            w.write({"tokens": np.asarray(tokens[s : s + STEP])})


def _litdata_samples(span: tuple[int, int, str]):
    import torch

    lo, hi, path = span
    arr = np.load(path, mmap_mode="r")
    for s in range(lo, hi, STEP):
        yield torch.from_numpy(np.asarray(arr[s : s + STEP], np.int32))


def convert_litdata(path: str, tokens: np.ndarray, out: Path) -> None:
    from litdata import TokensLoader, optimize

    if (out / "index.json").exists():
        return
    shutil.rmtree(out, ignore_errors=True)
    n = (len(tokens) // STEP) * STEP
    parts = 8
    bounds = [(i * n // parts) // STEP * STEP for i in range(parts + 1)]
    optimize(
        fn=_litdata_samples,
        inputs=[(bounds[i], bounds[i + 1], path) for i in range(parts)],
        output_dir=str(out),
        chunk_size=STEP * 8192,
        item_loader=TokensLoader(),
        num_workers=2,
    )


def read(tool: str, data: str, workers: int, limit: int) -> dict:
    import torch

    t0 = time.perf_counter()
    if tool == "mosaicml-streaming":
        from streaming import StreamingDataset

        ds = StreamingDataset(local=data, shuffle=True, shuffle_seed=0, batch_size=BATCH)
        dl = torch.utils.data.DataLoader(ds, batch_size=BATCH, num_workers=workers)
        key = "tokens"
    else:
        from litdata import StreamingDataLoader, StreamingDataset, TokensLoader

        ds = StreamingDataset(data, item_loader=TokensLoader(block_size=STEP), shuffle=True, seed=0)
        dl = StreamingDataLoader(ds, batch_size=BATCH, num_workers=workers)
        key = None
    it = iter(dl)
    next(it)
    first = time.perf_counter() - t0
    n = batches = 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    for b in it:
        x = b[key] if key else b
        n += x[:, :-1].numel()
        batches += 1
        if n >= limit:
            break
    return {
        "tokens": n,
        "seconds": time.perf_counter() - t0,
        "first_batch_s": first,
        "main_cpu_us_per_batch": (time.process_time() - cpu0) / batches * 1e6,
    }


def main() -> None:
    if sys.argv[1] == "--read":
        tool, data, workers, limit = sys.argv[2:6]
        print(json.dumps(read(tool, data, int(workers), int(limit))))
        return
    tokens_path, work, limit = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    tokens = np.load(tokens_path, mmap_mode="r")
    convert_mds(tokens, work / "mds")
    convert_litdata(tokens_path, tokens, work / "litdata")
    sys.path.insert(0, str(Path(__file__).parent))
    from measure import run_measured

    out = {}
    for tool, data in (("mosaicml-streaming", work / "mds"), ("litdata", work / "litdata")):
        for w in (0, 2):
            m = run_measured([sys.executable, __file__, "--read", tool, str(data), str(w), limit])
            if m.returncode != 0:
                raise RuntimeError(f"{tool}: {m.stderr[-3000:]}")
            res = json.loads(m.stdout.strip().splitlines()[-1])
            out[f"{tool}, {w} workers"] = {
                **res,
                "peak_rss_mb": m.peak_rss_mb,
                "peak_worker_rss_mb": m.peak_child_rss_mb,
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
