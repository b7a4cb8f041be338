"""``stats.json``: a build's counts to the tree users read, and two trees summed (an append's
totals). The balance, input_records = kept + removed + duplicates + quarantined, is computed
here for both."""

from __future__ import annotations

from collections import Counter
from typing import Any


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
