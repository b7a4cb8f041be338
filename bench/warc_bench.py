"""End-to-end web crawl build: the four extraction gold sets' HTML (2,267 real pages, 272 MB)
wrapped as a crawl (request, response and metadata records, a gzip member each, four crawl
snapshots with spread dates) and built by curate (reading, extraction, the URL filter with
its shipped lists, language ID, the heuristic filters, exact and near dedup, tokenization,
shards; two worker processes) beside DataTrove's WarcReader -> URLFilter -> Trafilatura -> the
same filters on the same files (FineWeb's order; two workers, in bench/.venv). Writes its
section of BENCHMARKS.md.
"""

from __future__ import annotations

import gzip
import json
import platform
import random
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sections import run_anchor, run_or_render

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOLD = ROOT.parent / "shared" / "evaldata" / "web" / "extraction"
WORK = ROOT / "bench" / "work" / "warc"
CRAWLS = ("CC-BENCH-2019-10", "CC-BENCH-2020-10", "CC-BENCH-2021-10", "CC-BENCH-2022-10")
FILES_PER_CRAWL = 2


def make_crawl() -> dict:
    from curate.demo.web import http_response, record

    rng = random.Random(0)
    pages = []
    for gold in sorted(GOLD.glob("*/gold.jsonl")):
        for line in open(gold):
            d = json.loads(line)
            url = d.get("url") or f"https://{gold.parent.name}.example/{d['id']}"
            pages.append((url, gzip.open(gold.parent / d["html_file"]).read()))
    rng.shuffle(pages)
    inp = WORK / "in"
    shutil.rmtree(inp, ignore_errors=True)
    inp.mkdir(parents=True)
    n_files = len(CRAWLS) * FILES_PER_CRAWL
    html_bytes = 0
    for f in range(n_files):
        crawl = CRAWLS[f // FILES_PER_CRAWL]
        start = datetime(int(crawl[9:13]), 3, 1, tzinfo=timezone.utc)
        chunks = [record("warcinfo", rng, start, f"isPartOf: {crawl}\r\n".encode())]
        for url, html in pages[f::n_files]:
            when = start + timedelta(minutes=rng.randint(0, 60 * 24 * 14))
            chunks.append(
                record("request", rng, when, b"GET / HTTP/1.1\r\n\r\n", WARC_Target_URI=url)
            )
            body = http_response(html, Content_Type="text/html")
            chunks.append(record("response", rng, when, body, WARC_Target_URI=url))
            chunks.append(
                record("metadata", rng, when, b"fetchTimeMs: 100\r\n", WARC_Target_URI=url)
            )
            html_bytes += len(html)
        (inp / f"{crawl}-{f % FILES_PER_CRAWL:05d}.warc.gz").write_bytes(b"".join(chunks))
    gz = sum(p.stat().st_size for p in inp.glob("*.warc.gz"))
    return {"pages": len(pages), "html_bytes": html_bytes, "files": n_files, "gzip_bytes": gz}


def run_curate() -> dict:
    cfg = {
        "input": {"paths": [str(WORK / "in" / "*.warc.gz")], "max_doc_bytes": 20_000_000},
        "filters": [
            {"url": {}},
            {"langid": {}},
            {"gopher_repetition": {}},
            {"gopher_quality": {}},
            {"c4": {}},
            {"fineweb_quality": {}},
        ],
        "dedup": {"exact": True, "near": {"threshold": 0.8}},
        "tokenizer": {"path": str(WORK / "tokenizer.json")},
        "temporal": {
            "period": "crawl",
            "splits": {"train": [None, "2022-01-01"], "test": ["2022-01-01", None]},
        },
        "output": {"dir": str(WORK / "out-curate")},
    }
    import yaml

    (WORK / "curate.yaml").write_text(yaml.safe_dump(cfg))
    # a tokenizer trained beforehand, as a user has one: the timed build reads every page once
    train = {**cfg, "tokenizer": {"train": {"vocab_size": 8000, "sample_docs": 1000}}}
    (WORK / "train.yaml").write_text(yaml.safe_dump(train))
    curate = str(ROOT / ".venv" / "bin" / "curate")
    subprocess.run(
        [
            curate,
            "train-tokenizer",
            str(WORK / "train.yaml"),
            "--out",
            str(WORK / "tokenizer.json"),
            "--vocab-size",
            "8000",
            "--sample-docs",
            "1000",
        ],
        check=True,
        capture_output=True,
    )
    t = time.perf_counter()
    subprocess.run(
        [curate, "build", str(WORK / "curate.yaml"), "--overwrite"],
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - t
    stats = json.loads((WORK / "out-curate" / "stats.json").read_text())
    return {"seconds": seconds, "documents": stats["kept"]["documents"], "stats": stats}


def run_datatrove() -> dict | None:
    out = WORK / "out-datatrove"
    shutil.rmtree(out, ignore_errors=True)
    lid = ROOT / "filters" / "models" / "lid.176.ftz"
    return run_anchor("datatrove_warc.py", WORK / "in", out, lid, 2)


def run() -> dict:
    corpus = make_crawl()
    result = {
        "corpus": corpus,
        "curate": run_curate(),
        "datatrove": run_datatrove(),
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    result["curate"].pop("stats")
    (WORK / "warc_bench.json").write_text(json.dumps(result, indent=1))
    return result


def render(r: dict) -> list[str]:
    c = r["corpus"]
    mb = c["html_bytes"] / 1e6
    lines = [
        "## Web crawl build, end to end (issue 21)",
        "",
        f"{r['date']}, {r['machine']}, 2 cores; `make bench` (`bench/warc_bench.py`).",
        "",
        f"The four extraction gold sets' pages ({c['pages']:,} real pages, {mb:.0f} MB of HTML)"
        f" as a crawl: {c['files']} WARC files ({c['gzip_bytes'] / 1e6:.0f} MB gzipped) of"
        " request, response and metadata records over four crawl snapshots.",
        "",
        "| pipeline | seconds | MB/s (HTML) | pages/s | documents kept |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (
        (
            "curate",
            "curate: read, extract (default), URL lists, language ID, 4 heuristic filters, exact + near dedup, tokenize (a trained tokenizer), shards",
        ),
        (
            "datatrove",
            "DataTrove: WarcReader, URLFilter (the same lists), Trafilatura, language ID, the same 4 filters, JSONL",
        ),
    ):
        m = r.get(name)
        if not m:
            continue
        lines.append(
            f"| {label} | {m['seconds']:.0f} | {mb / m['seconds']:.1f} | "
            f"{c['pages'] / m['seconds']:.0f} | {m['documents']:,} |"
        )
    return lines


def main() -> None:
    run_or_render("warc-bench", GOLD, WORK / "warc_bench.json", run, render)


if __name__ == "__main__":
    main()
