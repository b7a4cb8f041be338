"""Property-based fuzzing of every reader and the record parser: random and mutated inputs end
as documents or quarantine entries, never an uncaught exception or a hang. bench/reliability.py
runs the same properties with many more cases and writes RELIABILITY.md."""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import json
import lzma
import math
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from curate.driver.config_file import parse_config
from curate.readers.records import BadRecord, RawRecord, SkippedRecord
from curate.stages.parse import RecordError, RecordParser
from curate.web.documents import read_records
from tests.conftest import zstd_members

CASES = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI never flakes on a new seed
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_DOC = 4096


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


PNG = _png()
GOOD = [
    {"id": "a", "text": "A plain record with enough text.", "timestamp": "2020-01-02"},
    {"text": "ünïcödé 漢字 text", "timestamp": 1600000000},
    {"id": 7, "text": "x" * 50, "timestamp": "2019-05-05T10:00:00Z", "source": "s"},
]
INTERLEAVED = [
    {"id": "i", "timestamp": "2021-01-01", "content": [{"text": "before"}, {"image": "img.png"}]},
    {"timestamp": "2021-01-01", "content": [{"image_base64": base64.b64encode(PNG).decode()}]},
]


def parser(modality: str) -> RecordParser:
    cfg = parse_config(
        {
            "input": {"paths": ["x"], "modality": modality, "max_doc_bytes": MAX_DOC},
            "tokenizer": {"train": {}},
            "output": {"dir": "o"},
        }
    )
    return RecordParser(cfg.input, cfg.temporal, cfg.images)


def consume(path: Path, modality: str = "text") -> Counter:
    """Read and parse every record of ``path``: the property is that nothing escapes."""
    out: Counter = Counter()
    p = parser(modality)
    for rec in read_records(str(path), max_doc_bytes=MAX_DOC):
        if isinstance(rec, BadRecord):
            assert rec.kind and rec.error
            out[f"bad.{rec.kind}"] += 1
            continue
        if isinstance(rec, SkippedRecord):
            assert rec.reason.startswith("warc.")
            out[f"skipped.{rec.reason}"] += 1
            continue
        assert isinstance(rec, RawRecord)
        try:
            p.parse(rec.value, f"0:{rec.position}", str(path))
            out["document"] += 1
        except RecordError as e:
            assert e.kind and str(e)
            out[f"quarantine.{e.kind}"] += 1
    return out


