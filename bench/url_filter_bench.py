"""The url filter with its shipped lists (UT1 as FineWeb used it, and FineWeb's URL word rules)
beside DataTrove's URLFilter, which ships the same lists: what each removes from real page
URLs, speed and memory. Writes its section of BENCHMARKS.md.

URLs: the pages of the four extraction gold sets that carry one (scrapinghub's 181 articles;
Trafilatura's set, named by URL) and of the shared WARC files: ordinary news, blog and
company pages, so every removal is worth reading. ../shared has no labeled set of adult URLs,
so recall is not measured. Memory: resident memory added by loading the lists and filtering
(curate's domains are a file mapped from disk, shared by a machine's workers; the figure is
what one process touches of it).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from sections import run_anchor, run_or_render

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "evaldata" / "web"
WORK = ROOT / "bench" / "work" / "url"
REPEAT = 20


def urls() -> dict[str, list[str]]:
    from curate.web.documents import read_records

    out: dict[str, list[str]] = {}
    for name in ("scrapinghub_aeb", "trafilatura_eval"):
        rows = [json.loads(line) for line in open(SHARED / "extraction" / name / "gold.jsonl")]
        out[name] = [r["url"] for r in rows if str(r.get("url", "")).startswith("http")]
    out["shared WARC files"] = [
        rec.value["url"]
        for path in sorted((SHARED / "warc").glob("*.warc.gz"))
        for rec in read_records(str(path))
        if getattr(rec, "value", None) and rec.value.get("url")
    ]
    return out


def run_curate(all_urls: list[str]) -> dict:
    import psutil

    from curate.core.document import Document
    from filters.url import UrlFilter

    proc = psutil.Process()
    before = proc.memory_info().rss
    t0 = time.perf_counter()
    f = UrlFilter()
    f.apply(Document("warm", "", 0, url="https://example.com/"))
    load_s = time.perf_counter() - t0
    docs = [Document(str(i), "", 0, url=u) for i, u in enumerate(all_urls)]
    removed, seconds = {}, []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        for d in docs:
            decision = f.apply(d)
            if not decision.keep:
                removed[d.url] = decision.reason
        seconds.append(time.perf_counter() - t0)
    mb = (proc.memory_info().rss - before) / 1e6
    return {
        "load_s": load_s,
        "rss_mb": mb,
        "us_first_pass": seconds[0] / len(docs) * 1e6,
        "us_per_url": sum(seconds[1:]) / ((REPEAT - 1) * len(docs)) * 1e6,
        "removed": removed,
    }


def run_datatrove(all_urls: list[str]) -> dict | None:
    WORK.mkdir(parents=True, exist_ok=True)
    listing = WORK / "urls.txt"
    listing.write_text("".join(u + "\n" for u in all_urls))
    return run_anchor("datatrove_url.py", listing, REPEAT)


def run() -> dict:
    sets = urls()
    all_urls = sorted({u for us in sets.values() for u in us})
    out = {
        "sets": {k: sorted(set(v)) for k, v in sets.items()},
        "curate": run_curate(all_urls),
        "datatrove": run_datatrove(all_urls),
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "url_filter_bench.json").write_text(json.dumps(out, indent=1))
    return out


def render(r: dict) -> list[str]:
    tools = [("curate `url: {}`", r["curate"]), ("DataTrove `URLFilter()`", r["datatrove"])]
    tools = [(name, t) for name, t in tools if t is not None]
    lines = [
        "## URL filter, shipped lists (issue 21)",
        "",
        f"{r['date']}, {r['machine']}, one core; `make bench` (`bench/url_filter_bench.py`).",
        "",
        "Both use the UT1 lists and FineWeb's URL word rules from DataTrove's wheel (curate",
        "compiles them, `make url-lists`). The URLs are real pages of ordinary sites (news,",
        "blogs, companies); no labeled set of adult URLs is in ../shared, so recall is not",
        "measured. Memory: resident memory the lists add to one process (curate's domains are",
        "a file mapped from disk and shared by a machine's workers).",
        "",
        "| | " + " | ".join(name for name, _ in tools) + " |",
        "|---|" + "---:|" * len(tools),
    ]
    for set_name, set_urls in r["sets"].items():
        cells = [f"{sum(u in t['removed'] for u in set_urls)} of {len(set_urls)}" for _, t in tools]
        lines.append(f"| removed: {set_name} | " + " | ".join(cells) + " |")
    lines += [
        "| µs per URL, first pass (every host new) | "
        + " | ".join(f"{t['us_first_pass']:.1f}" for _, t in tools)
        + " |",
        f"| µs per URL, passes 2-{REPEAT} (hosts seen before, as in a crawl) | "
        + " | ".join(f"{t['us_per_url']:.1f}" for _, t in tools)
        + " |",
        "| load, s | " + " | ".join(f"{t['load_s']:.2f}" for _, t in tools) + " |",
        "| memory added, MB | " + " | ".join(f"{t['rss_mb']:.0f}" for _, t in tools) + " |",
        "",
        "Removed by curate (reason):",
        "",
    ]
    lines += [f"- {u} ({why})" for u, why in sorted(r["curate"]["removed"].items())]
    if r["datatrove"] is not None:
        only = sorted(set(r["datatrove"]["removed"]) ^ set(r["curate"]["removed"]))
        lines += ["", f"Removed by one of the two only: {len(only)}."]
        lines += [f"- {u}" for u in only]
    return lines


def main() -> None:
    run_or_render("url-filter-bench", SHARED, WORK / "url_filter_bench.json", run, render)


if __name__ == "__main__":
    main()
