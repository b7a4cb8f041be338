"""Benchmark decontamination: the words, the index, the stage's actions, and the demo build's
planted items checked against the generator's ground truth."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from curate.core.document import IMAGE_PLACEHOLDER, Document
from curate.core.errors import ConfigError
from curate.decontam.index import load_index
from curate.decontam.items import BenchmarkFile, build_index
from curate.decontam.stage import Decontaminate
from curate.decontam.words import byte_words, words
from curate.readers.files import read_file
from tests.conftest import build, demo_config, evaldata, read_jsonl_dir, read_shards

QUESTION = (
    "A bakery sells muffins for three dollars each and cookies for two dollars each. "
    "If Maria buys four muffins and six cookies, how much does she spend in total?"
)
SOLUTION = "Muffins cost 4 * 3 = 12 dollars. Cookies cost 6 * 2 = 12 dollars. In total 24.\n#### 24"
PROSE = (
    "The river town held its autumn fair on the first weekend of October, and the square "
    "filled with stalls selling apples, cider and hand-knitted scarves."
)


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def index(tmp_path):
    items = [
        {"id": "q1", "question": QUESTION, "answer": SOLUTION},
        {"id": "short", "question": "Who wrote the novel Moby Dick", "answer": "Herman Melville"},
        {"id": "tiny", "question": "Capital of France?", "answer": "Paris"},
    ]
    # twelve items that share one template line: scaffolding, not evidence
    template = (
        "Read the passage below carefully and then choose the single best answer from the list"
    )
    items += [
        {
            "id": f"t{i}",
            "question": f"{template}. Topic {i}: " + " ".join(["word"] * i),
            "answer": "",
        }
        for i in range(12)
    ]
    path = _write(tmp_path / "bench.jsonl", items)
    src = BenchmarkFile(path, "homework", "{question}\n{answer}")
    return build_index([src], ngram=13, min_item_words=5, max_items_per_ngram=10)


def _items(index, text: str) -> set[str]:
    (hits,) = index.find([index.ids(text)])
    return {index.item_ids[h.item] for h in hits}


def test_fast_words_equal_the_reference_words():
    rng = random.Random(0)
    alphabet = "aZ9_ .,\n&;’“”éß中ｆ１ﬁİ\u0301-\u00a0<>#"
    samples = ["Janet’s ducks &amp; A. 16", "ＦＵＬＬ １２３ ßtraße ﬁne", "has_close_elements(x)"]
    samples += ["".join(rng.choice(alphabet) for _ in range(60)) for _ in range(3000)]
    for text in samples:
        assert byte_words(text) == [w.encode() for w in words(text)], text
    assert words("Janet’s ducks &amp; eggs: ＦＵＬＬ") == ["janet", "s", "ducks", "eggs", "full"]


def test_batch_word_ids_equal_one_text_at_a_time(index):
    """The numpy path (ASCII texts, together) gives every text the ids the word-by-word path
    gives it; texts with other characters or entities take that path inside the batch."""
    rng = random.Random(1)
    vocab = [*index.vocab[:40], "Zebra", "ALL", "_x_", "9", "&amp;", "café", "’", "Straße"]
    vocab += ["ＦＵＬＬ", "ﬁne", "naïve", "e\u0301", "—", "中文", "«", "İ", "&eacute;", "１２"]
    texts = ["", "   ", QUESTION, QUESTION.upper(), f"{SOLUTION} &amp; more"]
    texts += [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 30))) for _ in range(300)]
    alphabet = "aZ9_ .,\n&;’“”éß中ｆ１ﬁİ\u0301-\u00a0<>#"
    texts += ["".join(rng.choice(alphabet) for _ in range(60)) for _ in range(300)]
    batch = index.batch_ids(texts)
    for text, ids in zip(texts, batch, strict=True):
        assert ids.tolist() == index.ids(text).tolist(), text


def test_hits_are_confirmed_on_the_words(index):
    from curate.decontam.index import Hit

    text = f"{PROSE} {QUESTION}"
    (hits,) = index.find([index.ids(text)])
    assert hits and index.confirm(text, hits) == hits
    moved = [Hit(h.start + 1, h.length, h.item, h.pos) for h in hits]
    assert index.confirm(text, moved) == []


def test_web_copies_of_an_item_are_found(index):
    copies = {
        "verbatim": QUESTION,
        "case": QUESTION.upper(),
        "entities": QUESTION.replace(" ", "&nbsp;", 4).replace("'", "&#39;"),
        "line breaks": QUESTION.replace(" each", "\neach").replace(". ", ".\n\n"),
        "punctuation": QUESTION.replace(",", "").replace(".", " -"),
        "answer alone": "Worked answer: " + SOLUTION.replace("\n", " "),
    }
    for change, copy in copies.items():
        assert _items(index, f"{PROSE}\n{copy}\n{PROSE}") == {"q1"}, change
    assert _items(index, PROSE) == set()


def test_twelve_words_are_not_a_match_and_windows_never_cross_documents(index):
    twelve = " ".join(words(QUESTION)[:12])
    assert _items(index, f"{PROSE} {twelve}") == set()
    # the first 7 words end one document, the next 6 begin the next: 13 in a row, but apart
    w = words(QUESTION)
    a, b = index.ids(" ".join(w[:7])), index.ids(" ".join(w[7:13]))
    assert index.find([a, b]) == [[], []]
    assert index.find([index.ids(" ".join(w[:13]))])[0]


def test_short_items_match_whole_and_template_lines_do_not(index):
    assert _items(index, "Quiz night: who wrote the novel Moby-Dick? Herman Melville!") == {"short"}
    assert _items(index, "who wrote the novel Moby Dick is a question") == set()  # not all of it
    assert _items(index, "Capital of France? Paris.") == set()  # under min_item_words: not indexed
    template = (
        "Read the passage below carefully and then choose the single best answer from the list"
    )
    assert _items(index, template) == set()
    assert index.boilerplate_ngrams > 0
    summary = index.summary()["benchmarks"][0]
    assert (summary["items"], summary["too_short"]) == (15, 1)


def test_saved_index_finds_the_same(index, tmp_path):
    index.save(str(tmp_path / "i.npz"))
    loaded = load_index(str(tmp_path / "i.npz"))
    doc = f"{PROSE}\n{QUESTION.upper()}\nwho wrote the novel moby dick herman melville"
    assert index.find([index.ids(doc)]) == loaded.find([loaded.ids(doc)])
    assert (tmp_path / "i.npz").read_bytes() == _saved_again(loaded, tmp_path)
    (tmp_path / "bad.npz").write_bytes(b"not an index")
    with pytest.raises(ConfigError, match="cannot read decontamination index"):
        load_index(str(tmp_path / "bad.npz"))


def _saved_again(index, tmp_path) -> bytes:
    index.save(str(tmp_path / "again.npz"))
    return (tmp_path / "again.npz").read_bytes()


def _doc(text: str) -> Document:
    return Document("d", text, 0)


def test_actions(index):
    text = f"{PROSE}\n{QUESTION}\n{SOLUTION}\n\n{PROSE}"
    flag = Decontaminate(index, "flag").apply(_doc(text))
    assert flag.keep and flag.signals["items_matched"] == 1 and flag.signals["max_overlap"] == 1
    (entry,) = flag.metadata["decontamination"]
    assert (entry["benchmark"], entry["item"], entry["matched"]) == ("homework", "q1", True)
    assert entry["ngram"] in " ".join(words(QUESTION + " " + SOLUTION))
    removed = Decontaminate(index, "remove_document", count_tokens=len).apply(_doc(text))
    assert (removed.keep, removed.reason) == (False, "homework")
    assert removed.signals["tokens_removed"] == len(text)
    cut = Decontaminate(index, "remove_span", count_tokens=len).apply(_doc(text))
    assert cut.keep and cut.text == f"{PROSE}\n\n{PROSE}"
    assert cut.signals["words_removed"] == len(words(QUESTION + " " + SOLUTION))
    alone = Decontaminate(index, "remove_span").apply(_doc(QUESTION))
    assert (alone.keep, alone.reason) == (False, "homework")  # nothing left


def test_min_overlap_separates_a_quoted_sentence_from_a_copy(index):
    part = " ".join(words(QUESTION)[:14])  # 2 of the item's n-grams
    stage = Decontaminate(index, "remove_document", min_overlap=0.5)
    quoted = stage.apply(_doc(f"{PROSE} {part}"))
    assert quoted.keep and quoted.signals["items_found"] == 1
    assert quoted.signals["items_matched"] == 0
    assert quoted.metadata["decontamination"][0]["matched"] is False
    assert not stage.apply(_doc(f"{PROSE} {QUESTION} {SOLUTION}")).keep


def test_interleaved_image_lines_stay_when_a_span_is_cut(index):
    text = f"{PROSE}\n{IMAGE_PLACEHOLDER}\n{QUESTION}\n{IMAGE_PLACEHOLDER}\n{PROSE}"
    cut = Decontaminate(index, "remove_span").apply(_doc(text))
    assert cut.keep and cut.text.count(IMAGE_PLACEHOLDER) == 2 and QUESTION not in cut.text


def test_config_errors_name_the_problem(demo, tmp_path):
    from curate.driver.config_file import parse_config

    root, _ = demo
    bench = {"path": str(tmp_path / "missing.jsonl")}
    cfg = demo_config(root / "raw", tmp_path / "o", decontamination={"benchmarks": [bench]})
    with pytest.raises(ConfigError, match="benchmark file not found: .*missing.jsonl"):
        parse_config(cfg)
    cfg["decontamination"] = {"benchmarks": [bench], "index": "x.npz"}
    with pytest.raises(ConfigError, match="either 'benchmarks'"):
        parse_config(cfg)
    real = str(root / "benchmarks" / "gsm8k_sample.jsonl")
    both = [{"path": real, "name": "same"}] * 2
    cfg["decontamination"] = {"benchmarks": both}
    with pytest.raises(ConfigError, match="two benchmarks are named 'same'"):
        parse_config(cfg)
    # found by probing: a benchmark with nothing to index (a wrong field, short questions, an
    # empty file) screened for nothing and the build said nothing
    (tmp_path / "short.jsonl").write_text('{"text": "Who wrote Hamlet?"}\n')
    (tmp_path / "empty.jsonl").write_text("")
    for name, message in (("short", "none of its 1 items has 8 words"), ("empty", "no items")):
        cfg["decontamination"] = {"benchmarks": [{"path": str(tmp_path / f"{name}.jsonl")}]}
        with pytest.raises(ConfigError, match=f"{name} .*: {message}"):
            parse_config(cfg)


def _shares_ngram(text: str, item: str, n: int = 13) -> float:
    """Share of the item's n-grams in ``text`` (all of a short item), computed from word lists,
    independently of the index's hashing and lookup."""
    a, b = words(text), words(item)
    grams = {tuple(b[i : i + n]) for i in range(len(b) - n + 1)} if len(b) >= n else {tuple(b)}
    k = min(n, len(b))
    have = {tuple(a[i : i + k]) for i in range(len(a) - k + 1)}
    return len(grams & have) / len(grams)


