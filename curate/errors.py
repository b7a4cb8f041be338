"""The error a refused or failed build raises: its message is meant for the person who ran it
(the command line prints it as one line, without a traceback)."""

from __future__ import annotations

import re


class BuildError(RuntimeError):
    pass


_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.+)$", re.M)
_STAGE = re.compile(r"\[while running '([^']+)'\]")


def describe_failure(exc: BaseException) -> str:
    """The first cause of a failed pipeline in one line: a runner reports a worker's error as
    a RuntimeError whose text holds the worker's traceback (or chains the original error)."""
    chain, e = [], exc
    while e is not None and len(chain) < 20:
        chain.append(e)
        e = e.__cause__ or e.__context__
    root = chain[-1]
    text = "\n".join(str(x) for x in chain)
    stage = _STAGE.search(text)
    where = f" [in {stage.group(1).split('/')[-1]}]" if stage else ""
    if isinstance(root, OSError) and root.strerror:
        path = f" ({root.filename})" if root.filename else ""
        return f"{root.strerror}{path}{where}"
    found = _ERROR_LINE.findall(str(root)) or _ERROR_LINE.findall(text)
    if found:
        kind, message = found[0]
        message = _STAGE.sub("", message).strip()
        return f"{kind.rsplit('.', 1)[-1]}: {message}{where}"
    first = (str(root).strip().splitlines() or [type(root).__name__])[0]
    return f"{type(root).__name__}: {first}{where}"
