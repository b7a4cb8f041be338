"""The base of every config section: unknown keys are errors, values are frozen once
validated (each wing owns its section: ``curate.readers.config``, ``curate.dedup.config``, ...;
``curate.stages.config`` assembles them into a build's config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
