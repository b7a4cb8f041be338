"""Each benchmark owns one marked section of BENCHMARKS.md and replaces only that section."""

from __future__ import annotations

from pathlib import Path

HEADER = (
    "# Benchmarks\n\nFigures from `make bench`; each section names its machine, date and command.\n"
)


def replace_section(path: Path, name: str, lines: list[str]) -> str:
    """Write ``lines`` between ``<!-- name:start -->`` and ``<!-- name:end -->`` markers."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = "\n".join([start, *lines, end]) + "\n"
    text = path.read_text() if path.exists() else HEADER
    if start in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end + "\n", 1)[-1]
    else:
        text += "\n" + section
    path.write_text(text)
    print(section)
    return section
