"""Reading a corpus's ``manifest.json`` safely: the one check every reader (the loader,
``verify``, ``drift``) runs before it trusts a manifest.

A manifest comes with the corpus, possibly from someone else: its paths name files to read and,
for a remote corpus, local copies to write. Every path must be relative, normalized and stay
inside the corpus (no ``..``, no absolute path, no scheme, no backslash); sizes and counts must
be non-negative integers and checksums SHA-256 hex digests. Anything else is a ``CorpusError``
naming the entry, before any file is opened.
"""

from __future__ import annotations

import json
import posixpath
import re
from datetime import datetime, timezone
from typing import Any


class CorpusError(Exception):
    """A corpus that cannot be read as its manifest describes: the message names the file."""


_SHA256 = re.compile(r"[0-9a-f]{64}")
_SAFE_CHARS = re.compile(r"[A-Za-z0-9._=/+-]+")


def safe_relpath(path: Any, where: str) -> str:
    """``path`` if it is a plain relative path inside the corpus, else CorpusError."""
    ok = (
        isinstance(path, str)
        and 0 < len(path) <= 1024
        and _SAFE_CHARS.fullmatch(path) is not None
        and posixpath.normpath(path) == path
        and not path.startswith(("/", "."))
        and ".." not in path.split("/")
    )
    if not ok:
        raise CorpusError(f"{where}: path {path!r} is not a plain relative path in the corpus")
    return path


def _int(entry: dict, key: str, where: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CorpusError(f"{where}: {key!r} must be a non-negative integer, got {value!r}")
    return value


def _file(entry: Any, where: str, counts: tuple[str, ...] = ()) -> None:
    if not isinstance(entry, dict):
        raise CorpusError(f"{where}: expected an object, got {type(entry).__name__}")
    safe_relpath(entry.get("path"), where)
    _int(entry, "bytes", where)
    if not isinstance(entry.get("sha256"), str) or not _SHA256.fullmatch(entry["sha256"]):
        raise CorpusError(f"{where}: 'sha256' must be a SHA-256 hex digest")
    for key in counts:
        _int(entry, key, where)


def to_us(t: str | datetime | None) -> int | None:
    """A manifest time (ISO 8601; None for undated shards) as microseconds since the epoch."""
    if t is None:
        return None
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1_000_000)


def _time(value: Any, where: str) -> None:
    """None (undated documents only) or an ISO 8601 time."""
    try:
        if value is not None and not isinstance(value, str):
            raise ValueError
        to_us(value)
    except ValueError:
        raise CorpusError(f"{where}: {value!r} is not an ISO 8601 time") from None


def check_manifest(manifest: Any, where: str = "manifest.json") -> dict:
    """The manifest, if it has the shape of a curate corpus's; CorpusError otherwise."""
    if not isinstance(manifest, dict) or manifest.get("format") != "curate-corpus":
        raise CorpusError(f"{where}: not a curate corpus manifest")
    tok = manifest.get("tokenizer")
    if not isinstance(tok, dict):
        raise CorpusError(f"{where}: no tokenizer entry")
    safe_relpath(tok.get("path"), f"{where} tokenizer")
    vocab = _int(tok, "vocab_size", f"{where} tokenizer")
    if _int(tok, "eos_id", f"{where} tokenizer") >= vocab:
        raise CorpusError(f"{where}: eos_id {tok['eos_id']} outside the vocabulary ({vocab})")
    shards, records = manifest.get("shards"), manifest.get("records", [])
    if not isinstance(shards, list) or not isinstance(records, list):
        raise CorpusError(f"{where}: 'shards' and 'records' must be lists")
    for i, entry in enumerate(shards):
        _file(entry, f"{where} shards[{i}]", ("documents", "tokens"))
        for key in ("split", "period"):
            if not isinstance(entry.get(key), str):
                raise CorpusError(f"{where} shards[{i}]: {key!r} must be a string")
        for key in ("min_time", "max_time"):
            _time(entry.get(key), f"{where} shards[{i}].{key}")
        lo, hi = to_us(entry.get("min_time")), to_us(entry.get("max_time"))
        if (lo is None) != (hi is None) or (lo is not None and lo > hi):
            raise CorpusError(
                f"{where} shards[{i}]: min_time and max_time must both be null (undated "
                f"documents only) or both times, min_time first"
            )
    for i, entry in enumerate(records):
        _file(entry, f"{where} records[{i}]")
    if not isinstance(manifest.get("config"), dict):
        raise CorpusError(f"{where}: no config")
    return manifest


def parse_manifest(data: bytes | str, where: str = "manifest.json") -> dict:
    try:
        manifest = json.loads(data)
    except ValueError as e:
        raise CorpusError(f"{where}: not JSON: {e}") from None
    return check_manifest(manifest, where)