def test_demo_build_finds_every_planted_item(demo, demo_build):
    """Each planted article that still shares a full 13-gram with its item is reported with that
    item; those sharing at least min_overlap of the item's n-grams are removed under the
    benchmark's name; no other document of the demo is flagged."""
    root, truth = demo
    out, stats, _ = demo_build
    items = {
        json.loads(line)["id"]: json.loads(line)
        for p in (root / "benchmarks").glob("*")
        for line in p.read_text().splitlines()
    }
    raw = {}
    for p in sorted((root / "raw").iterdir()):
        for rec in read_file(str(p)):
            value = getattr(rec, "value", None)
            if isinstance(value, dict) and str(value.get("id", "")).startswith("bench-"):
                raw[value["id"]] = value["text"]
    rejected = {r["id"]: r for r in read_jsonl_dir(out / "rejected")}
    table = read_shards(out).select(["doc_id", "metadata"]).to_pylist()
    kept = {r["doc_id"]: json.loads(r["metadata"] or "{}") for r in table}
    plants = {p["doc"]: p for p in truth["benchmark_plants"]}
    assert {p["change"] for p in plants.values()} >= {"case", "html_entities", "line_breaks"}
    checked = 0
    for doc_id, plant in plants.items():
        share = _shares_ngram(raw[doc_id], items[plant["item"]]["text"])
        listed = (rejected.get(doc_id) or {}).get("decontamination") or (
            kept.get(doc_id, {}).get("decontamination") or []
        )
        if doc_id in rejected and rejected[doc_id]["reason"].startswith("gopher"):
            continue  # removed by an earlier filter, on text the decontamination saw as well
        found = {m["item"] for m in listed}
        assert (plant["item"] in found) == (share > 0), (plant, share)
        if share >= 0.2:
            assert rejected[doc_id]["reason"] == f"decontamination.{plant['benchmark']}", plant
        checked += 1
    assert checked >= 10
    flagged = {i for i, r in rejected.items() if "decontamination" in r} | {
        i for i, m in kept.items() if m.get("decontamination")
    }
    assert flagged <= set(plants)
    dec = stats["decontamination"]["benchmarks"]
    assert set(dec) == {"gsm8k", "mmlu"}
    assert sum(b["documents_removed"] for b in dec.values()) == sum(
        v for k, v in stats["removed"]["by_reason"].get("decontamination", {}).items()
    )
    assert all(b["tokens_removed"] > 0 for b in dec.values() if b["documents_removed"])
    assert stats["balance"]["balanced"]
    assert "## Benchmark contamination" in (out / "DATACARD.md").read_text()


