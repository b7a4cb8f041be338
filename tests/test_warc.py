"""Web archives as input: every WARC record accounted for, pages extracted, crawls as periods."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from curate.demo.web import generate_web, http_response, page_html, record
from curate.readers.records import BadRecord, SkippedRecord
from curate.web.documents import read_records
from curate.web.html import decode_html, extract
from tests.conftest import (
    IN_MEMORY,
    MULTI_PROCESS,
    assert_same_corpus,
    build,
    evaldata,
    read_jsonl_dir,
    read_shards,
    zstd_members,
)


def _read(paths) -> tuple[Counter, dict[str, dict]]:
    counts, docs = Counter(), {}
    for p in paths:
        for rec in read_records(str(p), max_doc_bytes=2_000_000):
            if isinstance(rec, SkippedRecord):
                counts[rec.reason] += 1
            elif isinstance(rec, BadRecord):
                counts[f"bad.{rec.kind}"] += 1
            else:
                counts["document"] += 1
                docs[rec.value["url"] or rec.value["id"]] = rec.value
    return counts, docs


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    return root, generate_web(root, pages_per_crawl=12, seed=4)


def test_every_record_of_the_demo_crawl_is_accounted_for(web):
    root, truth = web
    counts, docs = _read(sorted((root / "warc").glob("*.warc.gz")))
    assert counts["document"] == len(truth["pages"])
    for reason, n in truth["skipped"].items():
        assert counts[reason] == n, reason
    assert counts["bad.too_large"] == truth["quarantined"]["too_large"]
    for url, page in truth["pages"].items():
        doc = docs[url]
        assert doc["crawl"] == doc["source"] == page["crawl"]
        assert doc["timestamp"][:16] == page["date"][:16].replace("+00:00", "")
        for para in page["article"].split("\n\n"):  # the article, not the page around it
            assert para in doc["text"]
        assert "cookies" not in doc["text"] and "All rights reserved" not in doc["text"]
        assert doc["title"] and doc["html_lang"] == "en" and doc["http_status"] == 200
    latin = [d for u, d in docs.items() if u.endswith("/2")]
    assert latin and all(d["charset"] == "cp1252" and d["charset_source"] == "meta" for d in latin)
    assert all("café" in d["text"] for d in latin)


def test_crawl_periods_balanced_and_the_same_on_every_runner(web, tmp_path):
    root, truth = web

    def cfg(out):
        return {
            "input": {"paths": [str(root / "warc" / "*.warc.gz")], "max_doc_bytes": 2_000_000},
            "filters": [{"gopher_quality": {}}],
            "dedup": {"exact": True, "near": {"threshold": 0.8}, "buckets": 4},
            "tokenizer": {"train": {"vocab_size": 800, "sample_docs": 100}},
            "temporal": {
                "period": "crawl",
                "splits": {"train": [None, "2022-01-01"], "test": ["2022-01-01", None]},
            },
            "output": {"dir": str(out), "shard_tokens": 20000},
        }

    stats = build(cfg(tmp_path / "a"), IN_MEMORY)
    assert stats["balance"]["balanced"]
    assert stats["input_records"] == sum(truth["skipped"].values()) + len(truth["pages"]) + 4
    skipped = {f"warc.{k}": n for k, n in stats["removed"]["by_reason"]["warc"].items()}
    assert skipped == truth["skipped"]
    periods = {p for sp in stats["splits"].values() for p in sp["periods"]}
    assert periods == set(truth["crawls"])
    assert set(stats["splits"]["test"]["periods"]) == {"DEMO-2022-06"}
    rows = read_jsonl_dir(tmp_path / "a" / "rejected")
    assert {r["reason"] for r in rows} >= {"warc.request", "warc.revisit", "warc.not_text"}
    table = read_shards(tmp_path / "a")
    assert set(table.column("period").to_pylist()) == periods
    again = build(cfg(tmp_path / "b"), MULTI_PROCESS)
    assert_same_corpus((tmp_path / "a", stats), (tmp_path / "b", again))


def _one(tmp_path: Path, *records: bytes) -> dict:
    path = tmp_path / "one.warc.gz"
    path.write_bytes(b"".join(records))
    counts, docs = _read([path])
    assert counts["document"] == 1, counts
    return next(iter(docs.values()))


def test_crawls_named_out_of_time_order_are_ordered_by_their_dates(tmp_path):
    """Found by probing: windows and the drift report put crawl periods in name order, which
    for crawls not named like Common Crawl's is not time order. They follow the dates now."""
    from curate.drift.report import compute

    rng, words = random.Random(3), "river stone cloud lamp field story garden window".split()
    for crawl, year in (("zulu", 2019), ("alpha", 2020), ("mike", 2021)):
        info = f"isPartOf: {crawl}\r\n".encode()
        recs = [record("warcinfo", rng, datetime(year, 1, 1, tzinfo=timezone.utc), info)]
        for i in range(6):
            para = " ".join(rng.choice(words) for _ in range(80)) + "."
            when = datetime(year, 3, 1 + i, tzinfo=timezone.utc)
            html = page_html(f"{crawl} {i}", para).encode()
            uri = f"http://{crawl}.test/{i}"
            recs.append(record("response", rng, when, http_response(html), WARC_Target_URI=uri))
        (tmp_path / f"{crawl}.warc.gz").write_bytes(b"".join(recs))
    cfg = {
        "input": {"paths": [str(tmp_path / "*.warc.gz")]},
        "filters": [],
        "tokenizer": {"train": {"vocab_size": 300, "sample_docs": 20}},
        "temporal": {
            "period": "crawl",
            "splits": {"train": [None, "2021-01-01"], "test": ["2021-01-01", None]},
            "windows": {"kind": "rolling", "train_periods": 1, "eval_periods": 1},
        },
        "output": {"dir": str(tmp_path / "out")},
    }
    build(cfg, IN_MEMORY)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [(w["train"], w["eval"]) for w in manifest["views"]["windows"]] == [
        (["zulu"], ["alpha"]),
        (["alpha"], ["mike"]),
    ]
    assert compute(str(tmp_path / "out"), sample=None)["periods"] == ["zulu", "alpha", "mike"]


