"""Benchmark contamination per period, for ``curate drift``: the items decontamination matched
in the documents a period kept (shards' metadata, action ``flag``) and removed (``rejected/``).
"""

from __future__ import annotations

from datetime import datetime


def add_matches(into: dict[str, list], listed: list[dict] | None) -> None:
    """Count a document's matched items: ``into[benchmark] = [documents, {items}]``."""
    matched = [m for m in listed or () if m.get("matched")]
    for bench in {m["benchmark"] for m in matched}:
        into.setdefault(bench, [0, set()])[0] += 1
    for m in matched:
        into[m["benchmark"]][1].add(m["item"])


def contamination_rows(
    manifest: dict,
    kept: dict[str, dict[str, list]],
    removed: dict[str, dict[str, list]],
    starts: dict[str, datetime | None],
) -> list[dict]:
    """Per benchmark and period: documents with a matched item, kept and removed, distinct
    items, and whether the period starts on or after the benchmark's release date
    (``released:`` in the config; ``starts``: each period's first day, None if unknown)."""
    dec = manifest["config"].get("decontamination")
    if not dec:
        return []
    released = {b.get("name"): b.get("released") for b in dec.get("benchmarks", [])}
    from curate.temporal.rules import in_time_order

    names = in_time_order(set(kept) | set(removed), starts)
    benches = sorted({b for p in names for b in (*kept.get(p, {}), *removed.get(p, {}))})
    rows = []
    for bench in benches:
        day = released.get(bench)
        for p in names:
            k = kept.get(p, {}).get(bench, [0, set()])
            r = removed.get(p, {}).get(bench, [0, set()])
            start = starts.get(p)
            after = None if not day or start is None else start.date().isoformat() >= str(day)
            rows.append(
                {
                    "benchmark": bench,
                    "period": p,
                    "documents_kept": k[0],
                    "documents_removed": r[0],
                    "items": len(k[1] | r[1]),
                    "released": day,
                    "after_release": after,
                }
            )
    return rows
