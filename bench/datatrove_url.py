"""DataTrove's URLFilter (FineWeb's: its integrated UT1 lists and word rules) on a file of URLs,
one per line: the anchor for curate's url filter. Runs in the benchmark environment
(bench/.venv). tldextract cannot fetch the public suffix list offline and falls back to the
snapshot it ships.

Usage: bench/.venv/bin/python bench/datatrove_url.py URLS.txt REPEAT
Prints JSON: load seconds, resident memory added by the lists (MB), microseconds per URL in
the first pass and in the REPEAT - 1 passes after it, and the URLs removed with their reasons.
"""

from __future__ import annotations

import json
import logging
import sys
import time

import psutil


def main() -> None:
    path, repeat = sys.argv[1], int(sys.argv[2])
    urls = [u.strip() for u in open(path) if u.strip()]
    logging.disable(logging.CRITICAL)
    from datatrove.data import Document
    from datatrove.pipeline.filters import URLFilter

    proc = psutil.Process()
    before = proc.memory_info().rss
    t0 = time.perf_counter()
    f = URLFilter()
    f.download_data()
    f.filter(Document(text="", id="warm", metadata={"url": "https://example.com/"}))
    load_s = time.perf_counter() - t0
    docs = [Document(text="", id=str(i), metadata={"url": u}) for i, u in enumerate(urls)]
    removed, seconds = {}, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for d in docs:
            r = f.filter(d)
            if r is not True:
                removed[d.metadata["url"]] = r[1] if isinstance(r, tuple) else "removed"
        seconds.append(time.perf_counter() - t0)
    out = {
        "load_s": load_s,
        "rss_mb": (proc.memory_info().rss - before) / 1e6,
        "us_first_pass": seconds[0] / len(docs) * 1e6,
        "us_per_url": sum(seconds[1:]) / ((repeat - 1) * len(docs)) * 1e6,
        "removed": removed,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
