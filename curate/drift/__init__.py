"""Drift analysis of a built corpus: the statistics (``stats``: divergences, novelty, n-gram
perplexity, changepoints, separability) and ``curate drift``'s report (``report``: drift.json,
plots, index.html and the data card's section)."""
