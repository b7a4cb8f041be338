"""DataTrove's four-stage MinHash deduplication, as its documentation runs it: the anchor for
curate's near-dedup figures. Runs in the benchmark environment (bench/.venv), never in curate's.

Usage: bench/.venv/bin/python bench/datatrove_minhash.py INPUT_DIR WORK_DIR --workers N
Prints JSON: seconds per stage and the ids of the removed documents.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.dedup import (
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.utils.hashing import HashConfig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("work")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    tasks = len(list(Path(args.input).glob("*.jsonl")))  # one reader task per input file
    # its documented defaults: 5-grams, 14 buckets x 8 hashes (LSH threshold about 0.72)
    cfg = MinhashConfig(hash_config=HashConfig(precision=64))

    def reader():
        return JsonlReader(args.input, glob_pattern="*.jsonl", text_key="text", id_key="id")

    stages = {
        "signatures": ([reader(), MinhashDedupSignature(str(work / "sigs"), config=cfg)], tasks),
        "buckets": (
            [MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=cfg)],
            cfg.num_buckets,
        ),
        "cluster": (
            [MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=cfg)],
            1,
        ),
        "filter": (
            [
                reader(),
                MinhashDedupFilter(
                    str(work / "remove"),
                    exclusion_writer=JsonlWriter(str(work / "removed"), compression=None),
                ),
                JsonlWriter(str(work / "kept"), compression=None),
            ],
            tasks,
        ),
    }
    seconds = {}
    for name, (pipeline, n) in stages.items():
        t0 = time.perf_counter()
        LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=n,
            workers=min(args.workers, n),
            logging_dir=str(work / "logs" / name),
        ).run()
        seconds[name] = time.perf_counter() - t0
    removed = [
        json.loads(line)["id"] for p in sorted((work / "removed").glob("*")) for line in p.open()
    ]
    print(json.dumps({"seconds": seconds, "removed": removed}))


if __name__ == "__main__":
    main()
