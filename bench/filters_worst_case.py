"""Filters on pathological documents: 1 MB texts built to hit the worst case of a pattern or a
count (one unbroken run, runs of dots, digits, URLs, CJK, bare newlines, combining marks), the
kind a web crawl carries. A filter whose cost grows faster than its input stalls a worker on
one such page; the figure to read is the slowest document per filter. DataTrove's filters on
the same file are the anchor (bench/.venv). Writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from sections import replace_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "bench" / "work"
SIZE = 1_000_000


def documents() -> dict[str, str]:
    rng = random.Random(0)
    words = "the of and to in is was for on that with as by at from".split()
    return {
        "prose words, one line": " ".join(rng.choice(words) for _ in range(SIZE // 4)),
        "short lines": "\n".join(
            " ".join(rng.choice(words) for _ in range(8)) for _ in range(SIZE // 40)
        ),
        "one unbroken run": "a" * SIZE,
        "letters and dots, one @": "a." * (SIZE // 2) + "@",
        "letters and dashes, one @": "a-" * (SIZE // 2) + " x@",
        "digits and spaces": "1 " * (SIZE // 2),
        "PEM headers without an end": "-----BEGIN RSA PRIVATE KEY-----" * (SIZE // 31),
        "CJK": "漢字かな" * (SIZE // 12),
        "bare newlines": "\n" * SIZE,
        "punctuation": "!?" * (SIZE // 2),
        "one paragraph repeated": ("word " * 50 + "\n\n") * (SIZE // 252),
        "URLs": " ".join(f"http://a{i}.com/x" for i in range(SIZE // 18)),
        "combining marks": "a" + "\u0301" * (SIZE // 2),
        "a run of spaces inside a line": "Words before." + " " * SIZE + "and after.",
        "a run of dots before a letter": "." * SIZE + "a",
        "unclosed tags": "<img <title><html lang " * (SIZE // 23),
    }


def ours(docs: dict[str, str]) -> dict[str, dict[str, float]]:
    """Seconds per stage and document: normalization, every filter of the default chain, and
    the tokenizer (the demo corpus's, fast path)."""
    from curate.core.document import Document
    from curate.core.normalize import normalize_text
    from filters.registry import DEFAULT_FILTERS, build_filters
    from tokenization.bpe import Encoder, load_tokenizer

    def timed(fn) -> dict[str, float]:
        out = {}
        for name, text in docs.items():
            t0 = time.perf_counter()
            fn(text)
            out[name] = time.perf_counter() - t0
        return out

    out = {"normalize": timed(normalize_text)}
    for f in build_filters(DEFAULT_FILTERS):
        f.apply(Document(id="warm", text="warm up the model", timestamp=0))
        out[f.name] = timed(lambda text, f=f: f.apply(Document(id="x", text=text, timestamp=0)))
    tokenizer = ROOT / "out" / "demo" / "tokenizer.json"  # make corpus writes it
    if tokenizer.exists():
        enc = Encoder(load_tokenizer(str(tokenizer)), "<|endoftext|>")
        out[f"tokenize ({enc.backend})"] = timed(lambda text: enc.encode_batch([text]))
    return out


def theirs(docs: dict[str, str], limit: float) -> dict[str, dict[str, float | None]]:
    """Each of DataTrove's five filters on each document alone, in a process of its own
    stopped after ``limit`` seconds (None: stopped)."""
    from filters.langid import lid_model_path

    out: dict[str, dict[str, float | None]] = {}
    for name, text in docs.items():
        path = WORK / "filters-worst-case-doc.jsonl"
        path.write_text(json.dumps({"text": text}) + "\n")
        for f in ("langid", "gopher_repetition", "gopher_quality", "c4", "fineweb_quality"):
            try:
                dt = subprocess.run(
                    [str(ROOT / "bench" / ".venv" / "bin" / "python"),
                     str(ROOT / "bench" / "datatrove_filters.py"), str(path), lid_model_path(),
                     f],
                    capture_output=True, text=True, check=True, timeout=limit,
                )  # fmt: skip
                out.setdefault(f, {})[name] = json.loads(dt.stdout.strip().splitlines()[-1])[
                    "seconds"
                ][f]
            except subprocess.TimeoutExpired:
                out.setdefault(f, {})[name] = None
    return out


def _cell(per_doc: dict[str, float | None], limit: float) -> tuple[str, str]:
    """(the slowest document, the total) of one stage; a stopped document counts ``limit``."""
    stopped = [d for d, s in per_doc.items() if s is None]
    total = sum(s for s in per_doc.values() if s is not None) + limit * len(stopped)
    if stopped:
        more = f" and {len(stopped) - 1} more" if len(stopped) > 1 else ""
        return f"over {limit:.0f} s ({stopped[0]}{more})", f"over {total:.0f}"
    worst = max(per_doc, key=per_doc.get)
    return f"{per_doc[worst]:.2f} s ({worst})", f"{total:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--limit", type=float, default=60, help="seconds per document, DataTrove")
    args = ap.parse_args()
    docs = documents()
    WORK.mkdir(parents=True, exist_ok=True)
    mine, other = ours(docs), theirs(docs, args.limit)
    lines = [
        "## Filters on pathological documents",
        "",
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; machine: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; one process",
        "- Command: `make bench` (`python bench/filters_worst_case.py`)",
        f"- {len(docs)} documents of about 1 MB each: {', '.join(docs)}. Each stage on each "
        "document alone; a stage whose cost grows faster than its input stalls a worker on one "
        f"such page. DataTrove 0.10's filters on the same documents (bench/.venv), each document "
        f"in a process of its own, stopped after {args.limit:.0f} s.",
        "",
        "| stage | curate, slowest document | curate, all (s) | DataTrove, slowest document "
        "| DataTrove, all (s) |",
        "|---|---|---:|---|---:|",
    ]
    for stage, per_doc in mine.items():
        worst, total = _cell(per_doc, args.limit)
        row = f"| {stage} | {worst} | {total} |"
        if stage in other:
            row += " {} | {} |".format(*_cell(other[stage], args.limit))
        else:
            row += " n/a | |"
        lines.append(row)
    replace_section(Path(args.out), "filters-worst-case", lines)


if __name__ == "__main__":
    main()
