"""What every stage of the build's pipeline is given: the plan the driver decides once."""

from __future__ import annotations

from dataclasses import dataclass

from curate.dedup.state import PriorState
from curate.stages.commits import digest, inputs_digest
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
    # saved work (curate.stages.commits): what a file's units depend on besides the file
    # itself (``unit_key``), each new input file's identity, and what every other task
    # depends on (``build_key``: the unit key and every input file)
    unit_key: str = ""
    identities: tuple[str, ...] = ()
    build_key: str = ""

    @property
    def first_file(self) -> int:
        return self.prior.first_new if self.prior is not None else 0

    def file_key(self, file_idx: int, extra: str = "") -> str:
        """The fingerprint of a file's units: the build's settings, the file, ``extra``."""
        identity = self.identities[file_idx - self.first_file] if self.identities else ""
        return digest(self.unit_key, file_idx, self.files[file_idx], identity, extra)

    def task_key(self, key: str, inputs) -> str:
        """The fingerprint of any other task: every input file, the task, its inputs."""
        return digest(self.build_key, key, inputs_digest(inputs))
