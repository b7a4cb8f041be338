"""``curate drift OUT_DIR --out REPORT_DIR``: every drift figure of a built corpus in
``drift.json``, PNG plots and a static ``index.html`` that opens from disk, and a "Drift"
section in the corpus's DATACARD.md. Offline and CPU-only; the figures are ``curate.drift``'s.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from datetime import datetime

import numpy as np

from curate.core.document import json_safe
from curate.drift import stats as drift
from curate.drift.contamination import contamination_rows
from curate.drift.periods import (
    load,
    period_start,
    removals_by_period,
    start_or_none,
    training_cutoff,
)
from curate.drift.plots import render


def _months(a: datetime, b: datetime) -> float:
    return (b - a).days / 30.44


def compute(root: str, sample: int | None = 2000, seed: int = 0, min_count: int = 3) -> dict:
    if sample is not None and sample < 1:  # a negative one sliced away all but that many
        raise ValueError(f"the sample must be at least 1 document per period, got {sample}")
    manifest, periods = load(root)
    if len(periods) < 2:
        raise ValueError(f"{root}: drift needs at least two dated periods, found {len(periods)}")
    names = list(periods)
    unit = manifest["config"]["temporal"]["period"]
    samples = drift.equal_samples({p: d.ids for p, d in periods.items()}, sample, seed)
    uni = [Counter(w for i in samples[p] for w in periods[p].words[i]) for p in names]
    bi = [Counter(b for i in samples[p] for b in drift.bigrams(periods[p].words[i])) for p in names]
    removed, removed_matches = removals_by_period(root, unit, manifest["records"])
    volume = []
    for p in names:
        d = periods[p]
        kept = len(d.ids)
        reasons = removed.get(p, Counter())
        dups = sum(n for r, n in reasons.items() if r.startswith("dedup."))
        leaks = reasons.pop("leakage", 0)
        filt = sum(reasons.values()) - dups
        q = np.percentile(d.tokens, [10, 50, 90]).tolist()
        volume.append(
            {
                "period": p,
                "splits": sorted(d.split),
                "documents": kept,
                "tokens": int(sum(d.tokens)),
                "tokens_per_doc_p10_p50_p90": q,
                "languages": dict(d.languages.most_common(5)),
                "sources": dict(d.sources.most_common(5)),
                "filter_pass_rate": kept / (kept + filt) if kept + filt else None,
                "removed_by_reason": dict(sorted(reasons.items())),
                "duplicate_rate": dups / (kept + dups) if kept + dups else None,
                "leakage_rate": leaks / (kept + dups) if kept + dups else None,
            }
        )
    jsd = drift.divergence_matrix(uni)
    jsd_bi = drift.divergence_matrix(bi)
    cutoff = training_cutoff(manifest)
    train_periods = [p for p in names if "train" in periods[p].split] or names[:1]
    reference = Counter()
    for p in train_periods:
        reference.update(uni[names.index(p)])
    after = [p for p in names if cutoff is None or period_start(p, periods[p].first) >= cutoff]
    gap = [
        {
            "period": p,
            "months_since_cutoff": (
                round(_months(cutoff, period_start(p, periods[p].first)), 1) if cutoff else None
            ),
            "jsd_to_training": drift.jensen_shannon(reference, uni[names.index(p)]),
            "jsd_95": drift.jsd_interval(reference, [periods[p].words[i] for i in samples[p]]),
        }
        for p in after
    ]
    lm = _degradation(periods, samples, names, train_periods, cutoff, seed)
    novelty = drift.novelty(names, uni, min_count)
    sep = drift.separability(
        names, {p: [(i, periods[p].words[i]) for i in samples[p]] for p in names}, seed
    )
    terms = drift.log_odds_terms(uni)
    series = {
        "documents": [v["documents"] for v in volume],
        "novel_token_rate": [n["novel_token_rate"] for n in novelty],
        "jsd_to_previous": [0.0] + [float(jsd[i - 1, i]) for i in range(1, len(names))],
        "perplexity_ratio": [r["ratio"] if r["ratio"] is not None else 1.0 for r in lm["periods"]],
        "adjacent_auc": [0.5] + [a if a is not None else 0.5 for a in sep["adjacent_auc"]],
    }
    report = {
        "corpus": os.path.abspath(root),
        "periods": names,
        "sample_docs_per_period": len(next(iter(samples.values()))),
        "training_cutoff": cutoff.isoformat() if cutoff else None,
        "volume": volume,
        "jsd_unigram": jsd.round(5).tolist(),
        "jsd_bigram": jsd_bi.round(5).tolist(),
        "divergence_vs_gap": gap,
        "novelty": novelty,
        "terms": [
            {"period": p, "rising": r, "falling": f} for p, (r, f) in zip(names, terms, strict=True)
        ],
        "degradation": lm,
        "separability": sep,
        "changepoints": {k: [names[i] for i in drift.changepoints(v)] for k, v in series.items()},
    }
    if any(periods[p].images for p in names):
        report["images"] = _images(periods, names)
    names_all = sorted(set(periods) | set(removed_matches))
    report["contamination"] = contamination_rows(
        manifest,
        {p: d.contamination for p, d in periods.items()},
        removed_matches,
        {p: start_or_none(p, periods.get(p)) for p in names_all},
    )
    return report


def _degradation(periods, samples, names, train_periods, cutoff, seed) -> dict:
    """Bigram KN model on the training periods minus a 10% in-period held-out set; perplexity
    on that held-out set (the in-distribution baseline) and on every later period's sample."""
    train_docs, heldout_docs = [], []
    for p in train_periods:
        for i in periods[p].ids:
            (heldout_docs if drift.held_out(i, 0.1, seed) else train_docs).append(
                periods[p].words[i]
            )
    model = drift.KneserNeyBigram(train_docs)
    # a small corpus can leave a period, or the whole held-out set, without a word to score:
    # its figures are None (n/a), not a division by zero
    base = _perplexity(model, heldout_docs)[0]
    rows, gaps, ratios = [], [], []
    for p in names:
        if p in train_periods:
            docs = [periods[p].words[i] for i in periods[p].ids if drift.held_out(i, 0.1, seed)]
        else:
            docs = [periods[p].words[i] for i in samples[p]]
        ppl, sums, counts = _perplexity(model, docs)
        ratio = ratio_95 = None
        if ppl is not None and base is not None:
            w = drift.bootstrap_weights(len(docs), 200, seed)
            ratio, ratio_95 = ppl / base, drift.interval(np.exp(-(w @ sums) / (w @ counts)) / base)
        row = {
            "period": p,
            "in_training": p in train_periods,
            "perplexity": ppl,
            "ratio": ratio,
            "ratio_95": ratio_95,
        }
        rows.append(row)
        if cutoff is not None and p not in train_periods and ratio is not None:
            gaps.append(_months(cutoff, period_start(p, periods[p].first)) / 12)
            ratios.append(row["ratio"])
    return {
        "model": "interpolated Kneser-Ney word bigram, discount 0.75",
        "train_docs": len(train_docs),
        "heldout_docs": len(heldout_docs),
        "heldout_perplexity": base,
        "periods": rows,
        "ratio_slope_per_year": drift.slope_per_year(gaps, ratios),
    }


