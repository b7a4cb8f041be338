"""Driver side of a build: check the inputs and the output directory, plan the work, run the
Beam pipeline into a staging folder, check what it wrote and publish it
(``curate.build.output_dir``). The one place that imports ``pipelines``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from typing import IO, Any

from apache_beam.io.filesystems import FileSystems

from curate.build.config import BuildConfig
from curate.build.inputs import InputFile, check_unchanged, expand_inputs
from curate.build.lease import LEASE, Lease
from curate.build.output_dir import (
    STAGING,
    any_inside,
    check_output_dir,
    check_written,
    clear_leftovers,
    overlapping,
    publish,
)
from curate.build.process import sample_texts
from curate.build.progress import BuildProgress
from curate.core.errors import BuildError, describe_failure, worker_deaths
from curate.core.fileio import delete_tree, join, write_bytes
from curate.dedup.state import PriorState
from tokenization.bpe import Encoder, TokenizerError, load_tokenizer, train_bpe

__all__ = ["LEASE", "BuildError", "expand_inputs", "run_build"]


# what a refused or failed build raises, each with a message for the person who ran it
# (InputError, LeaseError and OutputError are BuildErrors)
BUILD_ERRORS = (BuildError, TokenizerError)


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


def prepare_tokenizer(cfg: BuildConfig, files: list[str]) -> tuple[str, dict[str, Any]]:
    """Load or train the tokenizer; return its JSON and its manifest entry."""
    tcfg = cfg.tokenizer
    image_token = tcfg.image_token if cfg.multimodal else None
    if tcfg.path:
        tok = load_tokenizer(tcfg.path)
        if image_token is not None and tok.token_to_id(image_token) is None:
            tok.add_special_tokens([image_token])  # a new id after the vocabulary
    else:
        texts = sample_texts(cfg, files, tcfg.train.sample_docs)
        extra = (image_token,) if image_token else ()
        tok = train_bpe(
            texts, tcfg.train.vocab_size, tcfg.eos_token, tcfg.train.min_frequency, extra
        )
    try:
        encoder = Encoder(tok, tcfg.eos_token, fast=tcfg.fast, image_token=image_token)
    except TokenizerError as e:
        raise BuildError(str(e)) from None
    tok_json = tok.to_str()
    info = {
        "path": "tokenizer.json",
        "sha256": hashlib.sha256(tok_json.encode()).hexdigest(),
        "vocab_size": encoder.vocab_size,
        "eos_token": tcfg.eos_token,
        "eos_id": encoder.eos_id,
        "image_token": image_token,
        "image_id": encoder.image_id,
        "trained": tcfg.train is not None,
        "encoder": encoder.backend,
    }
    return tok_json, info


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


def run_build(
    cfg: BuildConfig,
    beam_args: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: IO[str] | None = None,
    on_stuck: Callable[[str], None] | None = None,
    append: bool = False,
) -> dict:
    """Build the corpus described by ``cfg``; returns the stats written to stats.json. One
    build at a time per output directory (``Lease``); the old corpus, if any, is replaced
    only once the new one is complete and checked. ``progress``: a stream to show the build's
    progress on (``curate.build.progress``); ``on_stuck(message)``: called when a worker
    process died and the runner does not stop (``curate.core.errors.worker_deaths``).
    ``append``: add the inputs the corpus has not read yet as a new increment
    (``curate.build.append``); returns that increment's stats."""
    if append:
        from curate.build.append import run_append

        return run_append(cfg, beam_args, progress, on_stuck)
    out_dir = cfg.output.dir
    files = expand_inputs(cfg.input.paths)
    check_locations(cfg, files)
    with Lease(out_dir) as lease:
        check_output_dir(out_dir, overwrite)
        clear_leftovers(out_dir)
        stage = join(out_dir, STAGING + lease.token)
        work = work_folder(cfg, lease.token)
        work_dir = work or join(stage, "_work")
        try:
            stats, manifest = guarded(
                lambda: _build(cfg, files, stage, work_dir, beam_args, progress), on_stuck
            )
            check_built(stats, files)
            check_written(stage, manifest)
            check_unchanged(files)
            publish(stage, out_dir, lease.token)
        finally:
            delete_tree(stage)
            if work is not None:
                delete_tree(work)
    return stats


def work_folder(cfg: BuildConfig, token: str) -> str | None:
    return join(cfg.output.work_dir, f"curate-work-{token}") if cfg.output.work_dir else None


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


def _build(
    cfg: BuildConfig,
    files: list[InputFile],
    stage: str,
    work_dir: str,
    beam_args,
    progress: IO[str] | None,
    tokenizer: tuple[str, dict[str, Any]] | None = None,
    prior: PriorState | None = None,
    known: Sequence[str] = (),
) -> tuple[dict, dict]:
    """Run the pipeline into ``stage``; returns the stats and manifest it wrote there. An
    append passes the corpus's ``tokenizer`` (JSON, manifest entry), its saved dedup state
    (``prior``) and the input files its increments already read (``known``)."""
    import apache_beam as beam

    from curate.core.memory import trimming
    from curate.decontam.stage import index_for
    from pipelines.build import BuildCorpus, BuildPlan

    paths = [f.path for f in files]
    if tokenizer is None:
        tok_json, tok_info = prepare_tokenizer(cfg, paths)
        write_bytes(join(stage, "tokenizer.json"), tok_json.encode())
    else:
        tok_json, tok_info = tokenizer
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
    )
    options = beam_options(list(beam_args) if beam_args else default_beam_args())
    sizes = [0] * len(known) + [f.size for f in files]
    shown = BuildProgress(work_dir, sizes, progress) if progress else None
    with trimming(), shown or contextlib.nullcontext(), beam.Pipeline(options=options) as p:
        _ = p | "BuildCorpus" >> BuildCorpus(plan)
    with FileSystems.open(join(stage, "stats.json")) as f:
        stats = json.loads(f.read())
    with FileSystems.open(join(stage, "manifest.json")) as f:
        return stats, json.loads(f.read())
