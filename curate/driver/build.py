"""``curate build CONFIG``: check the inputs and the output directory, run the Beam pipeline
into a staging folder (``curate.driver.run``), check what it wrote and publish it
(``curate.driver.output_dir``); with ``--append``, ``curate.driver.append``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import IO

from curate.core.errors import BuildError
from curate.core.fileio import delete_tree, join
from curate.driver.append import run_append
from curate.driver.input_files import check_unchanged, expand_inputs
from curate.driver.lease import Lease
from curate.driver.output_dir import (
    STAGING,
    check_output_dir,
    check_written,
    clear_leftovers,
    publish,
)
from curate.driver.run import check_built, check_locations, guarded, run_pipeline, work_folder
from curate.stages.config import BuildConfig
from tokenization.bpe import TokenizerError

# what a refused or failed build raises, each with a message for the person who ran it
# (InputError, LeaseError and OutputError are BuildErrors)
BUILD_ERRORS = (BuildError, TokenizerError)


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
    progress on (``curate.driver.progress``); ``on_stuck(message)``: called when a worker
    process died and the runner does not stop (``curate.core.errors.worker_deaths``).
    ``append``: add the inputs the corpus has not read yet as a new increment
    (``curate.driver.append``); returns that increment's stats."""
    if append:
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
                lambda: run_pipeline(cfg, files, stage, work_dir, beam_args, progress), on_stuck
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
