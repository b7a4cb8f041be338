"""``curate build CONFIG``: check the inputs and the output directory, run the Beam pipeline
into a staging folder (``curate.driver.run``), check what it wrote and publish it
(``curate.driver.output_dir``); with ``--append``, ``curate.driver.append``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import IO

from apache_beam.io.filesystems import FileSystems

from curate.core.errors import BuildError
from curate.core.fileio import delete_tree, join
from curate.driver.append import run_append
from curate.driver.input_files import check_unchanged, expand_inputs
from curate.driver.lease import Lease
from curate.driver.output_dir import (
    STAGE,
    check_output_dir,
    check_written,
    clear_leftovers,
    publish,
    publishing,
)
from curate.driver.resume import BUILD_KIND, prepare, same_build, saved_work_note, work_folder
from curate.driver.run import check_built, check_locations, guarded, run_pipeline
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
    restart: bool = False,
) -> dict:
    """Build the corpus described by ``cfg``; returns the stats written to stats.json. One
    build at a time per output directory (``Lease``); the old corpus, if any, is replaced
    only once the new one is complete and checked. A build killed before that resumes when
    run again, redoing only the units of work it had not committed (``restart``: discard
    them); its first lines say so. ``progress``: a stream to show the build's progress and
    those lines on (``curate.driver.progress``; stderr when None); ``on_stuck(message)``:
    called when a worker process died and the runner does not stop
    (``curate.core.errors.worker_deaths``). ``append``: add the inputs the corpus has not
    read yet as a new increment (``curate.driver.append``); returns that increment's stats."""
    say = _teller(progress)
    if append:
        return run_append(cfg, beam_args, progress, on_stuck, restart, say)
    out_dir = cfg.output.dir
    files = expand_inputs(cfg.input.paths)
    check_locations(cfg, files)
    with Lease(out_dir):
        stage = join(out_dir, STAGE)
        work = work_folder(cfg)
        work_dir = work or join(stage, "_work")
        if publishing(stage) is not None:
            finished = _finish_publishing(cfg, files, stage, work, work_dir, restart, say)
            if finished is not None:
                return finished
        check_output_dir(out_dir, overwrite)
        clear_leftovers(out_dir)
        kind = BUILD_KIND
        resumption = prepare(cfg, files, stage, work_dir, kind, restart)
        for line in resumption.lines:
            say(f"curate: {line}")
        try:
            stats, manifest = guarded(
                lambda: run_pipeline(
                    cfg, files, stage, work_dir, beam_args, progress, resumption, kind, say=say
                ),
                on_stuck,
            )
            check_built(stats, files)
            check_written(stage, manifest)
            check_unchanged(files)
        except BuildError as e:
            raise saved_work_note(e, work_dir) from e.__cause__
        publish(stage, out_dir)
        delete_tree(stage)
        if work is not None:
            delete_tree(work)
    return stats


def _teller(progress: IO[str] | None) -> Callable[[str], None]:
    stream = progress or sys.stderr
    return lambda line: print(line, file=stream, flush=True)


def _finish_publishing(cfg, files, stage, work, work_dir, restart, say) -> dict | None:
    """A build killed while it moved its corpus in: finish the move (the corpus was complete
    and checked). When that build was this one, it is done: its stats."""
    out_dir = cfg.output.dir
    same = not restart and same_build(cfg, files, work_dir, BUILD_KIND)
    publish(stage, out_dir)
    delete_tree(stage)
    if work is not None:
        delete_tree(work)
    say(f"curate: a build killed while publishing its corpus into {out_dir}: published now")
    if not same:
        return None
    with FileSystems.open(join(out_dir, "stats.json")) as f:
        return json.loads(f.read())
