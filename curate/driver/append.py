"""``curate build CONFIG --append``: add the input files a corpus has not read yet as a new
increment, deduplicated within themselves and against everything the corpus holds, without
reading or rewriting any of its shards (docs/append.md).

An increment lives in its own folder, ``increments/NNNN/`` (shards under ``tokens/``,
``rejected/``, ``quarantine/``, its saved dedup state under ``dedup/``, its own ``stats.json``
and ``DATACARD.md``) and the copy of the manifest it extended (``previous-manifest.json``). It
is staged like a build and published by one rename of its folder, then ``manifest.json`` is
replaced: the commit. A killed append leaves the previous manifest, which names none of its
files; run again, it resumes from the units it committed (``curate.driver.resume``), or, killed
between the rename and the manifest, finishes the commit, and gives the same bytes. The
corpus's totals are kept in the increment's folder (``corpus-stats.json``, listed in the
manifest); ``stats.json`` and ``DATACARD.md`` at the root are copies of them, made after the
commit (and again by the next append, should the copy have been interrupted).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import IO, Any

from apache_beam.io.filesystems import FileSystems

from curate import __version__
from curate.core.errors import BuildError
from curate.core.fileio import delete_tree, join, write_bytes
from curate.dedup.state import STATE_DIR, PriorState
from curate.driver.input_files import check_unchanged, expand_inputs
from curate.driver.lease import Lease
from curate.driver.output_dir import (
    PUBLISHING,
    STAGE,
    OutputError,
    check_written,
    clear_leftovers,
    move_into,
    publish,
    publishing,
)
from curate.driver.resume import (
    NOT_IN_OUTPUT,
    append_kind,
    prepare,
    same_build,
    saved_work_note,
    work_folder,
)
from curate.driver.run import check_built, check_locations, guarded, run_pipeline
from curate.driver.tokenizer import prepare_tokenizer
from curate.format.manifest import CorpusError, parse_manifest
from curate.format.reports import datacard, increment_entry, json_bytes, split_views
from curate.format.stats import add_stats
from curate.stages.commits import failpoint
from curate.stages.config import BuildConfig

INCREMENTS = "increments"
CORPUS_STATS = "corpus-stats.json"  # the corpus's totals after an increment
PREVIOUS_STATS = "previous-stats.json"  # and before it (for the first append: the build's own)
# settings that may differ between increments: where the inputs and the work files are
_MAY_DIFFER = NOT_IN_OUTPUT


def increment_path(index: int) -> str:
    return f"{INCREMENTS}/{index:04d}"


def run_append(
    cfg: BuildConfig,
    beam_args: Sequence[str] | None = None,
    progress: IO[str] | None = None,
    on_stuck: Callable[[str], None] | None = None,
    restart: bool = False,
    say: Callable[[str], None] = print,
) -> dict:
    """Append the inputs of ``cfg`` that the corpus in ``cfg.output.dir`` has not read;
    returns the new increment's stats. Like a build, a killed append resumes."""
    out_dir = cfg.output.dir
    files = expand_inputs(cfg.input.paths)
    check_locations(cfg, files)
    with Lease(out_dir):
        stage = join(out_dir, STAGE)
        work = work_folder(cfg)
        work_dir = work or join(stage, "_work")
        phase = publishing(stage)
        if phase == "append":
            done = _finish_append(cfg, files, stage, work, work_dir, restart, say)
            if done is not None:
                return done
        elif phase is not None:  # a build killed while publishing: it was complete
            publish(stage, out_dir)
            _clean(stage, work)
        previous, manifest = read_corpus(out_dir)
        copy_totals(out_dir, manifest)  # an append killed right after its manifest
        check_same_config(cfg, manifest)
        known = [p for inc in manifest["increments"] for p in inc["inputs"]]
        read = set(known)
        new = [f for f in files if f.path not in read]
        if not new:
            raise BuildError(
                f"every input of {cfg.input.paths} is already in the corpus: nothing to append"
            )
        clear_leftovers(out_dir)
        clear_unlisted_increments(out_dir, manifest)
        index = len(manifest["increments"])
        rel = increment_path(index)
        inc_stage = join(stage, rel)
        kind = append_kind(index, previous)
        resumption = prepare(cfg, new, stage, work_dir, kind, restart, len(known))
        for line in resumption.lines:
            say(f"curate: {line}")
        tokenizer = corpus_tokenizer(cfg, out_dir, manifest)
        prior = prior_state(out_dir, manifest)
        try:
            stats, inc_manifest = guarded(
                lambda: run_pipeline(
                    cfg,
                    new,
                    inc_stage,
                    work_dir,
                    beam_args,
                    progress,
                    resumption,
                    kind,
                    tokenizer,
                    prior,
                    known,
                    say,
                ),
                on_stuck,
            )
            check_built(stats, new)
            check_written(inc_stage, inc_manifest, tokenizer=False)
            check_unchanged(new)
        except BuildError as e:
            raise saved_work_note(e, work_dir) from e.__cause__
        FileSystems.delete([join(inc_stage, "manifest.json")])  # its entries move up
        with FileSystems.open(corpus_stats_path(out_dir, manifest)) as f:
            before = f.read()
        with FileSystems.open(join(inc_stage, "stats.json")) as f:
            own = f.read()
        total = json_bytes(add_stats(json.loads(before), json.loads(own)))
        digests = {"stats.json": hashlib.sha256(own).hexdigest()}
        for name, data in (
            ("previous-manifest.json", previous),
            (PREVIOUS_STATS, before),
            (CORPUS_STATS, total),
        ):
            digests[name] = write_bytes(join(inc_stage, name), data)["sha256"]
        corpus = extend_manifest(manifest, inc_manifest, index, cfg, digests)
        marker = {"phase": "append", "path": rel, "manifest": corpus}
        write_bytes(join(stage, PUBLISHING), json.dumps(marker).encode())
        _commit_increment(out_dir, stage, rel, corpus)
        _clean(stage, work)
    return stats


