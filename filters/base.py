"""The filter contract: a small class with a name, parameters and one method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from curate.schema import Document

REGISTRY: dict[str, type[Filter]] = {}


@dataclass(slots=True)
class Decision:
    """What a filter decided. ``signals`` are kept on the document whatever the decision;
    ``text`` replaces the document's text (line-level filters)."""

    keep: bool
    reason: str | None = None
    signals: dict[str, float] = field(default_factory=dict)
    text: str | None = None


class Filter:
    """Subclasses are dataclasses (their fields are the parameters) and set ``name`` and
    ``signals``, the names of the floats that ``apply`` always reports."""

    name: ClassVar[str]
    signals: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            REGISTRY[cls.name] = cls

    def apply(self, doc: Document) -> Decision:
        raise NotImplementedError
