import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from curate.build.readers import BadRecord, RawRecord, read_file

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
    pq.write_table(pa.Table.from_pylist(GOOD), tmp_path / "a.parquet")
    for name in ("a.jsonl", "a.jsonl.gz", "a.jsonl.zst", "a.parquet"):
        good, bad = _read(tmp_path / name)
        assert not bad, name
        assert [r.value for r in good] == GOOD, name


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
