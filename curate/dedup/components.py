"""Connected components of the duplicate graph by large-star / small-star rounds
(Kiveris et al. 2014, "Connected Components in MapReduce and Beyond").

A round only needs each vertex's own neighbourhood, so on Beam every step is a GroupByKey of
edges by a bucket of their source vertex and no worker ever holds all edges. Edges are int64
arrays of ``(source, target)`` rows, both directions present, and a step works on one bucket's
array with numpy: the single-machine runner pays per element, and under it a shuffle lives in the
driver's memory, where a Python tuple per edge cost ~8x the array's 16 bytes. When the rounds
converge every vertex points at its component's minimum; the survivor is picked from the
members' ranks once a component is assembled.
"""

from __future__ import annotations

import numpy as np

EMPTY = np.empty((0, 2), np.int64)


def as_edges(pairs) -> np.ndarray:
    """Pairs (a list of tuples or an array) as an int64 ``(n, 2)`` edge array."""
    return np.asarray(pairs, np.int64).reshape(-1, 2)


def symmetric(edges: np.ndarray) -> np.ndarray:
    """Both directions of every edge, self-loops dropped."""
    edges = edges[edges[:, 0] != edges[:, 1]]
    return np.concatenate((edges, edges[:, ::-1]))


def _sorted(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sources and targets of the unique edges, sorted by source then target."""
    e = np.unique(edges, axis=0) if len(edges) else EMPTY
    return e[:, 0], e[:, 1]


def runs(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal values in a sorted array."""
    if not len(u):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], u[1:] != u[:-1])))
    return starts, np.diff(np.append(starts, len(u)))


def _pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.concatenate((np.stack((a, b), axis=1), np.stack((b, a), axis=1)))


def large_star(edges: np.ndarray) -> np.ndarray:
    """Every strictly larger neighbour of a vertex linked to the smallest vertex of the
    vertex's closed neighbourhood. ``edges``: all edges of the sources they hold."""
    u, v = _sorted(edges)
    starts, sizes = runs(u)
    m = np.repeat(np.minimum(u[starts], v[starts]), sizes)  # a run's first target is its least
    larger = v > u
    return _pairs(v[larger], m[larger])


def small_star(edges: np.ndarray) -> np.ndarray:
    """A vertex and its smaller neighbours linked to the smallest of them."""
    u, v = _sorted(edges)
    smaller = v < u
    u, v = u[smaller], v[smaller]
    starts, sizes = runs(u)
    least = v[starts]
    m = np.repeat(least, sizes)
    others = v != m
    return np.concatenate((_pairs(v[others], m[others]), _pairs(u[starts], least)))


def star_labels(edges: np.ndarray) -> np.ndarray:
    """After the rounds, ``(vertex, component)`` for every source: the smallest vertex of its
    closed neighbourhood. Raises unless every neighbourhood is a star (the minimum linked to
    all, every other vertex only to the minimum)."""
    u, v = _sorted(edges)
    starts, sizes = runs(u)
    source, least = u[starts], np.minimum(u[starts], v[starts])
    star = (source == least) | ((sizes == 1) & (v[starts] == least))
    if not star.all():
        raise RuntimeError("connected components did not converge")
    return np.stack((source, least), axis=1)
