"""DataTrove's language filter and heuristic filters (Gopher repetition and quality, C4,
FineWeb) applied one document at a time to a JSONL sample: the anchor for curate's filter
speeds. Runs in the benchmark environment (bench/.venv). DataTrove's language filter would
download lid.176.bin; it is given the same lid.176 model file curate uses instead.

Usage: bench/.venv/bin/python bench/datatrove_filters.py SAMPLE.jsonl LID_MODEL [FILTER]
Prints JSON: seconds per filter, for the chain of all five (in FineWeb's order; a document
stops at its first rejection) and for the four heuristic filters alone; with FILTER, that
filter's seconds only.
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
    LanguageFilter,
)
from fasttext.FastText import _FastText


def _chain(filters: list, texts: list[str]) -> float:
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    t0 = time.perf_counter()
    for d in docs:
        for f in filters:
            r = f.filter(d)
            if r is False or (isinstance(r, tuple) and not r[0]):
                break
    return time.perf_counter() - t0


def main() -> None:
    texts = [json.loads(line)["text"] for line in open(sys.argv[1])]
    langid = LanguageFilter()  # every language kept, as curate's default
    langid.model._model = _FastText(sys.argv[2])
    filters = {
        "langid": langid,
        "gopher_repetition": GopherRepetitionFilter(),
        "gopher_quality": GopherQualityFilter(),
        "c4": C4QualityFilter(),
        "fineweb_quality": FineWebQualityFilter(),
    }
    if len(sys.argv) > 3:
        filters = {sys.argv[3]: filters[sys.argv[3]]}
    for f in filters.values():  # load tokenizers before timing
        f.filter(Document(text="warm up the tokenizers", id="warm"))
    seconds = {}
    for name, f in filters.items():
        docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
        t0 = time.perf_counter()
        for d in docs:
            f.filter(d)
        seconds[name] = time.perf_counter() - t0
    if len(sys.argv) > 3:
        print(json.dumps({"seconds": seconds}))
        return
    seconds["chain"] = _chain(list(filters.values()), texts)
    seconds["heuristic chain"] = _chain([f for k, f in filters.items() if k != "langid"], texts)
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
