"""Connected components of the duplicate graph by large-star / small-star rounds
(Kiveris et al. 2014, "Connected Components in MapReduce and Beyond").

Each round only needs one node's neighbourhood at a time, so on Beam every round is a
GroupByKey and no worker ever holds all edges. When the rounds converge every node points at
its component's minimum. The build's nodes are ints (``curate.schema.origin_key``), light in
the shuffles; the survivor is picked from the members' ranks once a component is assembled.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

Node = Any  # orderable and hashable


def large_star(node: Node, neighbours: Iterable[Node]) -> Iterator[tuple[Node, Node]]:
    """Connect every strictly larger neighbour to the smallest node of the neighbourhood."""
    nbrs = set(neighbours)
    m = min(nbrs | {node})
    for v in nbrs:
        if v > node:
            yield (v, m)
            yield (m, v)


def small_star(node: Node, neighbours: Iterable[Node]) -> Iterator[tuple[Node, Node]]:
    """Connect the node and its smaller-or-equal neighbours to the smallest of them."""
    smaller = {v for v in neighbours if v <= node}
    m = min(smaller | {node})
    for v in smaller | {node}:
        if v != m:
            yield (v, m)
            yield (m, v)


def star_labels(node: Node, neighbours: Iterable[Node]) -> tuple[Node, Node]:
    """After convergence: (node, survivor of its component)."""
    return (node, min(set(neighbours) | {node}))


def converged(node: Node, neighbours: Iterable[Node]) -> bool:
    """A star: the minimum links to all, every other node links only to the minimum."""
    nbrs = set(neighbours)
    m = min(nbrs | {node})
    return m == node or nbrs == {m}
