"""HTML main-content extraction: quality and speed per extractor on the four gold sets in
../shared/evaldata/web/extraction. Writes its section of BENCHMARKS.md.

Quality is word-level: precision, recall and F1 of the extracted words against the gold text's
(multisets of case-folded words). The Trafilatura set's gold is snippets: the share of must-have
snippets found and of must-not snippets absent (case and white space folded), and their harmonic
mean as its F1. Speed is pages per second on one core, decoding included, for every page.
"""

from __future__ import annotations

import gzip
import json
import platform
import re
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from sections import run_or_render

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOLD = ROOT.parent / "shared" / "evaldata" / "web" / "extraction"
WORK = ROOT / "bench" / "work" / "extraction"
SETS = ("scrapinghub_aeb", "mozilla_readability", "dragnet_train", "trafilatura_eval")
EXTRACTORS = (
    "resiliparse",
    "trafilatura_defaults",
    "trafilatura",
    "fallback",
    "trafilatura_then_resiliparse",
    "datatrove_trafilatura",
)
_WORD = re.compile(r"\w+")


def tokens(text: str) -> Counter:
    return Counter(_WORD.findall(text.casefold()))


def prf(extracted: str, gold: str) -> tuple[float, float, float]:
    a, b = tokens(extracted), tokens(gold)
    common = sum((a & b).values())
    p = common / sum(a.values()) if a else 0.0
    r = common / sum(b.values()) if b else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def snippets(extracted: str, with_: list[str], without: list[str]) -> tuple[float, float, float]:
    text = _fold(extracted)
    found = sum(_fold(s) in text for s in with_) / len(with_) if with_ else 1.0
    absent = sum(_fold(s) not in text for s in without) / len(without) if without else 1.0
    return absent, found, (2 * found * absent / (found + absent) if found + absent else 0.0)


def run_extractor(name: str, html: str):
    from curate.web.html import Extracted, extract

    if name == "trafilatura_defaults":  # as a user calls it: comments kept, its fallbacks on
        import logging

        import trafilatura

        logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # an ERROR per empty page
        return Extracted(trafilatura.extract(html) or "")
    if name == "datatrove_trafilatura":  # DataTrove's Trafilatura step, with its defaults
        import trafilatura

        text = trafilatura.extract(
            html, favor_precision=True, include_comments=False, deduplicate=True
        )
        return Extracted(text or "")

    if name == "trafilatura_then_resiliparse":  # the reference combination, Trafilatura first
        first = extract(html, "trafilatura")
        if len(first.text.split()) >= 50:
            return first
        second = extract(html, "resiliparse")
        return second if len(second.text.split()) > len(first.text.split()) else first
    return extract(html, name)


def load(name: str) -> list[dict]:
    pages = []
    for line in open(GOLD / name / "gold.jsonl"):
        d = json.loads(line)
        d["html"] = gzip.open(GOLD / name / d["html_file"]).read()
        pages.append(d)
    return pages


def run() -> dict:
    from curate.web.html import decode_html

    out: dict = {"sets": {}}
    for set_name in SETS:
        pages = load(set_name)
        out["sets"][set_name] = {"pages": len(pages)}
        for ext in EXTRACTORS:
            scores = []
            t = time.perf_counter()
            for page in pages:
                html, _, _ = decode_html(page["html"])
                text = run_extractor(ext, html).text
                if set_name == "trafilatura_eval":
                    scores.append(snippets(text, page.get("with") or [], page.get("without") or []))
                else:
                    scores.append(prf(text, page["gold_text"]))
            seconds = time.perf_counter() - t
            n = len(scores)
            out["sets"][set_name][ext] = {
                "precision": sum(s[0] for s in scores) / n,
                "recall": sum(s[1] for s in scores) / n,
                "f1": sum(s[2] for s in scores) / n,
                "pages_per_s": n / seconds,
            }
            print(set_name, ext, out["sets"][set_name][ext], flush=True)
    out["machine"] = f"{platform.processor() or platform.machine()}, {platform.python_version()}"
    out["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "extraction_bench.json").write_text(json.dumps(out, indent=1))
    return out


def render(r: dict) -> list[str]:
    lines = [
        "## HTML extraction (issue 21)",
        "",
        f"{r['date']}, {r['machine']}, one core; `make bench` (`bench/extraction_bench.py`).",
        "",
        "Word-level precision / recall / F1 against the gold text, averaged over pages; for the",
        "Trafilatura set (snippet gold) the share of must-not snippets absent / must-have",
        "snippets found / their harmonic mean. Pages per second on one core, decoding included.",
        "`fallback` (curate's default): Trafilatura in recall mode without its own fallbacks,",
        "then Resiliparse when that keeps under 50 words; `trafilatura_then_resiliparse`: full",
        "Trafilatura, then Resiliparse under 50 words (the combination the issue cites);",
        "`datatrove_trafilatura`: Trafilatura as DataTrove's extractor step calls it (favour",
        "precision, deduplicate); `trafilatura_defaults`: `trafilatura.extract(html)` as it",
        "comes (reader comments kept, which the gold texts leave out); `trafilatura`: curate's",
        "`trafilatura` extractor, the same without comments.",
        "",
        "| extractor | " + " | ".join(SETS) + " | macro F1 | pages/s (all sets) |",
        "|---|" + "---:|" * (len(SETS) + 2),
    ]
    for ext in EXTRACTORS:
        cells, total_pages, total_s = [], 0, 0.0
        for s in SETS:
            m = r["sets"][s][ext]
            cells.append(f"{m['precision']:.3f} / {m['recall']:.3f} / **{m['f1']:.3f}**")
            total_pages += r["sets"][s]["pages"]
            total_s += r["sets"][s]["pages"] / m["pages_per_s"]
        macro = sum(r["sets"][s][ext]["f1"] for s in SETS) / len(SETS)
        lines.append(
            f"| {ext} | " + " | ".join(cells) + f" | {macro:.3f} | {total_pages / total_s:.0f} |"
        )
    return lines


def main() -> None:
    run_or_render("extraction-bench", GOLD, WORK / "extraction_bench.json", run, render)


if __name__ == "__main__":
    main()