def test_shared_benchmarks_index(tmp_path):
    """All shared evaluation sets in one index: built, saved, and every item found in itself."""
    files = sorted(evaldata("benchmarks").glob("*.jsonl.gz"))
    if len(files) < 5:
        pytest.skip("the shared benchmark files are not present")
    index = build_index([BenchmarkFile(str(p)) for p in files])
    assert index.memory_bytes() < 500e6
    rng = np.random.default_rng(0)
    picks = rng.choice(len(index.item_ids), 200, replace=False)
    texts = {}
    for src in (BenchmarkFile(str(p)) for p in files):
        from curate.decontam.items import item_texts

        texts.update(dict(item_texts(src)))
    for item in picks.tolist():
        text = texts[index.item_ids[item]]
        if int(index.item_windows[item]) == 0:
            continue  # too short, or only template n-grams
        assert item in {h.item for h in index.find([index.ids(text.upper())])[0]}


def test_drift_reports_contamination_per_period(demo_build):
    from curate.drift.report import compute

    out, stats, _ = demo_build
    rows = compute(str(out), sample=200)["contamination"]
    for bench, b in stats["decontamination"]["benchmarks"].items():
        mine = [r for r in rows if r["benchmark"] == bench]
        assert sum(r["documents_removed"] for r in mine) == b["documents_removed"]
        assert sum(r["items"] for r in mine) >= b["items"]


