"""``curate build CONFIG --status``: what a killed build saved, done and pending, read from its
work folder without running anything or taking the output directory's lease."""

from __future__ import annotations

import json

from apache_beam.io.filesystems import FileSystems

from curate.core.fileio import join
from curate.driver.input_files import expand_inputs
from curate.driver.output_dir import STAGE
from curate.driver.resume import BUILD_KIND, append_kind, describe, work_folder
from curate.stages.config import BuildConfig


def build_status(cfg: BuildConfig, append: bool = False) -> list[str]:
    files = expand_inputs(cfg.input.paths)
    stage = join(cfg.output.dir, STAGE)
    work_dir = work_folder(cfg) or join(stage, "_work")
    kind, first = BUILD_KIND, 0
    manifest = join(cfg.output.dir, "manifest.json")
    if append and FileSystems.exists(manifest):
        with FileSystems.open(manifest) as f:
            data = f.read()
        corpus = json.loads(data)
        known = {p for inc in corpus.get("increments", []) for p in inc["inputs"]}
        files = [f for f in files if f.path not in known]
        kind = append_kind(len(corpus.get("increments", [])), data)
        first = len(known)
    return describe(cfg, files, stage, work_dir, kind, first)
