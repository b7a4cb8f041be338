"""Build the configured filter chain by name; every module in this package may define filters."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any

import filters
from filters.base import REGISTRY, Filter

# The chain a build runs when its config does not name one (``filters: []`` runs none):
# language first, then repetition and quality rules, C4's line cleaning, FineWeb's rules,
# toxicity, and PII redaction last, on the text that will be kept.
DEFAULT_FILTERS: list[dict[str, dict[str, Any]]] = [
    {"langid": {}},
    {"gopher_repetition": {}},
    {"gopher_quality": {}},
    {"c4": {}},
    {"fineweb_quality": {}},
    {"toxicity": {}},
    {"pii": {}},
]

# Image-text pairs (LAION/DataComp-style rules): the image's size and shape, the caption's
# length, then the caption's language, toxicity and PII with the text filters' defaults.
DEFAULT_IMAGE_TEXT_FILTERS: list[dict[str, dict[str, Any]]] = [
    {"image_size": {}},
    {"caption_length": {}},
    {"langid": {}},
    {"toxicity": {}},
    {"pii": {}},
]


def _load_all() -> None:
    for mod in pkgutil.iter_modules(filters.__path__):
        importlib.import_module(f"filters.{mod.name}")


def available() -> list[str]:
    _load_all()
    return sorted(REGISTRY)


def build_filters(spec: list[dict[str, dict[str, Any]]]) -> list[Filter]:
    """Instantiate ``[{name: params}, ...]``; raise ValueError naming the bad filter or key."""
    from curate.config import ConfigError

    _load_all()
    chain = []
    for i, item in enumerate(spec):
        ((name, params),) = item.items()
        where = f"filters[{i}].{name}"
        cls = REGISTRY.get(name)
        if cls is None:
            raise ConfigError(f"invalid config:\n  {where}: unknown filter; known: {available()}")
        if not isinstance(params, dict):
            raise ConfigError(f"invalid config:\n  {where}: parameters must be a mapping")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in params:
            if key not in known:
                raise ConfigError(
                    f"invalid config:\n  {where}.{key}: unknown parameter; known: {sorted(known)}"
                )
        try:
            chain.append(cls(**params))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"invalid config:\n  {where}: {e}") from None
    return chain


def signal_names(chain: list[Filter]) -> list[str]:
    """Column names of the ``signals`` struct, ``<filter>.<signal>`` then ``<filter>.keep``
    (1.0 or 0.0, the filter's own decision), in chain order."""
    return [f"{f.name}.{s}" for f in chain for s in (*f.signals, "keep")]
