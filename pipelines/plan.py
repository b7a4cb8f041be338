"""What every stage of the build's pipeline is given: the plan the driver decides once."""

from __future__ import annotations

from dataclasses import dataclass

from curate.dedup.state import PriorState
from curate.stages.config import BuildConfig


@dataclass(frozen=True)
class BuildPlan:
    """Everything the workers need, decided once by the driver."""

    cfg: BuildConfig  # validated once, by the driver; each stage reads the slice it needs
    files: tuple[str, ...]
    tokenizer_json: str
    tokenizer_info: dict
    work_dir: str
    out_dir: str  # the build's staging folder: the corpus is published from there
    # an append: the input files before ``prior.first_new`` are earlier increments', known by
    # their saved dedup state (curate.dedup.state); only the files after it are read
    prior: PriorState | None = None
    # the decontamination index's benchmarks (items indexed and too short), for stats.json:
    # the driver built the index when it read the config; a worker would build it again
    benchmarks: tuple[dict, ...] = ()

    @property
    def first_file(self) -> int:
        return self.prior.first_new if self.prior is not None else 0
