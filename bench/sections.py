"""Each benchmark owns one marked section of BENCHMARKS.md and replaces only that section."""

from __future__ import annotations

import json
import subprocess
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


def run_or_render(name: str, needs: Path, results: Path, run, render) -> None:
    """The command line of a benchmark whose figures need ../shared: ``--out`` (BENCHMARKS.md)
    and ``--render`` (rewrite the section from the last run's ``results`` JSON instead of
    running); without ``needs`` it says so and skips."""
    import argparse
    import json

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "BENCHMARKS.md"))
    ap.add_argument("--render", action="store_true", help="rewrite the section from the last run")
    args = ap.parse_args()
    if not needs.exists():
        print(f"{name}: {needs} is not present; skipped")
        return
    r = json.loads(results.read_text()) if args.render else run()
    replace_section(Path(args.out), name, render(r))


def run_anchor(script: str, *args: object) -> dict | None:
    """The JSON an anchor script in bench/ prints last, run in the benchmark environment
    (bench/.venv, where the anchors are installed); None when that environment is absent."""
    bench = Path(__file__).resolve().parent
    py = bench / ".venv" / "bin" / "python"
    if not py.exists():
        return None
    r = subprocess.run(
        [str(py), str(bench / script), *map(str, args)], check=True, capture_output=True, text=True
    )
    return json.loads(r.stdout.strip().splitlines()[-1])
