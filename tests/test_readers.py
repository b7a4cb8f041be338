import bz2
import gzip
import json
import lzma

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from curate.readers.files import read_file
from curate.readers.records import BadRecord, RawRecord

GOOD = [
    {"id": str(i), "text": f"document number {i}", "timestamp": "2020-01-01"} for i in range(500)
]


def _jsonl(rows) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _read(path, **kw):
    recs = list(read_file(str(path), **kw))
    good = [r for r in recs if isinstance(r, RawRecord)]
    bad = [r for r in recs if isinstance(r, BadRecord)]
    assert len(good) + len(bad) == len(recs)
    return good, bad


def test_plain_gzip_zstd_parquet_read_the_same(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(_jsonl(GOOD))
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(_jsonl(GOOD)))
    (tmp_path / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(_jsonl(GOOD)))
    (tmp_path / "a.jsonl.bz2").write_bytes(bz2.compress(_jsonl(GOOD)))  # were read as raw
    (tmp_path / "a.jsonl.xz").write_bytes(lzma.compress(_jsonl(GOOD)))  # bytes: all invalid
    pq.write_table(pa.Table.from_pylist(GOOD), tmp_path / "a.parquet")
    for name in ("a.jsonl", "a.jsonl.gz", "a.jsonl.zst", "a.jsonl.bz2", "a.jsonl.xz", "a.parquet"):
        good, bad = _read(tmp_path / name)
        assert not bad, name
        assert [r.value for r in good] == GOOD, name
    for name in ("a.jsonl.bz2", "a.jsonl.xz"):  # a cut stream says so
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut.{name}").write_bytes(data[: len(data) // 2])
        good, bad = _read(tmp_path / f"cut.{name}")
        assert [b.kind for b in bad] == ["read_error"] and "ended before" in bad[0].error, name
        assert [r.value for r in good] == GOOD[: len(good)], name


def test_multi_frame_zstd(tmp_path):
    c = zstandard.ZstdCompressor()
    (tmp_path / "m.jsonl.zst").write_bytes(
        c.compress(_jsonl(GOOD[:200])) + c.compress(_jsonl(GOOD[200:]))
    )
    good, bad = _read(tmp_path / "m.jsonl.zst")
    assert not bad and len(good) == 500