def _perplexity(model, docs) -> tuple[float | None, np.ndarray, np.ndarray]:
    """(perplexity or None when there is no word to score, per-document log-prob sums and
    word counts)."""
    sums, counts = model.doc_log_probs(docs)
    total = counts.sum()
    return (float(np.exp(-sums.sum() / total)) if total else None), sums, counts


def _images(periods, names) -> list[dict]:
    out, earlier = [], np.zeros(0, np.uint64)
    for p in names:
        imgs = periods[p].images
        if not imgs:
            out.append({"period": p, "images": 0})
            continue
        w = np.array([i[0] for i in imgs])
        h = np.array([i[1] for i in imgs])
        ph = np.array([i[3] for i in imgs], np.uint64)
        novel = 1.0
        if len(earlier):
            x = ph[:, None] ^ earlier[None, :]
            dist = np.unpackbits(x.view(np.uint8).reshape(len(ph), len(earlier), 8), axis=2)
            novel = float((dist.sum(axis=2).min(axis=1) > 4).mean())
        out.append(
            {
                "period": p,
                "images": len(imgs),
                "width_p10_p50_p90": np.percentile(w, [10, 50, 90]).tolist(),
                "height_p10_p50_p90": np.percentile(h, [10, 50, 90]).tolist(),
                "aspect_p10_p50_p90": np.percentile(w / h, [10, 50, 90]).round(3).tolist(),
                "formats": dict(Counter(i[2] for i in imgs)),
                "share_without_earlier_neighbour": novel,
            }
        )
        earlier = np.concatenate([earlier, ph])
    return out