def _jsonl(records: list) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _tar(records: list[dict]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for k, r in enumerate(records):
            for ext, data in (("png", PNG), ("json", json.dumps(r).encode())):
                info = tarfile.TarInfo(f"{k:04d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _parquet(records: list[dict]) -> bytes:
    buf = io.BytesIO()
    table = pa.table(
        {
            "text": [r["text"] for r in records],
            "timestamp": [str(r["timestamp"]) for r in records],
            "image": [PNG] * len(records),
        }
    )
    pq.write_table(table, buf)
    return buf.getvalue()


def _warc(compress: bool) -> bytes:
    """A crawl's records: warcinfo, request, an HTML page sent gzip-compressed and chunked, a
    404, an image and a WET conversion; each a gzip member when ``compress``."""
    import random
    from datetime import datetime, timezone

    from curate.demo.web import http_response, page_html, record

    rng, when = random.Random(0), datetime(2020, 8, 8, tzinfo=timezone.utc)
    page = gzip.compress(page_html("T", "A paragraph of text.\n\nAnother one.").encode(), mtime=0)
    chunked = f"{len(page):x}\r\n".encode() + page + b"\r\n0\r\n\r\n"
    parts = [
        record("warcinfo", rng, when, b"isPartOf: CC-MAIN-2020-34\r\n"),
        record("request", rng, when, b"GET / HTTP/1.1\r\n\r\n", WARC_Target_URI="http://a.test/"),
        record(
            "response",
            rng,
            when,
            http_response(chunked, Content_Encoding="gzip", Transfer_Encoding="chunked"),
            WARC_Target_URI="http://a.test/",
        ),
        record("response", rng, when, http_response(b"no", "404 Not Found"), WARC_Target_URI="x"),
        record("response", rng, when, http_response(PNG, Content_Type="image/png")),
        record("conversion", rng, when, b"Plain text of a page.", Content_Type="text/plain"),
    ]
    data = b"".join(parts)
    return data if compress else gzip.decompress(data)


SEEDS = {  # valid files of every format, the starting points for mutation
    "jsonl": _jsonl(GOOD),
    "jsonl.gz": gzip.compress(_jsonl(GOOD), mtime=0),
    "jsonl.zst": zstandard.ZstdCompressor().compress(_jsonl(GOOD)),
    "jsonl.bz2": bz2.compress(_jsonl(GOOD)),
    "jsonl.xz": lzma.compress(_jsonl(GOOD)),
    "parquet": _parquet(GOOD),
    "tar": _tar(GOOD),
    "tar.gz": gzip.compress(_tar(GOOD), mtime=0),
    "interleaved.jsonl": _jsonl(INTERLEAVED),
    "warc.gz": _warc(True),
    "warc": _warc(False),
    "warc.zst": zstd_members(_warc(True)),
}
DOCUMENTS = {"warc.gz": 2, "warc": 2, "warc.zst": 2, "interleaved.jsonl": len(INTERLEAVED)}
MODALITY = {
    "tar": "image_text",
    "tar.gz": "image_text",
    "parquet": "image_text",
    "interleaved.jsonl": "interleaved",
}


def mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, value) edits: flip a byte, delete, insert, truncate, duplicate."""
    buf = bytearray(data)
    for kind, pos, value in ops:
        if not buf:
            buf = bytearray([value])
            continue
        i = pos % len(buf)
        if kind == 0:
            buf[i] ^= value or 1
        elif kind == 1:
            del buf[i]
        elif kind == 2:
            buf.insert(i, value)
        elif kind == 3:
            del buf[i:]
        else:
            buf[i:i] = buf[max(0, i - value) : i]
    return bytes(buf)


def check_mutated(fmt: str, ops: list[tuple[int, int, int]]) -> Counter:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "img.png").write_bytes(PNG)
        path = Path(d) / f"in.{fmt}"
        path.write_bytes(mutate(SEEDS[fmt], ops))
        return consume(path, MODALITY.get(fmt, "text"))


def check_random(fmt: str, data: bytes) -> Counter:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"in.{fmt}"
        path.write_bytes(data)
        return consume(path, MODALITY.get(fmt, "text"))


OPS = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=8
)


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_seed_files_are_valid(fmt):
    counts = check_mutated(fmt, [])
    assert counts["document"] == DOCUMENTS.get(fmt, len(GOOD)), counts


@pytest.mark.parametrize("fmt", sorted(SEEDS))
@CASES
@given(ops=OPS)
def test_mutated_files_never_escape(fmt, ops):
    check_mutated(fmt, ops)


@pytest.mark.parametrize("fmt", sorted(SEEDS))
@CASES
@given(data=st.binary(max_size=2048))
def test_random_bytes_never_escape(fmt, data):
    check_random(fmt, data)


def _values(path: Path) -> list[str]:
    return [
        repr(sorted(rec.value.items()))
        for rec in read_records(str(path), max_doc_bytes=MAX_DOC)
        if isinstance(rec, RawRecord)
    ]


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_a_file_cut_short_yields_only_whole_records(fmt, tmp_path):
    """A download that stops early: every record read from any prefix of a valid file is one
    of the file's own records, whole; the part that was cut is a quarantine entry, never a
    shorter page, caption or sample."""
    seed, path = SEEDS[fmt], tmp_path / f"in.{fmt}"
    path.write_bytes(seed)
    whole = set(_values(path))
    cuts = sorted({len(seed) * i // 120 for i in range(1, 120)} | {len(seed) - 1, len(seed) - 8})
    for cut in cuts:
        path.write_bytes(seed[:cut])
        partial = [v for v in _values(path) if v not in whole]
        assert not partial, (cut, partial[0][:300])


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec="utf-8", exclude_categories=()), max_size=40)
    | st.sampled_from(["2020-01-01", "0000-01-01", "9999-12-31T23:59:59Z", "", "\x00", "\ud800"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
RECORDS = (
    st.fixed_dictionaries(
        {},
        optional={
            "id": JSON_VALUES,
            "text": JSON_VALUES,
            "timestamp": JSON_VALUES,
            "source": JSON_VALUES,
            "content": JSON_VALUES,
        },
    )
    | JSON_VALUES
)


@CASES
@given(values=st.lists(RECORDS, min_size=1, max_size=6))
def test_hostile_json_values_end_as_documents_or_quarantine(values):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "in.jsonl"
        lines = []
        for v in values:
            text = json.dumps(v, allow_nan=True)  # NaN and Infinity: Python's json accepts them
            lines.append(text.encode("utf-8", "surrogatepass"))
        path.write_bytes(b"\n".join(lines) + b"\n")
        for modality in ("text", "interleaved"):
            counts = consume(path, modality)
            assert sum(counts.values()) == len(values), counts  # one outcome per record


@pytest.mark.parametrize(
    "timestamp,kind",
    [
        ("0000-01-01", "timestamp_unparseable"),
        ("9999-12-31T23:59:59Z", "timestamp_out_of_range"),
        (-1, "timestamp_out_of_range"),
        (-(10**15), "timestamp_out_of_range"),
        (math.nan, "timestamp_unparseable"),
        (math.inf, "timestamp_unparseable"),
        (True, "timestamp_unparseable"),
        ([2020], "timestamp_unparseable"),
    ],
)
def test_absurd_timestamps_are_quarantined_with_a_reason(timestamp, kind, tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(json.dumps({"text": "t", "timestamp": timestamp}, allow_nan=True).encode())
    assert consume(path) == Counter({f"quarantine.{kind}": 1})


@pytest.mark.parametrize("fmt", ["gz", "zst", "bz2", "xz"])
def test_compression_bombs_are_bounded_records(fmt, tmp_path):
    """200 MB of one line expands from a few hundred KB: the reader streams it, reports one
    record over the limit and never holds more than the limit."""
    raw = b"x" * 200_000_000
    pack = {
        "gz": lambda b: gzip.compress(b, 9, mtime=0),
        "zst": lambda b: zstandard.compress(b, 19),
        "bz2": bz2.compress,
        "xz": lambda b: lzma.compress(b, preset=1),
    }
    data = pack[fmt](raw)
    assert len(data) < 1_000_000
    path = tmp_path / f"bomb.jsonl.{fmt}"
    path.write_bytes(data)
    assert consume(path) == Counter({"bad.too_large": 1})


# -- accounting over whole builds ----------------------------------------------------------
PROSE = (
    "The committee met on Tuesday to review the budget for the coming year. Members asked "
    "detailed questions about spending on roads, parks and the library. The chair promised a "
    "full report before the next meeting, and residents were invited to comment in writing."
)
KINDS = [
    "good", "copy", "invalid_json", "invalid_utf8", "array", "no_text", "bad_time",
    "huge", "nul_only", "short", "blank",
]  # fmt: skip


def record_line(kind: str, n: int, earlier: list[bytes]) -> bytes:
    good = {"id": f"r{n}", "text": f"{PROSE} Item {n}.", "timestamp": f"20{10 + n % 12}-03-01"}
    return {
        "good": lambda: json.dumps(good).encode(),
        "copy": lambda: earlier[-1] if earlier else json.dumps(good).encode(),
        "invalid_json": lambda: b'{"text": "unterminated',
        "invalid_utf8": lambda: b'{"text": "\xff\xfe bad"}',
        "array": lambda: b"[1, 2, 3]",
        "no_text": lambda: json.dumps({"id": f"r{n}", "timestamp": "2015-01-01"}).encode(),
        "bad_time": lambda: json.dumps({**good, "timestamp": "9999-01-01"}).encode(),
        "huge": lambda: json.dumps({**good, "text": "y " * 3000}).encode(),
        "nul_only": lambda: json.dumps({**good, "text": "\x00\x00"}).encode(),
        "short": lambda: json.dumps({**good, "text": "too short"}).encode(),
        "blank": lambda: b"   ",
    }[kind]()


@settings(max_examples=4, deadline=None, derandomize=True)
@given(kinds=st.lists(st.sampled_from(KINDS), min_size=5, max_size=40))
def test_every_record_of_a_random_mix_is_in_exactly_one_place(kinds):
    from tests.conftest import IN_MEMORY, build

    with tempfile.TemporaryDirectory() as d:
        raw, out = Path(d) / "raw", Path(d) / "out"
        raw.mkdir()
        lines: list[bytes] = []
        for n, kind in enumerate(kinds):
            line = record_line(kind, n, [x for x in lines if x.startswith(b'{"id"')])
            lines.append(line)
        (raw / "mix.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        (raw / "ok.jsonl").write_bytes(record_line("good", 999, []) + b"\n")  # never empty
        stats = build(
            {
                "input": {"paths": [str(raw / "*")], "max_doc_bytes": 5000},
                "filters": [{"gopher_quality": {"min_words": 20}}],
                "tokenizer": {"train": {"vocab_size": 300, "sample_docs": 50}},
                "output": {"dir": str(out)},
            },
            IN_MEMORY,
        )
        assert stats["balance"]["balanced"]
        records = [i + 1 for i, ln in enumerate(lines) if ln.strip()]  # blank lines are not
        places: Counter = Counter()
        manifest = json.loads((out / "manifest.json").read_text())
        for s in manifest["shards"]:
            with pa.memory_map(str(out / s["path"])) as f:
                for doc_id in pa.ipc.open_file(f).read_all().column("doc_id").to_pylist():
                    if doc_id != "r999":
                        places[int(doc_id[1:]) + 1] += 1  # id r{n} is line n + 1
        for sub in ("rejected", "quarantine"):
            for p in (out / sub).glob("*.jsonl"):
                for row in map(json.loads, p.open()):
                    if row["file"].endswith("mix.jsonl"):
                        places[row["position"]] += 1
        assert stats["input_records"] == len(records) + 1
        copies = Counter(places[r] for r in records)
        assert set(places) == set(records) and copies == Counter({1: len(records)}), places
