"""Build the configured filter chain by name; every module in this package may define filters."""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import typing
from typing import Any

from pydantic import TypeAdapter, ValidationError

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
    from curate.core.errors import ConfigError

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
        params = _typed(cls, params, where)
        try:
            chain.append(cls(**params))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"invalid config:\n  {where}: {e}") from None
    return chain


def _typed(cls: type[Filter], params: dict[str, Any], where: str) -> dict[str, Any]:
    """Each parameter checked against its annotation, strictly (``"high"`` is not a float,
    ``"en"`` is not a list of languages), and its range; YAML lists become tuples."""
    from curate.core.errors import ConfigError

    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for key, value in params.items():
        hint = hints[key]
        if isinstance(value, list):
            value = tuple(value)
        try:
            value = TypeAdapter(hint).validate_python(value, strict=True)
        except ValidationError as e:
            problem = e.errors()[0]["msg"]
            raise ConfigError(
                f"invalid config:\n  {where}.{key}: {problem} (got {value!r})"
            ) from None
        for number in _numbers(value):
            if not math.isfinite(number) or number < 0 or number > 2**53:
                raise ConfigError(
                    f"invalid config:\n  {where}.{key}: {number!r} is out of range "
                    "(a finite number, 0 or more)"
                )
        out[key] = value
    return out


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _numbers(k) + _numbers(v)]
    if isinstance(value, tuple | list):
        return [n for v in value for n in _numbers(v)]
    return []


def signal_names(chain: list[Filter]) -> list[str]:
    """Column names of the ``signals`` struct, ``<filter>.<signal>`` then ``<filter>.keep``
    (1.0 or 0.0, the filter's own decision), in chain order."""
    return [f"{f.name}.{s}" for f in chain for s in (*f.signals, "keep")]