def test_language_hints_of_older_pages_and_of_the_server_are_kept(tmp_path):
    """Found by probing: a page that names its language only in HTML 4's
    <meta http-equiv="Content-Language"> had no language hint, and the server's
    Content-Language header was dropped."""
    rng, when = random.Random(0), datetime(2020, 1, 1, tzinfo=timezone.utc)
    html = page_html("Seite", "Ein Absatz mit genug Wörtern für eine Seite. " * 8)
    html = html.replace(' lang="en"', "").replace(
        "<head>", '<head><meta content="de-AT" http-equiv="Content-Language">'
    )
    block = http_response(html.encode(), Content_Language="de")
    doc = _one(tmp_path, record("response", rng, when, block))
    assert (doc["html_lang"], doc["http_content_language"]) == ("de-AT", "de")


def test_warc_headers_ended_by_bare_newlines_are_read(tmp_path):
    """Found by probing: a WARC whose record headers end lines with a bare newline (against
    the standard, but written by some tools) was one read_error and nothing else: FastWARC
    finds no Content-Length there. warcio, which reads them, takes over for such a file."""
    rng, when = random.Random(0), datetime(2020, 1, 1, tzinfo=timezone.utc)
    html = page_html("Bare", "Words of a page with bare newlines stand here. " * 8).encode()
    records = []
    for i in range(3):
        rec = gzip.decompress(
            record("response", rng, when, http_response(html), WARC_Target_URI=f"http://b.test/{i}")
        )
        head, _, block = rec.partition(b"\r\n\r\n")
        records.append(head.replace(b"\r\n", b"\n") + b"\n\n" + block)
    (tmp_path / "bare.warc").write_bytes(b"".join(records))
    counts, docs = _read([tmp_path / "bare.warc"])
    assert counts == {"document": 3}
    assert all("Words of a page with bare newlines" in d["text"] for d in docs.values())