def test_saved_index_builds_the_same_corpus(demo, demo_build, tmp_path, capsys):
    """`curate decontam-index` once, then builds that load it: the same decisions as a build
    that indexes the files itself."""
    from curate.cli import main
    from curate.driver.config_file import parse_config

    root, _ = demo
    files = [str(root / "benchmarks" / f"{b}_sample.jsonl") for b in ("gsm8k", "mmlu")]
    assert main(["decontam-index", *files, "--out", str(tmp_path / "i.npz")]) == 0
    assert "20 items of 2 benchmarks" in capsys.readouterr().out
    out, stats, _ = demo_build
    cfg = demo_config(root / "raw", tmp_path / "c")
    cfg["decontamination"] = {"index": str(tmp_path / "i.npz")}
    again = build(cfg)
    names = {"gsm8k_sample": "gsm8k", "mmlu_sample": "mmlu"}
    mine = {names[k]: v for k, v in again["decontamination"]["benchmarks"].items()}
    assert mine == stats["decontamination"]["benchmarks"]
    cfg["decontamination"] = {"index": str(tmp_path / "i.npz"), "ngram": 8}
    with pytest.raises(ConfigError, match="ngram is 8 but the index"):
        parse_config(cfg)
    for option in ("--ngram", "--max-items-per-ngram"):  # a value out of range names its option
        assert main(["decontam-index", *files, "--out", str(tmp_path / "j.npz"), option, "0"]) == 2
        assert f"decontam-index: {option}: Input should be" in capsys.readouterr().err


def test_parquet_evaluation_file_with_a_template(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {"qid": ["p1", "p2"], "question": [QUESTION, PROSE], "answer": [SOLUTION, "yes"]}
    )
    pq.write_table(table, tmp_path / "eval.parquet")
    src = BenchmarkFile(str(tmp_path / "eval.parquet"), "", "Q: {question} A: {answer}", "qid")
    index = build_index([src])
    assert index.benchmarks[0]["name"] == "eval" and index.item_ids == ["p1", "p2"]
    found = [
        {index.item_ids[h.item] for h in hits}
        for hits in index.find([index.ids(f"The answer: {SOLUTION}"), index.ids(f"Today. {PROSE}")])
    ]
    assert found == [{"p1"}, {"p2"}]
    with pytest.raises(ConfigError, match="has no field 'missing'"):
        build_index([BenchmarkFile(str(tmp_path / "eval.parquet"), "x", "{missing}")])


def test_id_table_finds_every_key_through_collisions():
    from curate.decontam.hashing import IdTable

    rng = np.random.default_rng(0)
    # many keys share their low bits, so probe sequences run into each other
    keys = np.unique(rng.integers(1, 2**63, 3000, dtype=np.uint64) << np.uint64(8))
    keys = np.concatenate([keys, keys[:500] + np.uint64(1)])
    ids = np.arange(1, len(keys) + 1, dtype=np.uint32)
    table = IdTable(keys, ids)
    assert table.lookup(keys).tolist() == ids.tolist()
    absent = keys + np.uint64(3)
    assert not table.lookup(absent).any()