def _commit_increment(out_dir: str, stage: str, rel: str, corpus: dict) -> None:
    """The increment's folder moved in, then the manifest that names it: the commit."""
    if FileSystems.exists(join(stage, rel)):
        move_into(stage, out_dir, rel)
        failpoint("publish:append")
    write_bytes(join(out_dir, "manifest.json"), json_bytes(corpus))
    copy_totals(out_dir, corpus)


def _clean(stage: str, work: str | None) -> None:
    delete_tree(stage)
    if work is not None:
        delete_tree(work)


def _finish_append(cfg, files, stage, work, work_dir, restart, say) -> dict | None:
    """An append killed while it committed its increment: finish the commit. When that
    append was this one, it is done: the increment's stats."""
    with FileSystems.open(join(stage, PUBLISHING)) as f:
        marker = json.loads(f.read())
    corpus, rel = marker["manifest"], marker["path"]
    entry = corpus["increments"][-1]
    kind = {"append": entry["index"], "corpus": entry["previous_manifest"]["sha256"]}
    known = {p for inc in corpus["increments"][:-1] for p in inc["inputs"]}
    new = [f for f in files if f.path not in known]
    same = not restart and same_build(cfg, new, work_dir, kind)
    _commit_increment(cfg.output.dir, stage, rel, corpus)
    _clean(stage, work)
    say(f"curate: an append killed while committing {rel} into {cfg.output.dir}: committed now")
    if not same:
        return None
    with FileSystems.open(join(cfg.output.dir, rel, "stats.json")) as f:
        return json.loads(f.read())


def corpus_stats_path(out_dir: str, manifest: dict) -> str:
    """The corpus's totals as of its last increment: kept in that increment's folder (the
    root's ``stats.json`` is a copy of it), or the root's for a corpus never appended to."""
    last = manifest["increments"][-1]
    if "corpus_stats" in last:
        return join(out_dir, last["corpus_stats"]["path"])
    return join(out_dir, "stats.json")


def copy_totals(out_dir: str, manifest: dict) -> None:
    """``stats.json`` and ``DATACARD.md`` at the root: the last increment's totals."""
    source = corpus_stats_path(out_dir, manifest)
    target = join(out_dir, "stats.json")
    with FileSystems.open(source) as f:
        data = f.read()
    if source == target:
        return
    with FileSystems.open(target) as f:
        if f.read() == data:
            return
    write_bytes(target, data)
    write_bytes(join(out_dir, "DATACARD.md"), datacard(json.loads(data), manifest).encode())


def read_corpus(out_dir: str) -> tuple[bytes, dict]:
    """The corpus's manifest, as bytes and parsed; an OutputError if there is none to append
    to or it predates appends."""
    path = join(out_dir, "manifest.json")
    try:
        with FileSystems.open(path) as f:
            data = f.read()
        manifest = parse_manifest(data, path)
    except (OSError, CorpusError) as e:
        raise OutputError(
            f"--append needs a finished corpus in {out_dir}: build it first ({e})"
        ) from None
    if not isinstance(manifest.get("increments"), list) or not manifest["increments"]:
        raise OutputError(
            f"{path} was written by a curate without appends (no 'increments'): rebuild it once"
        )
    return data, manifest


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out |= _flat(value, f"{prefix}.{key}" if prefix else key)
    return out


