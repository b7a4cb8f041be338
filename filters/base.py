"""The filter contract: a small class with a name, parameters and one method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from pydantic import Field

from curate.core.document import Document

# parameter types with their range, checked when a config names the filter
# (``filters.registry.build_filters``); other numbers must be finite and not negative
Fraction = Annotated[float, Field(ge=0, le=1)]

REGISTRY: dict[str, type[Filter]] = {}


@dataclass(slots=True)
class Decision:
    """What a filter decided. ``signals`` are kept on the document whatever the decision;
    ``text`` replaces the document's text (line-level filters); ``metadata`` is merged into
    the document's metadata (labels that are not numbers, such as a language code or the
    benchmark items a document shares text with)."""

    keep: bool
    reason: str | None = None
    signals: dict[str, float] = field(default_factory=dict)
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Filter:
    """Subclasses are dataclasses (their fields are the parameters) and set ``name`` and
    ``signals``, the names of the floats that ``apply`` always reports. Signals named in
    ``totals`` (counts such as redactions or characters removed) are also summed over the
    corpus into ``stats.json``."""

    name: ClassVar[str]
    signals: ClassVar[tuple[str, ...]] = ()
    totals: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, register: bool = True, **kwargs):
        """``register=False``: a stage the config adds by its own section, not by name."""
        super().__init_subclass__(**kwargs)
        if register and "name" in cls.__dict__:
            REGISTRY[cls.name] = cls

    def apply(self, doc: Document) -> Decision:
        raise NotImplementedError

    def apply_batch(self, docs: list[Document]) -> list[Decision]:
        """The screen passes documents in batches, one filter at a time, which keeps a model's
        tables hot in the CPU cache; filters with a model override this to score the whole
        batch in one call. Must equal ``apply`` on each document."""
        return [self.apply(d) for d in docs]
