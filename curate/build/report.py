"""stats.json, manifest.json and DATACARD.md, written last from the pipeline's small results."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from curate import __version__
from curate.core.fileio import join, write_bytes

MANIFEST_VERSION = 1


def _nest(counts: dict[str, int], prefix: str) -> dict[str, Any]:
    """``{"removed.gopher_quality.too_few_words": 3}`` -> ``{"gopher_quality": {...}}``."""
    out: dict[str, Any] = {}
    for key in sorted(counts):
        if not key.startswith(prefix + "."):
            continue
        head, _, reason = key[len(prefix) + 1 :].partition(".")
        if reason:
            out.setdefault(head, {})[reason] = counts[key]
        else:
            out[head] = counts[key]
    return out


def contamination(counts: Counter, cfg: dict | None, benchmarks: list[dict]) -> dict[str, Any]:
    """Per benchmark (``benchmarks``: the index's, with their items indexed and too short):
    documents with a matched item, distinct items matched, documents removed and tokens
    removed (docs/decontamination.md)."""
    if cfg is None:
        return {}
    found = _nest(counts, "decontamination")
    removed = _nest(counts, "removed").get("decontamination", {})
    items: Counter = Counter()
    for key in counts:
        if key.startswith("decontamination_items."):
            items[key.split(".", 2)[1]] += 1
    per = {}
    screened = {b["name"]: b for b in benchmarks}
    for name in sorted(set(screened) | set(found) | set(items)):
        f, b = found.get(name, {}), screened.get(name, {})
        per[name] = {
            "items_indexed": b.get("indexed", 0),
            "items_too_short": b.get("too_short", 0),
            "documents": f.get("documents", 0),
            "items": items.get(name, 0),
            "documents_removed": removed.get(name, 0),
            "tokens_removed": f.get("tokens_removed", 0),
            "documents_below_overlap": f.get("documents_below_overlap", 0),
        }
    keys = ("action", "ngram", "min_overlap")
    return {**{k: cfg[k] for k in keys}, "benchmarks": per}


def build_stats(
    counts: Counter,
    shards: list[dict],
    decontamination: dict | None = None,
    benchmarks: list[str] = (),
) -> dict[str, Any]:
    removed = _nest(counts, "removed")
    quarantined = _nest(counts, "quarantined")
    n_removed = sum(v for k, v in counts.items() if k.startswith("removed."))
    n_quarantined = sum(v for k, v in counts.items() if k.startswith("quarantined."))
    n_exact, n_near = counts.get("duplicates.exact", 0), counts.get("duplicates.near", 0)
    dups = _nest(counts, "duplicates")
    n_cross = sum(dups.get("cross_split", {}).values())
    n_dup = n_exact + n_near + n_cross
    kept = sum(s["documents"] for s in shards)
    tokens = sum(s["tokens"] for s in shards)
    by_split: dict[str, dict[str, Any]] = {}
    for s in shards:
        sp = by_split.setdefault(s["split"], {"documents": 0, "tokens": 0, "periods": {}})
        sp["documents"] += s["documents"]
        sp["tokens"] += s["tokens"]
        pe = sp["periods"].setdefault(s["period"], {"documents": 0, "tokens": 0, "shards": 0})
        pe["documents"] += s["documents"]
        pe["tokens"] += s["tokens"]
        pe["shards"] += 1
    for sp in by_split.values():
        sp["periods"] = dict(sorted(sp["periods"].items()))
    accounted = kept + n_removed + n_dup + n_quarantined
    return {
        "input_records": counts.get("input_records", 0),
        "input_bytes": counts.get("input_bytes", 0),
        "input_chars": counts.get("input_chars", 0),
        "kept": {"documents": kept, "tokens": tokens},
        "removed": {"total": n_removed, "by_reason": removed},
        "line_dedup": _nest(counts, "line_dedup"),
        "filter_totals": _nest(counts, "filter_totals"),
        "near_dedup": _nest(counts, "near_dedup"),
        "decontamination": contamination(counts, decontamination, list(benchmarks)),
        "duplicates": {
            "total": n_dup,
            "exact": n_exact,
            "near": n_near,
            "within_split": dups.get("within_split", {}),
            "leakage": dups.get("leakage", {}),
            "leakage_flagged": dups.get("leakage_flagged", {}),  # kept, marked leaked_from
            # below the near threshold, at dedup.near.cross_split_threshold or above
            "cross_split": dups.get("cross_split", {}),
        },
        "quarantined": {"total": n_quarantined, "by_error": quarantined},
        # an append's conflicts with what earlier increments kept (docs/append.md)
        "append": _nest(counts, "append"),
        "balance": {
            "accounted": accounted,
            "balanced": accounted == counts.get("input_records", 0),
            "equation": "input_records = kept + removed + duplicates + quarantined",
        },
        "splits": dict(sorted(by_split.items())),
    }


_SETTINGS = {"action", "ngram", "min_overlap", "equation"}  # in stats.json, not counts


def add_stats(a: Any, b: Any) -> Any:
    """Two stats.json trees summed: counts add, settings stay; the balance is recomputed from
    the sums."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = {k: add_stats(a[k], b[k]) if k in b and k not in _SETTINGS else a[k] for k in a}
        out |= {k: v for k, v in b.items() if k not in a}
        if "balance" in out and "input_records" in out:
            accounted = a["balance"]["accounted"] + b["balance"]["accounted"]
            out["balance"] = {
                **b["balance"],
                "accounted": accounted,
                "balanced": accounted == out["input_records"],
            }
        return out
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return a + b
    return b


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
    from types import SimpleNamespace

    from curate.build.temporal import in_time_order, training_split, windows
    from curate.core.document import UNDATED
    from curate.core.timeparse import parse_timestamp_us

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
