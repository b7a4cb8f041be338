"""The Beam pipeline run by the driver, for a build and for an append: the runner's options
(the single-machine default named explicitly), the input and work locations checked, the
pipeline of ``pipelines/build.py`` run into a staging folder, and a worker's error or death
turned into one message."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from apache_beam.io.filesystems import FileSystems

from curate import __version__
from curate.core.errors import BuildError, describe_failure, worker_deaths
from curate.core.fileio import join, recording, write_bytes
from curate.dedup.state import PriorState
from curate.driver.input_files import InputFile
from curate.driver.output_dir import any_inside, overlapping
from curate.driver.progress import BuildProgress
from curate.driver.resume import Resumption, check_tokenizer, damaged, settings
from curate.driver.tokenizer import prepare_tokenizer
from curate.stages.chain import file_identity
from curate.stages.commits import WORK_FORMAT, Commits, digest
from curate.stages.config import BuildConfig
from tokenization.bpe import TokenizerError


def check_locations(cfg: BuildConfig, files: Sequence[InputFile]) -> None:
    """The output and work directories must not hold, or lie inside, the inputs or each other:
    a build would read its own output, or delete what it reads."""
    out, work = cfg.output.dir, cfg.output.work_dir
    paths = [f.path for f in files]
    if "://" not in out:
        hit = any_inside(paths, out)
        if hit:
            raise BuildError(f"input {hit} lies inside output.dir {out}: it would read its output")
    if work is None or "://" in work:
        return
    if "://" not in out and overlapping(work, out):
        raise BuildError(f"output.work_dir {work} is, holds or lies inside output.dir {out}")
    for folder in sorted({os.path.dirname(p) for p in paths if "://" not in p}):
        if overlapping(work, folder):
            raise BuildError(
                f"output.work_dir {work} is, holds or lies inside the input folder {folder}"
            )


def default_beam_args() -> list[str]:
    """Beam's FnApiRunner on every core, one SDK worker process each: the single-machine
    default, named explicitly. (Since Beam 2.68 the DirectRunner first tries the Prism runner,
    which downloads a Go binary at run time; curate's guarantees were measured on this one.)"""
    return [
        "--runner=FnApiRunner",
        "--direct_running_mode=multi_processing",
        f"--direct_num_workers={os.cpu_count() or 1}",
    ]


def beam_options(args: list[str]):
    """Beam's options, or a BuildError naming the option Beam could not parse (Beam's own
    parser would print its usage and exit)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(args)
    try:
        options.get_all_options(retain_unknown_options=True)
    except SystemExit:
        raise BuildError(f"invalid Beam option in {' '.join(args)!r}") from None
    return options


def check_built(stats: dict, files: Sequence[InputFile]) -> None:
    if stats["input_records"] == 0:
        raise BuildError(f"the inputs ({len(files)} files) hold no record: nothing was built")


def guarded(run: Callable[[], Any], on_stuck: Callable[[str], None] | None) -> Any:
    """``run()``, with a worker's error or death turned into a BuildError that says so."""
    deaths: list[str] = []
    try:
        stuck = (lambda: on_stuck(describe_failure(None, deaths))) if on_stuck else None
        with worker_deaths(deaths, stuck):
            return run()
    except (BuildError, TokenizerError):
        raise
    except KeyboardInterrupt as e:
        if not deaths:
            raise
        raise BuildError(describe_failure(e, deaths)) from None
    except Exception as e:  # a worker's error, as the runner reports it
        raise BuildError(describe_failure(e, deaths)) from e


def run_pipeline(
    cfg: BuildConfig,
    files: list[InputFile],
    stage: str,
    work_dir: str,
    beam_args,
    progress: IO[str] | None,
    resumption: Resumption,
    kind: dict[str, Any],
    tokenizer: tuple[str, dict[str, Any]] | None = None,
    prior: PriorState | None = None,
    known: Sequence[str] = (),
    say: Callable[[str], None] | None = None,
) -> tuple[dict, dict]:
    """Run the pipeline into ``stage``; returns the stats and manifest it wrote there. An
    append passes the corpus's ``tokenizer`` (JSON, manifest entry), its saved dedup state
    (``prior``) and the input files its increments already read (``known``). Saved work in
    ``work_dir`` that still holds (``resumption``: the driver's check of it) is reused."""
    import apache_beam as beam

    from curate.core.memory import trimming
    from curate.decontam.stage import index_for
    from pipelines.build import BuildCorpus
    from pipelines.plan import BuildPlan

    options = beam_options(list(beam_args) if beam_args else default_beam_args())  # fail fast
    paths = [f.path for f in files]
    if tokenizer is None:
        tok_json, tok_info = saved_tokenizer(cfg, files, stage, work_dir, resumption)
    else:
        tok_json, tok_info = tokenizer
    lines = check_tokenizer(work_dir, tok_info["sha256"])
    for line in lines:
        if say is not None:
            say(f"curate: {line}")
    unit_key = digest(settings(cfg), __version__, WORK_FORMAT, tok_info["sha256"], kind, len(known))
    dec = cfg.decontamination
    plan = BuildPlan(
        cfg=cfg,
        files=(*known, *paths),
        tokenizer_json=tok_json,
        tokenizer_info=tok_info,
        work_dir=work_dir,
        out_dir=stage,
        prior=prior,
        benchmarks=tuple(index_for(dec).benchmarks) if dec else (),
        unit_key=unit_key,
        identities=tuple(resumption.identities),
        build_key=digest(unit_key, resumption.identities),
    )
    sizes = [0] * len(known) + [f.size for f in files]
    shown = BuildProgress(work_dir, sizes, progress) if progress else None
    with trimming(), shown or contextlib.nullcontext(), beam.Pipeline(options=options) as p:
        _ = p | "BuildCorpus" >> BuildCorpus(plan)
    for line in damaged(work_dir):
        if say is not None:
            say(f"curate: {line}")
    with FileSystems.open(join(stage, "stats.json")) as f:
        stats = json.loads(f.read())
    with FileSystems.open(join(stage, "manifest.json")) as f:
        return stats, json.loads(f.read())


def saved_tokenizer(
    cfg: BuildConfig, files: list[InputFile], stage: str, work_dir: str, resumption: Resumption
) -> tuple[str, dict[str, Any]]:
    """The build's tokenizer, written to the stage: trained (or loaded) and committed, or
    the one a killed run of this build had committed."""
    commits = Commits(work_dir)
    key = "tokenizer/prepared"
    fingerprint = digest(settings(cfg), __version__, WORK_FORMAT, resumption.identities)
    if cfg.tokenizer.path:  # a file: read again, it may have changed
        fingerprint = digest(fingerprint, file_identity(cfg.tokenizer.path))
    saved = commits.load(key, fingerprint)
    if saved is not None:
        return saved.outputs[0]
    began = time.monotonic()
    tok_json, tok_info = prepare_tokenizer(cfg, [f.path for f in files])
    with recording() as written:
        write_bytes(join(stage, "tokenizer.json"), tok_json.encode())
    seconds = round(time.monotonic() - began, 3)
    commits.save(key, fingerprint, [(tok_json, tok_info)], written.values(), True, seconds=seconds)
    return tok_json, tok_info