def test_an_extracted_corpus_names_its_crawl_in_a_field(tmp_path):
    """FineWeb's rows carry their snapshot as ``dump`` and their date as ``date``:
    ``input.crawl_field`` makes the dumps the periods, as for web archives."""
    rng, words = random.Random(5), "the of and river stone cloud lamp field story".split()
    rows = [
        {
            "text": " ".join(rng.choice(words) for _ in range(60)) + ".",
            "id": f"<urn:uuid:{i}>",
            "dump": dump,
            "url": f"https://site{i}.example/",
            "date": date,
        }
        for i, (dump, date) in enumerate(
            [
                ("CC-MAIN-2013-20", "2013-05-18T07:12:01Z"),
                ("CC-MAIN-2024-10", "2024-02-21T10:00:00Z"),
            ]
            * 4
        )
    ]
    (tmp_path / "fineweb.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {
        "input": {"paths": [str(tmp_path / "fineweb.jsonl")], "time_field": "date"},
        "filters": [],
        "tokenizer": {"train": {"vocab_size": 300, "sample_docs": 8}},
        "temporal": {"period": "crawl", "splits": {"train": [None, None]}},
        "output": {"dir": str(tmp_path / "out")},
    }
    dumps = {"CC-MAIN-2013-20", "CC-MAIN-2024-10"}
    for field, expected in (("crawl", {"no-crawl"}), ("dump", dumps)):
        cfg["input"]["crawl_field"] = field
        cfg["output"]["dir"] = str(tmp_path / f"out-{field}")
        stats = build(cfg, IN_MEMORY)
        assert set(stats["splits"]["train"]["periods"]) == expected, field


def test_lenient_http_and_dates(tmp_path):
    """ClueWeb09's quirks: headers split by bare newlines, a Content-Encoding the stored body
    no longer has, an unreadable WARC-Date (the HTTP Date is used)."""
    rng, when = random.Random(0), datetime(2009, 1, 27, tzinfo=timezone.utc)
    html = page_html("Quirk", "Ordinary words in a paragraph of the page.")
    block = (
        b"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Encoding: gzip\n"
        b"Date: Tue, 27 Jan 2009 11:16:39 GMT\n\n" + html.encode()
    )
    rec = record("response", rng, when, block, WARC_Target_URI="http://q.test/")
    rec = gzip.compress(
        gzip.decompress(rec).replace(b"2009-01-27T00:00:00Z", b"2008-10-294T05:21:46-0700"),
        mtime=0,
    )
    doc = _one(tmp_path, rec)
    assert "Ordinary words" in doc["text"] and doc["timestamp"].startswith("2009-01-27T11:16:39")


def test_a_compressed_body_that_expands_without_bound_is_refused(tmp_path):
    rng, when = random.Random(0), datetime(2020, 1, 1, tzinfo=timezone.utc)
    bomb = gzip.compress(b"<p>" + b"a" * 50_000_000, mtime=0)
    path = tmp_path / "bomb.warc.gz"
    path.write_bytes(record("response", rng, when, http_response(bomb, Content_Encoding="gzip")))
    (rec,) = list(read_records(str(path), max_doc_bytes=1_000_000))
    assert isinstance(rec, BadRecord) and rec.kind == "too_large"