def check_same_config(cfg: BuildConfig, manifest: dict) -> None:
    """The corpus's config and this one may differ only in where the inputs and work files
    are: anything else would make the increment a different corpus."""
    ours, theirs = _flat(cfg.model_dump(mode="json")), _flat(manifest["config"])
    differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
    differ = [k for k in differ if k not in _MAY_DIFFER]
    if differ:
        shown = ", ".join(f"{k} ({theirs.get(k)!r} -> {ours.get(k)!r})" for k in differ[:4])
        more = f" and {len(differ) - 4} more" if len(differ) > 4 else ""
        raise BuildError(
            f"--append refused: the config differs from the one the corpus was built with: "
            f"{shown}{more}"
        )


def corpus_tokenizer(cfg: BuildConfig, out_dir: str, manifest: dict) -> tuple[str, dict]:
    """The corpus's own tokenizer (JSON, manifest entry). A config that names a tokenizer file
    must name the one the corpus was encoded with: a file changed since is refused."""
    entry = manifest["tokenizer"]
    if cfg.tokenizer.path:
        _, info = prepare_tokenizer(cfg, [])
        if info["sha256"] != entry["sha256"]:
            raise BuildError(
                f"--append refused: tokenizer.path {cfg.tokenizer.path} is not the tokenizer the "
                f"corpus was encoded with (SHA-256 {info['sha256'][:12]}, the corpus's "
                f"{entry['sha256'][:12]})"
            )
    with FileSystems.open(join(out_dir, entry["path"])) as f:
        return f.read().decode(), entry


def prior_state(out_dir: str, manifest: dict) -> PriorState:
    """Where each increment's dedup state is, and the input files before it."""
    parts, first = [], 0
    for inc in manifest["increments"]:
        folder = out_dir if inc["path"] == "." else join(out_dir, inc["path"])
        parts.append((first, join(folder, STATE_DIR)))
        first += len(inc["inputs"])
    return PriorState(tuple(parts), first)


def clear_unlisted_increments(out_dir: str, manifest: dict) -> None:
    """Increment folders the manifest does not name: an append killed before its manifest."""
    listed = {inc["path"] for inc in manifest["increments"]}
    folder = join(out_dir, INCREMENTS)
    if "://" in out_dir or not FileSystems.exists(folder):
        return
    import os

    for name in sorted(os.listdir(folder)):
        if f"{INCREMENTS}/{name}" not in listed:
            delete_tree(join(folder, name))


def _prefixed(entries: list[dict], rel: str, index: int | None = None) -> list[dict]:
    out = []
    for e in entries:
        entry = {**e, "path": f"{rel}/{e['path']}"}
        if index is not None:
            entry["increment"] = index
        out.append(entry)
    return out


def extend_manifest(
    manifest: dict, inc: dict, index: int, cfg: BuildConfig, digests: dict[str, str]
) -> dict:
    """The corpus's manifest with the increment's shards and files added (paths under its
    folder), its entry in the chain (``digests``: the SHA-256 of the files the chain names, by
    name in the increment's folder), and the views recomputed over every shard."""
    rel = increment_path(index)
    shards = _prefixed(inc["shards"], rel, index)
    entry = increment_entry(index, rel, inc["increments"][0]["inputs"], shards)
    entry |= {
        "input_paths": list(cfg.input.paths),
        "appended_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "previous_manifest": {
            "path": f"{rel}/previous-manifest.json",
            "sha256": digests["previous-manifest.json"],
        },
        "previous_stats": {"path": f"{rel}/{PREVIOUS_STATS}", "sha256": digests[PREVIOUS_STATS]},
        "stats": {"path": f"{rel}/stats.json", "sha256": digests["stats.json"]},
        "corpus_stats": {"path": f"{rel}/{CORPUS_STATS}", "sha256": digests[CORPUS_STATS]},
    }
    all_shards = sorted([*manifest["shards"], *shards], key=lambda s: s["path"])
    records = sorted(
        [*manifest["records"], *_prefixed(inc["records"], rel)], key=lambda r: r["path"]
    )
    return {
        **manifest,
        "curate_version": __version__,
        "shards": all_shards,
        "records": records,
        "views": split_views(manifest["config"]["temporal"], all_shards),
        "increments": [*manifest["increments"], entry],
    }
