"""Driver side of a build: prepare the output, plan the work, run the Beam pipeline."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

from apache_beam.io.filesystems import FileSystems

from curate.config import BuildConfig
from curate.fileio import delete_tree, join, write_bytes
from curate.process import sample_texts
from tokenization.bpe import Encoder, TokenizerError, load_tokenizer, train_bpe


class BuildError(RuntimeError):
    pass


def expand_inputs(patterns: Sequence[str]) -> list[str]:
    """Sorted, de-duplicated file list; a pattern that matches nothing is an error."""
    files: set[str] = set()
    for pattern, result in zip(patterns, FileSystems.match(list(patterns)), strict=True):
        found = [m.path for m in result.metadata_list]
        if not found:
            raise BuildError(f"input pattern {pattern!r} matches no file")
        files.update(found)
    return sorted(files)


LEASE = ".building"


def take_lease(out_dir: str) -> str:
    """Mark ``out_dir`` as being built by this process, or refuse if another build is running
    into it (its leftovers would otherwise be cleared under it). A lease whose process is gone
    (a killed build on this host) is taken over; one from another host cannot be checked, so
    the message says how to clear it. Returns the lease's path."""
    import socket
    import uuid

    path = join(out_dir, LEASE)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex}
    body = json.dumps(me).encode()
    if "://" not in out_dir:
        os.makedirs(out_dir, exist_ok=True)
        while True:
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                _refuse_unless_stale(path, out_dir)
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            return path
    if FileSystems.exists(path):
        _refuse_unless_stale(path, out_dir)
    write_bytes(path, body)
    with FileSystems.open(path) as f:
        if json.loads(f.read())["token"] != me["token"]:
            raise BuildError(f"another build took {out_dir} at the same moment")
    return path


def _refuse_unless_stale(path: str, out_dir: str) -> None:
    import socket

    try:
        with FileSystems.open(path) as f:
            holder = json.loads(f.read())
    except (OSError, ValueError):
        holder = {}
    same_host = holder.get("host") == socket.gethostname()
    if same_host and holder.get("pid") and not _alive(int(holder["pid"])):
        FileSystems.delete([path])  # the build that held it was killed: take over
        return
    where = f"process {holder.get('pid')} on {holder.get('host')}" if holder else "unknown"
    raise BuildError(
        f"another build is running into {out_dir} ({where}); wait for it, or if it is no longer "
        f"running, delete {path}"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_lease(path: str) -> None:
    if FileSystems.exists(path):
        FileSystems.delete([path])


def prepare_output(out_dir: str, overwrite: bool) -> None:
    """Refuse to clobber a finished corpus; clear what a crashed build left behind."""
    if FileSystems.exists(join(out_dir, "manifest.json")) and not overwrite:
        raise BuildError(
            f"{out_dir} already holds a finished corpus (manifest.json); "
            "pass --overwrite to rebuild"
        )
    for name in ("manifest.json", "stats.json", "DATACARD.md", "tokenizer.json"):
        path = join(out_dir, name)
        if FileSystems.exists(path):
            FileSystems.delete([path])
    for sub in ("tokens", "rejected", "quarantine", "_work"):
        delete_tree(join(out_dir, sub))


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
        if not texts:
            raise BuildError("no document passed the filters: nothing to train the tokenizer on")
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
    """DirectRunner on every core: the single-machine default."""
    return [
        "--runner=DirectRunner",
        "--direct_running_mode=multi_processing",
        f"--direct_num_workers={os.cpu_count() or 1}",
    ]


def run_build(
    cfg: BuildConfig, beam_args: Sequence[str] | None = None, overwrite: bool = False
) -> dict:
    """Build the corpus described by ``cfg``; returns the stats written to stats.json. One
    build at a time per output directory (``take_lease``)."""
    out_dir = cfg.output.dir
    files = expand_inputs(cfg.input.paths)
    lease = take_lease(out_dir)
    try:
        return _build(cfg, files, out_dir, beam_args, overwrite)
    finally:
        release_lease(lease)


def _build(cfg: BuildConfig, files: list[str], out_dir: str, beam_args, overwrite: bool) -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from curate.memory import trimming
    from pipelines.build import BuildCorpus, BuildPlan

    prepare_output(out_dir, overwrite)
    tok_json, tok_info = prepare_tokenizer(cfg, files)
    write_bytes(join(out_dir, "tokenizer.json"), tok_json.encode())
    plan = BuildPlan(
        config_json=cfg.model_dump_json(),
        files=tuple(files),
        tokenizer_json=tok_json,
        tokenizer_info=tok_info,
        work_dir=cfg.output.work_dir or join(out_dir, "_work"),
    )
    args = list(beam_args) if beam_args else default_beam_args()
    options = PipelineOptions(args)
    with trimming(), beam.Pipeline(options=options) as p:
        _ = p | "BuildCorpus" >> BuildCorpus(plan)
    with FileSystems.open(join(out_dir, "stats.json")) as f:
        return json.loads(f.read())
