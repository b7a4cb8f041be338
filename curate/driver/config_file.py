"""Reading a config file: YAML without aliases or duplicate keys, validated into a
``BuildConfig`` once, with errors that name the key; relative paths resolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from curate.core.errors import ConfigError
from curate.decontam.stage import check_sources
from curate.stages.config import BuildConfig
from filters.registry import build_filters


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-"))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"  {loc or '<top>'}: {msg}")
    return "invalid config:\n" + "\n".join(lines)


def parse_config(data: Any, base_dir: Path | None = None) -> BuildConfig:
    """Validate a config mapping; relative input/output/tokenizer paths resolve against base_dir."""
    if not isinstance(data, dict):
        raise ConfigError("invalid config: the top level must be a mapping")
    try:
        cfg = BuildConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(e)) from None
    if base_dir is not None:
        cfg = _resolve_paths(cfg, base_dir)
    build_filters(cfg.filters)  # fail now, with the filter's name, rather than on a worker
    if cfg.decontamination is not None:
        check_sources(cfg.decontamination)
    return cfg


def _resolve(p: str, base: Path) -> str:
    if "://" in p or Path(p).is_absolute():
        return p
    return str((base / p).resolve()) if not any(c in p for c in "*?[") else str(base.resolve() / p)


def _resolve_paths(cfg: BuildConfig, base: Path) -> BuildConfig:
    inp = cfg.input.model_copy(update={"paths": [_resolve(p, base) for p in cfg.input.paths]})
    out = cfg.output.model_copy(
        update={
            "dir": _resolve(cfg.output.dir, base),
            "work_dir": _resolve(cfg.output.work_dir, base) if cfg.output.work_dir else None,
        }
    )
    tok = cfg.tokenizer
    if tok.path:
        tok = tok.model_copy(update={"path": _resolve(tok.path, base)})
    update = {"input": inp, "output": out, "tokenizer": tok}
    dec = cfg.decontamination
    if dec is not None:
        marks = [b.model_copy(update={"path": _resolve(b.path, base)}) for b in dec.benchmarks]
        index = _resolve(dec.index, base) if dec.index else None
        update["decontamination"] = dec.model_copy(update={"benchmarks": marks, "index": index})
    return cfg.model_copy(update=update)


class _ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without aliases (a few hundred bytes of nested aliases expand to
    gigabytes: the "billion laughs") and without duplicate keys (the last would silently win)."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a curate config", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # unhashable: SafeLoader reports it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


MAX_CONFIG_BYTES = 1_000_000


def load_config(path: str | Path, base_dir: Path | None = None) -> BuildConfig:
    """Read YAML (safe types only, no aliases, no duplicate keys); relative paths resolve
    against ``base_dir`` (cwd)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config {path} is over {MAX_CONFIG_BYTES:,} bytes")
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_ConfigLoader)  # noqa: S506
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config {path} is not UTF-8: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config {path} is not valid YAML: {e}") from None
    except ConfigError:
        raise
    except (ValueError, OverflowError) as e:  # a YAML date that is no date (2022-02-30)
        raise ConfigError(f"config {path} has a value YAML cannot read: {e}") from None
    return parse_config(data, base_dir or Path.cwd())
