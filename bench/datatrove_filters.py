"""DataTrove's heuristic filters (Gopher repetition and quality, C4, FineWeb) applied one
document at a time to a JSONL sample: the anchor for curate's filter speeds. Runs in the
benchmark environment (bench/.venv). Its language filter is left out: it downloads its model.

Usage: bench/.venv/bin/python bench/datatrove_filters.py SAMPLE.jsonl
Prints JSON: seconds per filter and for the chain (a document stops at its first rejection).
"""

from __future__ import annotations

import json
import sys
import time

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)


def main() -> None:
    texts = [json.loads(line)["text"] for line in open(sys.argv[1])]
    filters = {
        "gopher_repetition": GopherRepetitionFilter(),
        "gopher_quality": GopherQualityFilter(),
        "c4": C4QualityFilter(),
        "fineweb_quality": FineWebQualityFilter(),
    }
    for f in filters.values():  # load tokenizers before timing
        f.filter(Document(text=texts[0], id="warm"))
    seconds = {}
    for name, f in filters.items():
        docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
        t0 = time.perf_counter()
        for d in docs:
            f.filter(d)
        seconds[name] = time.perf_counter() - t0
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    t0 = time.perf_counter()
    for d in docs:
        for f in filters.values():
            r = f.filter(d)
            if r is False or (isinstance(r, tuple) and not r[0]):
                break
    seconds["chain"] = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
