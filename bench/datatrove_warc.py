"""DataTrove's web pipeline on WARC files, in FineWeb's order: WarcReader -> URLFilter (its
shipped lists) -> Trafilatura (its defaults) -> language ID -> Gopher repetition, Gopher
quality, C4 and FineWeb quality filters -> JSONL, on
``workers`` processes: the anchor for curate's end-to-end WARC figure. Runs in the benchmark
environment (bench/.venv). Its language filter is given the lid.176 model file curate uses
(it would download one).

Usage: bench/.venv/bin/python bench/datatrove_warc.py WARC_DIR OUT_DIR LID_MODEL WORKERS
Prints JSON: seconds, and documents written.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from datatrove.pipeline.filters import LanguageFilter


class ShippedLid(LanguageFilter):
    """LanguageFilter with the given lid.176 file, loaded in the worker (it would download)."""

    def __init__(self, path: str):
        super().__init__(languages=None)
        self.path = path

    def filter(self, doc):
        if getattr(self.model, "_model", None) is None:
            from fasttext.FastText import _FastText

            self.model._model = _FastText(self.path)
        return super().filter(doc)


def main() -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        URLFilter,
    )
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    warc_dir, out_dir, lid, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    files = sorted(Path(warc_dir).glob("*.warc.gz"))
    executor = LocalPipelineExecutor(
        pipeline=[
            WarcReader(warc_dir, glob_pattern="*.warc.gz"),
            URLFilter(),
            Trafilatura(),
            ShippedLid(lid),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(),
            FineWebQualityFilter(),
            JsonlWriter(out_dir),
        ],
        tasks=len(files),
        workers=workers,
        logging_dir=str(Path(out_dir) / "logs"),
    )
    t = time.perf_counter()
    executor.run()
    seconds = time.perf_counter() - t
    kept = sum(1 for p in Path(out_dir).glob("*.jsonl.gz") for _ in __import__("gzip").open(p))
    print(json.dumps({"seconds": seconds, "documents": kept}))


if __name__ == "__main__":
    main()