def test_zstd_archives_read_as_gzip_ones(web, tmp_path):
    """Found by probing: a .warc.zst was taken for JSONL, every line quarantined as
    invalid_json. Frames per record, as gzip members: a cut archive keeps what precedes it."""
    root, _ = web
    src = sorted((root / "warc").glob("*.warc.gz"))[0]
    packed = zstd_members(src.read_bytes())
    (tmp_path / "a.warc.zst").write_bytes(packed)
    assert _read([tmp_path / "a.warc.zst"]) == _read([src])
    (tmp_path / "cut.warc.zst").write_bytes(packed[: len(packed) // 2])
    counts, _ = _read([tmp_path / "cut.warc.zst"])
    assert counts["bad.read_error"] == 1 and 0 < counts["document"] < _read([src])[0]["document"]


def test_plain_text_without_a_charset_is_detected_not_assumed_utf8(tmp_path):
    """Found by probing: a text/plain response without a charset was decoded as UTF-8, so a
    Latin-1 .txt lost every accented letter to U+FFFD."""
    rng, when = random.Random(0), datetime(2020, 1, 1, tzinfo=timezone.utc)
    text = "Le café de la gare était fermé. Les élèves étudiaient près du théâtre. " * 5
    path = tmp_path / "txt.warc.gz"
    path.write_bytes(
        record(
            "response", rng, when, http_response(text.encode("latin-1"), Content_Type="text/plain")
        )
    )
    (rec,) = list(read_records(str(path)))
    assert rec.value["text"].startswith("Le café de la gare était fermé.")


def test_pages_sent_without_a_type_are_read_and_partial_pages_marked(tmp_path):
    """Found by probing: a page whose server sent no Content-Type, or
    application/octet-stream, was removed as warc.not_text. Common Crawl's own detection
    (WARC-Identified-Payload-Type) or the body's first bytes now say what it is, and the
    document says which did; an image stays an image. A payload Common Crawl cut short
    (WARC-Truncated) is marked as partial. A response of another protocol (Heritrix's dns:
    records) is warc.not_text, not a page with an unreadable HTTP status; so is a PDF sent as
    text/html, whose bytes were extracted as its text."""
    rng, when = random.Random(0), datetime(2020, 1, 1, tzinfo=timezone.utc)
    html = page_html("Untyped", "Words of a page sent without a type stand here. " * 8).encode()
    untyped = "application/octet-stream"
    dns = {"Content_Type": "text/dns", "WARC_Target_URI": "dns:example.test"}  # Heritrix
    packed, gz = gzip.compress(html, mtime=0), {"Content_Encoding": "gzip"}
    path = tmp_path / "untyped.warc.gz"
    path.write_bytes(
        b"".join(
            [
                record("response", rng, when, http_response(html, Content_Type=untyped)),
                record(
                    "response",
                    rng,
                    when,
                    http_response(html, Content_Type=untyped),
                    WARC_Identified_Payload_Type="text/html",
                ),
                record(
                    "response",
                    rng,
                    when,
                    http_response(b"\x89PNG\r\n<html>", Content_Type=""),
                    WARC_Identified_Payload_Type="image/png",
                ),
                record("response", rng, when, http_response(b"\x00<html>" + html, Content_Type="")),
                record("response", rng, when, http_response(html), WARC_Truncated="length"),
                record("response", rng, when, b"example.test. 300 IN A 192.0.2.1\n", **dns),
                record("response", rng, when, http_response(b"%PDF-1.7\n<html>" + html)),
                record("response", rng, when, http_response(packed, Content_Type="", **gz)),
            ]
        )
    )
    recs = list(read_records(str(path)))
    assert [getattr(r, "reason", "document") for r in recs] == [
        "document",
        "document",
        "warc.not_text",
        "warc.not_text",
        "document",
        "warc.not_text",
        "warc.not_text",
        "document",
    ]
    assert recs[-3].info["content_type"] == "text/dns" and recs[-3].info["http_status"] is None
    assert recs[-2].info["content_type"] == "application/pdf"  # sent as text/html
    assert recs[-2].info["declared_content_type"] == "text/html"
    docs = [r.value for r in recs if not isinstance(r, SkippedRecord)]
    sources = ["sniffed", "identified", None, "sniffed"]  # the last sniffed once decoded
    assert [d.get("content_type_source") for d in docs] == sources
    assert all("Words of a page sent without a type" in d["text"] for d in docs)
    assert [d.get("warc_truncated") for d in docs] == [None, None, "length", None]


@pytest.mark.parametrize("encoding", ["br", "zstd"])
def test_brotli_and_zstd_bodies_are_decoded_bounded_and_checked(tmp_path, encoding):
    """Found by probing: browser-based crawlers store what the server sent, often Brotli; such
    a page was decoded as text from compressed bytes. Now: decoded when the bytes are that
    encoding (a body stored decoded is kept as is), bounded, and a cut-off stream is named."""
    import brotli
    import zstandard

    pack = brotli.compress if encoding == "br" else zstandard.ZstdCompressor().compress
    rng, when = random.Random(0), datetime(2020, 1, 1, tzinfo=timezone.utc)
    html = page_html("Packed", "Words of the packed page stand in this paragraph. " * 12).encode()
    bodies = [pack(html), html, pack(b"<p>" + b"a" * 5_000_000), pack(html)[:-8]]
    path = tmp_path / "packed.warc.gz"
    path.write_bytes(
        b"".join(
            record("response", rng, when, http_response(b, Content_Encoding=encoding))
            for b in bodies
        )
    )
    recs = list(read_records(str(path), max_doc_bytes=1_000_000))
    assert [type(r).__name__ for r in recs] == ["RawRecord", "RawRecord", "BadRecord", "BadRecord"]
    assert all("Words of the packed page" in r.value["text"] for r in recs[:2])
    assert recs[2].kind == "too_large" and recs[3].kind in ("body_error", "too_large")


def test_extractors_keep_the_article_and_drop_the_page_around_it():
    article = "\n\n".join(
        f"Paragraph {i} tells the story of the river town and its autumn fair in some detail."
        for i in range(8)
    )
    html = page_html("River town", article)
    for name in ("resiliparse", "trafilatura", "fallback"):
        page = extract(html, name)
        assert all(p in page.text for p in article.split("\n\n")), name
        assert "cookies" not in page.text and "Privacy" not in page.text, name
        assert (page.title, page.lang) == ("River town", "en")
    text, charset, source = decode_html("<p>Съешь же ещё</p>".encode("cp1251"), "windows-1251")
    assert (text, charset, source) == ("<p>Съешь же ещё</p>", "cp1251", "http")
    # WHATWG's order, found by probing: a byte-order mark outranks the HTTP header (this page
    # was mojibake), and a <meta> naming UTF-16 means UTF-8
    page = "<p>Съешь же ещё</p>"
    assert decode_html(b"\xef\xbb\xbf" + page.encode(), "iso-8859-1") == (page, "utf-8", "bom")
    assert decode_html(page.encode("utf-16"), "iso-8859-1")[0] == page
    meta = '<meta charset="utf-16"><p>Съешь</p>'
    assert decode_html(meta.encode()) == (meta, "utf-8", "meta")


@pytest.mark.parametrize("form", ["per_record_gzip", "whole_file_gzip", "plain"])
def test_an_archive_that_ends_inside_a_page_says_so(tmp_path, form):
    """A download cut short: the pages before the cut are read, the cut page is quarantined
    with the record's declared and actual sizes, never kept as a whole page."""
    rng, when = random.Random(0), datetime(2020, 1, 1, tzinfo=timezone.utc)
    words = [f"w{rng.getrandbits(32):x}" for _ in range(900)]  # compresses evenly
    pages = [page_html(f"Page {i}", " ".join(words[i * 300 : i * 300 + 300])) for i in range(3)]
    members = [
        record("response", rng, when, http_response(h.encode()), WARC_Target_URI=f"http://t{i}/")
        for i, h in enumerate(pages)
    ]
    plain = b"".join(gzip.decompress(m) for m in members)
    data = {
        "per_record_gzip": b"".join(members),
        "whole_file_gzip": gzip.compress(plain, mtime=0),
        "plain": plain,
    }[form]
    # half-way into the last page, in whatever form
    cut = data[: int(len(data) * (1 - len(gzip.decompress(members[-1])) / len(plain) / 2))]
    path = tmp_path / ("cut.warc" if form == "plain" else "cut.warc.gz")
    path.write_bytes(data)
    assert _read([path])[0] == {"document": 3}
    path.write_bytes(cut)
    recs = list(read_records(str(path), max_doc_bytes=2_000_000))
    assert [type(r).__name__ for r in recs] == ["RawRecord", "RawRecord", "BadRecord"], recs
    assert recs[-1].kind == "read_error" and "record 3 is truncated" in recs[-1].error


def test_an_arc_file_that_ends_inside_a_page_says_so(tmp_path):
    arc = evaldata("web/warc") / "warcio__example.arc.gz"
    if not arc.exists():
        pytest.skip("the shared ARC file is not present")
    path = tmp_path / "cut.arc"
    path.write_bytes(gzip.decompress(arc.read_bytes())[:-400])
    counts, _ = _read([path])
    assert counts == {"warc.warcinfo": 1, "bad.read_error": 1}, counts


def test_shared_archives(tmp_path):
    """The real files in ../shared/evaldata/web/warc: CC-MAIN-2020-34 with 16 multilingual
    pages, ClueWeb09's WARC/0.18, a revisit, chunked encoding, a WET and an ARC file."""
    base = evaldata("web/warc")
    if not (base / "resiliparse__cc-main-2020-34_excerpt.warc.gz").exists():
        pytest.skip("the shared WARC files are not present")
    cc, docs = _read([base / "resiliparse__cc-main-2020-34_excerpt.warc.gz"])
    assert cc == {"document": 16, "warc.request": 17, "warc.metadata": 16, "warc.warcinfo": 1}
    assert {d["crawl"] for d in docs.values()} == {"CC-MAIN-2020-34"}
    assert any(any("\u4e00" <= c <= "\u9fff" for c in d["text"]) for d in docs.values())
    assert any(any("\u0400" <= c <= "\u04ff" for c in d["text"]) for d in docs.values())
    clue, docs = _read([base / "resiliparse__clueweb09-ja_quirk.warc.gz"])
    assert clue == {"document": 29, "warc.warcinfo": 1}
    assert all(d["timestamp"].startswith("2009-") for d in docs.values())
    for name, expected in (
        ("warcio__example.warc.gz", {"document": 1, "warc.revisit": 1}),
        ("warcio__example-iana.org-chunked.warc", {"document": 1}),
        ("warcio__example.arc.gz", {"document": 1}),
        ("whirlwind__cc-main-2024-22.warc.wet.gz", {"document": 1}),
    ):
        counts, docs = _read([base / name])
        assert {k: counts[k] for k in expected} == expected, (name, counts)
        assert all(len(d["text"]) > 100 for d in docs.values()), name


def test_a_page_over_the_time_budget_is_quarantined_and_the_next_one_read(tmp_path):
    """50,000 nested <div> keep Resiliparse busy for about 30 s: with a 1 s budget the page is
    quarantined as extract_timeout, the child process is replaced, and the next page is read
    as it is without the sandbox."""
    rng, when = random.Random(0), datetime(2020, 1, 1, tzinfo=timezone.utc)
    bomb = "<html><body>" + "<div>" * 50_000 + "deep " * 50 + "</div>" * 50_000 + "</body></html>"
    good = page_html("Fine", "A normal paragraph of ordinary words.\n\nAnd a second one.")
    good_record = record("response", rng, when, http_response(good.encode()))
    path, alone = tmp_path / "t.warc.gz", tmp_path / "good.warc.gz"
    path.write_bytes(record("response", rng, when, http_response(bomb.encode())) + good_record)
    alone.write_bytes(good_record)
    first, second = read_records(str(path), extractor="resiliparse", timeout_s=1.0)
    assert isinstance(first, BadRecord) and first.kind == "extract_timeout"
    (direct,) = read_records(str(alone), extractor="resiliparse")
    assert second.value == direct.value and "ordinary words" in second.value["text"]


def _multimodal(root: Path, modality: str, out: Path) -> dict:
    return build(
        {
            "input": {
                "paths": [str(root / "warc" / "*.warc*.gz")],
                "max_doc_bytes": 2_000_000,
                "modality": modality,
            },
            "filters": [],
            "tokenizer": {"train": {"vocab_size": 600, "sample_docs": 40}},
            "temporal": {"period": "crawl", "splits": {"train": [None, None]}},
            "output": {"dir": str(out)},
        }
    )


def test_pages_with_the_archives_images_become_interleaved_documents(web, tmp_path):
    """Each photo the archive holds, after the page that shows it, takes its place in the page's
    main content (after the first paragraph); the logo outside the article stays out."""
    import io

    from PIL import Image

    from curate.core.document import IMAGE_PLACEHOLDER

    root, truth = web
    stats = _multimodal(root, "interleaved", tmp_path / "o")
    assert stats["balance"]["balanced"] and stats["kept"]["documents"] == len(truth["pages"])
    photos = len(truth["images"])
    logos = len(truth["crawls"])  # one per crawl, outside any article (and not an image)
    assert stats["removed"]["by_reason"]["warc"]["image"] == photos + logos
    shards = read_shards(tmp_path / "o")
    by_url = dict(zip(shards.column("url").to_pylist(), range(shards.num_rows), strict=True))
    shown = {v["page"]: src for src, v in truth["images"].items()}
    for url, page in truth["pages"].items():
        row = by_url[url]
        text, images = shards.column("text")[row].as_py(), shards.column("images")[row].as_py()
        if url not in shown:
            assert not images and IMAGE_PLACEHOLDER not in text
            continue
        paragraphs = text.split("\n\n")
        first = page["article"].split("\n\n")[0]
        assert paragraphs[paragraphs.index(first) + 1] == IMAGE_PLACEHOLDER
        assert len(images) == 1 and "![" not in text
        assert Image.open(io.BytesIO(images[0]["bytes"])).size == (96, 64)


def test_alt_texts_and_the_archives_images_become_pairs(web, tmp_path):
    root, truth = web
    stats = _multimodal(root, "image_text", tmp_path / "o")
    assert stats["balance"]["balanced"]
    assert stats["kept"]["documents"] == len(truth["images"])
    removed = stats["removed"]["by_reason"]["warc"]
    assert removed["page"] == len(truth["pages"])
    assert removed["image_without_alt"] == len(truth["crawls"])  # the logos
    shards = read_shards(tmp_path / "o")
    got = dict(
        zip(shards.column("url").to_pylist(), shards.column("text").to_pylist(), strict=True)
    )
    assert got == {src: v["alt"] for src, v in truth["images"].items()}
    meta = [json.loads(m) for m in shards.column("metadata").to_pylist()]
    assert {m["page_url"] for m in meta} == {v["page"] for v in truth["images"].values()}


@pytest.mark.parametrize("modality", ["interleaved", "image_text"])
def test_wet_text_records_with_a_multimodal_modality(tmp_path, modality):
    """A WET ``conversion`` record is a page's text: with pairs it is removed as ``warc.page``
    (no image, no caption), interleaved it is a text-only document, its lines kept as written."""
    rng, when = random.Random(1), datetime(2024, 5, 1, tzinfo=timezone.utc)
    text = "A plain text page of ordinary words.\n![not an image](x.png) is literal text here."
    (tmp_path / "warc").mkdir()
    (tmp_path / "warc" / "t.warc.wet.gz").write_bytes(
        record("warcinfo", rng, when, b"isPartOf: CC-MAIN-2024-22\r\n")
        + record("conversion", rng, when, text.encode(), WARC_Target_URI="http://example.com/a")
    )
    if modality == "image_text":
        (only,) = list(read_records(str(tmp_path / "warc" / "t.warc.wet.gz"), modality=modality))[
            1:
        ]
        assert isinstance(only, SkippedRecord) and only.reason == "warc.page"
        return
    stats = _multimodal(tmp_path, modality, tmp_path / "o")
    assert stats["balance"]["balanced"] and stats["kept"]["documents"] == 1
    assert read_shards(tmp_path / "o").column("text")[0].as_py() == text.replace("\n", "\n\n")
