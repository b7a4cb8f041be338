"""Line and paragraph deduplication: the unit rules, and a build on real prose."""

from __future__ import annotations

import json

import pytest

from curate.dedup.config import LineDedupConfig
from curate.dedup.lines import remove_units, repeated_units, unit_keys
from tests.conftest import (
    MULTI_PROCESS,
    assert_same_corpus,
    build,
    demo_config,
    evaldata,
    read_shards,
)

FOOTER = "Subscribe to our newsletter for weekly updates"


def test_removed_lines_leave_the_rest_of_the_text_intact():
    cfg = LineDedupConfig(min_chars=10)
    shouted = "  subscribe TO our   newsletter for weekly updates "
    text = f"First line of the story.\n{FOOTER}\nShort\n{shouted}"
    drop = unit_keys(FOOTER, cfg)
    out, n = remove_units(text, drop, cfg)
    assert (out, n) == ("First line of the story.\nShort", 2)  # case and spacing ignored
    assert len(unit_keys(text, cfg)) == 2  # "Short" is under min_chars: never a key
    assert remove_units(text, set(), cfg) == (text, 0)  # nothing dropped: the same text
    para = LineDedupConfig(unit="paragraph", min_chars=10)
    doc = f"Opening paragraph here.\nstill the first.\n\n{FOOTER}\n \n\nLast paragraph, kept."
    out, n = remove_units(doc, unit_keys(FOOTER, para), para)
    assert (out, n) == ("Opening paragraph here.\nstill the first.\n \n\nLast paragraph, kept.", 1)


def test_repeated_units_keep_the_earliest_document():
    a, b, c = (
        (100, "a", "00000000:000000000001"),
        (50, "b", "00000001:000000000002"),
        (
            50,
            "c",
            "00000001:000000000009",
        ),
    )
    items = [(7, a), (7, b), (7, c), (7, c), (8, a), (9, a), (9, b)]
    got = dict(repeated_units(items, min_docs=3).removals)
    assert got == {0: [(a[2], 7)], 1: [(c[2], 7)]}  # b is earliest; key 9 is in only 2 docs
    got2 = dict(repeated_units(items, min_docs=2).removals)
    assert sorted(got2[0]) == [(a[2], 7), (a[2], 9)]


@pytest.fixture(scope="module")
def prose_docs():
    path = evaldata("prose/prose.jsonl")
    return [json.loads(line)["text"] for line in path.open()][:40]


def test_build_removes_boilerplate_lines_from_all_but_the_earliest(prose_docs, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    rows = []
    for i, text in enumerate(prose_docs):
        body = text if i % 4 else f"{text}\n{FOOTER}"  # every 4th document has the footer
        rows.append(
            {"id": f"d{i:02d}", "text": body, "timestamp": f"{2020 - i % 7}-03-0{1 + i % 9}"}
        )
    rows.append({"id": "only-footer", "text": FOOTER, "timestamp": "2021-01-01"})
    half = len(rows) // 2
    (raw / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:half]))
    (raw / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[half:]))
    cfg = demo_config(
        raw,
        tmp_path / "o",
        filters=[],
        dedup={"near": None, "lines": {"unit": "line"}},
        tokenizer={"train": {"vocab_size": 500, "sample_docs": 20}},
        output={"keep_text": True},
    )
    stats = build(cfg)
    with_footer = [r for r in rows if FOOTER in r["text"]]
    earliest = min(with_footer, key=lambda r: (r["timestamp"], r["id"]))
    table = read_shards(tmp_path / "o").to_pylist()
    holders = [r["doc_id"] for r in table if FOOTER in r["text"]]
    assert holders == [earliest["id"]]
    assert stats["line_dedup"]["units_removed"] == len(with_footer) - 1
    assert stats["line_dedup"]["chars_removed"] == (len(with_footer) - 2) * (len(FOOTER) + 1) + len(
        FOOTER
    )
    assert stats["removed"]["by_reason"]["line_dedup"]["nothing_left"] == 1
    assert stats["balance"]["balanced"]
    cfg2 = {**cfg, "output": {**cfg["output"], "dir": str(tmp_path / "o2")}}
    assert_same_corpus((tmp_path / "o", stats), (tmp_path / "o2", build(cfg2, MULTI_PROCESS)))