def test_truncated_gzip_keeps_prefix_and_reports(tmp_path):
    data = gzip.compress(_jsonl(GOOD * 20))
    (tmp_path / "t.jsonl.gz").write_bytes(data[: len(data) // 2])
    good, bad = _read(tmp_path / "t.jsonl.gz")
    assert 0 < len(good) < 10_000
    assert [b.kind for b in bad] == ["read_error"]
    assert "end-of-stream" in bad[0].error


def test_truncated_zstd_is_reported(tmp_path):
    data = zstandard.ZstdCompressor().compress(_jsonl(GOOD * 20))
    (tmp_path / "t.jsonl.zst").write_bytes(data[: len(data) // 2])
    good, bad = _read(tmp_path / "t.jsonl.zst")
    assert len(good) < 10_000
    assert [b.kind for b in bad] == ["read_error"] and "truncated" in bad[0].error


def test_bad_lines_are_reported_with_line_numbers(tmp_path):
    lines = [
        b'{"id": "ok", "text": "fine"}',
        b'{"broken": ',
        b'{"id": "x", "text": "caf\xe9"}',
        b'{"id": "s", "text": "lone \\ud800 half"}',
        b'{"id": "pair", "text": "emoji \\ud83d\\ude00 ok"}',
        b"",
        b"   ",
        b'{"id": "last", "text": "fine"}',
    ]
    (tmp_path / "b.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    good, bad = _read(tmp_path / "b.jsonl")
    assert [r.position for r in good] == [1, 5, 8]
    assert good[1].value["text"] == "emoji \U0001f600 ok"
    assert [(b.position, b.kind) for b in bad] == [
        (2, "invalid_json"),
        (3, "invalid_utf8"),
        (4, "invalid_utf8"),
    ]
    assert all(b.raw for b in bad)


def test_byte_order_mark_does_not_cost_the_first_record(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + _jsonl(GOOD[:3]).replace(b"\n", b"\r\n"))
    good, bad = _read(tmp_path / "a.jsonl")
    assert [r.value for r in good] == GOOD[:3] and not bad


def test_huge_line_is_skipped_without_losing_the_next(tmp_path):
    huge = json.dumps({"id": "h", "text": "x" * 3_000_000}).encode()
    (tmp_path / "h.jsonl").write_bytes(huge + b"\n" + _jsonl(GOOD[:3]))
    good, bad = _read(tmp_path / "h.jsonl", max_doc_bytes=1_000_000)
    assert [(b.position, b.kind) for b in bad] == [(1, "too_large")]
    assert [r.position for r in good] == [2, 3, 4]


def test_corrupt_parquet_and_missing_file(tmp_path):
    (tmp_path / "c.parquet").write_bytes(b"PAR1 this is not parquet")
    good, bad = _read(tmp_path / "c.parquet")
    assert not good and bad[0].kind == "read_error" and "parquet" in bad[0].error
    good, bad = _read(tmp_path / "nope.jsonl")
    assert not good and bad[0].kind == "read_error"


def test_deeply_nested_json_is_quarantined(tmp_path):
    (tmp_path / "d.jsonl").write_bytes(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    good, bad = _read(tmp_path / "d.jsonl")
    assert not good and bad[0].kind == "invalid_json"


def test_parquet_as_pandas_and_spark_write_it(tmp_path):
    """Found by probing: one nanosecond timestamp (pandas' default unit) made pyarrow refuse the
    batch and the file ended as one read_error; text stored as plain binary (old Spark) was a
    bad_type; a Decimal time was not a timestamp; a NaN in metadata was written as bare NaN."""
    import numpy as np

    from curate.core.document import metadata_json
    from curate.driver.config_file import parse_config
    from curate.stages.parse import RecordError, RecordParser

    ns = np.array(["2020-03-04T05:06:07.123456789"] * 3, dtype="datetime64[ns]")
    pq.write_table(
        pa.table(
            {
                "text": pa.array([b"one", b"two", b"\xff bad"], pa.binary()),
                "timestamp": pa.array(ns),
                "took": pa.array(np.array([1, 2, 3], dtype="timedelta64[ns]")),
                "score": [0.5, float("nan"), float("inf")],
            }
        ),
        tmp_path / "a.parquet",
    )
    good, bad = _read(tmp_path / "a.parquet")
    assert not bad and len(good) == 3
    cfg = parse_config(
        {"input": {"paths": ["x"]}, "tokenizer": {"train": {}}, "output": {"dir": "o"}}
    )
    parser = RecordParser(cfg.input, cfg.temporal)
    docs = [parser.parse(r.value, f"0:{r.position}") for r in good[:2]]
    assert [d.text for d in docs] == ["one", "two"]
    assert {d.timestamp for d in docs} == {1583298367123456}  # cut to the microsecond
    assert json.loads(metadata_json(docs[1].metadata)) == {"score": None, "took": "0:00:00"}
    assert "NaN" not in metadata_json(docs[1].metadata)
    with pytest.raises(RecordError) as e:
        parser.parse(good[2].value, "0:2")
    assert e.value.kind == "invalid_utf8"
    with pytest.raises(RecordError):
        parser.parse({"text": None}, "0:3")
    from decimal import Decimal

    assert parser.parse({"text": "x", "timestamp": Decimal("1583298367.5")}, "0:4").timestamp == (
        1583298367_500000
    )


def test_parquet_batch_python_cannot_hold_is_quarantined_row_by_row(tmp_path):
    """A nanosecond inside a struct is not cut: its batch's rows are each quarantined (they
    were one read_error that ended the file) and the next batch is read."""
    import numpy as np

    n = 1024  # the reader's batch
    ns = pa.array(np.array(["2020-03-04T05:06:07.123456789"] * n, dtype="datetime64[ns]"))
    odd = pa.table({"text": ["a"] * n, "meta": pa.StructArray.from_arrays([ns], ["t"])})
    with pq.ParquetWriter(tmp_path / "a.parquet", odd.schema) as w:
        w.write_table(odd)
        whole = pa.array(np.array(["2020-03-04T05:06:07"], dtype="datetime64[ns]"))
        w.write_table(pa.table({"text": ["d"], "meta": pa.StructArray.from_arrays([whole], ["t"])}))
    good, bad = _read(tmp_path / "a.parquet")
    assert [g.value["text"] for g in good] == ["d"] and [g.position for g in good] == [n]
    assert [b.position for b in bad] == list(range(n))
    assert {b.kind for b in bad} == {"bad_type"} and "Nanosecond" in bad[0].error


def test_dotted_field_names_reach_into_nested_objects():
    """Found by probing: The Pile keeps its source in meta.pile_set_name; source_field
    'meta.pile_set_name' found nothing and every document got the default source."""
    from curate.driver.config_file import parse_config
    from curate.stages.parse import RecordError, RecordParser

    cfg = parse_config(
        {
            "input": {"paths": ["x"], "source_field": "meta.set", "time_field": "meta.when"},
            "tokenizer": {"train": {}},
            "output": {"dir": "o"},
        }
    )
    parser = RecordParser(cfg.input, cfg.temporal)
    doc = parser.parse({"text": "t", "meta": {"set": "ArXiv", "when": "2020-03-04"}}, "0:1")
    assert doc.source == "ArXiv" and doc.timestamp == 1583280000_000000
    assert parser.parse(
        {"text": "t", "meta.set": "flat", "meta": {"when": 2020}}, "0:2"
    ).source == (
        "flat"  # a key with a dot in it is taken as it is
    )
    with pytest.raises(RecordError) as e:  # a path through a string finds nothing
        parser.parse({"text": "t", "meta": "not an object"}, "0:3")
    assert e.value.kind == "timestamp_missing" and "'meta.when'" in str(e.value)
