"""``manifest.json`` and ``DATACARD.md`` built from a build's small results, and the three
report files written last: stats and data card first, the manifest, which marks a complete
corpus, after them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from curate import __version__
from curate.core.document import UNDATED
from curate.core.fileio import join, write_bytes
from curate.core.timeparse import parse_timestamp_us
from curate.temporal.rules import in_time_order, training_split, windows

MANIFEST_VERSION = 1


def build_manifest(
    config: dict,
    config_hash: str,
    tokenizer: dict,
    shards: list[dict],
    record_files: list[dict],
    out_dir: str,
    inputs: Sequence[str] = (),
) -> dict[str, Any]:
    """Every path relative to ``out_dir``, so a corpus can be moved or copied whole. The
    first increment is the build itself: its ``inputs`` (the files an append skips) and
    counts."""
    shards = sorted(shards, key=lambda s: s["path"])
    prefix = out_dir.rstrip("/") + "/"
    record_files = [
        {**r, "path": r["path"][len(prefix) :] if r["path"].startswith(prefix) else r["path"]}
        for r in record_files
    ]
    return {
        "format": "curate-corpus",
        "format_version": MANIFEST_VERSION,
        "curate_version": __version__,
        "config_hash": config_hash,
        "config": config,
        "tokenizer": tokenizer,
        "schema": "see docs/build.md: Shard schema",
        "shards": shards,
        "records": sorted(record_files, key=lambda r: r["path"]),
        "views": split_views(config["temporal"], shards),
        "increments": [increment_entry(0, ".", inputs, shards)],
    }


def increment_entry(index: int, path: str, inputs: Sequence[str], shards: list[dict]) -> dict:
    """One build or append in the manifest's chain: its folder, the input files it read, and
    what it kept (documents, tokens, time range)."""
    times = [t for s in shards for t in (s.get("min_time"), s.get("max_time")) if t]
    return {
        "index": index,
        "path": path,
        "inputs": list(inputs),
        "documents": sum(s["documents"] for s in shards),
        "tokens": sum(s["tokens"] for s in shards),
        "min_time": min(times) if times else None,
        "max_time": max(times) if times else None,
    }


def split_views(temporal: dict, shards: list[dict]) -> dict[str, Any]:
    """Split designs that select from the shards instead of copying documents: evaluation
    windows over the periods, and the training split's size-matched control."""
    held = (temporal.get("held_out") or {}).get("split")
    pool = [s for s in shards if s["split"] != held and s["period"] != UNDATED]
    views: dict[str, Any] = {}
    if temporal.get("windows"):
        first: dict[str, int] = {}
        for s in pool:
            if s.get("min_time"):
                t = parse_timestamp_us(s["min_time"])
                first[s["period"]] = min(first.get(s["period"], t), t)
        periods = in_time_order({s["period"] for s in pool}, first)
        views["windows"] = windows(periods, SimpleNamespace(**temporal["windows"]))
    if temporal.get("control"):
        splits = temporal["splits"]
        name = training_split(splits)
        target = sum(s["documents"] for s in pool if s["split"] == name)
        total = sum(s["documents"] for s in pool)
        views["control"] = {
            "for": name,
            "splits": sorted({s["split"] for s in pool}),
            "fraction": target / total if total else 0.0,
            "seed": 7919,
            "target_documents": target,
        }
    return views


def datacard(stats: dict[str, Any], manifest: dict[str, Any]) -> str:
    lines = [
        "# Data card",
        "",
        f"Built by curate {manifest['curate_version']}; "
        f"config hash `{manifest['config_hash'][:16]}`;"
        f" tokenizer vocabulary {manifest['tokenizer']['vocab_size']}.",
        "",
        "## Accounting",
        "",
        "| | records |",
        "|---|---:|",
        f"| input records | {stats['input_records']:,} |",
        f"| kept | {stats['kept']['documents']:,} |",
        f"| removed by filters | {stats['removed']['total']:,} |",
        f"| exact duplicates | {stats['duplicates']['exact']:,} |",
        f"| near-duplicates | {stats['duplicates']['near']:,} |",
        f"| quarantined | {stats['quarantined']['total']:,} |",
        "",
        f"Balanced: **{stats['balance']['balanced']}** ({stats['balance']['equation']}).",
        "",
        "## Removed, by reason",
        "",
    ]
    for flt, reasons in stats["removed"]["by_reason"].items():
        items = reasons.items() if isinstance(reasons, dict) else [("", reasons)]
        for reason, n in items:
            lines.append(f"- `{flt}.{reason}`: {n:,}")
    lines += ["", "## Duplicates", ""]
    for split, n in stats["duplicates"]["within_split"].items():
        lines.append(f"- within `{split}`: {n:,}")
    for pair, n in stats["duplicates"]["leakage"].items():
        lines.append(f"- leakage removed, kept in -> removed from `{pair}`: {n:,}")
    for pair, n in stats["duplicates"].get("cross_split", {}).items():
        lines.append(f"- near an earlier split's document (cross-split threshold) `{pair}`: {n:,}")
    dec = stats.get("decontamination")
    if dec:
        lines += [
            "",
            "## Benchmark contamination",
            "",
            f"Action `{dec['action']}`: an item matches a document holding at least "
            f"{dec['min_overlap']:.0%} of its {dec['ngram']}-word n-grams.",
            "",
            "| benchmark | items screened (too short) | documents | items | documents removed |"
            " tokens removed | below overlap |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, b in dec["benchmarks"].items():
            lines.append(
                f"| {name} | {b.get('items_indexed', 0):,} ({b.get('items_too_short', 0):,}) "
                f"| {b['documents']:,} | {b['items']:,} | {b['documents_removed']:,} "
                f"| {b['tokens_removed']:,} | {b['documents_below_overlap']:,} |"
            )
    lines += ["", "## Quarantined, by error", ""]
    for kind, n in stats["quarantined"]["by_error"].items():
        lines.append(f"- `{kind}`: {n:,}")
    lines += [
        "",
        "## Splits and periods",
        "",
        "| split | period | documents | tokens |",
        "|---|---|---:|---:|",
    ]
    for split, sp in stats["splits"].items():
        for period, pe in sp["periods"].items():
            lines.append(f"| {split} | {period} | {pe['documents']:,} | {pe['tokens']:,} |")
    lines.append("")
    return "\n".join(lines)


def write_reports(out_dir: str, stats: dict, manifest: dict) -> None:
    """stats and data card first, the manifest last: its presence marks a complete build."""
    write_bytes(join(out_dir, "stats.json"), json_bytes(stats))
    write_bytes(join(out_dir, "DATACARD.md"), datacard(stats, manifest).encode())
    write_bytes(join(out_dir, "manifest.json"), json_bytes(manifest))


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode()