# -- rendering ------------------------------------------------------------------------------


def datacard_section(report: dict) -> str:
    deg = report["degradation"]
    slope = deg["ratio_slope_per_year"]
    top = max(report["novelty"], key=lambda n: n["novel_token_rate"])
    far = max(report["divergence_vs_gap"], key=lambda g: g["jsd_to_training"], default=None)
    lines = [
        "## Drift",
        "",
        f"- Periods: {len(report['periods'])} ({report['periods'][0]} to {report['periods'][-1]}), "
        f"samples of {report['sample_docs_per_period']} documents per period",
        f"- Highest novel-token rate: {top['period']} ({top['novel_token_rate']:.4f}; "
        f"emerging: {', '.join(top['emerging'][:5])})",
    ]
    if far is not None:
        lines.append(
            f"- Largest unigram JSD to the training periods: {far['period']} "
            f"({far['jsd_to_training']:.4f})"
        )
    lines.append(
        f"- Bigram LM perplexity ratio slope after the cutoff: "
        f"{'n/a' if slope is None else f'{slope:+.3f} per year'}"
    )
    lines.append(f"- Changepoints: {json.dumps(report['changepoints'])}")
    by_bench: dict[str, list[dict]] = defaultdict(list)
    for row in report.get("contamination", []):
        by_bench[row["benchmark"]].append(row)
    for bench, rows in by_bench.items():
        parts = [
            f"{r['period']} {r['items']}"
            + (
                ""
                if r["after_release"] is None
                else " (after release)"
                if r["after_release"]
                else ""
            )
            for r in rows
            if r["items"]
        ]
        lines.append(f"- Benchmark items found, {bench}, per period: {', '.join(parts) or 'none'}")
    return "\n".join(lines) + "\n"


def write_report(root: str, out_dir: str, sample: int | None = 2000, seed: int = 0) -> dict:
    report = compute(root, sample, seed)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "drift.json"), "w") as f:
        json.dump(json_safe(report), f, indent=1, allow_nan=False)  # n/a figures: null
    report["plots"] = render(report, out_dir)
    section = datacard_section(report)
    with open(os.path.join(out_dir, "DATACARD-drift.md"), "w") as f:
        f.write(section)
    report["datacard"] = _update_card(os.path.join(root, "DATACARD.md"), section)
    return report


def _update_card(card: str, section: str) -> str | None:
    """Replace the drift section of the corpus's data card; a corpus that cannot be written
    (read-only, someone else's) keeps its card, and the section stays in the report folder.
    Returns the card's path when it was updated."""
    import tempfile

    start, end = "<!-- drift:start -->", "<!-- drift:end -->"
    try:
        text = open(card).read() if os.path.exists(card) else ""
        block = f"{start}\n{section}{end}\n"
        if start in text:
            text = text.split(start)[0] + block + text.split(end + "\n", 1)[-1]
        else:
            text += "\n" + block
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(card), prefix=".DATACARD-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, card)
    except OSError:
        return None
    return card
