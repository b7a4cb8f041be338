"""The drift report's figures and its index.html page."""

from __future__ import annotations

import html
import json
import os

import numpy as np


def render(report: dict, out_dir: str) -> list[str]:
    """PNG plots and index.html; returns the plot file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    names = report["periods"]
    x = np.arange(len(names))
    cps = report["changepoints"]
    plots = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, name), dpi=90)
        plt.close(fig)
        plots.append(name)

    def marks(ax, key):
        for p in cps.get(key, []):
            ax.axvline(names.index(p) - 0.5, color="red", linestyle="--", linewidth=1)

    def periods_axis(ax):
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=60, fontsize=7)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar(x, [v["documents"] for v in report["volume"]], color="#4a7ab5")
    marks(ax, "documents")
    periods_axis(ax)
    ax.set_ylabel("documents kept")
    ax.set_title("Volume per period (dashed: changepoints)")
    save(fig, "volume.png")

    def heatmap(matrix, name: str, title: str, label: str, **imshow) -> None:
        fig, ax = plt.subplots(figsize=(6.5, 5.5))
        im = ax.imshow(np.array(matrix, dtype=float), **imshow)
        periods_axis(ax)
        ax.set_yticks(x)
        ax.set_yticklabels(names, fontsize=7)
        fig.colorbar(im, ax=ax, label=label)
        ax.set_title(title)
        save(fig, name)

    heatmap(report["jsd_unigram"], "jsd_heatmap.png", "Unigram divergence, period x period",
            "Jensen-Shannon divergence (bits)", cmap="viridis")  # fmt: skip

    gap = [g for g in report["divergence_vs_gap"] if g["months_since_cutoff"] is not None]
    if gap:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        months = [g["months_since_cutoff"] for g in gap]
        ax.plot(months, [g["jsd_to_training"] for g in gap], "o-")
        ax.fill_between(months, *zip(*[g["jsd_95"] for g in gap], strict=True), alpha=0.25,
                        label="bootstrap 95%")  # fmt: skip
        ax.legend()
        ax.set_xlabel("months since the training cutoff")
        ax.set_ylabel("JSD to training periods")
        ax.set_title("Divergence against time since the cutoff")
        save(fig, "jsd_gap.png")

    heatmap(report["separability"]["pairwise_auc"], "separability.png",
            "Period separability (naive Bayes), pairwise AUC", "AUC (0.5: indistinguishable)",
            cmap="magma", vmin=0.5, vmax=1.0)  # fmt: skip

    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.plot(x, [n["novel_token_rate"] for n in report["novelty"]], "o-", label="tokens")
    ax.plot(x, [n["novel_type_rate"] for n in report["novelty"]], "s--", label="word types")
    marks(ax, "novel_token_rate")
    periods_axis(ax)
    ax.set_ylabel("share unseen before")
    ax.legend()
    ax.set_title("Novel words per period")
    save(fig, "novelty.png")

    fig, ax = plt.subplots(figsize=(8, 3.2))
    rows = report["degradation"]["periods"]
    scored = [i for i, r in enumerate(rows) if r["ratio"] is not None]  # n/a: no word to score
    if scored:
        colors = ["#999999" if rows[i]["in_training"] else "#c0392b" for i in scored]
        ratios = np.array([rows[i]["ratio"] for i in scored])
        err = np.abs(np.array([rows[i]["ratio_95"] for i in scored]).T - ratios)
        ax.bar(x[scored], ratios, color=colors, yerr=err, capsize=2, error_kw={"linewidth": 0.8})
    ax.axhline(1.0, color="black", linewidth=0.8)
    marks(ax, "perplexity_ratio")
    periods_axis(ax)
    ax.set_ylabel("perplexity / in-period held-out")
    ax.set_title("Bigram LM trained on the training split (grey: training periods)")
    save(fig, "perplexity.png")

    if "model_loss" in report:  # added by examples/train_drift.py
        by_period = {r["period"]: r["loss"] for r in report["model_loss"]["periods"]}
        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.plot(x, [by_period.get(p, np.nan) for p in names], "o-", color="#8e44ad")
        periods_axis(ax)
        ax.set_ylabel("loss (nats per token)")
        ax.set_title(f"Trained model: {report['model_loss']['model']}", fontsize=9)
        save(fig, "model_loss.png")

    if "images" in report:
        fig, ax = plt.subplots(figsize=(8, 3.2))
        img = report["images"]
        ax.plot(x, [r.get("share_without_earlier_neighbour", 0) for r in img], "o-")
        periods_axis(ax)
        ax.set_ylabel("images with no earlier pHash neighbour")
        save(fig, "images.png")
    write_index(report, plots, out_dir)
    return plots


def write_index(report: dict, plots: list[str], out_dir: str) -> None:
    esc = html.escape
    terms = "".join(
        f"<tr><td>{esc(t['period'])}</td><td>{esc(', '.join(w for w, _ in t['rising'][:10]))}</td>"
        f"<td>{esc(', '.join(w for w, _ in t['falling'][:10]))}</td></tr>"
        for t in report["terms"]
    )
    novel = "".join(
        f"<tr><td>{esc(n['period'])}</td><td>{n['novel_token_rate']:.4f}</td>"
        f"<td>{esc(', '.join(n['emerging'][:10]))}</td><td>{esc(', '.join(n['vanishing'][:8]))}"
        "</td></tr>"
        for n in report["novelty"]
    )
    deg = report["degradation"]
    slope = deg["ratio_slope_per_year"]
    base = deg["heldout_perplexity"]
    base = "n/a" if base is None else f"{base:.1f}"
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>curate drift report</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto}}td,th{{padding:2px 8px;
border-bottom:1px solid #ddd;font-size:13px;vertical-align:top}}img{{max-width:100%}}</style>
</head><body><h1>Drift report</h1>
<p>Corpus <code>{esc(report["corpus"])}</code>; {len(report["periods"])} periods, samples of
{report["sample_docs_per_period"]} documents per period; training cutoff
{esc(str(report["training_cutoff"]))}. Every figure is in <a href="drift.json">drift.json</a>.</p>
{"".join(f'<h2>{esc(p[:-4])}</h2><img src="{p}" alt="{p}">' for p in plots)}
<h2>Degradation</h2><p>{esc(deg["model"])} trained on {deg["train_docs"]} documents; held-out
perplexity {base}; slope of the perplexity ratio after the cutoff:
{"n/a" if slope is None else f"{slope:+.3f} per year"}.</p>
<h2>Novel words</h2><table><tr><th>period</th><th>novel token rate</th><th>emerging</th>
<th>vanishing</th></tr>{novel}</table>
<h2>Rising and falling terms</h2><table><tr><th>period</th><th>rising</th><th>falling</th></tr>
{terms}</table>
<h2>Changepoints</h2><pre>{esc(json.dumps(report["changepoints"], indent=1))}</pre>
</body></html>"""
    with open(os.path.join(out_dir, "index.html"), "w", encoding="utf-8") as f:
        f.write(body)
