"""Single-machine ceiling: peak memory of the whole build (driver and workers) at 1x, 16x and
64x the benchmark corpus, exact and near dedup, on the default FnApiRunner. Writes its section
of BENCHMARKS.md (issue 25: at most 1.5x the 1x peak at 16x and 64x, with near-dedup on).

The corpora are build_bench's: the Nx corpus is N parts, each generated like the 1x corpus and
passed through its own word cipher, so duplicates grow with the data as in a real crawl.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import psutil
from build_bench import PROSE, WORK, make_corpus, run_build
from sections import replace_section

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--mb", type=int, default=100, help="size of the 1x corpus")
    ap.add_argument("--scales", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--exact-scales", type=int, nargs="*", default=[16],
                    help="scales also built with exact dedup alone")  # fmt: skip
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--render", action="store_true", help="rewrite the section from the last run")
    args = ap.parse_args()
    if args.render:
        rows = json.loads((WORK / "scale_bench.json").read_text())
        done = datetime.fromtimestamp((WORK / "scale_bench.json").stat().st_mtime, timezone.utc)
        write_section(Path(args.out), args, rows, done)
        return
    if not PROSE.exists():
        sys.exit(f"benchmark data not found: {PROSE}")
    tok = WORK / "scale-tokenizer.json"
    if not tok.exists():  # trained once, outside the measured builds
        corpus = WORK / f"corpus-{args.mb}mb"
        make_corpus(corpus, args.mb * 1_000_000)
        run_build(corpus, WORK / "scale-tokenizer", args.workers, None)
        tok.write_bytes((WORK / "scale-tokenizer" / "tokenizer.json").read_bytes())
    rows = []
    for near in (False, True):
        for scale in [1, *(args.scales if near else args.exact_scales)]:
            corpus = WORK / f"corpus-{args.mb * scale}mb"
            docs, nbytes = make_corpus(corpus, args.mb * scale * 1_000_000, parts=scale)
            out = WORK / f"scale-{scale}x-{'near' if near else 'exact'}"
            r = run_build(corpus, out, args.workers, tok, near=near)
            rows.append({"scale": scale, "near": near, "docs": docs, "bytes": nbytes, **r})
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "stats"}), flush=True)
            partial = WORK / "scale_bench.partial.json"  # what a failed run measured
            partial.write_text(json.dumps(rows, indent=1, default=str))
    write_section(Path(args.out), args, rows)


def write_section(path: Path, args, rows: list[dict], done: datetime | None = None) -> None:
    vm = psutil.virtual_memory().total / 2**30
    machine = f"{platform.node() or 'host'}: {os.cpu_count()} cores, {vm:.0f} GiB RAM, {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    scales = " ".join(map(str, args.scales))
    named = " and ".join(f"{x}x" for x in args.scales)
    lines = [
        "## Single-machine ceiling (issue 25)",
        "",
        f"- Date: {(done or datetime.now(timezone.utc)).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine}",
        f"- Command: `make bench-scale` (`python bench/scale_bench.py --mb {args.mb} --scales {scales} --workers {args.workers}`)",
        f"- Runner: FnApiRunner, `multi_processing`, {args.workers} workers (the default); filters: gopher_quality; byte-level BPE 32k; corpora as in the end-to-end section (the Nx corpus is N ciphered parts, so duplicates grow with the data)",
        "- Memory sampled every 0.2 s over the whole process tree (driver and SDK workers); PSS splits shared pages between processes",
        "",
        "| corpus | dedup | documents | input MB | wall s | MB/s | duplicates | near pairs verified | peak PSS MB | peak anonymous MB | PSS vs 1x |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = {r["near"]: r for r in rows if r["scale"] == 1}
    for r in rows:
        pairs = r["stats"].get("near_dedup", {}).get("pairs_verified")
        ratio = r["peak_pss_mb"] / base[r["near"]]["peak_pss_mb"]
        lines.append(
            f"| {r['scale']}x | {'exact + near' if r['near'] else 'exact'} | {r['docs']:,} | {r['bytes'] / 1e6:,.0f} | {r['wall_s']:,.1f} | {r['bytes'] / r['wall_s'] / 1e6:.2f} | {r['stats']['duplicates']['total']:,} | {f'{pairs:,}' if pairs else ''} | {r['peak_pss_mb']:,.0f} | {r['peak_anon_mb']:,.0f} | {ratio:.2f}x |"
        )
    near = [r for r in rows if r["near"]]
    small, big = near[0], near[-1]
    slope = (big["peak_pss_mb"] - small["peak_pss_mb"]) / (big["docs"] - small["docs"]) * 1e3
    per_gb = (big["peak_pss_mb"] - small["peak_pss_mb"]) / ((big["bytes"] - small["bytes"]) / 1e9)
    lines += [
        "",
        f"- Target: peak PSS at {named} within 1.5x of the 1x figure with near-dedup on. Measured: "
        + ", ".join(
            f"{r['scale']}x {r['peak_pss_mb'] / small['peak_pss_mb']:.2f}x" for r in near[1:]
        )
        + ".",
        f"- Slope with near-dedup, 1x to {big['scale']}x: {slope:.3f} KB of peak PSS per added document ({per_gb:,.1f} MB per added GB of input).",
    ]
    replace_section(path, "scale-bench", lines)
    (WORK / "scale_bench.json").write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
