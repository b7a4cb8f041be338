"""Coverage-guided fuzzing of the readers and the record parser with atheris (libFuzzer).

    python bench/fuzz_atheris.py -runs=20000 -max_len=8192 CORPUS_DIR

The first input byte picks the format (JSONL, gzip, zstd, Parquet, tar, tar.gz, interleaved
JSONL); the rest is the file. The property is tests/test_fuzz_readers.py's: every record ends
as a document or a quarantine entry; anything else raised is a crash that libFuzzer reports
with the input. ``CORPUS_DIR`` starts from the valid seed files of every format.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.disable(logging.WARNING)

with atheris.instrument_imports(include=["curate"]):
    from tests import test_fuzz_readers as fz

FORMATS = sorted(fz.SEEDS)
WORK = Path(tempfile.mkdtemp(prefix="atheris-"))
(WORK / "img.png").write_bytes(fz.PNG)


def one_input(data: bytes) -> None:
    if not data:
        return
    fmt = FORMATS[data[0] % len(FORMATS)]
    path = WORK / f"in.{fmt}"
    path.write_bytes(data[1:])
    fz.consume(path, fz.MODALITY.get(fmt, "text"))


def write_seeds(corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for i, fmt in enumerate(FORMATS):
        (corpus / f"seed-{fmt}").write_bytes(bytes([i]) + fz.SEEDS[fmt])


if __name__ == "__main__":
    corpus = Path(sys.argv[-1])
    if not corpus.name.startswith("-"):
        write_seeds(corpus)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
