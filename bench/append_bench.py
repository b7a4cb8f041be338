"""Appends (docs/append.md): what appending one period costs beside building that period alone,
with a 1x and a 4x corpus already there, whether a corpus grown by four appends equals the full
build, and the size of the saved dedup state. Writes its section of BENCHMARKS.md.

Data: the demo generator's documents, one JSONL file per year (``curate demo-data --by-year``),
with its planted exact and near copies (later copies of earlier years' articles). Every build
uses the demo's filter chain, exact, near and line dedup, and one tokenizer trained beforehand, so the
builds differ only in what they read and what they deduplicate against. Needs no ../shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml
from measure import run_measured
from sections import replace_section

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "append"
CURATE = str(Path(sys.executable).with_name("curate"))
FIRST, APPENDED, LATER = ("2016", "2017", "2018", "2019"), "2020", ("2021", "2022", "2023")


def _config(tokenizer: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg.pop("decontamination")
    cfg["dedup"]["lines"] = {}  # every kind of saved state: exact, near and line dedup
    cfg["tokenizer"] = {"path": str(tokenizer)}
    cfg["output"] = {"dir": str(WORK / "unused")}
    path = WORK / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _curate(*args: str) -> dict:
    m = run_measured([CURATE, *args])
    if m.returncode != 0:
        sys.exit(f"curate {' '.join(args)} failed:\n{m.stderr[-3000:]}")
    return {"seconds": round(m.wall_s, 2), "peak_pss_mb": round(m.peak_pss_mb, 1)}


def _build(cfg: Path, out: Path, years: tuple[str, ...], append: bool = False) -> dict:
    args = ["build", str(cfg), "--output", str(out)]
    for y in years:
        args += ["--input", str(WORK / "data" / "by_year" / f"{y}.jsonl")]
    return _curate(*args, "--append" if append else "--overwrite")


def _kept(out: Path) -> int:
    return json.loads((out / "stats.json").read_text())["kept"]["documents"]


def _state_bytes(out: Path) -> dict[str, int]:
    """Bytes of the saved dedup state by kind (docs, exact, bands, lines), every increment."""
    sizes: dict[str, int] = {}
    for p in out.rglob("*"):
        parts = p.relative_to(out).parts
        if p.is_file() and "dedup" in parts:
            kind = parts[parts.index("dedup") + 1]
            sizes[kind] = sizes.get(kind, 0) + p.stat().st_size
    return dict(sorted(sizes.items()))


def run(docs: int) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    _curate("demo-data", str(WORK / "data"), "--docs", str(docs), "--by-year", "--web", "0",
            "--pairs", "0", "--interleaved", "0")  # fmt: skip
    base_cfg = WORK / "train.yaml"
    tok_cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    tok_cfg["input"]["paths"] = [str(WORK / "data" / "by_year" / "2016.jsonl")]
    base_cfg.write_text(yaml.safe_dump(tok_cfg))
    tokenizer = WORK / "tokenizer.json"
    _curate("train-tokenizer", str(base_cfg), "--out", str(tokenizer), "--vocab-size", "8000")
    cfg = _config(tokenizer)
    r: dict = {"docs": docs}
    r["alone"] = _build(cfg, WORK / "alone", (APPENDED,))
    one, four = WORK / "grown-1x", WORK / "grown-4x"
    _build(cfg, one, FIRST[-1:])
    r["existing_1x"] = _kept(one)
    r["append_1x"] = _build(cfg, one, (APPENDED,), append=True)
    _build(cfg, four, FIRST)
    r["existing_4x"] = _kept(four)
    r["append_4x"] = _build(cfg, four, (APPENDED,), append=True)
    r["later"] = [_build(cfg, four, (y,), append=True) for y in LATER]
    r["full"] = _build(cfg, WORK / "full", (*FIRST, APPENDED, *LATER))
    cmp = run_measured([CURATE, "compare", str(four), str(WORK / "full")])
    r["compare"] = {"equal": cmp.returncode == 0, "output": cmp.stdout.strip()[-500:]}
    r["kept_total"] = _kept(four)
    r["state_bytes"] = _state_bytes(four)
    r["state_docs"] = json.loads((four / "stats.json").read_text())["input_records"]
    stats = [json.loads((four / "stats.json").read_text()), json.loads(
        (WORK / "full" / "stats.json").read_text())]  # fmt: skip
    r["stats_equal"] = stats[0] == stats[1]
    r["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    r["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (WORK / "append_bench.json").write_text(json.dumps(r, indent=1))
    return r


def render(r: dict) -> list[str]:
    alone = r["alone"]
    rows = [
        ("building the period alone", alone, None),
        (f"appending it to a 1x corpus ({r['existing_1x']:,} documents)", r["append_1x"], alone),
        (f"appending it to a 4x corpus ({r['existing_4x']:,} documents)", r["append_4x"], alone),
    ]
    state = r["state_bytes"]
    per_million = {k: v / max(r["kept_total"], 1) * 1e6 / 1e9 for k, v in state.items()}
    parts = ", ".join(f"{k} {v:.2f}" for k, v in per_million.items())
    lines = [
        "## Appends",
        "",
        f"{r['machine']}; {r['date']}; `python bench/append_bench.py` (`make bench`). The demo "
        f"generator's {r['docs']:,} documents with their planted copies, one file per year; "
        "the demo's filter chain, exact, near and line dedup, one tokenizer for every build. The "
        f"appended period is {APPENDED} (docs/append.md).",
        "",
        "| | seconds | x alone | peak PSS (MB) | x alone |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m, ref in rows:
        t = f"{m['seconds'] / ref['seconds']:.2f}" if ref else "1"
        p = f"{m['peak_pss_mb'] / ref['peak_pss_mb']:.2f}" if ref else "1"
        lines.append(f"| {name} | {m['seconds']:.1f} | {t} | {m['peak_pss_mb']:,.0f} | {p} |")
    later = ", ".join(f"{m['seconds']:.1f}" for m in r["later"])
    lines += [
        "",
        f"- **Four appends equal the full build**: {FIRST[0]}-{FIRST[-1]} built, then "
        f"{APPENDED} and {', '.join(LATER)} appended (the last three in {later} s), against one "
        f"build of all eight years ({r['full']['seconds']:.1f} s): "
        f"{'the same' if r['compare']['equal'] else 'NOT the same'} "
        f"{r['kept_total']:,} documents, splits, periods and tokens (`curate compare`), and "
        f"stats.json {'equal' if r['stats_equal'] else 'DIFFERENT'} to the count.",
        f"- **Saved dedup state**: {sum(state.values()) / 1e6:,.1f} MB for {r['kept_total']:,} "
        f"kept documents ({r['state_docs']:,} input records): "
        f"{sum(per_million.values()):.2f} GB per million kept documents ({parts}). The "
        "document tables hold every document that reached dedup, kept or not, with its "
        "128-permutation signature (512 bytes) and, for exact verification, its shingle hashes "
        "(4 bytes each); docs/append.md has the layout.",
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--docs", type=int, default=96000)
    ap.add_argument("--render", action="store_true", help="rewrite the section from the last run")
    args = ap.parse_args()
    r = json.loads((WORK / "append_bench.json").read_text()) if args.render else run(args.docs)
    replace_section(Path(args.out), "append", render(r))


if __name__ == "__main__":
    main()
