"""The per-file stage without Beam: a filter that raises on one document is a dead letter."""

from __future__ import annotations

import json
from dataclasses import dataclass

from curate.core.document import Document
from curate.driver.config_file import parse_config
from curate.stages.process import FileProcessor
from filters.base import Decision, Filter
from tokenization.bpe import train_bpe

TEXT = "The committee and the residents talked with the mayor about the new budget. " * 8


@dataclass
class ExplodesOnMarker(Filter):
    """Stands in for a filter with a bug that only some inputs trigger."""

    marker: str = "BOOM"
    name = "test_explodes_on_marker"

    def apply(self, doc: Document) -> Decision:
        if self.marker in doc.text:
            raise ZeroDivisionError("division by zero in a buggy filter")
        return Decision(keep=True)


def test_filter_exception_is_quarantined_and_the_rest_processed(tmp_path):
    rows = [
        {"id": str(i), "text": TEXT + ("BOOM" if i == 3 else str(i)), "timestamp": "2020-05-05"}
        for i in range(10)
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = parse_config(
        {
            "input": {"paths": [str(tmp_path / "in.jsonl")]},
            "filters": [{"test_explodes_on_marker": {}}, {"gopher_quality": {}}],
            "tokenizer": {"path": "unused.json"},
            "output": {"dir": str(tmp_path / "out")},
        }
    )
    tok = train_bpe([TEXT] * 20, 300)
    res = FileProcessor(cfg, tok.to_str(), str(tmp_path / "work"), cfg.output.dir).process(
        0, str(tmp_path / "in.jsonl")
    )
    assert res.counts["input_records"] == 10
    assert res.counts["quarantined.processing_error"] == 1
    assert sum(count for *_, count in res.exact_slices) == 9
    entry = json.loads((tmp_path / "out" / "quarantine" / "part-00000.jsonl").read_text())
    assert entry["position"] == 4 and "ZeroDivisionError" in entry["error"]


def test_parser_exception_is_quarantined_and_the_rest_parsed(tmp_path):
    """The same dead letter for parsing: a bug that one record triggers (an image library's
    error on an odd file, say) is that record's quarantine entry, not a failed build."""
    from curate.stages.parse import RecordParser, parse_file

    class ExplodesOnMarkerParser(RecordParser):
        def parse(self, value, origin, source_path=None):
            if "BOOM" in str(value.get("text")):
                raise KeyError("a bug in parsing")
            return super().parse(value, origin, source_path)

    rows = [
        {"text": ("BOOM " if i == 1 else str(i)) + TEXT, "timestamp": "2020-05-05"}
        for i in range(3)
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = parse_config(
        {"input": {"paths": ["x"]}, "tokenizer": {"path": "t.json"}, "output": {"dir": "o"}}
    )
    parsed = list(
        parse_file(
            ExplodesOnMarkerParser(cfg.input, cfg.temporal),
            0,
            str(tmp_path / "in.jsonl"),
            cfg.input,
        )
    )
    assert [p.doc is not None for p in parsed] == [True, False, True]
    kind, error, raw = parsed[1].error
    assert kind == "processing_error" and "KeyError" in error and "BOOM" in raw
